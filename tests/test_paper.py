"""ainkit.paper: every artefact loads, has the shape the report prints, and is labelled published."""
import math

import pytest

from ainkit import paper
from ainkit.cli import main


def test_every_artefact_loads_with_title():
    for name in paper.artefacts():
        entry = paper.meta(name)
        assert entry["title"]
        if "file" in entry:
            frame = paper.load(name)
            assert frame.attrs["source"] == "published" and len(frame) > 0
        elif entry.get("kind") == "shares":
            assert paper.shares(name)


@pytest.mark.parametrize("name, shape", [
    ("table1", (13, 9)), ("table2", (20, 2)), ("table3", (10, 3)), ("table4_5", (6, 6)),
    ("table9", (5, 4)), ("probe_pairs", (21, 4)), ("figure14", (14, 8)),
])
def test_table_shapes(name, shape):
    assert paper.load(name).shape == shape


@pytest.mark.parametrize("name, row, col, value", [
    ("table1", "AIN-7B", "Total", 63.77), ("table1", "GPT-4o", "Video", 69.65), ("table1", "Maya-8B", "RS", 27.53),
    ("table2", "Law", "AIN-7B", 71.66), ("table2", "Total", "Qwen2-VL-7B", 56.36),
    ("table3", "MME", "AIN-7B", 1689.02), ("table3", "MMBench", "improved_by", 11.98),
    ("table9", "ROUGE-L", "f1_pct", 85.80), ("figure14", "1.1", "Paraphrase-XLM-R", 0.9788),
])
def test_golden_values(name, row, col, value):
    assert paper.load(name).loc[row, col] == pytest.approx(value)


def test_illegible_cells_are_missing_not_guessed():
    t3 = paper.load("table3")
    assert math.isnan(t3.loc["MMMU", "AIN-7B"]) and math.isnan(t3.loc["MMMU", "Qwen2-VL-7B"])
    assert math.isnan(t3.loc["POPE", "improved_by"])
    assert any("illegible" in n for n in t3.attrs["notes"])


def test_probe_pairs_keep_diacritics_and_punctuation():
    pairs = paper.load("probe_pairs")
    assert pairs.loc["1.4", "arabic"] == "هَٰذِهِ جُمْلَةٌ مِثَالٌ"
    assert pairs.loc["2.11", "english"] == "Please, sit down."
    assert pairs.loc["3.3", "arabic"].endswith("؟")
    assert set(pairs["table"]) == {"Table 6", "Table 7", "Table 8"}


def test_figure16_inconsistency_is_in_the_data():
    s = paper.shares("figure16")
    cats = sum(s[c] for c in paper.meta("figure16")["categories"])
    assert s["safe"] + s["unsafe"] == pytest.approx(100)
    assert cats == pytest.approx(5.44) and cats != pytest.approx(s["unsafe"])


def test_unknown_artefact_names_the_known_ones():
    with pytest.raises(KeyError, match="table1"):
        paper.meta("table42")


def test_cli_paper_show(capsys):
    assert main(["paper", "show", "table1"]) == 0
    text = capsys.readouterr().out
    assert "[published]" in text and "AIN-7B" in text and "63.77" in text
    assert main(["paper", "show", "table3"]) == 0
    assert "(missing)" in capsys.readouterr().out
    assert main(["paper", "show", "nope"]) == 2
