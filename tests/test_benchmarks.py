"""ainkit.benchmarks: the checks of Tables 1-3 and of the claims, against values worked out by hand."""
import json

import pytest

from ainkit.reproduction import paper
from ainkit.reproduction.analyses import benchmarks


def test_table1_totals_only_gemini_pro_disagrees():
    totals = benchmarks.table1_totals()
    assert totals.loc["Gemini-1.5-Pro", "mean_of_domains"] == pytest.approx(43.075)
    assert totals.index[~totals["agrees"]].tolist() == ["Gemini-1.5-Pro"]


def test_best_and_second_match_printed_underlines():
    best = benchmarks.best_and_second(paper.load("table1"))
    assert best.loc["Total", "best"] == "AIN-7B" and best.loc["Video", "best"] == "GPT-4o"
    assert all(same for _, _, same in benchmarks.printed_second_best_agreement().values())


def test_table2_wins_14_of_19():
    wins = benchmarks.table2_wins()
    assert len(wins) == 19 and (wins["winner"] == "AIN-7B").sum() == 14
    assert set(wins.index[wins["winner"] == "Qwen2-VL-7B"]) == {"Biology", "Civics", "Economics", "Management", "Social Science"}


def test_table3_gains_against_printed_row():
    g = benchmarks.table3_gains()
    assert g.loc["POPE", "computed_gain"] == pytest.approx(1.46)
    assert g.loc["MMBench", "agrees"] is True and g.loc["MMMU", "agrees"] is None
    assert all(v in (True, None) for v in g["agrees"])


def test_claims():
    checks = {c.key: c for c in benchmarks.check_claims()}
    gain = checks["ain_vs_gpt4o_camel_total_gain"]
    assert gain.computed == pytest.approx(3.64) and gain.verdict == "not supported"
    assert checks["arabicmmlu_categories_won"].verdict == "supported"
    assert checks["arabicmmlu_total_gain"].computed == pytest.approx(3.0)
    assert "5 of 8" in checks["camel_best_overall"].detail
    assert checks["training_samples_million"].verdict == "not checkable"


def test_lab_scores_join_the_table(tmp_path):
    f = tmp_path / "mine.json"
    scores = dict(zip(paper.CAMEL_DOMAINS, [10, 20, 30, 40, 50, 60, 70, 80]))
    f.write_text(json.dumps({"model": "Mine-1B", "camel_bench": scores, "arabicmmlu": {"Law": 12.5}}))
    [m] = benchmarks.load_model_scores(f)
    table = benchmarks.camel_table([m])
    assert table.loc["Mine-1B", "Total"] == pytest.approx(45.0)
    rows = benchmarks.result_rows([m])
    assert any("Mine-1B" in r.quantity for r in rows)


@pytest.mark.parametrize("payload, message", [
    ("{not json", "line 1"),
    (json.dumps({"camel_bench": {}}), "non-empty string 'model'"),
    (json.dumps({"model": "x", "camel_bench": {"Sports": 3}}), "unknown key 'Sports'"),
    (json.dumps({"model": "x", "camel_bench": {"VQA": "high"}}), "not a finite number"),
    (json.dumps({"model": "x", "camel_bench": {"VQA": 250}}), "out of range"),
    (json.dumps({"model": "x", "mmlu": {}}), "unknown section"),
])
def test_bad_scores_file_is_named(tmp_path, payload, message):
    f = tmp_path / "bad.json"
    f.write_text(payload)
    with pytest.raises(ValueError, match=message) as info:
        benchmarks.load_model_scores(f)
    assert str(f) in str(info.value)


def test_table1_sources_differ_in_13_cells():
    d = benchmarks.table1_source_differences()
    assert len(d) == 13 and set(d["model"]) == {"GPT-4o", "GPT-4o-mini"}
    assert sorted(d.loc[d["model"] == "GPT-4o-mini", "column"]) == ["Agro.", "CDT", "Total", "Video"]
    cdt = d[(d["model"] == "GPT-4o-mini") & (d["column"] == "CDT")].iloc[0]
    assert (cdt["report"], cdt["other"], cdt["difference"]) == (56.37, 70.16, pytest.approx(13.79))
    assert all("0fa7abb" in s for s in d["source"])
    assert benchmarks.table1_models_missing("table1_readme") == ["Qwen2-VL-7B", "LLaVa-NeXt-7B", "LLaVa-OneVision", "Pangea-7B",
                                                                 "Maya-8B"]


def test_claims_say_which_source_supports_them():
    checks = {c.key: c for c in benchmarks.check_claims()}
    gain = checks["ain_vs_gpt4o_camel_total_gain"]
    [readme] = gain.other_sources
    assert gain.source == "AIN report" and gain.verdict == "not supported" and gain.computed == pytest.approx(3.64)
    assert readme.computed == pytest.approx(3.42) and readme.verdict == "supported" and "0fa7abb" in readme.source
    assert gain.supported_by == [readme.source]
    assert checks["camel_best_overall"].supported_by == ["AIN report", readme.source]
    assert "3 of 8" in checks["camel_best_overall"].other_sources[0].detail
    assert checks["arabicmmlu_categories_won"].supported_by == ["AIN report"] and not checks["arabicmmlu_categories_won"].other_sources
    assert checks["training_samples_million"].supported_by == []


def test_readme_medals_match_its_numbers():
    marks = benchmarks.printed_marks_agreement("table1_readme")
    assert len(marks) == 18 and all(same for _, _, same in marks.values())


def test_result_rows_list_the_differing_cells_and_both_claim_checks():
    rows = benchmarks.result_rows()
    diff = [r for r in rows if "report vs AIN README" in r.quantity]
    assert len(diff) == 13 and all(r.source == "published" for r in diff)
    cdt = next(r for r in diff if r.quantity.startswith("GPT-4o-mini: CDT"))
    assert cdt.published == 56.37 and "70.16" in cdt.note
    claim = [r for r in rows if r.quantity.startswith("ain_vs_gpt4o_camel_total_gain")]
    assert [r.quantity.endswith("[not supported]") for r in claim] == [True, False]
    assert claim[1].kit == pytest.approx(3.42) and claim[1].quantity.endswith("[supported]") and "README" in claim[1].quantity
    assert "supported by: AIN README" in claim[0].note
