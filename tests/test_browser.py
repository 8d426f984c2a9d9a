"""The survey and the gallery in a real browser (headless Chromium through selenium and chromedriver).

    .venv/bin/python -m pytest tests/test_browser.py      # AINKIT_SCREENSHOTS=DIR keeps the screenshots

Two raters answer the built survey from the file (no server), each picking a planned model per question by
the answer's text; the form's own Save button downloads their responses; `ainkit survey analyze` reads them
back. Checked: every vote is credited to the model planned after de-blinding, the positions recorded are
those shown, the two raters saw different orders, no problem is reported (so the browser's order equals the
Python one), the form refuses to save while questions are unanswered, and notebook 07 analyses the saved
responses. Then the gallery page: every image decoded and shown, and the filters work.
Needs Debian's chromium and chromium-driver (.ci/run installs them as root) and selenium; skips, saying
which is missing, unless AINKIT_REQUIRE_BROWSER=1 (CI), where a missing part fails.
"""
import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ainkit.stages.evaluate import runner
from ainkit.pipelines.sidebyside import FIXTURE_ANSWERS, answer_text
from ainkit.pipelines.survey import build
from helpers import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MODELS = ["fixture-A", "fixture-B", "fixture-C"]
PLANS = {0: ["fixture-A", "fixture-B", "fixture-C", "fixture-A", "fixture-B", "fixture-C"],
         1: ["fixture-C", "fixture-C", "fixture-B", "fixture-A", "fixture-A", "fixture-B"]}


def _missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    if not CHROMIUM:
        return "chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it as root)"
    if not DRIVER:
        return "chromedriver is not installed (apt-get install chromium-driver; .ci/run does it as root)"
    return ""


if _missing():
    if os.environ.get("AINKIT_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"AINKIT_REQUIRE_BROWSER=1 but {_missing()}")
    pytest.skip(_missing(), allow_module_level=True)


def browser(downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--window-size=1200,1600"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    return webdriver.Chrome(options=opts, service=Service(DRIVER))


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    keep = os.environ.get("AINKIT_SCREENSHOTS")
    path = Path(keep) if keep else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wait_for_file(folder: Path, before: set[str], seconds: float = 20) -> Path:
    deadline = time.time() + seconds
    while time.time() < deadline:
        done = [p for p in folder.glob("*.json") if p.name not in before]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no download in {folder} after {seconds} s: {os.listdir(folder)}")


@pytest.fixture(scope="module")
def answered(tmp_path_factory, shots):
    """Build the survey, answer it as two raters in Chromium, save both responses with the Save button."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = tmp_path_factory.mktemp("survey")
    build.build([str(p) for p in FIXTURE_ANSWERS], root, raters=3)
    key = json.loads((root / "key.json").read_text())
    texts = {m: {} for m in MODELS}  # model -> question id -> answer text as shown
    for p in FIXTURE_ANSWERS:
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
        for q, r in zip(key["questions"], rows):
            assert (q["dataset"], q["item"]) == (r["dataset"], r["id"])
            texts[p.stem][q["id"]] = answer_text(r["prediction"])
    downloads = root / "responses"
    downloads.mkdir()
    seen, refused = {}, []
    driver = browser(downloads)
    try:
        for n, rater in enumerate(key["raters"][:2]):
            driver.get((root / "form" / "survey.html").as_uri() + f"?rater={rater}")
            driver.find_element(By.ID, "save").click()  # nothing answered yet: the form must refuse
            refused.append((driver.find_element(By.ID, "status").text, sorted(os.listdir(downloads))))
            seen[rater] = {}
            for q, card in zip(key["questions"], driver.find_elements(By.CSS_SELECTOR, "#questions .card")):
                assert card.get_attribute("data-question") == q["id"]
                shown = [e.text for e in card.find_elements(By.CSS_SELECTOR, ".answer-text")]
                seen[rater][q["id"]] = [next(m for m in MODELS if texts[m][q["id"]] == t) for t in shown]
                want = PLANS[n][int(q["id"][1:]) - 1]
                card.find_elements(By.CSS_SELECTOR, "label.opt")[shown.index(texts[want][q["id"]])].click()
            Select(driver.find_element(By.ID, "country")).select_by_value(["SA", "EG"][n])
            driver.find_elements(By.CSS_SELECTOR, "input[name=msa]")[n].click()
            driver.save_screenshot(str(shots / f"survey_rater{n + 1}_top.png"))
            before = {p.name for p in downloads.glob("*.json")}
            driver.find_element(By.ID, "save").click()
            _wait_for_file(downloads, before)
            driver.save_screenshot(str(shots / f"survey_rater{n + 1}_saved.png"))
    finally:
        driver.quit()
    return root, key, seen, refused


def test_form_refuses_an_incomplete_save(answered):
    for status, files in answered[3]:
        assert "unanswered questions: 1, 2, 3, 4, 5, 6" in status and "choose your country" in status
    assert answered[3][0][1] == []


def test_votes_credited_to_the_right_models(answered, tmp_path):
    root, key, seen, _ = answered
    files = sorted((root / "responses").glob("*.json"))
    assert [f.name for f in files] == sorted(f"survey-{key['survey']}-{r}.json" for r in key["raters"][:2])
    proc = cli("survey", "analyze", "--responses", str(root / "responses"), "--key", str(root / "key.json"),
               "--output", str(tmp_path / "an"), "--bootstrap", "300", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "2 files, 2 raters, 12 votes; 0 files set aside, 0 problems" in proc.stdout  # browser order == Python order
    votes = list(csv.DictReader((tmp_path / "an" / "votes.csv").open(encoding="utf-8")))
    assert len(votes) == 12
    for v in votes:
        n = key["raters"].index(v["rater"])
        assert v["model"] == PLANS[n][int(v["question"][1:]) - 1]
        assert v["shown"].split(" | ") == seen[v["rater"]][v["question"]]
        assert int(v["position"]) == seen[v["rater"]][v["question"]].index(v["model"]) + 1
    r1, r2 = key["raters"][:2]
    assert any(seen[r1][q] != seen[r2][q] for q in seen[r1])  # the two raters saw different orders
    result = json.loads((tmp_path / "an" / "analysis.json").read_text())
    assert result["shares_percent"]["fixture-A"]["votes"] == sum(p.count("fixture-A") for p in PLANS.values())
    assert set(result["by_country"]) == {"Saudi Arabia · السعودية", "Egypt · مصر"}


def test_notebook_07_analyses_the_saved_responses(answered, tmp_path):
    root = answered[0]
    proc = cli("reproduce", "--only", "07", "-p", "responses", str(root / "responses"), "-p", "bootstrap", "300",
               "--out", str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nb = (tmp_path / "reports" / "notebooks" / "07_human_feedback_survey.ipynb").read_text()
    assert f"survey {answered[1]['survey']}" in nb and "raters vote as one" in nb and "first-position odds" in nb
    assert (tmp_path / "figures" / "fig08_model_preference_responses.png").exists()
    rows = json.loads((tmp_path / "reports" / "results" / "07_human_feedback_survey.json").read_text())["rows"]
    assert any(r["quantity"].endswith("fixture-A share of votes") for r in rows)


def test_gallery_shows_every_image(tmp_path, shots):
    from selenium.webdriver.common.by import By

    preds = []
    for p in FIXTURE_ANSWERS:
        runner.run_camel_bench(str(p), str(tmp_path / p.stem), model=p.stem)
        preds.append(str(tmp_path / p.stem / "predictions.jsonl"))
    from ainkit.pipelines import gallery

    summary = gallery.build(preds, tmp_path / "g")
    driver = browser(tmp_path)
    try:
        driver.get((tmp_path / "g" / "gallery.html").as_uri())
        images = driver.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])")
        assert len(images) == summary["images"] == 7
        assert all(done and natural > 0 and width > 0 for done, natural, width in images), images
        driver.save_screenshot(str(shots / "gallery.png"))
        from selenium.webdriver.support.ui import Select

        Select(driver.find_element(By.ID, "f-dataset")).select_by_value("gqa")
        assert driver.find_element(By.ID, "shown").text == "2 of 6 items shown"
        Select(driver.find_element(By.ID, "f-dataset")).select_by_value("")
        Select(driver.find_element(By.ID, "f-domain")).select_by_value("Video")
        assert driver.find_element(By.ID, "shown").text == "1 of 6 items shown"
        driver.save_screenshot(str(shots / "gallery_filtered.png"))
    finally:
        driver.quit()


# ---------- mixed-direction text: an English, an Arabic and a bilingual item, in both pages ----------

BIDI_ITEMS = [
    {"dataset": "gqa", "id": "en-1", "question": "What colour is the square? Answer with one English word.", "answer": "red"},
    {"dataset": "gqa", "id": "ar-1", "question": "ما لون المربع؟ أجب بكلمة واحدة.", "answer": "أحمر"},
    {"dataset": "gqa", "id": "mix-1", "question": "ما لون المربع في الصورة؟ What colour is the square? Answer with one English word.",
     "answer": "red"},
]
BIDI_ANSWERS = {"model-1": ["Red.", "أحمر.", "The square is red."], "model-2": ["It is blue.", "أزرق", "المربع أحمر. It is red."]}

# For each element matched by `css`, in each text node holding `needle`: where its last two characters are drawn.
# Returns [[left of the second-last character, left of the last], ...]: a full stop that ends an English sentence must
# be drawn to the right of the letter before it.
_GLYPHS = """
const [css, needle] = arguments; const out = [];
for (const root of document.querySelectorAll(css)) {
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const i = n.data.indexOf(needle); if (i < 0) continue;
    const at = k => { const r = document.createRange(); r.setStart(n, k); r.setEnd(n, k + 1); return r.getBoundingClientRect().left; };
    out.push([at(i + needle.length - 2), at(i + needle.length - 1)]);
  }
}
return out;
"""


@pytest.fixture(scope="module")
def bidi_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bidi")
    (root / "items.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in BIDI_ITEMS), encoding="utf-8")
    answers = []
    for name, texts in BIDI_ANSWERS.items():
        rows = [{"dataset": i["dataset"], "id": i["id"], "prediction": t} for i, t in zip(BIDI_ITEMS, texts)]
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        answers.append(str(root / f"{name}.jsonl"))
    return root, answers


def _full_stops_on_the_right(driver, css, needles):
    for needle in needles:
        spots = driver.execute_script(_GLYPHS, css, needle)
        assert spots, (css, needle)
        for before, stop in spots:
            assert stop > before, f"{needle!r} in {css}: the full stop is drawn left of the letter before it"


def test_survey_lays_out_each_text_in_its_own_direction(bidi_inputs, shots):
    from selenium.webdriver.common.by import By

    root, answers = bidi_inputs
    summary = build.build(answers, root / "survey", items=root / "items.jsonl", raters=1, names=list(BIDI_ANSWERS))
    key = json.loads((root / "survey" / "key.json").read_text())
    driver = browser(root)
    try:
        driver.get(Path(summary["form"]).as_uri() + f"?rater={key['raters'][0]}")
        # English sentences keep their full stop on the right, alone (en-1) or after an Arabic one (mix-1), in the
        # question and in the answers
        _full_stops_on_the_right(driver, ".question", ["English word."])
        _full_stops_on_the_right(driver, ".answer-text", ["Red.", "is red.", "It is red."])
        for ref in driver.find_elements(By.CSS_SELECTOR, ".ref"):  # the reference under its label, not beside it
            head, text = ref.find_element(By.TAG_NAME, "b"), ref.find_element(By.CSS_SELECTOR, ".reference-text")
            assert text.rect["y"] >= head.rect["y"] + head.rect["height"] - 1 and text.text in ("red", "أحمر")
        for card in driver.find_elements(By.CSS_SELECTOR, "#questions .card"):
            for label in card.find_elements(By.CSS_SELECTOR, "label.opt"):
                head, text = label.find_element(By.TAG_NAME, "b"), label.find_element(By.CSS_SELECTOR, ".answer-text")
                # 'الإجابة 1 · Answer 1' on its line, the answer under it: never 'red :Answer 1 · 1 الإجابة'
                assert text.rect["y"] >= head.rect["y"] + head.rect["height"] - 1, (head.text, text.text)
                en = head.find_element(By.CSS_SELECTOR, "bdi[dir=ltr]")
                ar = head.find_element(By.CSS_SELECTOR, "bdi[dir=rtl]")
                assert en.text.startswith("Answer ") and ar.text.startswith("الإجابة ")
                assert ar.rect["x"] > en.rect["x"]  # right to left: the Arabic label first, on the right
        driver.save_screenshot(str(shots / "survey_mixed_directions.png"))
    finally:
        driver.quit()


def test_gallery_lays_out_each_text_in_its_own_direction(bidi_inputs, shots):
    from ainkit.pipelines import gallery

    root, answers = bidi_inputs
    gallery.build(answers, root / "gallery", items=root / "items.jsonl", names=list(BIDI_ANSWERS))
    driver = browser(root)
    try:
        driver.get((root / "gallery" / "gallery.html").as_uri())
        _full_stops_on_the_right(driver, ".question", ["English word."])
        _full_stops_on_the_right(driver, ".answer", ["Red.", "is red.", "It is red.", "is blue."])
        # the Arabic answer 'أحمر.' ends (on the left) with its full stop, right to left
        _, stop = driver.execute_script(_GLYPHS, ".answer", "أحمر.")[0]
        letter = driver.execute_script(_GLYPHS, ".answer", "أحمر.")[0][0]
        assert stop < letter
        driver.save_screenshot(str(shots / "gallery_mixed_directions.png"))
    finally:
        driver.quit()
