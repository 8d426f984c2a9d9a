"""`ainkit translate --batch` and `--max-cost` against real servers on 127.0.0.1 (tests/batch_server.py, tests/fault_server.py).

    .venv/bin/python -m pytest -q tests/test_batch.py
"""
import json
import re
import signal
import sqlite3
import time

import batch_server
import fault_server
import helpers
import pytest

from ainkit.services import batch, cache, llm
from ainkit.stages import translate
from ainkit.services.records import read_records
from helpers import cli

SECRET = "sk-batch-test-0123456789abcdef"
TEXTS = ["The red car is parked outside.", "Two boats sail on the lake.", "A dog sleeps on the grass [batch:error].",
         "The market opens at nine.", "Children play in the park [batch:expire].", "The train leaves at noon."]


@pytest.fixture
def server():
    with helpers.batch_server(0.5) as port:
        yield port


def write_input(path, texts):
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")


def translate_cmd(tmp_path, port, *extra, wait=True, output="out.jsonl"):
    return cli("translate", "--input", tmp_path / "in.jsonl", "--output", tmp_path / output, "--model", "gpt-4o-mini",
               *extra, env=helpers.endpoint_env(port, SECRET), wait=wait, timeout=300)


def test_failed_lines_and_an_expired_batch_go_to_rejects_and_a_rerun_sends_only_them(server, tmp_path):
    write_input(tmp_path / "in.jsonl", TEXTS)
    # three requests a batch: batch 1 completes with one failed line, batch 2 expires with one request unfinished
    p = translate_cmd(tmp_path, server, "--batch", "--batch-requests", "3", "--batch-poll", "0.1")
    assert p.returncode == 3, p.stdout + p.stderr  # some records failed at the endpoint
    assert "batch_0001 completed: 2 answered, 1 failed" in p.stdout and "batch_0002 expired: 2 answered, 1 failed" in p.stdout
    kept = read_records(tmp_path / "out.jsonl")
    assert [r["id"] for r in kept] == ["r0", "r1", "r3", "r5"] and all("كلمة" in r["text_ar"] for r in kept)
    rejects = {r["record"]["id"]: r for r in read_records(tmp_path / "out.rejects.jsonl")}
    assert set(rejects) == {"r2", "r4"} and all(r["endpoint"] for r in rejects.values())
    assert "batch completed: HTTP 500" in rejects["r2"]["reasons"][0]
    assert "batch expired: batch_expired" in rejects["r4"]["reasons"][0]
    seen = batch_server.stats(server)
    assert seen["uploads"] == 2 and seen["creates"] == 2
    body = seen["bodies"][0]  # what was uploaded: the synchronous request, keyed by its cache key
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0 and body["max_tokens"] == 1024
    assert body["messages"] == translate.messages_for(TEXTS[0], translate.Settings("en-ar", "ar"))

    again = translate_cmd(tmp_path, server, "--batch", "--batch-poll", "0.1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r["id"] for r in read_records(tmp_path / "out.jsonl")] == [f"r{i}" for i in range(6)]
    lines = batch_server.stats(server)["lines"]
    assert all(lines[t] == 1 for t in TEXTS if "[batch:" not in t)  # answered once, never sent again
    assert lines[TEXTS[2]] == 2 and lines[TEXTS[4]] == 2 and batch_server.stats(server)["creates"] == 3
    assert not (tmp_path / "out.jsonl.batches").exists()  # a finished run leaves no batch state
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_batch_answers_are_the_synchronous_answers_in_the_shared_cache(server, tmp_path):
    texts = [t for t in TEXTS if "[batch:" not in t]
    write_input(tmp_path / "in.jsonl", texts)
    # the two fake servers stand for one provider's Batch and synchronous APIs (two base URLs here): sharing answers
    # across endpoints is then the user's explicit choice
    assert translate_cmd(tmp_path, server, "--batch", "--batch-poll", "0.1", "--cache-across-endpoints").returncode == 0
    proc, port = fault_server.spawn(0.0)
    try:
        sync = translate_cmd(tmp_path, port, "--cache-across-endpoints", output="sync.jsonl")  # the synchronous API
        assert sync.returncode == 0, sync.stderr
        assert f"from cache {len(texts)}" in sync.stdout and fault_server.stats(port)["requests"] == {}  # nothing paid twice
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [r["text_ar"] for r in read_records(tmp_path / "sync.jsonl")] == [r["text_ar"] for r in read_records(tmp_path / "out.jsonl")]


def test_killed_after_the_batch_was_created_the_restart_picks_it_up(tmp_path):
    proc_srv, port = batch_server.spawn(4.0)  # the batch runs 4 s: the kill lands while it is polled
    try:
        texts = [f"Sentence number {i} is here." for i in range(12)]
        write_input(tmp_path / "in.jsonl", texts)
        run = translate_cmd(tmp_path, port, "--batch", "--batch-poll", "0.2", wait=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and batch_server.stats(port)["creates"] < 1:
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert batch_server.stats(port)["creates"] == 1 and not (tmp_path / "out.jsonl").exists()
        again = translate_cmd(tmp_path, port, "--batch", "--batch-poll", "0.2")
        assert again.returncode == 0, again.stdout + again.stderr
        seen = batch_server.stats(port)
        assert seen["creates"] == 1 and seen["uploads"] == 1  # no second batch, nothing sent twice
        assert all(seen["lines"][t] == 1 for t in texts)
        out = read_records(tmp_path / "out.jsonl")
        assert [r["id"] for r in out] == [f"r{i}" for i in range(12)] and all(r["text_ar"] for r in out)
    finally:
        proc_srv.terminate()
        proc_srv.wait(timeout=10)


def test_a_batch_created_but_not_journalled_is_found_again_and_priced_at_the_batch_rate(server, tmp_path):
    backend = llm.Backend("test", f"http://127.0.0.1:{server}/v1", "gpt-4o-mini", api_key=SECRET)
    settings = translate.Settings("en-ar", "ar", max_tokens=64)
    reqs = [translate.messages_for(t, settings) for t in TEXTS[:2]]
    out = tmp_path / "out.jsonl"
    first = llm.Client(backend, cache=cache.open_cache(tmp_path / "cache"))
    b = batch.Batches(first, out, poll=0.1, log=lambda _: None)
    for m in reqs:
        b.add(m, settings.params())
    b.submit()
    b.db.execute("UPDATE batches SET batch_id = NULL")  # the state a kill between create and its journal leaves
    b.close(finished=False)
    client = llm.Client(backend, cache=cache.open_cache(tmp_path / "cache"))
    with batch.Batches(client, out, poll=0.1, log=lambda _: None) as b2:
        for m in reqs:
            b2.add(m, settings.params())
        b2.submit()
        b2.wait()
        answers = [b2.answer(m, settings.params()) for m in reqs]
    assert all(a.ok and "كلمة" in a.content for a in answers)
    assert batch_server.stats(server)["creates"] == 1 and batch_server.stats(server)["lists"] == 1
    s = client.stats
    assert s.done == 2 and s.cost == pytest.approx(client.price(s.prompt_tokens, s.completion_tokens, batch=True))
    assert s.cost == pytest.approx(0.5 * client.price(s.prompt_tokens, s.completion_tokens))  # configs/llm.yaml: 50 %


def estimate_of(proc) -> float:
    return float(re.search(r"at most \$([\d.]+) at the", proc.stdout + proc.stderr).group(1))


def test_max_cost_refuses_before_any_request_with_the_estimate(server, tmp_path):
    write_input(tmp_path / "in.jsonl", [f"Sentence number {i} is here, long enough to cost." for i in range(400)])
    proc, port = fault_server.spawn(0.0)
    try:
        sync = translate_cmd(tmp_path, port, "--model", "gpt-4o", "--max-cost", "0.5")
        assert sync.returncode == 2, sync.stdout + sync.stderr
        assert "--max-cost $0.5: the estimate is over it" in sync.stderr and "400 requests" in sync.stderr
        assert fault_server.stats(port)["requests"] == {} and not (tmp_path / "out.jsonl").exists()
        unpriced = translate_cmd(tmp_path, port, "--model", "some-model", "--max-cost", "100")
        assert unpriced.returncode == 2 and "no price for model 'some-model'" in unpriced.stderr
        assert fault_server.stats(port)["requests"] == {}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    with_batch = translate_cmd(tmp_path, server, "--model", "gpt-4o", "--batch", "--max-cost", "0.5")
    assert with_batch.returncode == 2 and batch_server.stats(server)["uploads"] == 0
    assert estimate_of(with_batch) == pytest.approx(estimate_of(sync) / 2, abs=0.01)  # the Batch API price
    ok = translate_cmd(tmp_path, server, "--model", "gpt-4o", "--batch", "--batch-poll", "0.1", "--max-cost", "5")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_batch_needs_the_cache_and_an_openai_endpoint(tmp_path):
    write_input(tmp_path / "in.jsonl", TEXTS[:1])
    p = translate_cmd(tmp_path, 9, "--batch", "--no-cache")
    assert p.returncode == 2 and "cannot run with --no-cache" in p.stderr and "Traceback" not in p.stderr
    local = cli("translate", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o.jsonl"), "--batch",
                env={"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None})
    assert local.returncode == 2 and "has no Batch API" in local.stderr


def test_state_is_journalled_before_polling(server, tmp_path):
    """The batch id is on disk (committed) before the first status request."""
    backend = llm.Backend("test", f"http://127.0.0.1:{server}/v1", "gpt-4o-mini", api_key=SECRET)
    client = llm.Client(backend, cache=cache.open_cache(tmp_path / "cache"))
    b = batch.Batches(client, tmp_path / "out.jsonl", log=lambda _: None)
    b.add(translate.messages_for("Hello there, friend.", translate.Settings()), translate.Settings().params())
    b.submit()
    other = sqlite3.connect(tmp_path / "out.jsonl.batches" / "state.sqlite")
    assert other.execute("SELECT batch_id FROM batches").fetchall() == [("batch_0001",)]
    assert batch_server.stats(server)["retrieves"] == 0
    other.close()
    b.close(finished=False)
