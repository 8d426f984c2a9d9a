"""`ainkit gallery`: the kit's fixture answers of three models, scored by `ainkit evaluate`, side by side in one
self-contained page (images embedded, Arabic right to left, both scoring modes, the judge's grade) and a panel.

    .venv/bin/python -m pytest tests/test_gallery.py
"""
import json
import re

import pytest

from ainkit.pipelines import gallery
from ainkit.stages.evaluate import runner
from ainkit.services.records import RecordError
from ainkit.pipelines.sidebyside import FIXTURE_ANSWERS, verdicts
from helpers import cli


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Each fixture answers file scored by `ainkit evaluate` (its predictions.jsonl and results.json)."""
    root = tmp_path_factory.mktemp("evaluated")
    paths = []
    for p in FIXTURE_ANSWERS:
        runner.run_camel_bench(str(p), str(root / p.stem), model=p.stem)
        paths.append(str(root / p.stem / "predictions.jsonl"))
    return paths


@pytest.fixture(scope="module")
def page(scored, tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    proc = cli("gallery", "--predictions", *scored, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, (out / "gallery.html").read_text(encoding="utf-8")


def test_page_is_self_contained(page):
    out, stdout, html = page
    assert "6 items, 3 models (fixture-A, fixture-B, fixture-C), 7 images embedded" in stdout
    assert html.count('<img src="data:image/png;base64,') == 7
    assert not re.search(r'(src|href)="(?!data:)', html) and "http://" not in html and "https://" not in html
    assert json.loads((out / "gallery.json").read_text())["images"] == 7


def test_arabic_is_right_to_left(page):
    html = page[2]
    assert '<div class="question" dir="rtl" lang="ar">كم عدد المربعات في الصورة؟' in html
    assert '<div class="answer" dir="rtl" lang="ar">اثنان</div>' in html and '<div class="answer" dir="ltr" lang="en">Red.</div>' in html
    # a bilingual question: each sentence isolated in its own direction
    assert ('<div class="question" dir="rtl"><bdi dir="rtl" lang="ar">ما لون المربع في الصورة؟ </bdi><bdi dir="ltr" lang="en">'
            'What colour is the square? Answer with one English word.</bdi></div>') in html


def test_verdicts_in_both_modes(page):
    html = page[2]
    section = html.split('id="gqa-fx-1"')[1].split("</section>")[0]
    row_b = section.split('<td><bdi dir="ltr" lang="en">fixture-B</bdi></td>')[1].split("</tr>")[0]
    assert row_b.count('class="v ok">✓') == 1 and row_b.count('class="v no">✗') == 1  # 'Red.': corrected right, original wrong
    assert 'data-disagree="1"' in html and 'id="f-disagree"' in html and 'id="f-domain"' in html
    assert '<option value="countbench">' in html and '<option value="Video">' in html


@pytest.mark.parametrize("row, expected", [
    ({"dataset": "vqav2", "prediction": "cat", "answer": "cat", "correct_corrected": True, "correct_original": True,
      "original_error": "", "error": ""}, {"corrected": True, "original": True, "judge": True}),
    ({"dataset": "vqav2", "prediction": "cat", "answer": "cat", "correct_corrected": False, "correct_original": False,
      "original_error": "open-ended set: needs an LLM judge", "error": ""}, {"corrected": None, "original": None, "judge": None}),
    ({"dataset": "vqav2", "prediction": "cat", "answer": "cat"}, {"corrected": None, "original": None, "judge": None}),
    ({"dataset": "mmbench", "prediction": "b", "answer": "ب"}, {"corrected": True, "original": False, "judge": None}),
])
def test_judge_grade_only_where_a_judge_graded(row, expected):
    assert verdicts(row) == expected


def test_panel_and_choice(page, scored, tmp_path):
    out = page[0]
    assert (out / "fig05_side_by_side.png").stat().st_size > 20_000 and (out / "fig05_side_by_side.pdf").exists()
    s = gallery.build(scored[:2], tmp_path, panel_items=["fx-3", "mmbench/fx-5"])
    assert s["panel"] == ["countbench/fx-3", "mmbench/fx-5"] and s["models"] == ["fixture-A", "fixture-B"]
    with pytest.raises(RecordError, match="--panel: no item nope"):
        gallery.build(scored[:2], tmp_path, panel_items=["nope"])


def test_bad_inputs_are_named(tmp_path, scored):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dataset": "gqa", "id": "fx-1"}\n')
    proc = cli("gallery", "--predictions", scored[0], str(bad), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "bad.jsonl: line 1: needs 'dataset', 'id' and 'prediction'" in proc.stderr
    proc = cli("gallery", "--predictions", scored[0], str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "missing.jsonl: no such file" in proc.stderr and "Traceback" not in proc.stderr
    items = tmp_path / "items.jsonl"
    items.write_text('{"dataset": "gqa", "id": "fx-1", "question": "q", "images": ["nowhere.png"]}\n')
    with pytest.raises(RecordError, match=r"items.jsonl: line 1: image .*nowhere.png cannot be read"):
        gallery.build(scored[:1], tmp_path / "o", items=items)
    with pytest.raises(RecordError, match="--names gives 1 names for 2"):
        gallery.build(scored[:2], tmp_path / "o", names=["x"])


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_summary_says_when_no_prediction_matched_an_item(tmp_path):
    items = _jsonl(tmp_path / "items.jsonl", [{"dataset": "gqa", "id": "t-1", "question": "ما اللون؟", "answer": "أحمر"},
                                              {"dataset": "gqa", "id": "t-2", "question": "What shape?", "answer": "square"}])
    off = _jsonl(tmp_path / "off.jsonl", [{"dataset": "gqa", "id": "T1", "prediction": "أحمر"},     # ids written otherwise
                                          {"dataset": "pope", "id": "t-2", "prediction": "square"}])  # another data set
    proc = cli("gallery", "--predictions", off, "--items", items, "--output", str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr
    assert f"no prediction matched an item of {items} (2 items; matched by dataset and id)" in proc.stdout
    assert "No prediction matched an item of the items file" in (tmp_path / "none" / "gallery.html").read_text(encoding="utf-8")
    part = _jsonl(tmp_path / "part.jsonl", [{"dataset": "gqa", "id": "t-1", "prediction": "أحمر"},
                                            {"dataset": "gqa", "id": "t-9", "prediction": "x"}])
    proc = cli("gallery", "--predictions", part, "--items", items, "--output", str(tmp_path / "part"))
    assert proc.returncode == 0, proc.stderr
    assert f"1 of the 2 items of {items} answered, 1 answered keys match no item there" in proc.stdout
    assert "No prediction matched" not in (tmp_path / "part" / "gallery.html").read_text(encoding="utf-8")
