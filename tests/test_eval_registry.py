"""The benchmark registry (`ainkit evaluate --list`), KITAB-Bench text recognition held to its authors' metrics
(mbzuai-oryx/KITAB-Bench ocr-eval/metrics.py @ c27abc2), a KITAB fixture run through a served vision model, and
`ainkit evaluate --compare` (bootstrap intervals, exact McNemar against scipy and by hand)."""
import argparse
import json

import pytest

from ainkit.commands import evaluate as command
from ainkit.stages.evaluate import arb, compare, kitab, registry
from helpers import cli, fault_server, stats


def test_registry_lists_every_benchmark_with_keys_licence_and_gating():
    rows = {r["benchmark"]: r for r in registry.table()}
    assert set(rows) == {"camel-bench", "arabic-mmlu", "kitab-bench", "jeem", "arb"}
    assert all(r["size"] and r["keys"] and r["licence"] and r["gating"] for r in rows.values())
    assert "TEDS" in rows["kitab-bench"]["not implemented"] and "MARS" in rows["kitab-bench"]["not implemented"]
    assert rows["jeem"]["runs"] == "yes" and "gated" in rows["jeem"]["gating"] and "judge" in rows["arb"]["metrics"]
    assert "CIDEr" in rows["jeem"]["metrics"] and "BERTScore" in rows["jeem"]["not implemented"]
    assert "rubric" in rows["arb"]["not implemented"]
    text = registry.render()
    assert "kitab-bench:" in text and "not implemented:" in text


# Golden cases, written by following ocr-eval/metrics.py line by line (preprocess_arabic_text on both sides, then
# torchmetrics' corpus CharErrorRate / WordErrorRate, mean Levenshtein, each rounded to 2): (gt, pred) rows -> values.
GOLDEN = [
    ("identical", [("السلام عليكم", "السلام عليكم")], 0.0, 0.0, 0.0),
    ("diacritics, alef, teh marbuta, alef maksura normalised away", [("إِلى مَدرسةٍ", "الي مدرسه")], 0.0, 0.0, 0.0),
    ("tatweel and a newline", [("مـــصر\nالقاهرة", "مصر  القاهره")], 0.0, 0.0, 0.0),
    ("three letters of nine wrong, one word of two", [("كتب الولد", "كتب البنت")], 0.33, 0.5, 3.0),
    ("corpus rate, not the mean of row rates (2/10, not 0.5)", [("ab", ""), ("abcdefgh", "abcdefgh")], 0.2, 0.5, 1.0),
    ("a null prediction is the empty string", [("نص", None)], 1.0, 1.0, 2.0),
]


@pytest.mark.parametrize("name, rows, cer, wer, ed", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_kitab_ocr_metrics_golden(name, rows, cer, wer, ed):
    r = kitab.score_dataset([{"gt": g, "pred": p} for g, p in rows])
    assert (r["cer"], r["wer"], r["ed"]) == (cer, wer, ed)


def test_kitab_intervals_redraw_the_corpus_rates():
    rows = [{"gt": "كتب الولد", "pred": "كتب البنت", "images": ["a.png"]},
            {"gt": "مرحبا بكم", "pred": "مرحبا بكم", "images": ["b.png"]}]
    s = kitab.score_dataset(rows, resamples=500)
    # drawing only the first item gives its own CER (3/9), only the second 0: the interval spans exactly that
    assert s["ci95"]["cer"][0] == 0.0 and s["ci95"]["cer"][1] == pytest.approx(3 / 9)
    assert s["ci95"]["wer"] == [0.0, pytest.approx(0.5)]
    assert s["ci95"]["chrf"][0] <= s["unrounded"]["chrf"] <= s["ci95"]["chrf"][1] == 100.0


def test_kitab_chrf_and_headline_mean_of_rounded_sets():
    assert kitab.score_dataset([{"gt": "مرحبا بكم", "pred": "مرحبا بكم"}])["chrf"] == 100.0
    assert kitab.score_dataset([{"gt": "abc", "pred": "xyz"}])["chrf"] == 0.0
    rows = [{"dataset": "khatt", "answer": "abc", "prediction": "abd"},  # CER 1/3 -> 0.33
            {"dataset": "isippt", "answer": "abcdefgh", "prediction": "abcdefgX"}]  # CER 1/8 = 0.125 -> 0.12
    s = kitab.summarize(rows)
    assert s["datasets"]["khatt"]["cer"] == 0.33 and s["datasets"]["isippt"]["cer"] == 0.12
    assert s["mean"]["cer"] == pytest.approx(0.225)  # eval.py averages the rounded per-set values
    assert s["signature"].startswith("kitab-bench ocr-eval@c27abc2")


def test_kitab_items_are_checked(tmp_path):
    path = kitab.write_fixture(tmp_path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    assert all((tmp_path / r["images"][0]).is_file() and r["question"] == kitab.DEFAULT_PROMPT for r in rows)
    with pytest.raises(Exception, match="needs a KITAB OCR 'dataset'"):
        kitab.validate("x.jsonl", [("line 1", {"dataset": "nope", "answer": "a", "images": ["a.png"]})])
    with pytest.raises(ValueError, match="unknown KITAB-Bench OCR set"):
        kitab.rows_to_items("nope", [], tmp_path)


def test_kitab_hub_rows_take_the_authors_answer_column(tmp_path):
    from PIL import Image

    rows = [{"image": Image.new("RGB", (8, 8), "red"), "answer": "أ", "text": "ب"}] * 3  # the hub sets' columns
    khatt = kitab.rows_to_items("khattparagraph", rows, tmp_path, limit=2)  # one of the three read from `answer`
    evarest = kitab.rows_to_items("evarest", rows, tmp_path)  # the rest: `text`
    assert [i["answer"] for i in khatt] == ["أ", "أ"] and [i["answer"] for i in evarest] == ["ب"] * 3
    assert all(len(i["images"]) == 1 and (tmp_path / i["images"][0]).is_file() for i in khatt + evarest)


def test_kitab_fixture_through_a_served_vision_model_then_cached(tmp_path):
    with fault_server() as port:
        args = ["evaluate", "--benchmark", "kitab-bench", "--model", "openai:vlm", "--base-url",
                f"http://127.0.0.1:{port}/v1", "--output", tmp_path / "k"]
        env = {"OPENAI_API_KEY": "sk-kitab-test-1234"}
        proc = cli(*args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        res = json.loads((tmp_path / "k" / "results.json").read_text())
        preds = [json.loads(line) for line in (tmp_path / "k" / "predictions.jsonl").read_text().splitlines()]
        assert res["items"] == 4 and res["unanswered"] == 0 and set(res["datasets"]) == {"khatt", "isippt"}
        assert all(p["prediction"] for p in preds)  # the server's answers, scored as the authors score them
        khatt = dict(res["datasets"]["khatt"])
        ci = khatt.pop("ci95")
        assert khatt == kitab.score_dataset(
            [{"gt": p["answer"], "pred": p["prediction"]} for p in preds if p["dataset"] == "khatt"])
        assert all(ci[m][0] <= khatt["unrounded"][m] <= ci[m][1] for m in ("cer", "wer", "chrf"))
        sent = stats(port)["requests"]
        assert sum(v for k, v in sent.items() if k.endswith(":judge")) == 4  # one image request per item
        first = sum(sent.values())
        proc = cli(*args, env=env)
        assert proc.returncode == 0 and sum(stats(port)["requests"].values()) == first  # nothing asked, not even the probe
        assert json.loads((tmp_path / "k" / "results.json").read_text())["datasets"] == res["datasets"]


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (0, 5), (3, 10), (7, 7), (20, 9), (45, 61)])
def test_mcnemar_exact_matches_scipy(b, c):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert compare.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_by_hand():
    assert compare.mcnemar_exact(0, 5) == 2 / 32  # both tails of Binomial(5, 1/2) at 0 and 5
    assert compare.mcnemar_exact(1, 4) == pytest.approx(2 * 6 / 32)  # P[X <= 1] = (1 + 5) / 32


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_compare_accuracies_intervals_and_mcnemar(tmp_path):
    # 10 items in two sets; A right on 6, B right on 8; discordant: A only 1, B only 3
    a_right = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1]
    b_right = [1, 1, 1, 1, 0, 1, 1, 1, 0, 1]
    rows = lambda right: [{"dataset": "x" if i < 5 else "y", "id": i, "correct": bool(v)} for i, v in enumerate(right)]
    a, b = _write(tmp_path / "a.jsonl", rows(a_right)), _write(tmp_path / "b.jsonl", rows(b_right))
    r = compare.compare(a, b, resamples=500, seed=1)
    o = r["overall"]
    assert (o["a"]["accuracy"], o["b"]["accuracy"], o["difference"]["b_minus_a"]) == (0.6, 0.8, pytest.approx(0.2))
    assert (o["mcnemar"]["a_only"], o["mcnemar"]["b_only"]) == (1, 3)
    assert o["mcnemar"]["p_value"] == pytest.approx(2 * 5 / 16)  # P[X <= 1], X ~ Bin(4, 1/2) = 5/16, doubled
    assert o["a"]["ci95"][0] <= 0.6 <= o["a"]["ci95"][1]
    assert o["difference"]["ci95"][0] <= 0.2 <= o["difference"]["ci95"][1]
    assert r["datasets"]["x"]["a"]["accuracy"] == 1.0 and r["datasets"]["x"]["a"]["ci95"] == [1.0, 1.0]
    assert compare.compare(a, b, resamples=500, seed=1) == r  # seeded
    assert "overall" in compare.render(r)


def test_compare_draws_items_that_share_an_image_together(tmp_path):
    # 4 images x 5 questions: with whole images drawn, an accuracy is one of k/4, never e.g. 0.45
    rows = [{"dataset": "d", "id": f"{im}-{q}", "images": [f"{im}.png"], "correct": im < 2}
            for im in range(4) for q in range(5)]
    a = _write(tmp_path / "a.jsonl", rows)
    r = compare.compare(a, a, resamples=300, seed=0)["overall"]
    assert r["clusters"] == 4 and all(v * 4 == int(v * 4) for v in r["a"]["ci95"])
    assert r["difference"]["ci95"] == [0.0, 0.0] and r["mcnemar"]["p_value"] == 1.0


def test_compare_refuses_different_items(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": 1, "correct": True}])
    b = _write(tmp_path / "b.jsonl", [{"id": 2, "correct": True}])
    with pytest.raises(Exception, match="different items"):
        compare.compare(a, b)


def test_list_and_compare_options_reach_the_command(tmp_path, capsys):
    p = command.add_arguments(argparse.ArgumentParser())
    assert command.run(p.parse_args(["--list"])) == 0 and "kitab-bench:" in capsys.readouterr().out
    a = _write(tmp_path / "a.jsonl", [{"dataset": "d", "id": i, "correct_corrected": i % 2 == 0} for i in range(6)])
    b = _write(tmp_path / "b.jsonl", [{"dataset": "d", "id": i, "correct_corrected": True} for i in range(6)])
    args = p.parse_args(["--compare", str(a), str(b), "--output", str(tmp_path / "o"),
                         "--resamples", "200", "--seed", "3"])
    assert command.run(args) == 0
    saved = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert saved["overall"]["mcnemar"]["b_only"] == 3 and "B:200|seed:3" in saved["signature"]


def test_arb_judge_request_is_the_authors():
    msgs = arb.judge_messages("سؤال", "أ", "الإجابة أ")
    assert msgs[0] == {"role": "system", "content": arb.SYSTEM_PROMPT}
    text = msgs[1]["content"]  # judge-llm-evaluation.py's f-string, whitespace and all
    pad = " " * 36
    assert text.startswith("\n" * 5 + pad + "Evaluate the following answer based on Accuracy:\n"
                           + pad + "Question: سؤال\n")
    assert f"{pad}Ground Truth: أ\n{pad}Model Prediction: الإجابة أ\n" in text and text.endswith("\n\n" + " " * 41)


@pytest.mark.parametrize("reply, score", [("1", True), (" 0\n", False), ("1.", None), ("Score: 1", None), ("", None),
                                          (None, None)])
def test_arb_judge_reply(reply, score):
    assert arb.parse_score(reply) is score


def test_arb_items_choices_and_accuracy():
    assert arb.choices_list("['أ. نعم', 'ب. لا']") == ["أ. نعم", "ب. لا"] and arb.choices_list(None) == []
    assert arb.question_text({"question": "س؟", "choices": ["أ. نعم", "ب. لا"]}) == "س؟\nأ. نعم\nب. لا"
    rows = [{"domain": "OCR", "correct": True, "judge_score": True},
            {"domain": "OCR", "correct": False, "judge_score": None},
            {"domain": "Math", "correct": False, "judge_score": False}]
    s = arb.summarize(rows)
    assert s["accuracy"] == pytest.approx(1 / 3) and s["domains"]["OCR"]["accuracy"] == 0.5 and s["judge_unusable"] == 1
    with pytest.raises(Exception, match="an ARB item needs"):
        arb.validate("x.jsonl", [("line 1", {"question": "q", "answer": "a"})])


def test_arb_fixture_answered_and_judged_then_cached(tmp_path):
    with fault_server() as port:
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-arb-test-1234"}
        args = ["evaluate", "--benchmark", "arb", "--model", "openai:vlm", "--judge", "openai:judge",
                "--output", tmp_path / "a"]
        proc = cli(*args, env=env)
        asked = [json.loads(line) for line in (tmp_path / "a" / "asked.jsonl").read_text().splitlines()]
        assert [p["prediction"] for p in asked] == ["red", "blue", "green"]  # the server names the colour it sees
        sent = stats(port)["requests"]
        judged = [k for k in sent if "Evaluate the following answer based on Accuracy:" in k]
        assert len(judged) == 3 and any("Model Prediction: red" in k for k in judged)
        # the test server answers a text request with Arabic words, never 0/1: no grade is usable, so no score
        assert proc.returncode != 0 and "none of its 3 replies was 0 or 1" in proc.stderr
        assert not (tmp_path / "a" / "results.json").exists()
        first = sum(sent.values())
        proc = cli(*args, env=env)  # the answers and the judge's replies are cached: nothing asked, not even the probe
        assert "none of its 3 replies" in proc.stderr and sum(stats(port)["requests"].values()) == first


def test_the_judge_refuses_a_spec_it_cannot_ask_and_asks_nothing_for_no_requests(monkeypatch):
    """judge.ask names the --judge forms it takes before anything is sent; with nothing to judge it opens nothing."""
    from ainkit.services.llm import LLMError
    from ainkit.stages.evaluate import judge

    with pytest.raises(LLMError, match="--judge 'hf:/models/x': use openai:NAME"):
        judge.ask("hf:/models/x", [[{"role": "user", "content": "1?"}]], parse=bool, max_tokens=1)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-sent")
    assert judge.ask("openai:gpt-4o", [], parse=bool, max_tokens=1) == []


def test_an_item_the_model_never_answered_is_not_scored_as_wrong():
    """A failed request leaves prediction None: scoring stops and says how many, instead of counting them 0."""
    from ainkit.services.llm import LLMError
    from ainkit.stages.evaluate import runner

    runner.require_answers("openai:m", [{"prediction": "x"}, {"prediction": ""}])  # an empty answer is an answer
    with pytest.raises(LLMError, match="openai:m: 1 of 3 items got no answer"):
        runner.require_answers("openai:m", [{"prediction": "x"}, {"prediction": None}, {"prediction": "y"}])


# --- JEEM: CIDEr as pycocoevalcap computes it, BLEU, ROUGE-L, intervals ---------------------------------------------

# Golden values: PyPI pycocoevalcap 1.2 (= salaniz/pycocoevalcap @ ad63453), `Cider().compute_score(gts, res)` on
# these items, run in a separate venv (pip install pycocoevalcap==1.2); per-item scores as it printed them.
CIDER_GOLDEN = [
    ([["صورة حمراء بالكامل", "لون أحمر يملأ الصورة"], ["صورة خضراء بالكامل"], ["قطة على الكرسي الأحمر", "قطة تجلس على كرسي"]],
     ["صورة حمراء", "صورة خضراء بالكامل اللون", "كلب على الكرسي"],
     [2.0366005774408826, 5.601399572057097, 1.5708722324340454]),
    ([["a man riding a horse on the beach", "a person rides a horse near the sea"], ["two dogs play in the snow"],
      ["a red car parked on the street", "a car on a street"], ["a bowl of fruit on a table"]],
     ["a man rides a horse on a beach", "dogs playing in snow", "a red car on the street", "a cat on a table"],
     [2.884791068733035, 1.5796342997147548, 3.8012519554114483, 2.2667887249845045]),
]


@pytest.mark.parametrize("refs, hyps, expected", CIDER_GOLDEN)
def test_jeem_cider_is_pycocoevalcaps(refs, hyps, expected):
    from ainkit.stages.evaluate import jeem

    assert jeem.cider(hyps, refs) == pytest.approx(expected, rel=1e-12)


def test_jeem_bleu_statistics_sum_to_sacrebleus_corpus_bleu_and_rouge_by_hand():
    from sacrebleu import corpus_bleu

    from ainkit.stages.evaluate import jeem

    hyps = ["a b c d e", "x y z", "p q"]
    refs = [["a b c d e f", "a b c"], ["x y z w"], ["p q r", "q p", "p"]]
    metric, stats = jeem.bleu_stats(hyps, refs)
    summed = [sum(col) for col in zip(*stats)]
    streams = [[r[j] if j < len(r) else None for r in refs] for j in range(3)]
    assert metric._compute_score_from_stats(summed).score == pytest.approx(corpus_bleu(hyps, streams).score)
    # LCS("a b c", "a c d") = 2: P = R = 2/3; the best of the two references counts
    assert jeem.rouge_l(["a b c"], [["a c d", "z"]]) == [pytest.approx(2 / 3)]
    assert jeem.tokens("صورة، حمراء!  Big") == ["صورة", "حمراء", "big"]


def test_jeem_scores_come_with_intervals_over_images():
    from ainkit.stages.evaluate import jeem

    # CIDEr needs references that differ; BLEU-4 needs 4-grams
    refs = ["صورة حمراء بالكامل في ضوء النهار", "قطة صغيرة تجلس على الكرسي الخشبي", "سيارة زرقاء تقف في الشارع الطويل"]
    preds = ["صورة حمراء بالكامل في ضوء النهار", "قطة تجلس على الكرسي", "لا شيء هنا", "صورة حمراء في ضوء النهار",
             "قطة صغيرة تجلس على الكرسي الخشبي", "سيارة زرقاء تقف في الشارع"]
    rows = [{"dataset": "egypt", "task": "caption", "id": i, "images": [f"{i % 3}.png"], "prediction": p,
             "answer": [refs[i % 3]]} for i, p in enumerate(preds)]
    s = jeem.score(rows, resamples=400, seed=0)
    assert s["n"] == 6 and s["images"] == 3
    for name in ("cider", "bleu", "rougeL"):
        lo, hi = s[name + "_ci95"]
        assert lo <= s[name] <= hi and lo < hi
    assert s["rougeL"] == pytest.approx(100 * sum(jeem.rouge_l([" ".join(jeem.tokens(r["prediction"])) for r in rows],
                                                                [r["answer"] for r in rows])) / 6)
    perfect = jeem.score([{**r, "prediction": r["answer"][0]} for r in rows], resamples=100)
    assert perfect["bleu"] == pytest.approx(100) and perfect["bleu_ci95"] == [pytest.approx(100), pytest.approx(100)]


def test_jeem_items_are_checked(tmp_path):
    from ainkit.services.records import RecordError
    from ainkit.stages.evaluate import jeem

    path = jeem.write_fixture(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["dataset"] for r in rows} == set(jeem.DATASETS) and {r["task"] for r in rows} == {"caption", "vqa"}
    jeem.validate(path, [(f"line {i}", r) for i, r in enumerate(rows, 1)])
    with pytest.raises(RecordError, match="line 2: a JEEM item needs"):
        jeem.validate("x.jsonl", [("line 1", rows[0]), ("line 2", {**rows[1], "answer": "أحمر"})])  # not a list
    with pytest.raises(RecordError, match="gated"):
        jeem.data_file("hub", tmp_path)
    assert jeem.prompt(rows[0]) == jeem.CAPTION_PROMPT and jeem.prompt(rows[1]).endswith(jeem.ANSWER_HINT)


def test_jeem_fixture_through_a_served_vision_model_then_cached(tmp_path):
    with fault_server() as port:
        args = ["evaluate", "--benchmark", "jeem", "--model", "openai:vlm", "--base-url",
                f"http://127.0.0.1:{port}/v1", "--output", tmp_path / "j"]
        env = {"OPENAI_API_KEY": "sk-jeem-test-1234"}
        proc = cli(*args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        res = json.loads((tmp_path / "j" / "results.json").read_text())
        assert res["items"] == 8 and set(res["tasks"]) == {"caption", "vqa"} and set(res["dialects"]) == {
            "jordan", "emirates", "egypt", "morocco"}
        assert res["tasks"]["caption"]["n"] == 4 and "cider_ci95" in res["tasks"]["vqa"]
        assert "caption: n=4" in proc.stdout
        first = sum(stats(port)["requests"].values())
        assert first == 8 + 1  # one request per item, and the vision probe
        proc = cli(*args, env=env)
        assert proc.returncode == 0 and sum(stats(port)["requests"].values()) == first  # nothing asked, not even the probe
        assert json.loads((tmp_path / "j" / "results.json").read_text())["tasks"] == res["tasks"]


def test_compare_as_a_word_and_intervals_in_results(tmp_path, capsys):
    p = command.add_arguments(argparse.ArgumentParser())
    a = _write(tmp_path / "a.jsonl", [{"dataset": "d", "id": i, "correct": i % 2 == 0} for i in range(8)])
    assert command.run(p.parse_args(["compare", str(a), str(a), "--resamples", "50"])) == 0
    assert "McNemar p=1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="compare A B"):
        command.run(p.parse_args(["compose", str(a), str(a)]))


def test_stratified_interval_matches_the_normal_approximation():
    # 400 independent items at 50 %: the 95 % interval is about 0.5 +- 1.96 * sqrt(0.25 / 400) = [0.451, 0.549]
    draws = compare.stratified({"x": ([i % 2 == 0 for i in range(400)], [str(i) for i in range(400)])}, 4000, 0)
    lo, hi = compare.percentile95(draws["x"][0] / draws["x"][1])
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)
    assert compare.accuracy_interval([True] * 5, ["a"] * 5) == [1.0, 1.0]


def test_camel_and_mmlu_results_carry_intervals(tmp_path):
    from ainkit.stages.evaluate import runner

    rows = [{"dataset": ds, "id": i, "prediction": "A", "answer": "A" if i % 3 else "B", "images": [f"{i // 2}.png"]}
            for ds in ("mmbench", "gqa") for i in range(12)]
    r = runner.run_camel_bench(str(_write(tmp_path / "p.jsonl", rows)), str(tmp_path / "cb"))
    ci = r["ci95"]["corrected"]
    assert set(ci["datasets"]) == {"mmbench", "gqa"} and ci["total"][0] <= r["corrected"]["total"] <= ci["total"][1]
    assert all(lo <= r["corrected"]["domains"][d] <= hi for d, (lo, hi) in ci["domains"].items())
    summary = {"categories": {"a": {"accuracy": 0.5, "n": 4}, "b": {"accuracy": 1.0, "n": 2}}, "total": {"accuracy": 4 / 6}}
    preds = [{"id": i, "category": "a" if i < 4 else "b", "correct": i % 2 == 0 or i >= 4} for i in range(6)]
    runner.add_intervals(summary, preds, resamples=200)
    assert summary["categories"]["b"]["ci95"] == [1.0, 1.0] and summary["total"]["ci95"][0] < 4 / 6 < summary["total"]["ci95"][1]


def test_pixel_bounds_of_a_released_checkpoint_come_from_its_preprocessor_config(tmp_path):
    from ainkit.services.chat import MAX_PIXELS, MIN_PIXELS
    from ainkit.stages.evaluate import local_vlm

    assert local_vlm.pixel_bounds(tmp_path) == (MIN_PIXELS, MAX_PIXELS)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12845056}))
    assert local_vlm.pixel_bounds(tmp_path) == (3136, 12845056)  # Qwen2-VL's (and MBZUAI/AIN's) published bounds


def test_a_kit_trained_checkpoint_on_kitab_and_jeem_then_nothing_generated(tmp_path):
    """`ainkit train` writes a Qwen2-VL checkpoint; `ainkit evaluate --model hf:CHECKPOINT` generates with the images
    on the KITAB-Bench and JEEM fixtures, scores them, and a second run into another folder generates nothing."""
    run = tmp_path / "run"
    proc = cli("train", "--config", "configs/train/tiny.yaml", "--executor", "debug", "--output-dir", str(run),
               "--set", "max_steps=1", "--set", "save_steps=1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = run / "checkpoint-1"
    for bench, n in (("kitab-bench", 4), ("jeem", 8)):
        proc = cli("evaluate", "--benchmark", bench, "--model", f"hf:{ckpt}", "--output", str(tmp_path / bench))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"{n} items, {n} generated now, 0 from the cache" in proc.stdout
        res = json.loads((tmp_path / bench / "results.json").read_text())
        preds = [json.loads(line) for line in (tmp_path / bench / "predictions.jsonl").read_text().splitlines()]
        assert res["items"] == n and len(preds) == n and all(isinstance(p["prediction"], str) for p in preds)
        again = cli("evaluate", "--benchmark", bench, "--model", f"hf:{ckpt}", "--output", str(tmp_path / (bench + "2")))
        assert again.returncode == 0 and f"{n} items, 0 generated now, {n} from the cache" in again.stdout
        assert json.loads((tmp_path / (bench + "2") / "results.json").read_text())["items"] == n


# Qwen2-VL-7B-Instruct's chat template adds this system turn to a conversation without one (text parts only here)
QWEN2_VL_LIKE_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.mark.slow
def test_a_released_checkpoint_is_asked_after_its_templates_system_turn(tmp_path):
    from ainkit.services.tiny import build
    from ainkit.stages.evaluate import local_vlm

    path = build(tmp_path / "released")  # no config.yaml: not a run of `ainkit train`
    assert local_vlm.QwenVL(path).system is None  # the tiny template adds no system turn
    config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "chat_template.jinja").unlink(missing_ok=True)
    (path / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": QWEN2_VL_LIKE_TEMPLATE}))
    vlm = local_vlm.QwenVL(path)
    assert vlm.system == "You are a helpful assistant."
    asked = vlm._batch("ما عاصمة الأردن؟")["input_ids"][0].tolist()
    expected = vlm.tok.apply_chat_template([{"role": "user", "content": "ما عاصمة الأردن؟"}], tokenize=True,
                                           add_generation_prompt=True)
    expected = expected["input_ids"] if isinstance(expected, dict) or hasattr(expected, "keys") else expected
    assert asked == list(expected)  # what vLLM or transformers' chat template would send
    (path / "config.yaml").write_text("min_pixels: 3136\nmax_pixels: 200704\n")
    assert local_vlm.QwenVL(path).system is None  # a kit run: asked in its training format, as it learned


def test_a_missing_image_is_named_with_its_item_before_anything_is_asked(tmp_path):
    from ainkit.services.records import RecordError
    from ainkit.stages.evaluate import runner

    item = {"dataset": "egypt", "id": "eg-7", "question": "?", "images": ["nowhere.png"], "answer": ["x"]}
    with pytest.raises(RecordError, match=r"item eg-7 \(egypt\): image nowhere.png not found"):
        runner.ask_items("jeem", "openai:v", [item], tmp_path, str(tmp_path / "o"), base_url="http://127.0.0.1:9/v1")
    (tmp_path / "adir.png").mkdir()
    with pytest.raises(RecordError, match="not a file"):
        runner.ask_items("jeem", "openai:v", [{**item, "images": ["adir.png"]}], tmp_path, str(tmp_path / "o"),
                         base_url="http://127.0.0.1:9/v1")


def test_the_same_model_name_at_another_server_is_another_model(monkeypatch):
    from ainkit.stages.evaluate import runner

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    a = runner.AnswerCache.key("jeem", "openai:v", "x/1", "p", "http://127.0.0.1:8000/v1")
    assert a == runner.AnswerCache.key("jeem", "openai:v", "x/1", "p", "http://127.0.0.1:8000/v1/")
    assert a != runner.AnswerCache.key("jeem", "openai:v", "x/1", "p", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert runner.AnswerCache.key("jeem", "openai:v", "x/1", "p") == a  # the environment's URL is the same server


def test_arb_accuracy_comes_with_its_interval():
    rows = [{"domain": "math", "correct": i < 3, "judge_score": int(i < 3), "id": i} for i in range(4)]
    s = arb.summarize(rows)
    assert s["accuracy"] == 0.75 and s["ci95"][0] <= 0.75 <= s["ci95"][1]
    assert s["domains"]["math"]["ci95"] == s["ci95"] and all(4 * v == int(4 * v) for v in s["ci95"])


def _tiny_qwen2_5_vl(path):
    """A random tiny Qwen2.5-VL (model_type qwen2_5_vl) with the kit's tiny tokenizer, saved to `path`."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from ainkit.services import tiny

    tok = tiny.sample_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in tiny.SPECIALS}
    config = Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tok), "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
                     "bos_token_id": None, **tiny.TEXT},
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 14,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3, "out_hidden_size": 64,
                       "window_size": 112, "fullatt_block_indexes": [1]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.slow
def test_a_qwen2_5_vl_checkpoint_is_evaluated_too(tmp_path):
    from ainkit.stages.evaluate import local_vlm

    path = _tiny_qwen2_5_vl(tmp_path / "q25")
    assert local_vlm.is_qwen2_vl(path) and json.loads((path / "config.json").read_text())["model_type"] == "qwen2_5_vl"
    proc = cli("evaluate", "--benchmark", "jeem", "--model", f"hf:{path}", "--output", str(tmp_path / "j"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "8 items, 8 generated now, 0 from the cache" in proc.stdout
    assert json.loads((tmp_path / "j" / "results.json").read_text())["items"] == 8
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "llava"}))
    proc = cli("evaluate", "--benchmark", "jeem", "--model", f"hf:{tmp_path / 'other'}", "--output", str(tmp_path / "x"))
    assert proc.returncode == 2 and "qwen2_vl or qwen2_5_vl" in proc.stderr


def _mmlu_csv(path, questions):
    from ainkit.stages.evaluate import arabic_mmlu

    header = ",".join(arabic_mmlu.COLUMNS)
    rows = [f"q{i},src,Jordan,STEM,Math,High,{q},,A,1,2,3,4,,0" for i, q in enumerate(questions)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_arabic_mmlu_scores_nothing_when_a_request_failed_or_no_answer_names_an_option(tmp_path):
    with fault_server() as port:
        base = ["evaluate", "--benchmark", "arabic-mmlu", "--model", "openai:m", "--base-url", f"http://127.0.0.1:{port}/v1"]
        env = {"OPENAI_API_KEY": "sk-mmlu-test-1234"}
        data = _mmlu_csv(tmp_path / "d.csv", ["كم 1+1؟", "كم 2+2؟ [fault:500x9]", "كم 3+3؟"])
        proc = cli(*base, "--data", data, "--output", tmp_path / "o", env=env)
        assert proc.returncode != 0 and "1 of 3 items got no answer" in proc.stderr and "nothing is" in proc.stderr
        assert not (tmp_path / "o" / "results.json").exists()
        # the server answers in words, never a letter: no score from replies that name no option
        proc = cli(*base, "--data", _mmlu_csv(tmp_path / "e.csv", ["كم 1+1؟", "كم 3+3؟"]), "--output", tmp_path / "p",
                   env=env)
        assert proc.returncode != 0 and "none of the 2 answers names an option" in proc.stderr
        assert not (tmp_path / "p" / "results.json").exists()


def test_arabic_mmlu_rows_without_options_or_items_are_refused(tmp_path):
    from ainkit.stages.evaluate import arabic_mmlu

    header = ",".join(arabic_mmlu.COLUMNS)
    (tmp_path / "short.csv").write_text(header + "\nq1,src,Jordan,STEM,Math,High,كم؟,,,,,,,,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: 0 option"):
        arabic_mmlu.load(tmp_path / "short.csv")
    (tmp_path / "head.csv").write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no items"):
        arabic_mmlu.load(tmp_path / "head.csv")
    (tmp_path / "nokey.csv").write_text(header + "\nq1,src,Jordan,STEM,Math,High,كم؟,,,1,2,,,,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: Answer Key"):
        arabic_mmlu.load(tmp_path / "nokey.csv")


def test_compare_names_rows_that_carry_an_error_and_refuses_zero_resamples(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"dataset": "d", "id": i, "correct": i > 0, "prediction": None if i == 0 else "x",
                                      "error": "prediction is missing" if i == 0 else ""} for i in range(4)])
    b = _write(tmp_path / "b.jsonl", [{"dataset": "d", "id": i, "correct": True} for i in range(4)])
    r = compare.compare(a, b, resamples=50)
    assert r["rows_with_errors"] == {"a": 1, "b": 0} and "A: 1 row(s) carry an 'error'" in compare.render(r)
    with pytest.raises(ValueError, match="at least 1"):
        compare.compare(a, b, resamples=0)


def test_arb_scores_nothing_when_no_judge_reply_is_0_or_1(tmp_path, monkeypatch):
    from ainkit.services.llm import LLMError
    from ainkit.stages.evaluate import judge, runner

    data = arb.data_file("fixture", tmp_path)
    monkeypatch.setattr(runner, "ask_items", lambda *a, **k: _write(
        tmp_path / "asked.jsonl", [{"dataset": "arb", "id": it["id"], "prediction": "أ"}
                                   for it in (json.loads(l) for l in data.read_text().splitlines())]))
    monkeypatch.setattr(judge, "ask", lambda model, requests, *a, **k: [None] * len(requests))
    with pytest.raises(LLMError, match="none of its 3 replies was 0 or 1"):
        arb.run("openai:m", "openai:judge", data, str(tmp_path / "o"))
    assert not (tmp_path / "o" / "results.json").exists()


def test_an_unreadable_image_and_an_empty_reference_are_named_before_anything_is_asked(tmp_path):
    from ainkit.services.records import RecordError
    from ainkit.stages.evaluate import runner

    (tmp_path / "text.png").write_text("not an image")
    item = {"dataset": "khatt", "id": "k-9", "question": "?", "images": ["text.png"], "answer": "نص"}
    with fault_server() as port:
        with pytest.raises(RecordError, match=r"item k-9 \(khatt\): image .*text.png: not an image"):
            runner.ask_items("kitab-bench", "openai:v", [item], tmp_path, str(tmp_path / "o"),
                             base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(RecordError, match="line 1: item k-9: the reference 'answer' is empty"):
        kitab.validate("x.jsonl", [("line 1", {**item, "answer": " \u064b "})])
