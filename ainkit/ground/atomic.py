"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the old file intact. The file gets
the mode a plain `open()` would give it (0666 less the umask), and text is scrubbed of secrets
(`ainkit.ground.redact`) on its way to disk.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ainkit.ground import redact


def file_mode() -> int:
    """0666 less the process umask: what `open(path, 'w')` would create."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _replacing(path: str | os.PathLike, mode: str) -> Iterator[Any]:
    """A handle on a temporary file beside `path` that replaces it (fsynced, umask mode) when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with _replacing(path, "wb") as fh:
        fh.write(data)
    return Path(path)


@contextlib.contextmanager
def writer(path: str | os.PathLike) -> Iterator[Any]:
    """A text handle that replaces `path` atomically when the block ends without error.

    Every string written is scrubbed of secrets; memory stays flat however much is written.
    """
    with _replacing(path, "w") as fh:
        yield _Scrubbing(fh)


class _Scrubbing:
    """A text handle whose `write` scrubs secrets."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, text: str) -> int:
        return self._fh.write(redact.scrub(text))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically, scrubbed of secrets."""
    return write_bytes(path, redact.scrub(text).encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON (UTF-8, indented, Arabic kept readable) atomically."""
    return write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
