"""`ainkit survey`: the seeded order (the same in JS and Python), the statistics (Luce held to choix), the form and key,
every kind of bad response named by file and rater, the analysis end to end, and what the published split supports.

    .venv/bin/python -m pytest tests/test_survey.py
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ainkit.reproduction.analyses import survey as published
from ainkit.services.records import RecordError
from ainkit.pipelines.sidebyside import FIXTURE_ANSWERS
from ainkit.pipelines.survey import analyze, build, order, responses, stats
from helpers import cli

MODELS = ["fixture-A", "fixture-B", "fixture-C"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("survey")
    summary = build.build([str(p) for p in FIXTURE_ANSWERS], out, raters=6, seed="fixedseed")
    return out, summary, json.loads((out / "key.json").read_text())


def respond(key, rater, pick, **extra):
    """A response as the form writes it; pick(question) -> model name to choose."""
    answers = []
    for q in key["questions"]:
        shown = order.shown(key["seed"], rater, q["id"], list(q["slots"]))
        token = next(t for t in shown if q["slots"][t] == pick(q))
        answers.append({"question": q["id"], "order": shown, "choice": token, "position": shown.index(token) + 1})
    resp = {"kind": "ainkit-survey-response", "format": 1, "survey": key["survey"], "rater": rater, "order_seed": key["seed"],
            "submitted_at": "2026-11-30T10:00:00.000Z", "demographics": {"country": "EG", "msa": "MSA clear; prefer MSA"},
            "comment": "", "answers": answers}
    resp.update(extra)
    return resp


# ---------- the order ----------

def test_order_golden_and_a_permutation():
    tokens = ["aa", "bb", "cc", "dd"]
    got = order.shown("seed", "R001-abc", "q01", tokens)
    assert sorted(got) == tokens and got == order.shown("seed", "R001-abc", "q01", list(reversed(tokens)))
    assert order.fnv1a32("") == 0x811C9DC5 and order.fnv1a32("a") == 0xE40C292C  # FNV-1a reference values
    orders = {tuple(order.shown("seed", f"R{i:03d}", "q01", tokens)) for i in range(60)}
    assert len(orders) > 12  # raters see different orders (24 possible)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the JS order is checked in the browser test")
def test_order_js_equals_python():
    rng = np.random.default_rng(3)
    cases = [(f"{rng.integers(1 << 40):x}", f"R{i:03d}-{rng.integers(1 << 16):04x}", f"q{j:02d}",
              [f"{rng.integers(1 << 32):08x}" for _ in range(2 + j)]) for i in range(25) for j in range(4)]
    js = order.JS + f"\nconsole.log(JSON.stringify({json.dumps(cases)}.map(c=>shownOrder(...c))));"
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == [order.shown(*c) for c in cases]


# ---------- statistics ----------

def test_luce_matches_choix_on_uneven_choice_sets():
    choix = pytest.importorskip("choix")
    rng = np.random.default_rng(1)
    true, k, data = np.array([0.4, 0.3, 0.2, 0.1]), 4, []
    for _ in range(400):
        shown = sorted(rng.choice(k, size=rng.integers(2, k + 1), replace=False).tolist())
        win = shown[rng.choice(len(shown), p=true[shown] / true[shown].sum())]
        data.append((win, tuple(s for s in shown if s != win)))
    params = choix.ilsr_top1(k, data, alpha=0, tol=1e-12, max_iter=1000)
    expected = np.exp(params) / np.exp(params).sum()
    pats = {}
    for win, losers in data:
        pats[(win, tuple(sorted((win, *losers))))] = pats.get((win, tuple(sorted((win, *losers)))), 0) + 1
    sets = np.zeros((len(pats), k))
    for i, (_, shown) in enumerate(pats):
        sets[i, list(shown)] = 1
    ours = stats.luce_mm(sets, np.array([w for w, _ in pats]), np.array(list(pats.values()), float))
    assert np.allclose(ours, expected, atol=1e-8)


def test_strengths_equal_shares_when_every_model_is_always_shown():
    votes = [(r, q, (r + q) % 3 if q else 0, [0, 1, 2]) for r in range(10) for q in range(4)]
    st = stats.strengths_interval(votes, 10, 4, 3, b=200)
    wins = np.bincount([v[2] for v in votes], minlength=3)
    assert np.allclose(st["strength"], wins / wins.sum()) and np.all(st["low"] <= st["strength"] + 1e-12)


def test_shares_interval_resamples_raters_and_questions():
    cube = np.zeros((40, 5, 2))
    cube[:30, :, 0] = 1
    cube[30:, :, 1] = 1
    sh = stats.shares_interval(cube, b=1000)
    assert np.allclose(sh["share"], [0.75, 0.25]) and sh["low"][0] < 0.75 < sh["high"][0]
    same = np.zeros((40, 5, 2))  # each question unanimous: the spread comes from the questions
    same[:, :4, 0] = 1
    same[:, 4, 1] = 1
    iv = stats.shares_interval(same, b=1000)
    assert iv["high"][0] - iv["low"][0] > 0.3  # 5 questions, one against: a wide interval, however many raters


def test_position_bias_is_the_exact_binomial_test():
    from scipy.stats import binomtest

    first = [i % 2 == 0 for i in range(60)]  # 30 of 60 first-position picks with 3 answers
    got = stats.position_bias(first, [3] * 60, [i // 6 for i in range(60)], [i % 6 for i in range(60)], b=300)
    assert got["first"] == 30 and got["expected"] == pytest.approx(1 / 3)
    assert got["p_value"] == pytest.approx(binomtest(30, 60, 1 / 3).pvalue) and got["low"] <= 0.5 <= got["high"]


@pytest.mark.parametrize("data, expected", [
    ([[0, 1, 2, 0], [0, 1, 2, 0]], 1.0),
    ([[0, 0, 0], [0, 0, 0]], None),                      # one value only: undefined
    ([[0, 1, np.nan], [np.nan, np.nan, 1]], None),       # no question with two votes
])
def test_krippendorff_alpha(data, expected):
    value, why = stats.alpha(np.array(data, dtype=float))
    assert value == (pytest.approx(expected) if expected is not None else None) and why


def test_published_split_intervals_state_their_assumptions():
    frame = published.published_intervals()
    ind = frame.loc["independent votes"]
    block = frame.loc["raters vote as one"]
    ain = "Model 1: AIN-7B"
    assert ind.loc[ain, "published %"] == 76.0 and ind.loc[ain, "n"] == 2000 and block.loc[ain, "n"] == 200
    half = 1.96 * np.sqrt(0.76 * 0.24 / 2000) * 100  # the normal approximation agrees with the bootstrap
    assert ind.loc[ain, "low %"] == pytest.approx(76 - half, abs=0.2) and ind.loc[ain, "high %"] == pytest.approx(76 + half, abs=0.2)
    assert (block["high %"] - block["low %"] > ind["high %"] - ind["low %"]).all()
    assert set(stats.PUBLISHED_ASSUMPTIONS) == set(frame.index.get_level_values(0))


def test_position_confound_table():
    frame = published.position_confound()
    assert frame.loc["x1"].tolist() == [76.0, 15.0, 9.0]
    assert frame.loc["x2", "Model 1: AIN-7B"] == pytest.approx(100 * 0.38 / 0.62, abs=0.05)
    assert np.allclose(frame.sum(axis=1), 100, atol=0.2)


# ---------- build ----------

def test_form_hides_identities_and_key_deblinds(built):
    out, summary, key = built
    page = (out / "form" / "survey.html").read_text()
    assert summary["questions"] == 6 and key["models"] == MODELS and len(key["raters"]) == 6
    for name in MODELS:
        assert name not in page
    assert "key.json" not in os.listdir(out / "form") and "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == 7 and 'lang="ar" dir="rtl"' in page
    data = json.loads(page.split('<script id="survey-data" type="application/json">')[1].split("</script>")[0])
    for q, kq in zip(data["questions"], key["questions"]):
        assert [a["token"] for a in q["answers"]] == sorted(kq["slots"]) and set(kq["slots"].values()) == set(MODELS)
    assert all(c in page for c in ('value="SA"', 'value="KM"', 'value="SY"')) and page.count("<option value=") == 24  # 22 + other + blank
    assert 'value="MSA challenging; prefer own dialect"' in page
    rows = list(csv.DictReader((out / "raters.csv").open()))
    assert [r["rater"] for r in rows] == key["raters"] and rows[0]["link"] == f"survey.html?rater={key['raters'][0]}"


def test_tokens_do_not_follow_the_seed(tmp_path):
    a = build.build([str(p) for p in FIXTURE_ANSWERS], tmp_path / "a", raters=1, seed="s")
    b = build.build([str(p) for p in FIXTURE_ANSWERS], tmp_path / "b", raters=1, seed="s")
    ka, kb = (json.loads(Path(s["key"]).read_text()) for s in (a, b))
    assert ka["questions"][0]["slots"] != kb["questions"][0]["slots"]


def test_build_refuses_what_it_cannot_ask(tmp_path):
    with pytest.raises(RecordError, match="at least two models"):
        build.build([str(FIXTURE_ANSWERS[0])], tmp_path / "o")
    short = tmp_path / "short.jsonl"
    short.write_text("".join(FIXTURE_ANSWERS[1].read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(RecordError, match=r"short.jsonl: no answer for item pope/fx-4"):
        build.build([str(FIXTURE_ANSWERS[0]), str(short)], tmp_path / "o")
    with pytest.raises(RecordError, match="both named 'fixture-A'"):
        build.build([str(FIXTURE_ANSWERS[0]), str(FIXTURE_ANSWERS[0])], tmp_path / "o")
    proc = cli("survey", "build", "--answers", str(FIXTURE_ANSWERS[0]), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "at least two models" in proc.stderr and "Traceback" not in proc.stderr


# ---------- responses ----------

def test_every_bad_response_is_named(built, tmp_path):
    _, _, key = built
    r1, r2, r3, r4, r5 = key["raters"][:5]
    first = {q["id"]: MODELS[i % 3] for i, q in enumerate(key["questions"])}
    files = {
        "good.json": respond(key, r1, lambda q: first[q["id"]]),
        "stranger.json": respond(key, "R999-ffffff", lambda q: MODELS[0]),
        "old.json": respond(key, r2, lambda q: MODELS[2], submitted_at="2026-11-30T09:00:00Z"),
        "new.json": respond(key, r2, lambda q: MODELS[1], submitted_at="2026-11-30T11:00:00Z"),
        "gap.json": respond(key, r3, lambda q: MODELS[0]),
        "tampered.json": respond(key, r4, lambda q: MODELS[0]),
        "other-survey.json": respond(key, r5, lambda q: MODELS[0], survey="000000000000"),
    }
    files["gap.json"]["answers"] = files["gap.json"]["answers"][1:]
    files["gap.json"]["demographics"] = {"country": "Atlantis"}
    t = files["tampered.json"]["answers"][2]
    t["order"] = list(reversed(t["order"]))
    for name, resp in files.items():
        (tmp_path / name).write_text(json.dumps(resp))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "key.json").write_text(json.dumps(key))  # the key beside the responses is not a response
    got = responses.read(tmp_path, key)
    def has(file, rater, question, action, text):
        return any((p.file, p.rater, p.question, p.action) == (file, rater, question, action) and text in p.problem
                   for p in got.problems)
    assert has("stranger.json", "R999-ffffff", "", responses.SET_ASIDE, "unknown rater")
    assert has("old.json", r2, "", responses.SET_ASIDE, "duplicate submission") and got.raters[r2].file == "new.json"
    assert has("gap.json", r3, "q01", responses.KEPT, "unanswered question")
    assert has("gap.json", r3, "", responses.KEPT, "country 'Atlantis'") and has("gap.json", r3, "", responses.KEPT, "MSA/dialect")
    assert has("tampered.json", r4, "q03", responses.SET_ASIDE, "tampered order")
    assert has("other-survey.json", r5, "", responses.SET_ASIDE, "another survey")
    assert has("broken.json", "", "", responses.SET_ASIDE, "unreadable")
    assert sorted(got.set_aside) == ["broken.json", "old.json", "other-survey.json", "stranger.json", "tampered.json"]
    assert sorted(got.raters) == sorted([r1, r2, r3]) and got.raters[r3].country == responses.NOT_GIVEN
    votes = {(v.rater, v.question): v.model for v in got.votes}
    assert all(votes[(r1, q)] == m for q, m in first.items())  # de-blinded to the model chosen
    assert all(votes[(r2, q["id"])] == MODELS[1] for q in key["questions"]) and (r3, "q01") not in votes
    assert len(got.votes) == 6 + 6 + 5


def test_tampered_choice_and_position(built, tmp_path):
    _, _, key = built
    r = key["raters"][0]
    bad_choice = respond(key, r, lambda q: MODELS[0])
    bad_choice["answers"][0]["choice"] = "deadbeef"
    (tmp_path / "c.json").write_text(json.dumps(bad_choice))
    got = responses.read(tmp_path / "c.json", key)
    assert got.set_aside == ["c.json"] and "tampered choice" in got.problems[0].problem
    bad_pos = respond(key, r, lambda q: MODELS[0])
    bad_pos["answers"][1]["position"] = 9
    (tmp_path / "p.json").write_text(json.dumps(bad_pos))
    assert "tampered position" in responses.read(tmp_path / "p.json", key).problems[0].problem


@pytest.mark.parametrize("written, counts", [
    (str, True), (lambda n: f" {n} ", True), (float, True), (int, True), (lambda n: "٠١٢٣"[n], True),
    (lambda n: "two", False), (lambda n: True, False), (lambda n: 0, False), (lambda n: "", False), (lambda n: None, False),
    (lambda n: [n], False), (lambda n: f"{n}.5", False), (lambda n: "²", False),
])
def test_position_written_as_text_or_malformed(built, tmp_path, written, counts):
    """The right position written as text counts; anything else is named as malformed, never as 'tampered position:
    recorded '1', the choice was shown at 1'."""
    _, _, key = built
    resp = respond(key, key["raters"][0], lambda q: MODELS[1])
    shown_at = resp["answers"][0]["position"]
    resp["answers"][0]["position"] = recorded = written(shown_at)
    (tmp_path / "p.json").write_text(json.dumps(resp))
    got = responses.read(tmp_path / "p.json", key)
    if counts:
        assert got.problems == [] and got.set_aside == [] and got.votes[0].position == shown_at
    else:
        assert got.set_aside == ["p.json"] and [p.question for p in got.problems] == ["q01"]
        assert got.problems[0].problem.startswith(f"malformed position: {recorded!r} is not a whole number")


def test_a_wrong_position_as_text_is_named_as_a_number(built, tmp_path):
    _, _, key = built
    resp = respond(key, key["raters"][0], lambda q: MODELS[1])
    shown_at = resp["answers"][0]["position"]
    resp["answers"][0]["position"] = str(shown_at % 3 + 1)
    (tmp_path / "p.json").write_text(json.dumps(resp))
    got = responses.read(tmp_path / "p.json", key)
    assert got.problems[0].problem == f"tampered position: recorded {shown_at % 3 + 1}, the choice was shown at {shown_at}"


def test_malformed_question_ids_are_named_not_a_crash(built, tmp_path):
    _, _, key = built
    resp = respond(key, key["raters"][0], lambda q: MODELS[1])
    resp["answers"].append({"question": ["q01"], "choice": None})
    (tmp_path / "q.json").write_text(json.dumps(resp))
    got = responses.read(tmp_path / "q.json", key)
    assert len(got.votes) == 6 and "a question the survey does not have" in got.problems[0].problem


def test_luce_replicate_without_votes_is_nan_without_a_warning():
    import warnings

    sets, winners = np.array([[1, 1, 0], [1, 1, 1]], float), np.array([0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pi = stats.luce_mm(sets, winners, np.array([[2.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(pi[1]).all() and np.allclose(pi[[0, 2]].sum(axis=1), 1)
    assert np.allclose(pi[0], stats.luce_mm(sets, winners, np.array([2.0, 1.0])))


# ---------- analyze ----------

def test_a_rater_who_chose_nothing_is_not_a_rater(built, tmp_path):
    """Every choice null (or no answers at all): one problem, the file set aside, no rater counted, no numpy warning."""
    out, _, key = built
    folder = tmp_path / "responses"
    folder.mkdir()
    r1, r2, r3 = key["raters"][:3]
    (folder / "real.json").write_text(json.dumps(respond(key, r1, lambda q: MODELS[0])))
    null = respond(key, r2, lambda q: MODELS[0])
    for a in null["answers"]:
        a["choice"] = None
    (folder / "null.json").write_text(json.dumps(null))
    (folder / "empty.json").write_text(json.dumps(respond(key, r3, lambda q: MODELS[0], answers=[])))
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}  # a numpy warning would stop the run
    proc = cli("survey", "analyze", "--responses", str(folder), "--key", str(out / "key.json"), "--output",
               str(tmp_path / "an"), "--bootstrap", "300", timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "invalid value" not in proc.stderr and "Warning" not in proc.stderr
    assert "3 files, 1 raters, 6 votes; 2 files set aside, 2 problems" in proc.stdout
    problems = list(csv.DictReader((tmp_path / "an" / "problems.csv").open(encoding="utf-8")))
    assert sorted((p["file"], p["problem"]) for p in problems) == [
        ("empty.json", "no question answered (every choice is null): not counted as a rater"),
        ("null.json", "no question answered (every choice is null): not counted as a rater")]
    result = json.loads((tmp_path / "an" / "analysis.json").read_text())
    assert result["raters_used"] == 1 and sum(result["countries"].values()) == 1



def test_analyze_end_to_end(built, tmp_path):
    out, _, key = built
    folder = tmp_path / "responses"
    folder.mkdir()
    plan = {r: (lambda q, i=i: MODELS[0] if (i + int(q["id"][1:])) % 4 else MODELS[1]) for i, r in enumerate(key["raters"])}
    for r, pick in plan.items():
        (folder / f"{r}.json").write_text(json.dumps(respond(key, r, pick)))
    proc = cli("survey", "analyze", "--responses", str(folder), "--key", str(out / "key.json"), "--output", str(tmp_path / "an"),
               "--bootstrap", "300")
    assert proc.returncode == 0, proc.stderr
    assert "6 raters, 36 votes; 0 files set aside, 0 problems" in proc.stdout
    result = json.loads((tmp_path / "an" / "analysis.json").read_text())
    expected_a = sum(plan[r](q) == MODELS[0] for r in plan for q in key["questions"])
    assert result["shares_percent"]["fixture-A"]["votes"] == expected_a
    assert result["shares_percent"]["fixture-C"]["share"] == 0 and result["strengths_percent"]["fixture-C"]["strength"] == 0
    assert result["by_country"]["Egypt · مصر"]["raters"] == 6 and set(result["by_domain"]) == {"VQA", "Video"}
    assert result["agreement"]["alpha"] is not None and result["position_bias"]["votes"] == 36
    for stem in analyze.FIGURES.values():
        assert (tmp_path / "an" / f"{stem}.png").stat().st_size > 10_000 and (tmp_path / "an" / f"{stem}.pdf").exists()
    votes = list(csv.DictReader((tmp_path / "an" / "votes.csv").open()))
    assert all(v["model"] == plan[v["rater"]]({"id": v["question"]}) for v in votes)
    a = published.responses_analysis(folder, out / "key.json", bootstrap=200)
    quantities = [r.quantity for r in published.result_rows(a)]
    assert f"your survey {key['survey']}: fixture-A share of votes" in quantities


def test_analyze_with_nothing_usable_says_why(built, tmp_path):
    out, _, key = built
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.json").write_text(json.dumps(respond(key, "R999-000000", lambda q: MODELS[0])))
    proc = cli("survey", "analyze", "--responses", str(tmp_path / "r"), "--key", str(out / "key.json"), "--output", str(tmp_path / "an"))
    assert proc.returncode == 2 and "no usable vote in 1 response files" in proc.stderr and "Traceback" not in proc.stderr
    assert "unknown rater" in (tmp_path / "an" / "problems.csv").read_text()
    proc = cli("survey", "analyze", "--responses", str(tmp_path / "r"), "--key", str(tmp_path / "r" / "x.json"), "--output", str(tmp_path / "an"))
    assert proc.returncode == 2 and "not a survey key" in proc.stderr
    (tmp_path / "none").mkdir()
    proc = cli("survey", "analyze", "--responses", str(tmp_path / "none"), "--key", str(out / "key.json"), "--output", str(tmp_path / "an"))
    assert proc.returncode == 2 and "no response files (*.json) found" in proc.stderr
