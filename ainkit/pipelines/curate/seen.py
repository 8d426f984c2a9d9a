"""curate's on-disk sets (SQLite beside a shard's files, so memory stays flat at 3.6 M records): the ids the
input step has seen, and the images the toxicity step has listed or judged.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


class FirstLines:
    """id -> the input line that first had it, in SQLite beside the shard's files (flat memory)."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.path, self.db = path, sqlite3.connect(path, isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                              "CREATE TABLE f (id TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID; BEGIN;")

    def first(self, rid: str, line: int) -> int | None:
        """None when `rid` is new (and remembered at `line`), else the line it was first seen at."""
        row = self.db.execute("SELECT line FROM f WHERE id = ?", (rid,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO f VALUES (?, ?)", (rid, line))
        return row[0] if row else None

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


class Decisions:
    """image path -> (keep, what to say), in SQLite beside the shard's files (flat memory)."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE d (path TEXT PRIMARY KEY, keep INTEGER, why TEXT)")
        self.path = path

    def put(self, image: str, keep: bool, why: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO d VALUES (?, ?, ?)", (image, int(keep), why))

    def get(self, image: str) -> tuple[bool, str] | None:
        row = self.db.execute("SELECT keep, why FROM d WHERE path = ?", (image,)).fetchone()
        return (bool(row[0]), row[1]) if row else None

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)
