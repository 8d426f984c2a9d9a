"""ainkit.services.llm and ainkit.stages.translate against a real fault-injecting HTTP server on 127.0.0.1."""
import json
import os
import signal
import time

import pytest

from ainkit.services import cache, endpoint, llm
from ainkit.stages import translate
from ainkit.services.records import read_records
from fault_server import spawn
from helpers import cli, endpoint_env, fault_server, release, stats

SECRET = "sk-ainkit-llm-test-0123456789abcdef"


@pytest.fixture
def server():
    with fault_server(0.05) as port:
        yield port


def client(port, tmp_path=None, **kw):
    backend = llm.Backend("test", f"http://127.0.0.1:{port}/v1", "fault-model", api_key=SECRET)
    kw.setdefault("backoff", 0.05)
    return llm.Client(backend, cache=cache.open_cache(tmp_path / "cache") if tmp_path else None, **kw)


def msgs(text):
    return [{"role": "user", "content": text}]


def test_faults_are_retried_bounded_and_explained(server):
    c = client(server, max_retries=2, timeout=3.0)
    texts = ["ok one", "[fault:429x2] rate", "[fault:503x1] busy", "[fault:500x9] down", "[fault:hangx9] slow",
             "[fault:malformed] junk", "[fault:empty] blank", "[fault:length] long"]
    t0 = time.monotonic()
    answers = dict(zip(texts, c.run([msgs(t) for t in texts], max_tokens=16)))
    assert answers["ok one"].ok and answers["ok one"].content == "كلمة كلمة"
    assert answers["[fault:429x2] rate"].ok and answers["[fault:429x2] rate"].attempts == 3
    assert answers["[fault:503x1] busy"].ok
    assert answers["[fault:500x9] down"].error == "HTTP 500 (gave up after 3 attempts)"
    assert answers["[fault:hangx9] slow"].error.startswith("timeout after 3 s")
    assert answers["[fault:malformed] junk"].error.startswith("malformed response")
    assert answers["[fault:empty] blank"].ok and answers["[fault:empty] blank"].content == ""
    assert answers["[fault:length] long"].finish_reason == "length"
    assert time.monotonic() - t0 >= 2.0  # two Retry-After: 1 waits on the 429 message
    seen = stats(server)["requests"]
    assert seen["[fault:500x9] down"] == 3 and seen["[fault:malformed] junk"] == 3  # retries bounded
    assert c.stats.failed == 3 and c.stats.done == 5 and c.stats.retried >= 2 + 1 + 2 + 2 + 2


def test_journal_means_never_sent_twice(server, tmp_path):
    texts = [f"sentence {i}" for i in range(20)]
    c = client(server, tmp_path, concurrency=8)
    assert all(a.ok for a in c.run([msgs(t) for t in texts], max_tokens=16))
    c.close()
    c2 = client(server, tmp_path)
    again = c2.run([msgs(t) for t in texts], max_tokens=16)
    assert all(a.cached for a in again) and c2.stats.cached == 20
    assert all(stats(server)["requests"][t] == 1 for t in texts)
    c2.run([msgs(texts[0])], max_tokens=17)  # other parameters: a different request
    assert stats(server)["requests"][texts[0]] == 2
    assert SECRET.encode() not in (tmp_path / "cache" / "cache.sqlite").read_bytes()


@pytest.mark.parametrize("source, content, finish, issue", [
    ("What color is the car?", "ما لون السيارة؟", "stop", None),
    ("What color is the car?", "", "stop", "empty translation"),
    ("What color is the car?", "What color is the car?", "stop", "not in Arabic script"),
    ("Look at <image> and {name}.", "انظر إلى الصورة.", "stop", "placeholders lost"),
    ("What color is the car?", "ما لون السيارة؟ <image>", "stop", "placeholders added"),
    ("What color is the car parked next to the building?", "ما", "stop", "length ratio"),
    ("Translate this sentence please.", "عذراً، لا أستطيع ترجمة هذا النص.", "stop", "refusal"),
    ("What color is the car?", "ما لون", "length", "cut off"),
])
def test_checks(source, content, finish, issue):
    problems = translate.check(source, llm.Answer(content, finish), "ar")
    assert (not problems) if issue is None else any(issue in p for p in problems)


def test_edge_placeholders_are_kept_out_of_the_prompt():
    assert translate.split_edges("<image>\nWhat is this?") == ("<image>\n", "What is this?", "")
    assert translate.split_edges("Compare <image> and <image>") == ("", "Compare <image> and <image>", "")
    assert translate.split_edges("<image><image>\nQ\n<video>") == ("<image><image>\n", "Q", "\n<video>")


def run_translate(tmp_path, port, *extra, env_key=SECRET, records="in.jsonl", wait=True):
    return cli("translate", "--input", tmp_path / records, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
               *extra, env=endpoint_env(port, env_key), wait=wait, timeout=300)


def test_chat_records_translated_in_place(server, tmp_path):
    recs = [{"id": "m", "messages": [{"role": "user", "content": "<image>\nWhat is in the picture?"},
                                     {"role": "assistant", "content": "A red car next to a building."}]},
            {"id": "s", "conversations": [{"from": "human", "value": "<image>\nDescribe it."}, {"from": "gpt", "value": "Two boats."}]},
            {"id": "bad", "text": "no chat here"}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    proc = run_translate(tmp_path, server, "--messages")
    assert proc.returncode == 0, proc.stderr
    out = {r["id"]: r for r in read_records(tmp_path / "out.jsonl")}
    assert out["m"]["messages"][0]["content"].startswith("<image>\n") and "كلمة" in out["m"]["messages"][1]["content"]
    assert out["m"]["source_messages"][1]["content"] == "A red car next to a building."
    assert out["s"]["conversations"][0]["value"].startswith("<image>\n")
    assert "no 'messages'" in read_records(tmp_path / "out.rejects.jsonl")[0]["reasons"][0]
    sent = stats(server)["requests"]
    assert "What is in the picture?" in sent and not any("<image>" in k for k in sent)  # edge placeholders never sent


def test_kill_and_resume_sends_no_completed_request_twice(tmp_path):
    with fault_server(0.0, "--hold-after", "20") as port:  # 20 answers, then the rest held: the kill finds work in flight
        n = 60
        (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "text": f"Sentence number {i} here."}) + "\n" for i in range(n)))
        run = run_translate(tmp_path, port, "--concurrency", "4", "--window", "8", wait=False)
        store = cache.open_cache()  # the same shared cache the command writes (AINKIT_CACHE_DIR)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and store.count("llm") < 20:
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert not (tmp_path / "out.jsonl").exists()
        keys_at_kill = {k for (k,) in store._db.execute("SELECT key FROM entries WHERE ns = 'llm'")}
        assert len(keys_at_kill) >= 20
        settings = translate.Settings("en-ar", "ar")
        keyer = client(port)  # the command's endpoint: the cache key names it
        key_of = {f"Sentence number {i} here.": keyer.key(translate.messages_for(f"Sentence number {i} here.", settings),
                                                           {"temperature": 0.0, "max_tokens": 1024}) for i in range(n)}
        journaled = {t for t, k in key_of.items() if k in keys_at_kill}
        assert len(journaled) == len(keys_at_kill)  # the test computes the client's keys exactly
        release(port)
        proc = run_translate(tmp_path, port, "--concurrency", "4")
        assert proc.returncode == 0, proc.stderr
        out = read_records(tmp_path / "out.jsonl")
        assert [r["id"] for r in out] == [f"r{i}" for i in range(n)]  # each id once, in input order
        final = stats(port)["requests"]
        assert all(final[t] == 1 for t in journaled)  # no journaled (completed) request was sent again
        resent = [t for t, c in final.items() if c > 1]
        assert len(resent) <= 4  # only requests in flight at the kill (concurrency 4) are sent twice


def test_api_key_never_written(server, tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 1, "text": "Hello there my friend."}) + "\n"
                                       + json.dumps({"id": 2, "text": "x [fault:500x9] y"}) + "\n")
    proc = run_translate(tmp_path, server, "--max-retries", "1")
    assert proc.returncode == 3, proc.stderr  # one record failed at the endpoint
    assert SECRET not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_backend_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert endpoint.resolve_backend() is None  # no endpoint: the embedded server
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    b = endpoint.resolve_backend(model="m")
    assert b.base_url == "http://127.0.0.1:9/v1" and b.model == "m" and SECRET not in repr(b)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert SECRET not in repr(endpoint.resolve_backend()) and SECRET not in endpoint.resolve_backend().describe()
    assert endpoint.resolve_backend("openai").model == "gpt-4o-mini"
    with pytest.raises(llm.LLMError, match="known: openai"):
        endpoint.resolve_backend("nope")


def test_translate_with_no_endpoint_uses_the_embedded_server(tmp_path):
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 1, "text": "The dog is lying on the grass."}) + "\n")
    proc = cli("translate", "--input", tmp_path / "in.jsonl", "--output", tmp_path / "out.jsonl", "--max-tokens", "48",
               env={"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "endpoint: embedded" in proc.stdout and "smollm2-135m" in proc.stdout
    kept = read_records(tmp_path / "out.jsonl")
    rejected = read_records(tmp_path / "out.rejects.jsonl") if (tmp_path / "out.rejects.jsonl").exists() else []
    assert len(kept) + len(rejected) == 1  # the small model's output is either clean or rejected with reasons
    assert all(r["reasons"] for r in rejected)


def test_rating_sheet_roundtrip(tmp_path):
    from ainkit.reproduction.analyses import compare

    m = compare.Measurement("m", "ar", outputs=["ترجمة", None], issues=[[], ["empty translation"]])
    samples = [{"id": "a", "en": "x", "ar": "س"}, {"id": "b", "en": "y", "ar": "ص"}]
    sheet = compare.write_rating_sheet(tmp_path / "sheet.csv", [m], samples)
    text = sheet.read_text().splitlines()
    text[1] += "1"
    sheet.write_text("\n".join(text) + "\n")
    assert compare.read_rating_sheet(sheet) == {("m", "ar"): (1.0, 1)}
    text[2] += "yes"
    sheet.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match="line 3: rating 'yes'"):
        compare.read_rating_sheet(sheet)


@pytest.mark.parametrize("text", ["هذه <image>", "انظر: <image>", "<image>\nما هذا؟ {name}", "الجواب <ref>قطة</ref><box>(1,2)</box>"])
def test_markup_is_not_text_in_the_script_share(text):
    """Issue 20 item 4: placeholders and grounding tags the kit keeps in place are not Latin letters."""
    assert translate.script_share(text, "ar") == 1.0
    assert not any("script" in p for p in translate.check("Look at this", llm.Answer(text, "stop"), "ar"))
    assert translate.script_share("<image> What is it?", "en") == 1.0


def test_cache_is_keyed_by_endpoint(tmp_path):
    """Issue 20 item 7: the same model name at another server is another request, unless sharing is asked for."""
    a, b = spawn(0.0), spawn(0.0)
    try:
        shared_cache = tmp_path / "cache"
        for port in (a[1], b[1]):
            c = client(port, tmp_path)
            assert c.run([msgs("The same question")], max_tokens=8)[0].ok
            c.close()
        assert stats(a[1])["requests"]["The same question"] == 1
        assert stats(b[1])["requests"]["The same question"] == 1  # the second server was asked, not answered from cache
        again = client(b[1], tmp_path)
        assert again.run([msgs("The same question")], max_tokens=8)[0].cached  # same endpoint: paid once
        shared = llm.Client(llm.Backend("other", "http://127.0.0.1:9/v1", "fault-model"), cache=cache.open_cache(shared_cache),
                            share_across_endpoints=True)
        # sharing is explicit and keyed by the model name only: an answer stored under the shared key is reused
        assert shared.key(msgs("x"), {"max_tokens": 8}) != again.key(msgs("x"), {"max_tokens": 8})
        assert "shared across endpoints" in shared.stats.line()
    finally:
        for proc, _ in (a, b):
            proc.terminate()
            proc.wait(timeout=10)


def test_embedded_endpoint_identity_is_the_model_file():
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    path = serve.model_path(serve.DEFAULT_LOCAL_MODEL)
    import hashlib

    assert serve.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def _embedded_or_skip():
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    return serve


def test_a_dead_embedded_server_stops_the_run_at_once():
    """Issue 19 item 2 / issue 20 item 14: no retry against a dead process; its signal and log are named once."""
    serve = _embedded_or_skip()
    with serve.embedded_server() as b:
        assert b.dead() is None
        c = llm.Client(b, cache=False, max_retries=5, backoff=2.0)
        assert c.run([msgs("Hello")], max_tokens=2)[0].ok  # ready means it generates
        os.kill(b.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(llm.EndpointDied) as err:
            c.run([msgs(f"question {i}") for i in range(6)], max_tokens=4)
        assert time.monotonic() - t0 < 10  # not 6 requests x 5 retries x backoff
        assert "SIGKILL" in str(err.value) and "llama-server" in str(err.value)
        assert c.stats.retried == 0
        assert err.value.exit_code == 4


def test_serve_exits_non_zero_when_its_server_dies(tmp_path):
    _embedded_or_skip()
    proc = cli("serve", wait=False)
    try:
        line = proc.stdout.readline()
        while "pid" not in line:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        pid = int(line.split("(pid ")[1].split(",")[0])
        os.kill(pid, signal.SIGSEGV)
        assert proc.wait(timeout=30) == 4
        err = proc.stderr.read()
        assert "SIGSEGV" in err and "log" in err and "resume" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_requests_spread_over_several_servers():
    """A backend with several base URLs (the embedded engine's workers): each request goes to the least busy server."""
    servers = [spawn(0.3), spawn(0.3)]
    try:
        urls = [f"http://127.0.0.1:{port}/v1" for _, port in servers]
        b = llm.Backend("two", urls[0], "fault-model", base_urls=urls)
        c = llm.Client(b, concurrency=4, cache=False)
        answers = c.run([msgs(f"Question {i}") for i in range(8)], max_tokens=8)
        assert all(a.ok for a in answers)
        counts = [sum(stats(port)["requests"].values()) for _, port in servers]
        assert sum(counts) == 8 and min(counts) >= 3, counts  # one server alone would have taken all 8
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)


def test_embedded_workers_each_answer():
    serve = _embedded_or_skip()
    with serve.embedded_server(workers=2) as b:
        assert len(b.base_urls) == 2 and len(set(b.base_urls)) == 2
        c = llm.Client(b, concurrency=2, cache=False)
        assert all(a.ok for a in c.run([msgs("Hi"), msgs("Hello")], max_tokens=2))


def test_the_same_request_in_flight_is_paid_once(server, tmp_path):
    """Six records with the same text at concurrency 6 on an empty cache: one request reaches the server."""
    c = client(server, tmp_path, concurrency=6)
    answers = c.run([msgs("Good morning to you.")] * 6, max_tokens=8)
    assert all(a.ok for a in answers) and len({a.content for a in answers}) == 1
    assert stats(server)["requests"]["Good morning to you."] == 1
    assert c.stats.done == 6 and c.stats.cached == 5  # the summary counts what was paid: one request


def test_an_endpoint_that_never_answers_stops_the_run(tmp_path):
    from ainkit.services.serve import free_port

    port = free_port()  # nothing listens
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": f"Sentence {i}."}) + "\n" for i in range(30)))
    t0 = time.monotonic()
    proc = run_translate(tmp_path, port, "--concurrency", "4", "--max-retries", "2")
    assert proc.returncode == 4, proc.stderr
    assert f"nothing answers at http://127.0.0.1:{port}/v1" in proc.stderr and "is the server running" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - t0 < 60
