"""Where a run's code came from: the kit's git commit and the versions of installed packages.

    from ainkit.ground.provenance import git_commit, git_state, versions
    git_commit()                      # 'a68dd98...' or None outside a checkout (or without git)
    versions(["torch", "numpy"])      # {'torch': '2.5.1', 'numpy': None} (None: not installed)

The one owner of both: the trainer writes the commit into its run, `ainkit reproduce` writes the
state and the versions into its manifest, and reproduce's reuse check fingerprints the versions.
"""
from __future__ import annotations

import subprocess
from importlib import metadata
from typing import Any, Iterable

from ainkit.ground.paths import ROOT


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def git_state() -> dict[str, Any]:
    """Commit of the kit's checkout and whether it has uncommitted changes (None and None without git)."""
    try:  # a machine without git (a GPU box given only the source tree) has no commit to record
        return {"commit": _git("rev-parse", "HEAD") or None, "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def git_commit() -> str | None:
    """The checkout's commit, or None."""
    try:
        return _git("rev-parse", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution, in the order given; None for one not installed."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
