"""`ainkit curate` end to end: real subprocesses, a real OpenAI-compatible server on 127.0.0.1 (tests/fault_server.py:
pseudo-translations, and a vision judge that answers by the image's colour), the real USE encoder, real metrics,
and the embedded llama.cpp server for the offline preset exactly as the README runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ainkit import curate
from fault_server import spawn, stats

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "curate" / "tiny.yaml"
CHATS = ROOT / "ainkit" / "data" / "curate" / "chats.jsonl"
SERVER_SETS = ["--set", "translate.model=openai:fake", "--set", "back_translate.model=openai:fake",
               "--set", "verify.thresholds={similarity: -1, bleu4: 0}"]


@pytest.fixture(scope="module")
def server():
    proc, port = spawn(0.0)
    yield port
    proc.terminate()
    proc.wait(10)


def cli(*args, port=None, cwd=None, timeout=600):
    env = {**os.environ, "OPENAI_API_KEY": "sk-curate-test-secret"}
    if port:
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    return subprocess.run([sys.executable, "-m", "ainkit.cli", "curate", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd or ROOT, timeout=timeout)


def lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def test_local_run_writes_every_output_and_rerun_is_a_no_op(server, tmp_path):
    out = tmp_path / "run"
    proc = cli("--config", TINY, "--input", CHATS, "--output", out, "--shards", 3, "--cache-dir", tmp_path / "c",
               *SERVER_SETS, port=server)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "images NOT screened" in proc.stdout
    for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "funnel.png", "summary.json", "config.yaml",
                 "export/ain_curated.jsonl", "export/dataset_info.json", "export/ain_curated.swift.jsonl",
                 "export/manifest.json"):
        assert (out / name).is_file(), name
    kept = lines(out / "kept.jsonl")
    assert [r["id"] for r in kept] == ["c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c11", "c14"]
    rejects = {r["id"]: r for r in lines(out / "rejects.jsonl")}
    assert rejects["line:13"]["stage"] == "input" and "malformed JSON" in rejects["line:13"]["reasons"][0]
    assert rejects["c12"]["stage"] == "structure"  # checked before any request: nothing to translate
    assert rejects["c10"]["stage"] == "structure" and "no such file" in rejects["c10"]["reasons"][0]
    prov = kept[0]["provenance"]
    assert prov["translate"]["model"] == "openai:fake" and prov["translate"]["prompt"].startswith("translate-")
    assert prov["similarity"]["encoder"] == "use-multilingual" and prov["toxicity"] == {"screened": False, "mode": "skip"}
    assert kept[0]["back_en"].startswith("word") and "<image>" in kept[0]["messages"][0]["content"]
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["input"] == 14 and funnel["exported"] == 11
    assert {s["step"]: s["rejected"] for s in funnel["steps"]} == {
        "input": 1, "structure": 2, "translate": 0, "pairs": 0, "back_translate": 0, "similarity": 0, "metrics": 0,
        "verify": 0, "toxicity": 0, "export": 0}
    assert funnel["steps"][1]["reasons"] == {"image: no such file": 1,
                                             "no 'messages' or 'conversations' list": 1}
    manifest = json.loads((out / "export" / "manifest.json").read_text())
    assert manifest["images screened for toxicity"] is False and "NOT screened" in manifest["toxicity"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"]["translate"]["requests"] == 22 and summary["steps"]["back_translate"]["requests"] == 11
    exported = lines(out / "export" / "ain_curated.jsonl")
    assert len(exported) == 11 and all((out / "export" / p).is_file() for r in exported for p in r["images"])
    for path in out.rglob("*"):  # the key reaches no file of the run
        if path.is_file():
            assert b"sk-curate-test-secret" not in path.read_bytes(), path
    before = (out / "kept.jsonl").read_bytes()
    requests_before = sum(stats(server)["requests"].values())
    again = cli("--config", TINY, "--input", CHATS, "--output", out, "--shards", 3, "--cache-dir", tmp_path / "c",
                *SERVER_SETS, port=server)
    assert again.returncode == 0, again.stderr
    assert "translate ..." not in again.stdout and (out / "kept.jsonl").read_bytes() == before
    assert sum(stats(server)["requests"].values()) == requests_before


def test_same_bytes_whatever_the_shard_count(server, tmp_path):
    outs = []
    for n in (1, 4):
        out = tmp_path / f"n{n}"
        proc = cli("--config", TINY, "--input", CHATS, "--output", out, "--shards", n, "--cache-dir", tmp_path / f"c{n}",
                   *SERVER_SETS, port=server)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "export/ain_curated.jsonl"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_rerun_with_other_settings_is_refused_then_restart(server, tmp_path):
    out = tmp_path / "run"
    first = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS, port=server)
    assert first.returncode == 0, first.stderr
    other = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS,
                "--set", "metrics.max_words=50", port=server)
    assert other.returncode == 2
    assert "settings.metrics.max_words: was 1000, now 50" in other.stderr and "--restart" in other.stderr
    again = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS,
                "--set", "metrics.max_words=50", "--restart", port=server)
    assert again.returncode == 0, again.stderr
    # changing only the cluster settings is allowed
    slurm_only = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS,
                     "--set", "metrics.max_words=50", "--set", "slurm.array_parallelism=7", port=server)
    assert slurm_only.returncode == 0, slurm_only.stderr


def test_killed_shard_resumes(server, tmp_path):
    """A shard stopped after its translate step (progress recorded) resumes with the next step, nothing re-sent."""
    out = tmp_path / "run"
    cfg = curate.load_config(TINY, SERVER_SETS[1::2], shards=2)
    os.environ["OPENAI_BASE_URL"], old = f"http://127.0.0.1:{server}/v1", os.environ.get("OPENAI_BASE_URL")
    try:
        run = curate.prepare(cfg, CHATS, out)
        curate.run_shard(out, 0, str(tmp_path / "c"))
        progress = json.loads((run.shard_dir(0) / "progress.json").read_text())
        assert progress["done"] and list(progress["steps"]) == list(curate.STEPS)
        # shard 1 "killed" after translate: only its first two steps recorded
        shard1 = run.shard_dir(1)
        shard1.mkdir(parents=True)
        run.record(1, "input", curate._step_input(run, 1))
        run.record(1, "structure", curate._step_structure(run, 1))
        run.record(1, "translate", curate._translate_step(run, 1, "translate", str(tmp_path / "c"), False))
        recorded = run.progress(1)["steps"]["translate"]
        with pytest.raises(curate.CurateError, match="shard.*1 of 2 not finished"):
            curate.merge(out)
        summary = curate.run(cfg, CHATS, out, cache_dir=str(tmp_path / "c"))
    finally:
        if old is None:
            os.environ.pop("OPENAI_BASE_URL")
        else:
            os.environ["OPENAI_BASE_URL"] = old
    assert summary["records"]["kept"] == 11
    after = run.progress(1)
    assert after["done"] and after["steps"]["translate"] == recorded  # shard 1's translate step was not run again


def test_toxicity_required_keeps_only_safe_images(server, tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    for name, colour in (("safe", (20, 200, 20)), ("unsafe", (220, 20, 20)), ("unparsed", (230, 230, 20))):
        Image.new("RGB", (32, 32), colour).save(images / f"{name}.png")
    chats = tmp_path / "chats.jsonl"
    with open(chats, "w") as fh:
        for i, name in enumerate(["safe", "unsafe", "unparsed", "safe"]):
            fh.write(json.dumps({"id": f"r{i}", "images": [f"{name}.png"], "messages": [
                {"role": "user", "content": "<image>\nWhat is in the picture?"},
                {"role": "assistant", "content": "A square of one colour."}]}) + "\n")
        fh.write(json.dumps({"id": "text", "messages": [{"role": "user", "content": "Say hello please."},
                                                        {"role": "assistant", "content": "Hello to you."}]}) + "\n")
    base = ["--config", TINY, "--input", chats, "--images", images, "--cache-dir", tmp_path / "c", *SERVER_SETS,
            "--set", "toxicity.mode=required"]
    no_judge = cli(*base, "--output", tmp_path / "nojudge", port=server)
    assert no_judge.returncode == 0, no_judge.stderr
    assert [r["id"] for r in lines(tmp_path / "nojudge" / "kept.jsonl")] == ["text"]  # fail-closed
    assert all("not screened" in r["reasons"][0] for r in lines(tmp_path / "nojudge" / "rejects.jsonl"))
    judged = cli(*base, "--set", "toxicity.model=openai:judge", "--output", tmp_path / "judged", port=server)
    assert judged.returncode == 0, judged.stderr
    assert [r["id"] for r in lines(tmp_path / "judged" / "kept.jsonl")] == ["r0", "r3", "text"]
    reasons = {r["id"]: r["reasons"] for r in lines(tmp_path / "judged" / "rejects.jsonl")}
    assert "Unsafe" in reasons["r1"][0] and "Unparsed" in reasons["r2"][0]
    manifest = json.loads((tmp_path / "judged" / "export" / "manifest.json").read_text())
    assert manifest["images screened for toxicity"] is True
    kept = lines(tmp_path / "judged" / "kept.jsonl")
    assert kept[0]["provenance"]["toxicity"]["model"] == "openai:judge"


@pytest.mark.parametrize("form", ["parquet", "datasets"])
def test_parquet_and_datasets_inputs(server, tmp_path, form):
    import datasets

    rows = [r for r in (json.loads(x) for x in CHATS.read_text().splitlines() if x.endswith("}")) if "messages" in r]
    ds = datasets.Dataset.from_list(rows)
    if form == "parquet":
        src = tmp_path / "chats.parquet"
        ds.to_parquet(str(src))
    else:
        src = tmp_path / "chats_ds"
        ds.save_to_disk(str(src))
    proc = cli("--config", TINY, "--input", src, "--images", CHATS.parent, "--output", tmp_path / "run", "--shards", 2,
               "--cache-dir", tmp_path / "c", *SERVER_SETS, port=server)
    assert proc.returncode == 0, proc.stderr
    kept = lines(tmp_path / "run" / "kept.jsonl")
    assert [r["id"] for r in kept] == ["c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c11"]
    assert "conversations" not in kept[0]  # columns a row does not have are not written as nulls


def test_config_and_input_errors(tmp_path):
    bad = cli("--config", TINY, "--input", CHATS, "--output", tmp_path / "o", "--set", "translate.concurrenc=4")
    assert bad.returncode == 2 and "did you mean 'translate.concurrency'" in bad.stderr
    rule = cli("--config", TINY, "--input", CHATS, "--output", tmp_path / "o", "--set", "verify.thresholds={bleu5: 1}")
    assert rule.returncode == 2 and "unknown score 'bleu5'" in rule.stderr
    mode = cli("--config", TINY, "--input", CHATS, "--output", tmp_path / "o", "--set", "toxicity.mode=maybe")
    assert mode.returncode == 2 and "toxicity.mode" in mode.stderr
    folder = cli("--config", TINY, "--input", tmp_path, "--output", tmp_path / "o")
    assert folder.returncode == 2 and "not a Hugging Face `datasets` folder" in folder.stderr
    missing = cli("--config", tmp_path / "none.yaml", "--input", CHATS, "--output", tmp_path / "o")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not (tmp_path / "o").exists()


def test_dry_run_plans_and_writes_nothing(tmp_path):
    proc = cli("--config", ROOT / "configs" / "curate" / "ain.yaml", "--input", CHATS, "--output", tmp_path / "run",
               "--executor", "slurm", "--shards", 4, "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "13 records (1 malformed lines) in 4 shard(s)" in proc.stdout
    assert "translate: openai:gpt-4o-mini: 24 requests" in proc.stdout and "through the Batch API" in proc.stdout
    assert "#SBATCH --array=0-3%4" in proc.stdout and "--dependency=afterok" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_reason_keys_count_across_records():
    assert curate.reason_key("turn 1: length ratio 10.81 outside 0.3-3.5") == "length ratio outside 0.3-3.5"
    assert curate.reason_key("bleu4 0.1234 < 0.6") == "bleu4 < 0.6"
    assert curate.reason_key("turn 0: not in Arabic script (22% of letters)") == "not in Arabic script"
    assert curate.reason_key("turn 0: request failed: timeout after 120 s") == "request failed at the endpoint"


def test_offline_preset_as_the_readme_runs_it(tmp_path):
    """The Done-when command, offline: the embedded model's translations fail the checks, and the funnel says why."""
    pytest.importorskip("llama_cpp")
    out = tmp_path / "runs" / "curate" / "demo"
    proc = cli("--config", "configs/curate/tiny.yaml", "--input", "ainkit/data/curate/chats.jsonl", "--output", out,
               "--cache-dir", tmp_path / "c", timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["input"] == 14 and sum(s["rejected"] for s in funnel["steps"]) + funnel["exported"] == 14
    translate = next(s for s in funnel["steps"] if s["step"] == "translate")
    assert translate["rejected"] >= 1 and translate["reasons"]
    for name in ("kept.jsonl", "rejects.jsonl", "funnel.png", "summary.json", "export/manifest.json"):
        assert (out / name).is_file(), name


def test_second_process_refused_and_a_terminated_run_resumes(tmp_path):
    import time

    proc, port = spawn(0.4)  # slow answers, so the first run is still translating
    try:
        out = tmp_path / "run"
        args = [sys.executable, "-m", "ainkit.cli", "curate", "--config", str(TINY), "--input", str(CHATS), "--output",
                str(out), "--cache-dir", str(tmp_path / "c"), *SERVER_SETS]
        env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-x"}
        first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        journal = out / "shards" / "00" / "2_translate.jsonl.journal"
        deadline = time.time() + 120
        while not (journal.is_file() and len(journal.read_bytes().splitlines()) >= 2) and time.time() < deadline:
            time.sleep(0.05)  # the settings line and at least one finished record
        second = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS,
                     port=port)
        assert second.returncode == 2 and "another ainkit curate process" in second.stderr
        named = second.stderr.split("(it holds ")[1].split(")")[0]  # the lock it names is the real one
        assert Path(named) == out / "curate.lock" and Path(named).is_file()
        first.terminate()
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert not (out / "kept.jsonl").exists()
        resumed = cli("--config", TINY, "--input", CHATS, "--output", out, "--cache-dir", tmp_path / "c", *SERVER_SETS,
                      port=port)
        assert resumed.returncode == 0, resumed.stderr
        assert curate.Run.open(out).progress(0)["steps"]["translate"]["resumed"] >= 1  # not translated again
        assert len(lines(out / "kept.jsonl")) == 11
    finally:
        proc.terminate()


def test_records_without_an_id_get_their_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages": []}\n{"id": "", "messages": []}\n{"id": 7, "messages": []}\n', encoding="utf-8")
    run = curate.prepare(curate.load_config(TINY), src, tmp_path / "run")
    for i in range(run.shards):
        run.shard_dir(i).mkdir(parents=True, exist_ok=True)
        curate._step_input(run, i)
    ids = sorted((r["id"] for i in range(run.shards) for r in lines(run.output(i, "input"))), key=str)
    assert ids == [7, "line:1", "line:2"]
    assert [list(r)[0] for i in range(run.shards) for r in lines(run.output(i, "input"))] == ["id"] * 3
