"""`ainkit evaluate`: ArabicMMLU on the embedded server and through a tiny local model's logits, cached answers,
CAMEL-Bench scoring of a predictions file in both modes, and the results file on notebook 06's tables."""
import json
from pathlib import Path

import pytest

from ainkit.stages.evaluate import arabic_mmlu, runner
from ainkit.services.tiny import build_causal_lm
from helpers import cli


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return build_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", [arabic_mmlu.prompt(i) for i in arabic_mmlu.load()])


def test_fixture_schema_and_categories():
    items = arabic_mmlu.load()
    assert len(items) == 44 and {i["category"] for i in items} == set(arabic_mmlu.CATEGORIES)
    assert arabic_mmlu.category("Arabic Language (Grammar)") == "Arabic Language" and arabic_mmlu.category("Astronomy") == "other"
    assert arabic_mmlu.extract("الإجابة: ب", 4) == "B" and arabic_mmlu.extract("(c)", 4) == "C" and arabic_mmlu.extract("E", 4) is None


def test_bad_answer_key_names_the_line(tmp_path):
    text = arabic_mmlu.FIXTURE.read_text(encoding="utf-8").splitlines()
    text[3] = text[3].replace(",B,", ",Z,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 4: Answer Key 'Z'"):
        arabic_mmlu.load(bad)


def test_csv_with_a_byte_order_mark_loads(tmp_path):
    bommed = tmp_path / "bom.csv"
    bommed.write_bytes(b"\xef\xbb\xbf" + arabic_mmlu.FIXTURE.read_bytes())
    assert arabic_mmlu.load(bommed) == arabic_mmlu.load()


def test_repeated_csv_id_names_both_lines(tmp_path):
    text = arabic_mmlu.FIXTURE.read_text(encoding="utf-8").splitlines()
    text[3] = text[1]  # the same item twice
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dup.csv: line 4: duplicate ID 'fixture-001' in subject '.+' \(first at line 2\)"):
        arabic_mmlu.load(dup)


HEADER = ",".join(arabic_mmlu.COLUMNS)


def _row(ident, question, key="A", few_shot="0"):
    return f'{ident},src,EG,Humanities,History,High,"{question}",,{key},one,two,three,,,{few_shot}'


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_errors_name_the_physical_line_when_a_field_spans_lines(tmp_path, eol):
    """A quoted question over three lines and a blank line: the error names the line in the file, not the record."""
    lines = [HEADER, _row("h-1", f"سؤال من{eol}ثلاثة{eol}أسطر؟"), "", _row("h-2", "سؤال؟", key="Z")]
    bad = tmp_path / "multi.csv"
    bad.write_bytes(eol.join(lines).encode("utf-8") + eol.encode())
    with pytest.raises(ValueError, match="multi.csv: line 6: Answer Key 'Z'"):  # header 1, record 2-4, blank 5, bad 6
        arabic_mmlu.load(bad)
    lines[3] = _row("h-1", "مكرر؟")
    bad.write_bytes(eol.join(lines).encode("utf-8") + eol.encode())
    with pytest.raises(ValueError, match=r"line 6: duplicate ID 'h-1' in subject 'History' \(first at line 2\)"):
        arabic_mmlu.load(bad)
    lines[3] = _row("h-3", "س" * 200_000)  # past the csv module's field limit: named, not a crash
    bad.write_bytes(eol.join(lines).encode("utf-8") + eol.encode())
    with pytest.raises(ValueError, match=r"multi.csv: line 6: not readable as CSV \(field larger than field limit"):
        arabic_mmlu.load(bad)
    lines[3] = _row("h-3", "سؤال؟")
    bad.write_bytes(eol.join(lines).encode("utf-8") + eol.encode())
    assert [i["question"] for i in arabic_mmlu.load(bad)] == [f"سؤال من{eol}ثلاثة{eol}أسطر؟", "سؤال؟"]


def test_logits_path_and_cache(tiny_lm, tmp_path):
    out = tmp_path / "run"
    first = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(out), limit=10)
    assert first["asked_now"] == 10
    # the first 10 are answered, in the shared cache: a full run into another folder asks only the other 34
    second = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(tmp_path / "elsewhere"))
    assert second["asked_now"] == 34 and second["from_cache"] == 10
    third = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(out))
    assert third["asked_now"] == 0
    res = json.loads((out / "results.json").read_text())
    assert 0 <= res["total"]["accuracy"] <= 1 and res["total"]["n"] == 44
    preds = [json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(p["prediction"] in "ABCDE" for p in preds)


def test_embedded_server_end_to_end(tmp_path):
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    out = tmp_path / "local"
    proc = cli("evaluate", "--benchmark", "arabic-mmlu", "--model", "local:smollm2-135m", "--output", str(out), "--limit", "6",
               env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})
    assert proc.returncode == 0, proc.stderr
    assert "6 asked now" in proc.stdout
    again = cli("evaluate", "--benchmark", "arabic-mmlu", "--model", "local:smollm2-135m", "--output", str(out), "--limit", "6")
    assert "0 asked now, 6 from cache" in again.stdout


def test_camel_bench_predictions_both_modes(tmp_path):
    rows = [{"dataset": "mmbench", "id": 1, "prediction": "b", "answer": "ب"},
            {"dataset": "mmbench", "id": 2, "prediction": "ب", "answer": "ب"},
            {"dataset": "chartqa", "id": 3, "prediction": "12", "answer": "15"},
            {"dataset": "pope", "id": 4, "prediction": "", "answer": "نعم"},
            {"dataset": "khatt", "id": 5, "prediction": "مرحبا بكم", "answer": "مرحبا بكم"}]
    src = tmp_path / "preds.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    proc = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(src), "--output", str(tmp_path / "cb"), "--model", "mine")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "cb" / "results.json").read_text())
    assert res["datasets"]["mmbench"]["original"] == 0.5 and res["datasets"]["mmbench"]["corrected"] == 1.0
    assert res["datasets"]["chartqa"]["original"] == 1.0 and res["datasets"]["chartqa"]["corrected"] == 0.0
    assert set(res["differences"]) == {"mmbench", "chartqa"}
    assert res["corrected"]["domains"]["OCR"] == 1.0 and "Video" in res["corrected"]["domains_missing"]


def test_results_file_on_notebook_06(tiny_lm, tmp_path):
    runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(tmp_path / "ev"))
    proc = cli("reproduce", "--only", "06", "-p", "extra_scores", str(tmp_path / "ev" / "results.json"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [r["quantity"] for r in json.loads((tmp_path / "out" / "reports" / "results" / "06_benchmark_results.json").read_text())["rows"]]
    assert f"hf:{tiny_lm} (lab scores): Total" in rows
    assert f"hf:{tiny_lm}" in (tmp_path / "out" / "reports" / "REPRODUCTION.md").read_text()
    assert f"hf:{tiny_lm}" in (tmp_path / "out" / "reports" / "tables" / "table2_arabicmmlu.csv").read_text()


def test_open_ended_sets_are_judged_by_an_llm(tmp_path):
    from fault_server import spawn, stats

    proc_srv, port = spawn()
    try:
        rows = [{"dataset": "vqav2", "id": 1, "question": "What animal?\nextra", "prediction": "a cat", "answer": "cat"},
                {"dataset": "geochat", "id": 2, "question": "How many planes?", "prediction": "two", "answer": "2"}]
        src = tmp_path / "p.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-judge-test-1234"}
        proc = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(src), "--output", str(tmp_path / "o"),
                   "--judge", "openai:judge", env=env)
        assert proc.returncode == 0, proc.stderr
        res = json.loads((tmp_path / "o" / "results.json").read_text())
        # the fault server answers with Arabic words, not 0/1: no grade is usable, so neither set gets a score
        assert res["datasets"] == {} and set(res["not_scored"]) == {"vqav2", "geochat"}
        assert "vqav2 not scored: no reply of the judge openai:judge was 0 or 1" in proc.stdout
        sent = stats(port)["requests"]
        assert any(k.endswith("Answer: a cat\nGrade:") and "Question: What animal?\n" in k for k in sent)
        proc2 = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(src), "--output", str(tmp_path / "o"),
                    "--judge", "openai:judge", env=env)
        assert proc2.returncode == 0 and sum(stats(port)["requests"].values()) == sum(sent.values())  # cached: asked once
    finally:
        proc_srv.terminate()
        proc_srv.wait(timeout=10)


@pytest.mark.parametrize("content, grade", [("1", True), ("Grade: 0", False), ("yes", None), (None, None)])
def test_parse_grade(content, grade):
    from ainkit.stages.evaluate import camel_bench

    assert camel_bench.parse_grade(content) is grade


def test_camel_results_on_the_radar_and_table_1(tmp_path, monkeypatch):
    rows = [("mmbench", "ب", "ب"), ("khatt", "مرحبا بكم", "مرحبا بكم"), ("videomme", "(A)", "أ"), ("geochat", "two", "2"),
            ("chartqa", "15", "15"), ("agrovqa", "ج", "ب"), ("foodvqa", "د", "د"), ("medicalmmt", "B", "ب")]
    src = tmp_path / "preds.jsonl"
    src.write_text("".join(json.dumps({"dataset": d, "id": i, "prediction": p, "answer": a}, ensure_ascii=False) + "\n"
                           for i, (d, p, a) in enumerate(rows)))
    unjudged = runner.run_camel_bench(str(src), str(tmp_path / "unjudged"), model="Mine-VL")
    assert unjudged["corrected"]["domains_missing"] == ["RS"] and "geochat" in unjudged["not_scored"]  # RS is geochat alone
    # a judge that says 'wrong' to geochat's answer (the real one is tested against a server above)
    monkeypatch.setattr(runner, "grade_open_ended", lambda rows, judge, concurrency=16: {
        i: False for i, r in enumerate(rows) if r["dataset"] == "geochat"})
    runner.run_camel_bench(str(src), str(tmp_path / "cb"), model="Mine-VL", judge_model="openai:judge")
    res = json.loads((tmp_path / "cb" / "results.json").read_text())
    assert not res["corrected"]["domains_missing"] and res["corrected"]["total"] == pytest.approx(6 / 8)  # geochat, agrovqa wrong
    proc = cli("reproduce", "--only", "06", "-p", "extra_scores", str(tmp_path / "cb" / "results.json"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["quantity"]: r for r in json.loads((tmp_path / "out" / "reports" / "results" / "06_benchmark_results.json").read_text())["rows"]}
    assert rows["Mine-VL (lab scores): Total"]["kit"] == pytest.approx(75.0) and rows["Mine-VL (lab scores): Agro."]["kit"] == 0.0
    md = (tmp_path / "out" / "reports" / "REPRODUCTION.md").read_text()
    assert "Mine-VL (lab scores)" in md and "Total 75" in md
    assert (tmp_path / "out" / "figures" / "fig03_camel_bench_radar.png").is_file()


def test_camel_bench_asks_a_vision_model_then_scores(tmp_path):
    from fault_server import spawn, stats

    proc_srv, port = spawn()
    try:
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-vlm-test-1234"}
        args = ["evaluate", "--benchmark", "camel-bench", "--model", "openai:vlm", "--output", str(tmp_path / "cb")]
        proc = cli(*args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        res = json.loads((tmp_path / "cb" / "results.json").read_text())
        assert res["datasets"]["gqa"]["corrected"] == 1.0  # the test server names the colour of the image it sees
        assert set(res["datasets"]) == {"gqa", "countbench", "pope", "mmbench", "mutliimagemmt"}
        first = sum(stats(port)["requests"].values())
        proc = cli(*args, env=env)  # a re-run asks nothing again (the probe aside)
        assert proc.returncode == 0 and sum(stats(port)["requests"].values()) - first <= 1
        assert "schema errors" not in stats(port)["requests"]
    finally:
        proc_srv.terminate()
        proc_srv.wait(timeout=10)


def test_benchmark_results_folder_is_read(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "mymodel_chartqa.json").write_text(json.dumps([{"index": 0, "pred_answer": "12", "answer": "15", "question": "q"}]))
    (folder / "mymodel_mme.json").write_text(json.dumps([{"index": 0, "pred_answer": "نعم", "answer": "نعم", "question": "q"}]))
    res = runner.run_camel_bench(str(folder), str(tmp_path / "o"), model="mymodel")
    assert res["datasets"]["chartqa"] == {"n": 1, "corrected": 0.0, "original": 1.0, "original_errors": 0, "prediction_errors": 0,
                                             "original_defects": {}}
    assert res["datasets"]["mme"]["corrected"] == 1.0


def test_hub_rows_become_items(tmp_path):
    from PIL import Image

    from ainkit.stages.evaluate import hub

    img = Image.new("RGB", (40, 30), (1, 2, 3))
    rows = [{"question": "ما هذا؟", "A": "قطة", "B": "كلب", "C": "nan", "answer": "أ", "image": img},
            {"question": "قارن", "options": "['الأولى'، 'الثانية']", "answer": "ب", "image_0": img, "image_1": img},
            {"question": "كم عددها؟", "answer": "3", "image": img}]
    items = hub.rows_to_items("mmbench", rows, tmp_path)
    assert items[0]["question"].splitlines()[1:3] == ["أ. قطة", "ب. كلب"] and len(items[0]["images"]) == 1
    assert items[1]["question"].splitlines()[1:3] == ["أ. الأولى", "ب. الثانية"] and len(items[1]["images"]) == 2
    assert items[2]["question"].endswith(hub.ANSWER_BRIEFLY) and all(Path(p).is_file() for it in items for p in it["images"])
    with pytest.raises(hub.HubUnavailable, match="downloads are off"):
        hub.camel_bench_items(["mmbench"], tmp_path)


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_repeated_id_in_a_data_set_is_refused(tmp_path):
    src = write_jsonl(tmp_path / "preds.jsonl", [{"dataset": "mmbench", "id": 1, "prediction": "ب", "answer": "ب"},
                                                  {"dataset": "pope", "id": 1, "prediction": "نعم", "answer": "نعم"},  # other set: fine
                                                  {"dataset": "mmbench", "id": "1", "prediction": "ج", "answer": "ب"}])
    with pytest.raises(ValueError, match=r"preds.jsonl: line 3: duplicate id '1' in data set 'mmbench' \(first at line 1\)"):
        runner.run_camel_bench(str(src), str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "m_chartqa.json").write_text(json.dumps([{"index": 0, "pred_answer": "1", "answer": "1"}] * 2))
    with pytest.raises(ValueError, match=r"m_chartqa.json item 2: duplicate id 'chartqa-0' .*first at m_chartqa.json item 1"):
        runner.run_camel_bench(str(folder), str(tmp_path / "o"))
    items = write_jsonl(tmp_path / "items.jsonl", [{"dataset": "gqa", "id": "a", "question": "q", "answer": "red"}] * 2)
    with pytest.raises(ValueError, match=r"items.jsonl: line 2: duplicate id 'a' in data set 'gqa' \(first at line 1\)"):
        runner.ask_camel_bench("openai:vlm", str(items), str(tmp_path / "asked"))  # refused before any endpoint is looked up


def test_unusable_predictions_are_errors_with_reasons(tmp_path):
    from ainkit.stages.evaluate import camel_bench

    rows = [{"dataset": "mmbench", "id": 1, "prediction": "ب", "answer": "ب"},
            {"dataset": "mmbench", "id": 2, "prediction": None, "answer": "ب"},
            {"dataset": "mmbench", "id": 3, "prediction": 2, "answer": "ب"},
            {"dataset": "mmbench", "id": 4, "prediction": ["ب"], "answer": "ب"},
            {"dataset": "khatt", "id": 5, "prediction": "مرحبا " * 200_000, "answer": "مرحبا"},
            {"dataset": "khatt", "id": 6, "answer": "مرحبا"}]
    res = runner.run_camel_bench(str(write_jsonl(tmp_path / "p.jsonl", rows)), str(tmp_path / "o"))
    assert res["datasets"]["mmbench"] == {"n": 4, "corrected": 0.25, "original": 0.25, "original_errors": 0, "prediction_errors": 3,
                                           "original_defects": {}}
    assert res["datasets"]["khatt"]["prediction_errors"] == 2 and res["datasets"]["khatt"]["corrected"] == 0.0
    errors = [json.loads(line)["error"] for line in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert errors == ["", "prediction is null", "prediction is not a string (int)", "prediction is not a string (list)",
                      f"prediction longer than {camel_bench.MAX_PREDICTION_CHARS:,} characters", "prediction is missing"]


def test_empty_predictions_leave_earlier_results_intact(tmp_path):
    out = tmp_path / "cb"
    runner.run_camel_bench(str(write_jsonl(tmp_path / "good.jsonl", [{"dataset": "gqa", "id": 1, "prediction": "red", "answer": "red"}])), str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for name, rows in [("empty.jsonl", []), ("blank.jsonl", ["", "  "]),
                       ("late.jsonl", [{"dataset": "gqa", "id": 1, "prediction": "x", "answer": "y"}, {"dataset": "imagenet", "answer": "y"}])]:
        with pytest.raises(ValueError, match=f"{name}: " + ("line 2: needs a known 'dataset'" if name == "late.jsonl" else "no predictions$")):
            runner.run_camel_bench(str(write_jsonl(tmp_path / name, rows)), str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    proc = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(tmp_path / "empty.jsonl"), "--output", str(out))
    assert proc.returncode == 2 and "empty.jsonl: no predictions" in proc.stderr and "Traceback" not in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bad_line_is_named_by_its_line_in_the_file(tmp_path):
    good = {"dataset": "gqa", "id": 1, "prediction": "red", "answer": "red"}
    for rows, message in [([good, "", '{"dataset": "gqa", "id": 2,'], r"p.jsonl: line 3: malformed JSON"),
                          ([good, "", "[1, 2]"], r"p.jsonl: line 3: a JSON list, not an object"),
                          ([good, "", {"dataset": "nope", "answer": "x"}], r"p.jsonl: line 3: needs a known 'dataset'")]:
        with pytest.raises(ValueError, match=message):
            runner.run_camel_bench(str(write_jsonl(tmp_path / "p.jsonl", rows)), str(tmp_path / "o"))


BIG = "مرحبا بكم " * 100_000  # 1,000,000 characters
SHORT = "مرحبا بكم في الصف"


@pytest.mark.parametrize("dataset", ["khatt", "historicalbooks", "vizwiz", "mmbench"])
@pytest.mark.parametrize("pred, gt", [(BIG, SHORT), (SHORT, BIG), (BIG, BIG)], ids=["1MB-prediction", "1MB-answer", "both"])
def test_scoring_cost_is_bounded(dataset, pred, gt):
    import time
    import tracemalloc

    from ainkit.stages.evaluate import camel_bench

    for mode in camel_bench.MODES:
        tracemalloc.start()
        t0 = time.process_time()
        verdict = camel_bench.score_item(dataset, pred, gt, mode)
        seconds, peak = time.process_time() - t0, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seconds < 5 and peak < 500e6, (mode, seconds, peak)
        assert not verdict.correct or mode == "original"  # mmbench's original compares first letters only
        if len(pred) > camel_bench.MAX_PREDICTION_CHARS:
            assert verdict.error == f"prediction longer than {camel_bench.MAX_PREDICTION_CHARS:,} characters"


def test_edit_distance_is_exact_and_fast_at_the_cap():
    import random
    import time

    from ainkit.stages.evaluate import camel_bench
    from ainkit.stages.evaluate import text as T

    rnd = random.Random(7)
    for _ in range(500):
        a, b = ("".join(rnd.choice("ابت ثج") for _ in range(rnd.randint(0, 70))) for _ in range(2))
        assert camel_bench.edit_distance(a, b) == T.levenshtein(a, b)
        assert camel_bench.edit_distance(a.encode(), b.encode()) == T.levenshtein(a.encode(), b.encode())
    page = "".join(rnd.choice("ابتثجحخدذرزسشصضطظعغفقكلمنهوي ") for _ in range(camel_bench.MAX_PREDICTION_CHARS))
    noisy = "".join(c if rnd.random() > 0.1 else "ء" for c in page)
    for mode in camel_bench.MODES:
        t0 = time.process_time()
        assert camel_bench.score_item("historicalbooks", noisy, page, mode).correct  # about 10% wrong, threshold 20%
        assert time.process_time() - t0 < 5, mode


def test_original_defects_are_counted_and_listed(tmp_path):
    page = "ب" * 3386  # a long OCR page, every letter wrong: the original's capped distance passes it (1001 / 3386 < 0.3)
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"dataset": "ocrisi", "id": 1, "prediction": page, "answer": "ا" * 3386}, ensure_ascii=False) + "\n")
    res = runner.run_camel_bench(str(src), str(tmp_path / "o"))
    assert res["datasets"]["ocrisi"]["original"] == 1.0 and res["datasets"]["ocrisi"]["corrected"] == 0.0
    assert res["datasets"]["ocrisi"]["original_defects"] == {"ocr-cap": 1} and "ocr-cap" in res["original_defects"]
    row = json.loads((tmp_path / "o" / "predictions.jsonl").read_text().splitlines()[0])
    assert row["original_defect"] == "ocr-cap"


def test_the_loop_closes_a_trained_checkpoint_is_evaluated(tmp_path):
    """`ainkit train` writes a Qwen2-VL checkpoint (tokenizer included); `ainkit evaluate --model hf:CHECKPOINT` scores
    it on ArabicMMLU by its next-token logits and on CAMEL-Bench by generating with the images; both results files
    are what notebook 06 overlays."""
    from ainkit.reproduction.analyses.benchmarks import load_model_scores

    run = tmp_path / "run"
    proc = cli("train", "--config", "configs/train/tiny.yaml", "--executor", "debug", "--output-dir", str(run),
               "--set", "max_steps=2", "--set", "save_steps=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = run / "checkpoint-2"
    assert (ckpt / "tokenizer_config.json").is_file()
    proc = cli("evaluate", "--benchmark", "arabic-mmlu", "--model", f"hf:{ckpt}", "--output", str(tmp_path / "mmlu"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    mmlu = json.loads((tmp_path / "mmlu" / "results.json").read_text())
    assert mmlu["items"] == 44 and mmlu["unanswered"] == 0 and 0 <= mmlu["total"]["accuracy"] <= 1
    proc = cli("evaluate", "--benchmark", "camel-bench", "--model", f"hf:{ckpt}", "--output", str(tmp_path / "cb"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    preds = [json.loads(l) for l in (tmp_path / "cb" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and all(isinstance(p["prediction"], str) for p in preds)
    scores = load_model_scores([str(tmp_path / "mmlu" / "results.json"), str(tmp_path / "cb" / "results.json")])
    assert len(scores) == 1 and scores[0].arabicmmlu and scores[0].camel_bench
    again = cli("evaluate", "--benchmark", "camel-bench", "--model", f"hf:{ckpt}", "--output", str(tmp_path / "cb2"))
    assert "0 generated now, 6 from the cache" in again.stdout


def test_withheld_answer_keys_are_not_scored_but_submitted(tmp_path):
    """CAMEL-Bench's hub copy withholds the answers (its authors score submissions): an empty or null answer is not
    scored as wrong; those predictions are written in the benchmark's own results format, which reads back."""
    rows = [{"dataset": "mmbench", "id": "mmbench-0", "index": 0, "question": "q0", "prediction": "أ", "answer": ""},
            {"dataset": "mmbench", "id": "mmbench-1", "index": 1, "question": "q1", "prediction": "ب", "answer": None},
            {"dataset": "pope", "id": "pope-7", "index": 7, "question": "q7", "prediction": "نعم", "answer": "  "},
            {"dataset": "gqa", "id": "g-1", "question": "q", "prediction": "red", "answer": "red"}]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    proc = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(preds), "--model", "openai:my-vlm",
               "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "3 item(s) have no answer key" in proc.stdout and "1 answers in 1 data sets" in proc.stdout
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["withheld_answers"] == 3 and res["scored_items"] == 1 and list(res["datasets"]) == ["gqa"]
    sub = tmp_path / "out" / "submission"
    assert sorted(p.name for p in sub.iterdir()) == ["openai-my-vlm_mmbench.json", "openai-my-vlm_pope.json"]
    assert json.loads((sub / "openai-my-vlm_mmbench.json").read_text()) == [
        {"index": 0, "pred_answer": "أ", "question": "q0"}, {"index": 1, "pred_answer": "ب", "question": "q1"}]
    back = runner.load_benchmark_results(sub)
    assert [(r["dataset"], r["prediction"]) for _, r in back] == [("mmbench", "أ"), ("mmbench", "ب"), ("pope", "نعم")]
    rows_only_withheld = tmp_path / "w.jsonl"
    rows_only_withheld.write_text(json.dumps(rows[0], ensure_ascii=False) + "\n")
    proc = cli("evaluate", "--benchmark", "camel-bench", "--predictions", str(rows_only_withheld), "--output", str(tmp_path / "o2"))
    assert proc.returncode == 0 and "nothing scored (scores need the authors' keys)" in proc.stdout, proc.stderr


def test_camel_answer_key_follows_the_image_bytes_not_the_path(tmp_path):
    """A moved image is the same question (its cached answer is reused); a changed image is asked again."""
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    item = {"dataset": "MathVista", "id": 1, "question": "What colour?", "images": ["a.png"]}
    key = runner.camel_key("openai:m", item, 1, tmp_path)
    assert runner.camel_key("openai:m", {**item, "images": ["moved/b.png"]}, 1, tmp_path) == key
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "a.png")
    assert runner.camel_key("openai:m", item, 1, tmp_path) != key
