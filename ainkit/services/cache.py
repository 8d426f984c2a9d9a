"""One content-addressed cache for paid work, shared by every run and every output path.

    from ainkit.services import cache
    store = cache.open_cache()                      # ~/.cache/ainkit/store/cache.sqlite (AINKIT_CACHE_DIR moves it)
    k = cache.key("llm", model, messages, params)   # the one cache-key function of the kit
    if (hit := store.get("llm", k)) is None:
        store.put("llm", k, {"content": ...})

What is cached: LLM answers (model + messages + parameters), toxicity decisions (image sha256 +
policy + judge), benchmark answers. SQLite in WAL mode, so several processes (SLURM array
tasks on one node, a notebook beside a CLI run) share it safely and a lookup costs one indexed
read whatever the cache size; memory stays flat. Values are scrubbed of secrets before they are
stored. `--no-cache` (or `open_cache(enabled=False)`) gives a cache that stores nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ainkit.ground import redact


def key(*parts: Any) -> str:
    """sha256 of the parts as canonical JSON: the same content gives the same key, in any run."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_dir() -> Path:
    """$AINKIT_CACHE_DIR, else <kit cache>/store (the rule is ainkit.ground.paths.answer_store's)."""
    from ainkit.ground.paths import answer_store

    return answer_store()


class Cache:
    """namespace + key -> JSON value, in one SQLite file (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike | None = None, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(directory or default_dir()) / "cache.sqlite"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if enabled:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS entries (ns TEXT NOT NULL, key TEXT NOT NULL, "
                                 "value TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (ns, key))")
            except (OSError, sqlite3.Error) as exc:
                from ainkit.ground.errors import UserError

                raise UserError(f"cache {self.path}: cannot be opened ({exc}); choose another with --cache-dir "
                                "or AINKIT_CACHE_DIR, or run with --no-cache") from None

    def get(self, ns: str, k: str) -> dict[str, Any] | None:
        """The stored value, or None."""
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT value FROM entries WHERE ns = ? AND key = ?", (ns, k)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, ns: str, k: str, value: dict[str, Any]) -> None:
        """Store a value (scrubbed of secrets); committed at once, so a kill loses nothing stored."""
        if self._db is None:
            return
        text = redact.scrub(json.dumps(value, ensure_ascii=False))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", (ns, k, text, time.time()))

    def count(self, ns: str | None = None) -> int:
        """Entries stored (in one namespace, or all)."""
        if self._db is None:
            return 0
        with self._lock:
            sql, args = ("SELECT COUNT(*) FROM entries WHERE ns = ?", (ns,)) if ns else ("SELECT COUNT(*) FROM entries", ())
            return self._db.execute(sql, args).fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None

    def describe(self) -> str:
        return str(self.path) if self.enabled else "off (--no-cache)"


def open_cache(directory: str | os.PathLike | None = None, enabled: bool = True) -> Cache:
    """The shared cache (or a disabled one)."""
    return Cache(directory, enabled)
