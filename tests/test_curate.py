"""`ainkit curate` end to end: real subprocesses, a real OpenAI-compatible server on 127.0.0.1 (tests/fault_server.py:
pseudo-translations, and a vision judge that answers by the image's colour), the real USE encoder, real metrics,
and the embedded llama.cpp server for the offline preset exactly as the README runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import pytest
from PIL import Image

from ainkit.pipelines import curate
from fault_server import spawn
from helpers import fault_server, stats

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "curate" / "tiny.yaml"
CHATS = ROOT / "ainkit" / "data" / "curate" / "chats.jsonl"
SERVER_SETS = ["--set", "translate.model=openai:fake", "--set", "back_translate.model=openai:fake",
               "--set", "verify.thresholds={similarity: -1, bleu4: 0}"]


@pytest.fixture(scope="module")
def server():
    with fault_server(0.0) as port:
        yield port


def cli(*args, port=None, cwd=None, timeout=600):
    env = {"OPENAI_API_KEY": "sk-curate-test-secret"} | ({"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"} if port else {})
    return helpers.cli("curate", *args, env=env, cwd=cwd or ROOT, timeout=timeout)


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
    for n in (1, 3, 7):
        out = tmp_path / f"n{n}"
        proc = cli("--config", TINY, "--input", CHATS, "--output", out, "--shards", n, "--cache-dir", tmp_path / f"c{n}",
                   *SERVER_SETS, port=server)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "export/ain_curated.jsonl"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name


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
        run.record(1, "input", curate.steps.step_input(run, 1))
        run.record(1, "structure", curate.steps.step_structure(run, 1))
        run.record(1, "translate", curate.steps.step_translate(run, 1, "translate", str(tmp_path / "c"), False))
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
    summary = json.loads((tmp_path / "judged" / "summary.json").read_text())
    tox = summary["steps"]["toxicity"]  # the judge's work is counted (item 8): one per image, and its vision probe
    assert tox["requests"] >= 3 and tox["tokens"] > 0
    assert summary["total"]["requests"] == sum(summary["steps"][s]["requests"] for s in curate.PAID)


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
        args = [sys.executable, "-m", "ainkit.commands.cli", "curate", "--config", str(TINY), "--input", str(CHATS), "--output",
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
        curate.steps.step_input(run, i)
    ids = sorted((r["id"] for i in range(run.shards) for r in lines(run.output(i, "input"))), key=str)
    assert ids == [7, "line:1", "line:2"]
    assert [list(r)[0] for i in range(run.shards) for r in lines(run.output(i, "input"))] == ["id"] * 3


# ---------------------------------------------------------------- issue 20: a stranger's data

def write_chats(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
                    encoding="utf-8")
    return path


def chat(rid, user, answer, images=(), fmt="messages", **extra):
    if fmt == "messages":
        turns = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    else:
        turns = [{"from": "human", "value": user}, {"from": "gpt", "value": answer}]
    return {"id": rid, fmt: turns, **({"images": list(images)} if images else {}), **extra}


def test_input_edited_in_place_is_refused_whatever_its_size_and_time(server, tmp_path):
    """Item 1: the input is known by its content: an edit that keeps the size and the time stamp is another input."""
    src = write_chats(tmp_path / "in.jsonl", [chat("a", "Where is the box?", "The box is on the table."),
                                              chat("b", "Say hello please.", "Hello to you.")])
    args = ["--config", TINY, "--input", src, "--cache-dir", tmp_path / "c", *SERVER_SETS]
    first = cli(*args, "--output", tmp_path / "run", port=server)
    assert first.returncode == 0, first.stderr
    st = src.stat()
    src.write_text(src.read_text().replace("box", "car"), encoding="utf-8")  # same size
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same time stamp
    assert src.stat().st_size == st.st_size
    again = cli(*args, "--output", tmp_path / "run", port=server)
    assert again.returncode == 2 and "edited in place" in again.stderr and "--restart" in again.stderr
    redo = cli(*args, "--output", tmp_path / "run", "--restart", port=server)
    assert redo.returncode == 0, redo.stderr
    assert "car" in lines(tmp_path / "run" / "kept.jsonl")[0]["source_messages"][0]["content"]


def test_input_changed_before_the_merge_is_refused(server, tmp_path, monkeypatch):
    """Item 1, the SLURM case: the input edited while the shards ran; the merge refuses rather than mix."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server}/v1")
    src = write_chats(tmp_path / "in.jsonl", [chat("a", "Where is the box?", "The box is on the table.")])
    out = tmp_path / "run"
    run = curate.prepare(curate.load_config(TINY, SERVER_SETS[1::2], shards=1), src, out)
    curate.run_shard(out, 0, str(tmp_path / "c"))
    src.write_text(src.read_text().replace("box", "car"), encoding="utf-8")
    with pytest.raises(curate.CurateError, match="edited in place"):
        curate.merge(out)
    folder = tmp_path / "ds"  # a `datasets` folder: any file's bytes count
    folder.mkdir()
    (folder / "state.json").write_text("{}")
    (folder / "data.arrow").write_bytes(b"abcd")
    before = curate.input_identity(folder)
    (folder / "data.arrow").write_bytes(b"abce")
    assert curate.input_identity(folder)["sha256"] != before["sha256"] and run.root == out


def test_every_reject_carries_its_own_lines_record_even_with_duplicate_ids(server, tmp_path):
    """Item 2 (and 18): copies of an id are each reported at their own line with their own record and reason; the
    funnel counts duplicates as one reason."""
    Image.new("RGB", (16, 16), (10, 200, 10)).save(tmp_path / "ok.png")
    records = [chat("x1", "<image>\nWhat is here?", "A thing.", ["gone.png"]),      # 1: missing image
               chat("y", "Say hello please.", "Hello to you."),                    # 2
               chat("x1", "<image>\nWhat colour is it?", "It is green.", ["ok.png"]),  # 3: a copy of x1's id
               chat("z", "Count to three.", "One, two, three."),                   # 4
               chat("z", "Count to four.", "One, two, three, four."),              # 5: a copy of z's id
               chat("x1", "Third copy.", "Yes, the third.")]                       # 6
    src = write_chats(tmp_path / "in.jsonl", records)
    proc = cli("--config", TINY, "--input", src, "--output", tmp_path / "run", "--cache-dir", tmp_path / "c",
               *SERVER_SETS, port=server)
    assert proc.returncode == 0, proc.stderr
    rejects = {r["line"]: r for r in lines(tmp_path / "run" / "rejects.jsonl")}
    assert sorted(rejects) == [1, 3, 5, 6]
    for line, r in rejects.items():
        assert r["record"] == records[line - 1], line  # the record that line had, not another copy's
    assert rejects[1]["stage"] == "structure" and "no such file" in rejects[1]["reasons"][0]
    assert rejects[3]["stage"] == "input" and rejects[3]["reasons"] == ["duplicate id 'x1' (first at line 1)"]
    assert rejects[5]["reasons"] == ["duplicate id 'z' (first at line 4)"] and rejects[6]["stage"] == "input"
    assert [r["id"] for r in lines(tmp_path / "run" / "kept.jsonl")] == ["y", "z"]
    funnel = json.loads((tmp_path / "run" / "funnel.json").read_text())
    assert funnel["steps"][0]["reasons"] == {"duplicate id": 3}


@pytest.mark.parametrize("fmt", ["conversations", "messages"])
def test_a_system_column_is_translated_and_verified_like_any_turn(server, tmp_path, fmt):
    """Item 3: a top-level `system` string never reaches the export in English beside an Arabic chat."""
    rec = chat("s1", "What is the capital of France?", "The capital of France is Paris.", fmt=fmt,
               system="You are a careful geography teacher.")
    src = write_chats(tmp_path / "in.jsonl", [rec])
    proc = cli("--config", TINY, "--input", src, "--output", tmp_path / "run", "--cache-dir", tmp_path / "c",
               *SERVER_SETS, port=server)
    assert proc.returncode == 0, proc.stderr
    [kept] = lines(tmp_path / "run" / "kept.jsonl")
    assert "careful geography teacher" in kept["en"]  # similarity and the metrics saw it
    [exported] = lines(tmp_path / "run" / "export" / "ain_curated.jsonl")
    system = exported["messages"][0]
    assert system["role"] == "system" and "كلمة" in system["content"] and not any(c.isascii() and c.isalpha()
                                                                                  for c in system["content"])
    manifest = json.loads((tmp_path / "run" / "export" / "manifest.json").read_text())
    assert "translated and verified" in manifest["system prompts"]


def test_structure_checks_run_before_any_paid_step(server, tmp_path):
    """Item 10: a missing image, a corrupt image, placeholders that do not match the images and an assistant-first
    chat are rejected under `structure` before one request is sent for them."""
    Image.new("RGB", (16, 16), (10, 200, 10)).save(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    bad = {"missing": chat("missing", "<image>\nQ10 missing image here?", "Q10 a missing answer.", ["nope.png"]),
           "corrupt": chat("corrupt", "<image>\nQ10 corrupt image here?", "Q10 a corrupt answer.", ["corrupt.png"]),
           "count": chat("count", "<image> <image>\nQ10 two placeholders?", "Q10 one image only.", ["ok.png"]),
           "order": {"id": "order", "messages": [{"role": "assistant", "content": "Q10 I speak first."},
                                                  {"role": "user", "content": "Q10 then the user."}]}}
    good = chat("good", "<image>\nQ10 what colour is this?", "Q10 it is green.", ["ok.png"])
    src = write_chats(tmp_path / "in.jsonl", [*bad.values(), good])
    proc = cli("--config", TINY, "--input", src, "--output", tmp_path / "run", "--cache-dir", tmp_path / "c",
               *SERVER_SETS, port=server)
    assert proc.returncode == 0, proc.stderr
    sent = " ".join(stats(server)["requests"])
    for rec in bad.values():
        for turn in rec["messages"]:
            assert turn["content"].replace("<image>", "").strip() not in sent, turn  # never paid for
    assert "Q10 what colour is this?" in sent
    rejects = {r["id"]: r for r in lines(tmp_path / "run" / "rejects.jsonl")}
    assert {k: r["stage"] for k, r in rejects.items()} == dict.fromkeys(bad, "structure")
    assert "no such file" in rejects["missing"]["reasons"][0] and "corrupt.png" in rejects["corrupt"]["reasons"][0]
    assert "placeholder" in rejects["count"]["reasons"][0] and "user first" in rejects["order"]["reasons"][0]


@pytest.mark.parametrize("case", ["encoder", "judge", "embedded_model"])
def test_every_model_is_checked_before_the_first_request(tmp_path, case):
    """Item 11: a model or service the run needs and cannot have stops it before anything is sent, naming curate's
    own switch."""
    proc, port = spawn(0.0)
    try:
        sets = {"encoder": ["--set", "similarity.encoder=LaBSE"],
                "judge": ["--set", "toxicity.mode=required", "--set", "toxicity.model=local:smollm2-135m"],
                "embedded_model": ["--set", "back_translate.model=local:no-such-model"]}[case]
        env_home = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "AINKIT_ALLOW_DOWNLOAD": ""}
        old = {k: os.environ.get(k) for k in env_home}
        os.environ.update(env_home)
        try:
            run = cli("--config", TINY, "--input", CHATS, "--output", tmp_path / "run", "--cache-dir", tmp_path / "c",
                      *SERVER_SETS, *sets, port=port)
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        assert run.returncode == 2, run.stdout + run.stderr
        assert sum(stats(port)["requests"].values()) == 0 and "Nothing was sent" in run.stderr
        want = {"encoder": "--set similarity.allow_download=true", "judge": "--set toxicity.model=openai:NAME",
                "embedded_model": "back_translate.model 'local:no-such-model'"}[case]
        assert want in run.stderr and "--allow-download " not in run.stderr
    finally:
        proc.terminate()


def test_summary_counts_every_request_paid_across_kill_and_resume(tmp_path):
    """Item 8: requests, tokens and cost paid before a kill -9 stay in summary.json after the resume."""
    import signal
    import time

    # each record's texts of another length, so no two requests are the same (the fake server answers word for word)
    src = write_chats(tmp_path / "in.jsonl", [chat(f"k{i}", "Tell me about the weather " + "today " * i + "please?",
                                                   "It is sunny " + "and warm " * i + "here.") for i in range(8)])
    proc, port = spawn(0.15)
    try:
        whole = cli("--config", TINY, "--input", src, "--output", tmp_path / "whole", "--cache-dir", tmp_path / "c1",
                    *SERVER_SETS, port=port)
        assert whole.returncode == 0, whole.stderr
        paid_whole = sum(stats(port)["completed"].values())
        ref = json.loads((tmp_path / "whole" / "summary.json").read_text())["steps"]
        assert sum(ref[s]["requests"] - ref[s]["from_cache"] for s in ("translate", "back_translate")) == paid_whole
        before = sum(stats(port)["completed"].values())
        args = [sys.executable, "-m", "ainkit.commands.cli", "curate", "--config", str(TINY), "--input", str(src), "--output",
                str(tmp_path / "killed"), "--cache-dir", str(tmp_path / "c2"), *SERVER_SETS]
        env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-x"}
        def journalled(pattern):  # the step's journal holds the settings line and two finished records
            found = list((tmp_path / "killed" / "shards").glob(f"*/{pattern}"))
            return found and len(found[0].read_bytes().splitlines()) >= 3

        for pattern in ("*_translate.jsonl.journal", "*_back.jsonl.journal"):  # killed in each paid step
            victim = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 120
            while not journalled(pattern) and time.time() < deadline:
                time.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(30) == -signal.SIGKILL  # killed mid-step, not after the run
        done = cli("--config", TINY, "--input", src, "--output", tmp_path / "killed", "--cache-dir", tmp_path / "c2",
                   *SERVER_SETS, port=port)
        assert done.returncode == 0, done.stderr
        paid = sum(stats(port)["completed"].values()) - before  # what the server answered for this run
        steps = json.loads((tmp_path / "killed" / "summary.json").read_text())["steps"]
        counted = sum(steps[s]["requests"] - steps[s]["from_cache"] for s in ("translate", "back_translate"))
        assert paid_whole <= counted <= paid  # every answer received is counted; none twice
        assert steps["translate"]["tokens"] + steps["back_translate"]["tokens"] >= \
            ref["translate"]["tokens"] + ref["back_translate"]["tokens"]
    finally:
        proc.terminate()
