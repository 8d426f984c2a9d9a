"""ainkit.results: the rows contract, its JSON files, and REPRODUCTION.md built from them."""
import json

import pandas as pd
import pytest

from ainkit import results
from ainkit.results import Row


def test_row_validation():
    with pytest.raises(ValueError, match="source must be"):
        Row("Table 1", "x", source="guessed")
    with pytest.raises(ValueError, match="stand-in"):
        Row("Figure 14", "x", 0.5, 0.4, "substitute")
    assert Row("T", "q", 1.0, 1.25).difference == pytest.approx(0.25)
    assert Row("T", "q", None, 1.25).difference is None
    assert Row("T", "q", float("nan"), 2).published is None


def test_write_read_render_roundtrip(out):
    rows = [Row("Table 2", "a", 1.0, 1.5, "recomputed", "n"), Row("Figure 7", "b", 30.0, None, "published"),
            Row("Table 10", "c", None, 2, "substitute", "on all-mpnet-base-v2")]
    table = pd.DataFrame({"x": [1.5, None]}, index=pd.Index(["r1", "r2"], name="row"))
    path = results.write("99_test", rows, out, tables={"Table 2": table})
    payload = json.loads(path.read_text())
    assert payload["notebook"] == "99_test" and len(payload["rows"]) == 3
    entries, tables = results.read_all(out)
    assert [r.quantity for _, r in entries] == ["a", "b", "c"] and "Table 2" in tables
    md = results.write_reproduction(out, {"profile": "local"}).read_text()
    # artefacts ordered: tables numerically, then figures
    assert md.index("## Table 2") < md.index("## Table 10") < md.index("## Figure 7")
    assert "| a | 1.00 | 1.50 | +0.5000 | recomputed | n |" in md
    assert "Published values (AIN report):" in md and "| r2 | – |" in md
    assert "1 substitute" in md and "`99_test`" in md


def test_corrupt_results_file_is_named(out):
    (out.results / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        results.read_all(out)


def test_write_table_names_notebook(out):
    frame = pd.DataFrame({"v": [1.0]}, index=pd.Index(["a"], name="k"))
    csv, md = results.write_table(frame, "t1", "99_test", out)
    assert csv.read_text().startswith("# made by notebook 99_test")
    assert "99_test" in md.read_text() and "| a | 1.00 |" in md.read_text()
    assert pd.read_csv(csv, comment="#", index_col=0).loc["a", "v"] == 1.0
