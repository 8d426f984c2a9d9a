"""ainkit.reproduction.paper: every artefact loads, has the shape the report prints, and is labelled published."""
import math

import pytest

from ainkit.reproduction import paper
from ainkit.commands.cli import main


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
    ("table1", (13, 9)), ("table1_readme", (8, 9)), ("table2", (20, 2)), ("table3", (10, 3)), ("table4_5", (6, 6)),
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


README_COMMIT = "0fa7abb3838123a9a2350935ae8b9ce775ec1ac2"


def test_readme_table1_is_a_second_source_with_provenance():
    t = paper.load("table1_readme")
    entry = paper.meta("table1_readme")
    assert entry["source"] == {"repo": "mbzuai-oryx/AIN", "file": "README.md", "commit": README_COMMIT,
                               "url": f"https://github.com/mbzuai-oryx/AIN/blob/{README_COMMIT}/README.md"}
    assert t.attrs["source"] == "published" and "0fa7abb" in t.attrs["provenance"] and "README" in t.attrs["provenance"]
    assert paper.provenance("table1") == "AIN report" and paper.alternatives("table1") == ["table1_readme"]
    assert list(t.columns) == list(paper.load("table1").columns) == [*paper.CAMEL_DOMAINS, "Total"]
    assert t.loc["GPT-4o"].tolist() == [57.91, 54.68, 74.28, 22.85, 62.12, 81.79, 79.92, 49.26, 60.35]
    assert t.loc["GPT-4o-mini"].tolist() == [48.83, 39.38, 68.12, 16.93, 70.16, 79.58, 65.92, 47.37, 54.54]
    assert t.loc["AIN-7B", "Total"] - t.loc["GPT-4o", "Total"] == pytest.approx(3.42)  # the abstract's "+3.4"


def test_readme_table1_columns_line_up_with_the_report():
    """Same domain order: the GPT-4o-mini cells the two sources share sit in the same columns, the six other rows are equal."""
    report, readme = paper.load("table1"), paper.load("table1_readme")
    same = ["VQA", "OCR", "RS", "Cult.", "Med."]
    assert readme.loc["GPT-4o-mini", same].tolist() == report.loc["GPT-4o-mini", same].tolist()
    for model in readme.index.drop(["GPT-4o", "GPT-4o-mini"]):
        assert readme.loc[model].tolist() == report.loc[model].tolist(), model
    assert len(readme) == 8 and set(readme.index) < set(report.index)


def test_readme_toxicity_shares_with_provenance():
    s = paper.shares("figure16_readme")
    assert s == {"safe": 95.0, "unsafe": 5.0}
    assert paper.meta("figure16_readme")["source"]["commit"] == README_COMMIT
    assert paper.alternatives("figure16") == ["figure16_readme"]
    assert paper.shares("figure16")["safe"] == 95.63  # the report's own figure is untouched


def test_cli_paper_show_names_the_source(capsys):
    assert main(["paper", "show", "table1_readme"]) == 0
    text = capsys.readouterr().out
    assert "source: AIN README (mbzuai-oryx/AIN README.md @ 0fa7abb)" in text and "60.35" in text
    assert main(["paper", "show", "table1"]) == 0
    assert "source: AIN report" in capsys.readouterr().out


def _with_stdout_closed(*args, cwd=None):
    """Run `ainkit ARGS` with a stdout pipe whose reader is already gone, as `ainkit ... | head -1` leaves it once head
    has its line (here before the first byte, so the broken pipe is certain, not a race)."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "ainkit.commands.cli", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=600, cwd=cwd)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["paper", "show", "table1"], ["paper", "list"], ["paper", "show", "claims"], ["--help"],
                                  ["paper", "show", "--help"]])
def test_a_closed_stdout_ends_quietly(args):
    proc = _with_stdout_closed(*args)
    assert proc.stderr == "", proc.stderr  # no "[Errno 32] Broken pipe", no "Exception ignored"
    assert proc.returncode == (0 if "--help" in args else 141)  # 141 = 128 + SIGPIPE, as `yes | head -1` ends


def test_a_closed_stdout_ends_a_stage_quietly(tmp_path):
    from ainkit.pipelines.sidebyside import FIXTURE_ANSWERS

    proc = _with_stdout_closed("gallery", "--predictions", *map(str, FIXTURE_ANSWERS[:2]), "--output", str(tmp_path / "g"))
    assert (proc.returncode, proc.stderr) == (141, "")
    assert (tmp_path / "g" / "gallery.html").is_file()  # the work was done; only its summary line had no reader


def test_an_error_is_still_reported_when_stdout_is_closed():
    proc = _with_stdout_closed("paper", "show", "nope")
    assert proc.returncode == 2 and "unknown artefact 'nope'" in proc.stderr


def test_the_survey_asks_figure_9s_options_in_its_order():
    """The survey (a toolkit pipeline, which never imports the report) keys its MSA options by Figure 9's labels."""
    from ainkit.pipelines.survey import demographics

    assert list(demographics.msa_options()) == list(paper.shares("figure9"))
