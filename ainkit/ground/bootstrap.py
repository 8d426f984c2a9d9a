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

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python3 ainkit/ground/bootstrap.py): the kit's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ainkit.ground.setup_base import (PY, ROOT, UV, UV_BIN, VENV, read_stamp, run_logged, say,  # noqa: E402
                                      venv_site_packages, write_stamp)
from ainkit.ground.setup_llama import (LLAMA, LLAMA_CMAKE_ARGS, LLAMA_LOG, build_llama, llama_build,  # noqa: E402
                                       start_llama_build, step_llama_selftest, wait_llama_build)
from ainkit.ground.setup_models import step_mpnet, step_wordnet  # noqa: E402

APT_LIST = ROOT / "configs" / "apt-packages.txt"
NODEPS = ROOT / "configs" / "requirements-nodeps.txt"
BASE_REQUIREMENTS = VENV / "ainkit-requirements-base.txt"


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


def step_bytecode() -> None:
    """Compile the venv's Python files (and the kit's) once per set of requirements. The tests and the notebooks
    start hundreds of processes; where PYTHONDONTWRITEBYTECODE is set (the kit's CI machine sets it) Python writes
    no cache, so each process compiled its ~2,500 imported modules again (about 4 s of CPU an `ainkit curate`)."""
    digest = requirements_hash()
    if read_stamp().get("bytecode") == digest:
        say("bytecode", "the venv's Python files are compiled")
        return
    t0 = time.time()
    proc = subprocess.run([str(PY), "-m", "compileall", "-q", "-j", "0", str(venv_site_packages()), str(ROOT / "ainkit")],
                          capture_output=True, text=True)
    failed = proc.stdout.count("*** Error compiling")  # a few packages ship Python 2 examples: left as they are
    stamp = read_stamp()
    stamp["bytecode"] = digest
    write_stamp(stamp)
    say("bytecode", f"compiled the venv's Python files in {time.time() - t0:.0f} s"
                    + (f" ({failed} file(s) do not compile: examples or templates, never imported)" if failed else ""))


def step_kernel() -> None:
    spec = VENV / "share" / "jupyter" / "kernels" / "ainkit" / "kernel.json"
    if spec.exists() and str(PY) in spec.read_text():
        say("kernel", "Jupyter kernel 'ainkit' registered")
        return
    run_logged([str(PY), "-m", "ipykernel", "install", "--sys-prefix", "--name", "ainkit", "--display-name", "Python (ainkit)"], "kernel")
    say("kernel", "registered Jupyter kernel 'ainkit' (for `make lab`)")


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
    step_bytecode()
    step_kernel()
    step_mpnet()
    step_wordnet()
    step_llama_selftest()
    building = " (llama-cpp-python still compiling in the background)" if llama_build()["running"] else ""
    say("done", f"set-up complete in {time.time() - t0:.0f} s{building}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
