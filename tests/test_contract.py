"""The stage contract (DESIGN.md), one test per fault a user met: checks before work, exit codes, fail-fast,
secrets, resume that cannot mix, one process per output, Ctrl-C, BOM, bounded cost, shared caches, umask.

Real parts: the `ainkit` command in a subprocess, the fault-injecting HTTP server on 127.0.0.1
(tests/fault_server.py), the offline encoders and WordNet.
"""
import functools
import json
import os
import signal
import time
from pathlib import Path

import pytest

import helpers
from ainkit.services import cache, records
from ainkit.services.records import read_records
from ainkit.services.stageio import StageIO
from ainkit.services.serve import free_port
from helpers import cli, cli_signalled, fault_server, release, stats

SECRET = "sk-contract-test-9f8e7d6c5b4a39281706"


def sent(port) -> dict:
    return stats(port)["requests"]


@pytest.fixture
def server():
    with fault_server(0.02) as port:
        yield port


endpoint_env = functools.partial(helpers.endpoint_env, key=SECRET)


def write_texts(path, n, start=0):
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"Sentence number {i} is here."}) + "\n"
                            for i in range(start, start + n)), encoding="utf-8")
    return path


def no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr


# -- endpoint faults -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [401, 403, 404])
def test_refusing_endpoint_stops_at_once_and_never_writes_the_echoed_key(tmp_path, code):
    with fault_server(0.0, "--refuse", str(code)) as port:
        src = write_texts(tmp_path / "in.jsonl", 40)
        p = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
                   "--concurrency", "4", env=endpoint_env(port))
        assert p.returncode == 4, p.stderr
        no_traceback(p)
        assert f"HTTP {code}" in p.stderr and "No retry can fix this" in p.stderr
        assert sent(port)["refused"] <= 4  # only what was in flight when the first refusal came back: no retries
        assert SECRET not in p.stdout + p.stderr
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


def test_nothing_listening_is_exit_4_and_stops_at_once(tmp_path):
    """An endpoint that never answered any request of the run: stopped at the first request that gave up (like a
    401), named once; nothing is rejected for the endpoint's sake, so the same command resumes every record."""
    src = write_texts(tmp_path / "in.jsonl", 30)
    port = free_port()
    p = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "m", "--max-retries", "0",
               "--timeout", "2", "--concurrency", "4", env=endpoint_env(port))
    assert p.returncode == 4, p.stderr
    no_traceback(p)
    assert p.stderr.count(f"nothing answers at http://127.0.0.1:{port}/v1") == 1 and "resumes" in p.stderr
    assert not (tmp_path / "out.jsonl").exists()
    rejects = read_records(tmp_path / "out.rejects.jsonl") if (tmp_path / "out.rejects.jsonl").exists() else []
    assert not any(r.get("endpoint") for r in rejects)


def test_endpoint_down_with_content_rejects_too_is_exit_4(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Hello there my friend."}) + "\n" + json.dumps({"id": 2, "text": ""}) + "\n")
    p = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "m", "--max-retries", "0",
               "--timeout", "2", env=endpoint_env(free_port()))
    assert p.returncode == 4, p.stderr  # nothing got through: one record refused for its content, the other unanswered


def test_some_records_failing_at_the_endpoint_is_exit_3_and_a_rerun_retries_only_them(server, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Hello there my friend."}) + "\n"
                   + json.dumps({"id": 2, "text": "x [fault:500x2] y z w"}) + "\n")
    p = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
               "--max-retries", "1", env=endpoint_env(server))
    assert p.returncode == 3, p.stderr
    p = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
               "--max-retries", "1", env=endpoint_env(server))
    assert p.returncode == 0, p.stderr
    assert sent(server)["Hello there my friend."] == 1  # the first record's answer came from the cache
    assert len(read_records(tmp_path / "out.jsonl")) == 2


# -- checks before work ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["output is a folder", "rejects is a folder", "output not writable", "input is a folder",
                                  "output equals rejects"])
def test_bad_paths_refused_before_any_request(server, tmp_path, case):
    src = write_texts(tmp_path / "in.jsonl", 5)
    out, rej = tmp_path / "out.jsonl", None
    if case == "output is a folder":
        out.mkdir()
    elif case == "rejects is a folder":
        rej = tmp_path / "rej"
        rej.mkdir()
    elif case == "output not writable":  # its folder would have to be a plain file (root can write anywhere else)
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "out.jsonl"
    elif case == "input is a folder":
        src = tmp_path
    elif case == "output equals rejects":
        rej = out
    p = cli("translate", "--input", src, "--output", out, "--model", "fault-model",
               *(["--rejects", rej] if rej else []), env=endpoint_env(server))
    assert p.returncode == 2, p.stderr
    no_traceback(p)
    assert "error:" in p.stderr
    assert sent(server) == {}  # nothing was sent


def test_second_process_on_the_same_output_exits_before_any_request(tmp_path):
    with fault_server(0.0, "--hold-after", "0") as port:  # the first process's requests are held: it runs until released
        src = write_texts(tmp_path / "in.jsonl", 40)
        first = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
                    "--concurrency", "2", env=endpoint_env(port), wait=False)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not sent(port) and first.poll() is None:
            time.sleep(0.05)
        before = sum(sent(port).values())
        second = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--model", "fault-model",
                     env=endpoint_env(port))
        assert second.returncode == 2 and "another ainkit process" in second.stderr, second.stderr
        assert sum(sent(port).values()) == before  # the second sent nothing
        release(port)
        assert first.wait(timeout=120) == 0, first.stderr.read()
        assert sum(sent(port).values()) == 40 and before <= 2  # every request sent once, by the first process only
        assert len(read_records(tmp_path / "out.jsonl")) == 40


# -- resume that cannot mix, Ctrl-C ------------------------------------------------------------------------------

def pairs_file(path, n):
    path.write_text("".join(json.dumps({"id": f"p{i}", "en": f"The cat number {i} sleeps on the warm mat.",
                                        "ar": f"القطة رقم {i} تنام على الحصيرة الدافئة."}) + "\n" for i in range(n)),
                    encoding="utf-8")
    return path


def test_ctrl_c_then_resume_with_other_settings_refuses_naming_the_difference(tmp_path):
    """Ctrl-C arrives after the second record is journalled, whatever the machine's speed (helpers.cli_signalled):
    a signal sent from outside raced the run, and a fast machine scored all the pairs before it came."""
    src = pairs_file(tmp_path / "pairs.jsonl", 100)
    out = tmp_path / "scored.jsonl"
    run = cli_signalled(signal.SIGINT, 2, "similarity", "--input", src, "--output", out, "--encoder", "use-multilingual")
    err = run.stderr
    assert run.returncode == 130, err
    assert (tmp_path / "scored.jsonl.journal").read_text(encoding="utf-8").count("\n") >= 3  # settings + 2 records
    assert "interrupted" in err and "run the same command again to resume" in err and "Traceback" not in err
    assert not out.exists()
    other = cli("similarity", "--input", src, "--output", out, "--encoder", "all-MiniLM-L6-v2")
    assert other.returncode == 2, other.stderr
    assert "encoder: journal 'use-multilingual', now 'all-MiniLM-L6-v2'" in other.stderr and "--restart" in other.stderr
    same = cli("similarity", "--input", src, "--output", out, "--encoder", "use-multilingual")
    assert same.returncode == 0, same.stderr
    assert "resumed from journal" in same.stdout
    assert [r["id"] for r in read_records(out)] == [f"p{i}" for i in range(100)]
    assert {r["similarity_encoder"] for r in read_records(out)} == {"use-multilingual"}


def test_metrics_resume_refuses_other_settings(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "reference": "the cat sat on the mat", "hypothesis": "a cat sat on a mat"}) + "\n"
                           for i in range(10)))
    io = StageIO(src, tmp_path / "out.jsonl", settings={"stage": "metrics", "tokenize": "intl"})
    io.emit(next(io.pending()))
    io.close()  # as if killed after one record
    with pytest.raises(records.RecordError, match="tokenize: journal 'intl', now '13a'"):
        StageIO(src, tmp_path / "out.jsonl", settings={"stage": "metrics", "tokenize": "13a"})
    StageIO(src, tmp_path / "out.jsonl", settings={"stage": "metrics", "tokenize": "13a"}, resume=False).finish()


def test_sigterm_is_a_clean_stop(tmp_path):
    src = pairs_file(tmp_path / "pairs.jsonl", 100)
    run = cli_signalled(signal.SIGTERM, 2, "similarity", "--input", src, "--output", tmp_path / "o.jsonl",
                        "--encoder", "use-multilingual")
    err = run.stderr
    assert run.returncode == 130 and "terminated" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.jsonl").exists() and (tmp_path / "o.jsonl.journal").exists()
    assert not (tmp_path / "o.jsonl.lock").exists()


# -- input bytes ---------------------------------------------------------------------------------------------------

def test_bom_and_crlf_input(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "reference": "x y", "hypothesis": "x y"}\r\n'
                    + b'{"id": "b", "reference": "x y", "hypothesis": "x"}\r\n')
    p = cli("metrics", "--input", src, "--output", tmp_path / "out.jsonl", "--workers", "1")
    assert p.returncode == 0, p.stderr
    assert [r["id"] for r in read_records(tmp_path / "out.jsonl")] == ["a", "b"]
    assert not (tmp_path / "out.rejects.jsonl").exists()


def test_huge_line_is_rejected_without_being_read_into_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("AINKIT_MAX_LINE_BYTES", "4096")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "big", "en": "a" * 10_000, "ar": "b"}) + "\n" + json.dumps({"id": "ok", "en": "a", "ar": "b"}) + "\n")
    lines = list(records.read_lines(src))
    assert lines[0].error.startswith("line longer than 4096 bytes") and len(lines[0].raw) <= 200
    assert lines[1].record == {"id": "ok", "en": "a", "ar": "b"}


def test_metrics_bounded_per_record(tmp_path):
    src = tmp_path / "in.jsonl"
    big = " ".join(["word"] * 250_000)  # ~1.2 MB: METEOR and ROUGE-L on it would take minutes and GBs
    src.write_text(json.dumps({"id": "big", "reference": big, "hypothesis": big}) + "\n"
                   + json.dumps({"id": "ok", "reference": "the cat", "hypothesis": "the cat"}) + "\n")
    p = cli("metrics", "--input", src, "--output", tmp_path / "out.jsonl", "--workers", "1", timeout=120)
    assert p.returncode == 0, p.stderr
    [rej] = read_records(tmp_path / "out.rejects.jsonl")
    assert rej["record"]["id"] == "big" and "250,000 words, over the limit of 1,000 (--max-words)" in rej["reasons"][0]
    assert [r["id"] for r in read_records(tmp_path / "out.jsonl")] == ["ok"]


def test_similarity_truncates_long_text_and_says_so(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "long", "en": "The cat sleeps. " * 60_000, "ar": "القطة تنام."}) + "\n")
    p = cli("similarity", "--input", src, "--output", tmp_path / "out.jsonl", "--encoder", "use-multilingual", timeout=120)
    assert p.returncode == 0, p.stderr
    [rec] = read_records(tmp_path / "out.jsonl")
    assert rec["similarity_truncated"] == {"en": 4096} and -1 <= rec["similarity"] <= 1


# -- defaults that cannot mislead ------------------------------------------------------------------------------------

def test_default_encoder_is_multilingual_and_english_only_warns(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "good", "en": "The weather is beautiful today.", "ar": "الطقس جميل اليوم."}) + "\n"
                   + json.dumps({"id": "bad", "en": "The weather is beautiful today.", "ar": "أكلت التفاحة في المطبخ."}) + "\n")
    p = cli("similarity", "--input", src, "--output", tmp_path / "out.jsonl", env={"AINKIT_ALLOW_DOWNLOAD": ""})
    assert p.returncode == 0, p.stderr
    out = {r["id"]: r for r in read_records(tmp_path / "out.jsonl")}
    assert out["good"]["similarity_encoder"] in ("LaBSE", "use-multilingual")
    assert out["good"]["similarity"] > out["bad"]["similarity"]
    p = cli("similarity", "--input", src, "--output", tmp_path / "en.jsonl", "--encoder", "all-MiniLM-L6-v2")
    assert p.returncode == 0 and "English-only encoder" in p.stderr, p.stderr


def test_verify_refuses_an_unknown_rule_name(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "similarity": 0.9}) + "\n")
    p = cli("verify", "--input", src, "--output", tmp_path / "k.jsonl", "--threshold", "simlarity=0.8")
    assert p.returncode == 2 and "did you mean 'similarity'" in p.stderr, p.stderr
    assert not (tmp_path / "k.jsonl").exists()


def test_outputs_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = records.write_records(tmp_path / "a.jsonl", [{"id": 1}])
        assert path.stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        assert records.write_records(tmp_path / "b.jsonl", [{"id": 1}]).stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_debug_shows_the_traceback(tmp_path):
    p = cli("similarity", "--input", tmp_path / "missing.jsonl", "--output", tmp_path / "o.jsonl", "--debug")
    assert p.returncode == 2 and "Traceback" in p.stderr and "no such file" in p.stderr


# -- one cache for paid work -----------------------------------------------------------------------------------------

def test_llm_answers_are_paid_once_whatever_the_output_path(server, tmp_path):
    src = write_texts(tmp_path / "in.jsonl", 10)
    for out in ("a.jsonl", "sub/b.jsonl"):
        p = cli("translate", "--input", src, "--output", tmp_path / out, "--model", "fault-model", env=endpoint_env(server))
        assert p.returncode == 0, p.stderr
    assert all(n == 1 for n in sent(server).values()) and len(sent(server)) == 10
    assert "10 done (10 from cache)" in p.stdout
    p = cli("translate", "--input", src, "--output", tmp_path / "c.jsonl", "--model", "fault-model", "--no-cache",
               env=endpoint_env(server))
    assert p.returncode == 0 and all(n == 2 for n in sent(server).values())


def test_cache_key_is_content_only():
    assert cache.key("llm", "m", [{"a": 1, "b": 2}]) == cache.key("llm", "m", [{"b": 2, "a": 1}])
    assert cache.key("llm", "m", "x") != cache.key("llm", "m2", "x")


# -- child processes die with their parent ------------------------------------------------------------------------------

def _server_pids() -> set[int]:
    pids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"llama_cpp.server" in (d / "cmdline").read_bytes():
                    pids.add(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_embedded_server_dies_with_the_command_that_started_it(tmp_path, sig):
    from ainkit.services import serve

    ok, why = serve.available()
    if not ok:
        pytest.skip(why)
    before = _server_pids()
    src = write_texts(tmp_path / "in.jsonl", 200)
    run = cli("translate", "--input", src, "--output", tmp_path / "out.jsonl", "--max-tokens", "16",
              env={"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}, wait=False)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (_server_pids() - before):
        time.sleep(0.2)
    started = _server_pids() - before
    assert started, "the embedded server did not start"
    time.sleep(1.0)
    run.send_signal(sig)
    run.wait(timeout=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and started & _server_pids():
        time.sleep(0.2)
    assert not started & _server_pids(), "the embedded server outlived its parent"
