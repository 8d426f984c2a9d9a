"""ainkit.reproduction.results, .report, .report_html: the rows contract, its JSON files, REPRODUCTION.md and .html built from them.

The report tests build from tests/data/reproduction_run/: the results files of a real full
`ainkit reproduce` (all 7 notebooks, profile local), so they take no notebook time."""
import base64
import json
import re
import shutil

import pandas as pd
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ainkit.reproduction import document, report, report_html, results
from ainkit.reproduction.results import Row
from ainkit.services import tables


def test_row_validation():
    with pytest.raises(ValueError, match="source must be"):
        Row("Table 1", "x", source="guessed")
    with pytest.raises(ValueError, match="stand-in"):
        Row("Figure 14", "x", 0.5, 0.4, "substitute")
    with pytest.raises(ValueError, match="say why"):
        Row("Figure 14", "x", 0.5, None, "unavailable")
    assert Row("T", "q", 1.0, 1.25).difference == pytest.approx(0.25)
    assert Row("T", "q", None, 1.25).difference is None
    assert Row("T", "q", float("nan"), 2).published is None


@pytest.mark.parametrize("value, decimals, signed, shown", [
    (None, 2, False, "–"),
    (0.28, 2, False, "0.28"),
    (-0.28, 2, False, "-0.28"),
    (-0.28, 2, True, "-0.28"),
    (0.28, 2, True, "+0.28"),
    (-0.0001, 2, True, "0.00"),          # no -0.00 / +0.00
    (0.0, 4, False, "0.0000"),
    (52.384, 2, False, "52.38"),
    (1675.9, 2, False, "1,675.90"),
    (14, 2, False, "14"),                 # integers stay integers
    (0, 2, True, "0"),
    (3_700_000_000, 2, False, "3.70 B"),
    (3.6e6, 2, False, "3.60 M"),
    (169300000000000000000.0, 2, False, "1.69e20"),
    (-2.5e16, 2, True, "-2.50e16"),
    ("GPT-4o", 2, False, "GPT-4o"),
    ("a|b\nc", 2, False, "a\\|b c"),      # safe inside a markdown table
])
def test_number(value, decimals, signed, shown):
    assert tables.number(value, decimals, signed) == shown


@pytest.mark.parametrize("values, decimals", [
    ([0.28, 52.38], 2), ([0.1530, 0.0914], 4), ([3.0, 14], 0), ([74.3, 100.1], 1), ([1 / 3], 4), ([], 0), (["x", None], 0),
])
def test_decimals_for(values, decimals):
    assert tables.decimals_for(values) == decimals


@pytest.mark.parametrize("row, precision, bucket", [
    (Row("T", "a", 52.38, 52.384), 2, "match"),                                     # within half a unit of the last decimal
    (Row("T", "a", 52.38, 52.39), 2, "differ"),
    (Row("T", "a", 52.49, 52.485, note="agrees to 0.01"), 2, "match"),               # stated tolerance
    (Row("F", "a", 0.1530, 0.1531, note="compared to 4 decimals"), 4, "differ"),     # 4 decimals: 0.00005
    (Row("T", "a", 1.0, 1.4, tolerance=0.5), 0, "match"),                            # the row's own tolerance
    (Row("C", "claim [supported]", 96.0, 95.63), 0, "match"),                        # the row's verdict wins
    (Row("C", "claim [not supported]", 3.4, 3.4), 1, "differ"),
    (Row("F", "sum", 100.0, 100.1, note="adds to 100.1, not 100"), 1, "differ"),
    (Row("T", "best", "GPT-4o", "gpt-4o "), 0, "match"),
    (Row("T", "best", "GPT-4o", "AIN-7B"), 0, "differ"),
    (Row("T", "gain", None, 1.46), 2, "kit only"),
    (Row("T", "gain", None, None, note="both scores illegible: missing"), 2, "unavailable"),
    (Row("F", "1.1 · LaBSE", 0.91, None, "published", "LaBSE (x/LaBSE): not shipped on PyPI"), 4, "unavailable"),
    (Row("F", "1.1 · LaBSE", 0.91, None, "unavailable", "no GPU"), 4, "unavailable"),
    (Row("F", "Egypt", 25.0, None, "published", "re-plotted from the report's percentage"), 1, "re-listed"),
    (Row("F", "x", None, 0.4, "substitute", "kit sample set"), 4, "substitute"),
])
def test_judge(row, precision, bucket):
    assert report.judge(row, precision) == bucket


def test_cause_is_stated_without_its_subject():
    row = Row("Figure 14a", "1.1 · LaBSE", 0.9, None, "published", "LaBSE (sentence-transformers/LaBSE): not shipped on PyPI")
    assert report.cause(row) == ("LaBSE", "not shipped on PyPI")
    other = Row("Table 3", "MMMU: gain", None, None, note="both scores illegible: missing")
    assert report.cause(other) == ("MMMU", "both scores illegible: missing")


def test_write_read_render_roundtrip(out):
    rows = [Row("Table 2", "a", 1.25, 1.5, "recomputed", "n"), Row("Figure 7", "b", 30.0, None, "published"),
            Row("Table 10", "c", None, 2, "substitute", "on all-mpnet-base-v2")]
    table = pd.DataFrame({"x": [1.5, None]}, index=pd.Index(["r1", "r2"], name="row"))
    path = results.write("99_test", rows, out, tables={"Table 2": table})
    payload = json.loads(path.read_text())
    assert payload["notebook"] == "99_test" and len(payload["rows"]) == 3
    entries, tables = results.read_all(out)
    assert [r.quantity for _, r in entries] == ["a", "b", "c"] and "Table 2" in tables
    md = document.write_reproduction(out, {"profile": "local"}).read_text()
    # artefacts ordered: tables numerically, then figures
    assert md.index("## Table 2") < md.index("## Table 10") < md.index("## Figure 7")
    assert "| a | 1.25 | 1.50 | +0.25 | differ | n |" in md and "- **Table 2** · a: report 1.25, kit 1.50 (+0.25) — n" in md
    assert "## Table 2 · `99_test` · the report's table (2 rows): REPRODUCTION.html\n| quantity |" in md
    assert "`99_test`: results file of unknown origin" in md
    html = (out.reports / "REPRODUCTION.html").read_text()
    assert "<p>Published (AIN report):</p>" in html and '<td dir="auto">r2</td><td dir="auto" class=n>–</td>' in html


def test_rows_sharing_a_note_fold_into_one_line_and_findings_group_by_note(out):
    rows = [Row("Table 2", "Law: AIN-7B - Qwen2-VL-7B", None, 12.74, note="winner AIN-7B"),
            Row("Table 2", "Math: AIN-7B - Qwen2-VL-7B", None, 2.2, note="winner AIN-7B"),
            Row("Table 2", "Biology: AIN-7B - Qwen2-VL-7B", None, -0.28, note="winner Qwen2-VL-7B")]
    rows += [Row("Table 1", f"GPT-4o: {d}, report vs README", p, None, "published",
                 f"the report prints {p}, README prints {r} ({r - p:+.2f}): two published sources disagree")
             for d, p, r in (("VQA", 55.15, 57.91), ("OCR", 54.98, 54.68), ("RS", 27.36, 22.85))]
    md = report.render([("06", r) for r in rows])
    assert "| AIN-7B - Qwen2-VL-7B (2) | – | Law 12.74 · Math 2.20 | – | kit only ×2 | winner AIN-7B |" in md
    assert "| Biology: AIN-7B - Qwen2-VL-7B | – | -0.28 | – | kit only | winner Qwen2-VL-7B |" in md
    assert ("| GPT-4o (3), report vs README | VQA 55.15 · OCR 54.98 · RS 27.36 | – | – | published ×3 | the report prints #, "
            "README prints # (#): two published sources disagree (numbers per row: REPRODUCTION.html) |") in md
    assert ("- **Table 1** · 3 rows: the report prints #, README prints # (#): two published sources disagree — "
            "GPT-4o: VQA (55.15, 57.91, +2.76); GPT-4o: OCR (54.98, 54.68, -0.30); GPT-4o: RS (27.36, 22.85, -4.51)") in md


def test_corrupt_results_file_is_named(out):
    (out.results / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        results.read_all(out)


def test_write_table_names_notebook(out):
    frame = pd.DataFrame({"v": [1.0, 2.5]}, index=pd.Index(["a", "b"], name="k"))
    csv, md = results.write_table(frame, "t1", "99_test", out)
    assert csv.read_text().startswith("# made by notebook 99_test")
    assert "99_test" in md.read_text() and "| a | 1.0 |" in md.read_text()  # one decimal for the whole column
    assert pd.read_csv(csv, comment="#", index_col=0).loc["a", "v"] == 1.0


# ------------------------------------------------------------ the report of a real full run

FIGURES = {"fig14a_similarity_heatmap": "02_embedding_similarity", "tab01_camel_bench": "06_benchmark_results",
           "fig01_camel_bench_radar": "06_benchmark_results", "fig15a_good_translations": "02_embedding_similarity",
           "fig05_loss_curve": "05_multinode_training", "fig07_survey_nationality": "07_human_feedback_survey",
           "fig99_unclaimed": "99_nowhere"}


@pytest.fixture
def full_run(out, data_dir):
    """The results files of a real full run, a manifest-like run list, and five small figures naming their notebook."""
    for path in (data_dir / "reproduction_run").glob("*.json"):
        shutil.copy(path, out.results / path.name)
    for i, (name, nb) in enumerate(FIGURES.items()):
        info = PngInfo()
        info.add_text("Source", nb)
        Image.new("RGB", (8, 8), (40 * i, 90, 160)).save(out.figures / f"{name}.png", pnginfo=info)
    runs = [{"name": p.stem, "status": "reused" if p.stem.startswith("06") else "ok", "seconds": 12.5,
             "made_by": {"started": "2026-11-29T10:00:00+00:00", "commit": "0123456789abcdef"}}
            for p in sorted(out.results.glob("*.json"))]
    md = document.write_reproduction(out, {"profile": "local"}, runs).read_text(encoding="utf-8")
    html = (out.reports / "REPRODUCTION.html").read_text(encoding="utf-8")
    return out, md, html


def test_full_run_report_is_short_and_opens_with_the_scoreboard(full_run):
    _, md, _ = full_run
    lines = md.splitlines()
    assert len(lines) <= 250, len(lines)
    headings = [l for l in lines if l.startswith("## ")]
    assert headings[:3] == ["## Scoreboard", f"## Findings ({md.count(chr(10) + '- **')})", "## Where these results come from"]
    board = lines[lines.index("## Scoreboard") + 2:]
    assert board[0].startswith("| artefact | notebook | published numbers | match | differ |")
    for nb in ("01", "02", "03", "04", "05", "06", "07"):
        assert re.search(rf"^\| [^|]+ \| {nb} \|", md, re.MULTILINE), nb
    assert "`06_benchmark_results`: reused from the run of 2026-11-29T10:00:00+00:00 (commit 0123456789)" in md


def test_each_unavailable_cause_is_stated_once(full_run):
    _, md, _ = full_run
    entries, _ = results.read_all(full_run[0])
    causes = {report.cause(r)[1] for _, r in entries if report.judge(r) == "unavailable"}
    assert causes
    for cause in causes:
        assert md.count(cause) == 1, cause
    for encoder in ("M-BERT", "Paraphrase-XLM-R", "LaBSE", "AraBERT"):  # once per artefact, not once per cell
        assert len(re.findall(rf"^\| {encoder}: \d+ cells \|", md, re.MULTILINE)) == 2, encoder


def test_findings_carry_their_evidence(full_run):
    _, md, _ = full_run
    findings = md[md.index("## Findings"):md.index("## Where these results")]
    assert "**Table 1** · Gemini-1.5-Pro: Total (mean of 8 domains): report 52.38, kit 43.08 (-9.30)" in findings
    assert "**Claims** · ain_vs_gpt4o_camel_total_gain [not supported]: report 3.40, kit 3.64 (+0.24)" in findings
    assert "INCONSISTENT" in findings  # Figure 16: the categories do not add up to the stated unsafe share
    assert "-0.2800" not in md and "00000000000" not in md


def test_html_embeds_every_figure_beside_its_table(full_run):
    out, _, html = full_run
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert not re.search(r'(src|href)="(?!data:)', html) and "<script" not in html and "<link" not in html
    for name in FIGURES:
        m = re.search(rf'<img alt="{name}" src="data:image/png;base64,([^"]+)"', html)
        assert m, name
        assert base64.b64decode(m.group(1)) == (out.figures / f"{name}.png").read_bytes()
    sections = html.split("<section>")
    placed = {name: next(s.split("</h2>")[0] for s in sections if f'alt="{name}"' in s) for name in FIGURES}
    assert placed["fig14a_similarity_heatmap"] == "<h2>Figure 14a"
    assert placed["tab01_camel_bench"] == "<h2>Table 1"
    assert placed["fig01_camel_bench_radar"] == "<h2>Table 1"  # no Figure 1 section (not Figure 13): its notebook's first
    assert placed["fig15a_good_translations"] == "<h2>Figure 15"
    assert placed["fig05_loss_curve"] == "<h2>Section 3"  # by the notebook named in the PNG
    assert placed["fig99_unclaimed"] == "<h2>Other figures"


def test_html_reads_arabic_right_to_left(full_run):
    _, _, html = full_run
    assert '<bdi dir="rtl" lang="ar">هذه جملة مثال</bdi>' in html
    assert re.search(r'<td dir="auto"[^>]*>[^<]*<bdi dir="rtl" lang="ar">', html)
    assert report_html.text("Please sit down | تفضل، اجلس.") == 'Please sit down | <bdi dir="rtl" lang="ar">تفضل، اجلس.</bdi>'
