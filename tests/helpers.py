"""What the tests share: the `ainkit` command in a subprocess, and the local servers on 127.0.0.1.

    from helpers import cli, cli_signalled, fault_server, batch_server, stats, release

- `cli(*args)` runs the real console entry point (.venv/bin/ainkit) and returns the CompletedProcess
  (`wait=False`: the Popen). `env` is laid over os.environ; a value None removes that variable.
- `cli_signalled(sig, after, *args)` runs the same command, which raises `sig` in itself right after its
  `after`-th record is journalled (StageIO.emit): work in progress, stopped at a known point whatever the
  machine's speed (a signal sent from outside races the run: a fast machine finishes first). Ctrl-C is reset to
  Python's default first: a test run started in the background (nohup, `&`) passes SIGINT on ignored.
- `fault_server(delay, *extra)` and `batch_server(batch_seconds)`: context managers that start
  tests/fault_server.py or tests/batch_server.py on a free port, yield the port and stop the server.
  `fault_server(0, "--hold-after", "N")` answers N requests, then holds every other one until `release(port)`.

Any test that uses these starts a process: tests/conftest.py marks it (see its docstring).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import batch_server as _batch
import fault_server as _fault

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).with_name("ainkit")  # the console script installed beside this interpreter
AINKIT = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "ainkit.commands.cli"]


def environ(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """os.environ with `env` laid over it; a None value removes the variable."""
    merged = {**os.environ, **(env or {})}
    return {k: v for k, v in merged.items() if v is not None}


def cli(*args, env: dict | None = None, cwd=None, timeout: float = 600, wait: bool = True, input: str | None = None):
    """Run `ainkit ARGS...`: the CompletedProcess (text stdout and stderr), or with wait=False the running Popen."""
    cmd = [*AINKIT, *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, env=environ(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(cmd, env=environ(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, input=input)


SIGNAL_AFTER = """
import signal, sys
from ainkit.commands.cli import main
from ainkit.services.stageio import StageIO

sig, after = int(sys.argv[1]), int(sys.argv[2])
emit, done = StageIO.emit, [0]


def emit_then_signal(self, rec):
    emit(self, rec)
    done[0] += 1
    if done[0] == after:  # the record is in the journal: now the signal, as if it came from outside
        signal.raise_signal(sig)


StageIO.emit = emit_then_signal
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if this test run ignores Ctrl-C
sys.exit(main(sys.argv[3:]))
"""


def cli_signalled(sig: int, after: int, *args, env: dict | None = None, cwd=None, timeout: float = 600):
    """Run `ainkit ARGS...`, which raises `sig` in itself right after its `after`-th journalled record."""
    cmd = [sys.executable, "-c", SIGNAL_AFTER, str(int(sig)), str(after), *map(str, args)]
    return subprocess.run(cmd, env=environ(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def endpoint_env(port: int, key: str = "sk-test-key") -> dict[str, str]:
    """The OpenAI-compatible endpoint variables for a server on 127.0.0.1:port."""
    return {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": key}


@contextlib.contextmanager
def running(proc: subprocess.Popen):
    """Stop `proc` (SIGTERM, then SIGKILL) when the block ends."""
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def fault_server(delay: float = 0.0, *extra: str, lifetime: int = 3600):
    """tests/fault_server.py on a free port for the block; yields the port."""
    proc, port = _fault.spawn(delay, *extra, lifetime=lifetime)
    with running(proc):
        yield port


@contextlib.contextmanager
def batch_server(batch_seconds: float = 0.5, lifetime: int = 3600):
    """tests/batch_server.py on a free port for the block; yields the port."""
    proc, port = _batch.spawn(batch_seconds, lifetime=lifetime)
    with running(proc):
        yield port


def stats(port: int) -> dict:
    """A test server's counts (GET /stats)."""
    return _fault.stats(port)


def release(port: int) -> None:
    """Let a fault server started with --hold-after answer the requests it holds, and every later one."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/release") as r:
        json.loads(r.read())
