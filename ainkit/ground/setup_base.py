"""The set-up's ground: where it installs, its log and stamp, and how it reports (ainkit/ground/bootstrap.py runs it).

Standard library only: the set-up runs before the venv exists.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ainkit.ground.paths import ROOT, VENV

PY = VENV / "bin" / "python"
STAMP = VENV / "ainkit-setup.json"
LOG = VENV / "ainkit-setup.log"
UV = "uv==0.13.9"
UV_BIN = VENV / "bin" / "uv"


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


def read_stamp() -> dict:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def write_stamp(stamp: dict) -> None:
    tmp = STAMP.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=2))
    os.replace(tmp, STAMP)


def venv_site_packages() -> Path:
    out = subprocess.run([str(PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())
