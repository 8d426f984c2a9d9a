"""StageIO: the one way stages read and write records: JSON Lines in, JSON Lines out, nothing lost.

    from ainkit.services.stageio import StageIO
    with StageIO("in.jsonl", "out.jsonl", rejects="rejects.jsonl", shard="0/4") as io:
        for rec in io.pending():             # records of this shard not done by an earlier run
            ...; io.emit(rec)                  # or io.reject(rec, ["reason", ...])
    print(io.summary.line("similarity"))

How records are read (ids, malformed lines, shards) is ainkit.services.records; what StageIO adds:
- Output: every done record, in input order, written atomically when the stage finishes.
  While it runs, finished records are appended to ``<output>.journal`` (flushed each time),
  so a crashed or killed run resumes where it stopped: ids in the journal are skipped.
- Flat memory: which ids were seen, done, and where each sits in its journal is kept in a
  disk index (``<output>.index``, SQLite, rebuilt from the journals on every start and removed
  at the end), not in Python sets, so 3.6 M records need no more memory than 10 k
  (bench/stage_memory.py). The final, ordered output is streamed from the journals.
- Checks before work: the input is a readable file, output and rejects are distinct files
  (not folders, not the input) in writable folders, and no other process holds the output's
  lock (``<output>.lock``); all before a stage loads a model or sends a request.
- Resume that cannot mix: the journal's first line holds the stage's settings; a re-run with
  other settings stops and names what differs (``--restart`` starts over).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ainkit.ground import atomic, redact
from ainkit.services.records import RecordError, Shard, read_lines, record_id, write_records

def check_output(path: Path, what: str = "output") -> None:
    """Refuse an output path that is a folder or sits in a folder that cannot be written."""
    if path.is_dir():
        raise RecordError(f"{path}: is a folder; the {what} must be a file path")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordError(f"{path}: cannot create its folder {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RecordError(f"{path}: folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise RecordError(f"{path}: exists and is not writable")


def check_input(path: Path) -> None:
    """Refuse an input that is missing, a folder, or unreadable."""
    if path.is_dir():
        raise RecordError(f"{path}: is a folder, expected a JSON Lines file")
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise RecordError(f"{path}: is not readable")


class OutputLock:
    """An exclusive lock on `<output>.lock`: one process per output; the holder's pid is in the file."""

    def __init__(self, output: Path):
        import fcntl

        self.path = output.with_name(output.name + ".lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, atomic.file_mode())
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 64).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise RecordError(f"{output}: another ainkit process (pid {holder}) is writing this output; "
                              "wait for it to finish or choose another --output") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def settings_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'name: journal X, now Y' for each setting that differs."""
    return [f"{k}: journal {old.get(k)!r}, now {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


@dataclass
class Summary:
    """Counts of one stage run."""

    read: int = 0
    other_shards: int = 0
    resumed: int = 0
    kept: int = 0
    rejected: int = 0
    malformed: int = 0
    endpoint_failed: int = 0  # records rejected because their request failed at the endpoint (not their content)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def exit_code(self) -> int:
        """0 when the stage did its work; 3 when some records failed at the endpoint; 4 when some did and none was kept."""
        from ainkit.ground.errors import EXIT_ALL_FAILED, EXIT_OK, EXIT_SOME_FAILED

        if not self.endpoint_failed:
            return EXIT_OK
        return EXIT_ALL_FAILED if self.kept == 0 else EXIT_SOME_FAILED

    def line(self, stage: str) -> str:
        """The one-line summary printed at the end of a stage."""
        parts = [f"{self.read} read", f"{self.kept} kept", f"{self.rejected} rejected", f"{self.malformed} malformed"]
        if self.resumed:
            parts.append(f"{self.resumed} resumed from journal")
        if self.other_shards:
            parts.append(f"{self.other_shards} in other shards")
        if self.endpoint_failed:
            parts.append(f"{self.endpoint_failed} failed at the endpoint (re-run to retry them)")
        parts += [f"{k} {v}" for k, v in self.extra.items()]
        return f"[{stage}] " + ", ".join(parts) + f", {self.seconds:.1f} s"


class StageIO:
    """Input, output, rejects and journal of one stage run (see the module docstring)."""

    def __init__(self, input: str | os.PathLike, output: str | os.PathLike, rejects: str | os.PathLike | None = None,
                 shard: str | Shard | None = None, resume: bool = True, settings: dict[str, Any] | None = None):
        self.input, self.output = Path(input), Path(output)
        self.rejects = Path(rejects) if rejects else self.output.with_name(self.output.stem + ".rejects.jsonl")
        check_input(self.input)
        check_output(self.output, "output")
        check_output(self.rejects, "rejects file")
        if self.input.resolve() in (self.output.resolve(), self.rejects.resolve()):
            raise RecordError(f"{self.input}: the output and rejects files must differ from the input")
        if self.output.resolve() == self.rejects.resolve():
            raise RecordError(f"{self.output}: the output and the rejects file must be different files")
        self.shard = shard if isinstance(shard, Shard) else Shard.parse(shard)
        self.settings = {**(settings or {}), "shard": f"{self.shard.index}/{self.shard.count}"}
        self.journal = self.output.with_name(self.output.name + ".journal")
        self.reject_journal = self.rejects.with_name(self.rejects.name + ".journal")
        self.summary = Summary()
        self._t0 = time.time()
        self._lock = OutputLock(self.output)
        self._index: _Index | None = None
        try:
            if resume:
                self._check_settings()
                for j in (self.journal, self.reject_journal):
                    self._drop_torn_tail(j)
            else:
                for j in (self.journal, self.reject_journal):
                    j.unlink(missing_ok=True)
            self._index = _Index(self.output.with_name(self.output.name + ".index"))
            for kind, j in enumerate((self.journal, self.reject_journal)):
                self._index.add_journal(kind, j)
            self._out = self._open_journal(self.journal)
            self._rej = self._open_journal(self.reject_journal)
        except BaseException:
            if self._index is not None:
                self._index.remove()
            self._lock.release()
            raise

    def _check_settings(self) -> None:
        """Refuse to resume a journal written with other settings, naming each difference."""
        for j in (self.journal, self.reject_journal):
            if not j.exists() or j.stat().st_size == 0:
                continue
            first = next(iter(read_lines(j)), None)
            old = first.record.get("_settings") if first and first.record else None
            if old is None:
                raise RecordError(f"{j}: a journal without the settings it was written with (an older ainkit?); "
                                  "run again with --restart to start over")
            if old != json.loads(json.dumps(self.settings)):
                raise RecordError(f"{self.output}: an earlier run with other settings left a journal here ("
                                  + "; ".join(settings_difference(old, self.settings))
                                  + "). Run with those settings to resume it, or with --restart to start over")

    def _open_journal(self, path: Path):
        fresh = not path.exists() or path.stat().st_size == 0
        fh = open(path, "ab")  # binary: tell() is a byte offset, kept in the index
        if fresh:
            fh.write((redact.scrub(json.dumps({"_settings": self.settings}, ensure_ascii=False)) + "\n").encode("utf-8"))
            fh.flush()
        return fh

    @staticmethod
    def _drop_torn_tail(path: Path, block: int = 1 << 16) -> None:
        """Cut a last line that a kill left half-written, so appends start on a fresh line (reads only the tail)."""
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as fh:
            end = fh.seek(0, os.SEEK_END)
            fh.seek(end - 1)
            if fh.read(1) == b"\n":
                return
            pos = end
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                cut = fh.read(pos - start).rfind(b"\n")
                if cut >= 0:
                    fh.truncate(start + cut + 1)
                    return
                pos = start
            fh.truncate(0)

    def __enter__(self) -> "StageIO":
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.finish()
        else:
            self.close()

    def close(self) -> None:
        """Stop without finishing: the journals stay for a resume (unless they hold no record); the lock is released."""
        self._out.close()
        self._rej.close()
        self._index.remove()
        try:
            for j in (self.journal, self.reject_journal):
                with open(j, "rb") as fh:
                    fh.readline()
                    if not fh.readline():  # the settings line only: nothing to resume, nothing to refuse later
                        j.unlink(missing_ok=True)
        finally:
            self._lock.release()

    def pending(self) -> Iterator[dict[str, Any]]:
        """Records of this shard still to do, in input order; malformed and duplicate lines are rejected on the way."""
        index = self._index
        for line in read_lines(self.input):
            if line.error:
                rid = f"line:{line.number}"
                index.place(rid)
                if not index.done(rid):
                    self._write(self._rej, rid, {"line": line.number, "raw": line.raw[:2000], "reasons": [line.error]})
                self.summary.malformed += 1
                continue
            rec = line.record
            rid = record_id(rec, line.number)
            if not self.shard.owns(rid):
                self.summary.other_shards += 1
                continue
            self.summary.read += 1
            if not index.place(rid):  # seen before: a duplicate
                dup_id = f"line:{line.number}"
                index.place(dup_id)
                if not index.done(dup_id):
                    self._write(self._rej, dup_id, {"line": line.number, "record": rec, "reasons": [f"duplicate id {rid!r}"]})
                self.summary.rejected += 1
                continue
            if index.done(rid):
                self.summary.resumed += 1
                continue
            rec.setdefault("_line", line.number)
            yield rec

    def batches(self, validate: Callable[[dict[str, Any]], list[str]], size: int) -> Iterator[list[dict[str, Any]]]:
        """Pending records in lists of up to `size`; a record `validate` finds problems with is rejected on the way."""
        batch: list[dict[str, Any]] = []
        for rec in self.pending():
            problems = validate(rec)
            if problems:
                self.reject(rec, problems)
                continue
            batch.append(rec)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _write(self, fh, rid: str, rec: dict[str, Any]) -> None:
        offset = fh.tell()
        fh.write((redact.scrub(json.dumps({**rec, "_journal_id": rid}, ensure_ascii=False)) + "\n").encode("utf-8"))
        fh.flush()
        self._index.journalled(int(fh is self._rej), rid, offset)

    def emit(self, rec: dict[str, Any]) -> None:
        """A finished record (goes to the output)."""
        line = rec.pop("_line")
        self._write(self._out, record_id(rec, line), rec)
        self.summary.kept += 1

    def reject(self, rec: dict[str, Any], reasons: list[str], endpoint: bool = False) -> None:
        """A record that failed this stage, with every reason (goes to the rejects file).

        endpoint=True: it failed because its request failed at the endpoint, not for its content
        (counted apart, for the exit code; the rejects line says "endpoint": true).
        """
        line = rec.pop("_line")
        entry = {"line": line, "record": rec, "reasons": list(reasons)} | ({"endpoint": True} if endpoint else {})
        self._write(self._rej, record_id(rec, line), entry)
        self.summary.rejected += 1
        self.summary.endpoint_failed += int(endpoint)

    def _in_order(self, kind: int, journal: Path, counter: list[int]) -> Iterator[dict[str, Any]]:
        """The journal's records in input order, read back one at a time by their offsets."""
        with open(journal, "rb") as fh:
            for offset in self._index.in_order(kind):
                fh.seek(offset)
                rec = json.loads(fh.readline())
                rec.pop("_journal_id", None)
                counter[0] += 1
                yield rec

    def finish(self) -> Summary:
        """Write output and rejects in input order (atomically, streamed), remove the journals, return the counts."""
        self._out.close()
        self._rej.close()
        kept, rejects = [0], [0]
        try:
            write_records(self.output, self._in_order(0, self.journal, kept))
            if self._index.count(1) or self.rejects.exists():
                write_records(self.rejects, self._in_order(1, self.reject_journal, rejects))
            self.journal.unlink(missing_ok=True)
            self.reject_journal.unlink(missing_ok=True)
        finally:
            self._index.remove()
            self._lock.release()
        # counted from what landed, so records finished by an earlier (resumed) run count too
        self.summary.kept = kept[0]
        self.summary.rejected = rejects[0] - self.summary.malformed
        self.summary.seconds = round(time.time() - self._t0, 2)
        return self.summary


class _Index:
    """StageIO's bookkeeping on disk (SQLite): the input order of ids, and each journalled id's byte offset.

    Rebuilt on every start from the journals (so it needs no durability: no rollback journal, no fsync, one open
    transaction) and removed at the end. SQLite's page cache bounds its memory, whatever the number of records.
    """

    def __init__(self, path: Path):
        self.path = path
        path.unlink(missing_ok=True)  # a killed run's index: the journals are the truth
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # one user at a time; a stage run inside Jupyter runs on a helper thread
        self.db.executescript("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;
            CREATE TABLE ord (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
            CREATE TABLE jpos (id TEXT NOT NULL, kind INTEGER NOT NULL, off INTEGER NOT NULL,
                               PRIMARY KEY (id, kind)) WITHOUT ROWID;
            BEGIN;""")

    def add_journal(self, kind: int, journal: Path) -> None:
        """Index an earlier run's journal: every id in it is done (a torn last line was cut before)."""
        if not journal.exists():
            return
        rows = []
        with open(journal, "rb") as fh:
            offset = 0
            for raw in fh:
                try:
                    rid = json.loads(raw).get("_journal_id")
                except (ValueError, AttributeError):
                    rid = None
                if rid is not None:
                    rows.append((rid, kind, offset))
                if len(rows) >= 10_000:
                    self.db.executemany("INSERT OR REPLACE INTO jpos VALUES (?, ?, ?)", rows)
                    rows.clear()
                offset += len(raw)
        self.db.executemany("INSERT OR REPLACE INTO jpos VALUES (?, ?, ?)", rows)

    def place(self, rid: str) -> bool:
        """Give `rid` the next place in input order; False if it already has one (a duplicate)."""
        try:
            self.db.execute("INSERT INTO ord (id) VALUES (?)", (rid,))
            return True
        except sqlite3.IntegrityError:
            return False

    def done(self, rid: str) -> bool:
        return self.db.execute("SELECT 1 FROM jpos WHERE id = ? LIMIT 1", (rid,)).fetchone() is not None

    def journalled(self, kind: int, rid: str, offset: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO jpos VALUES (?, ?, ?)", (rid, kind, offset))

    def count(self, kind: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jpos JOIN ord USING (id) WHERE kind = ?", (kind,)).fetchone()[0]

    def in_order(self, kind: int) -> Iterator[int]:
        """Journal offsets of this kind's records, in input order (only ids of this run's input)."""
        cur = self.db.execute("SELECT jpos.off FROM ord JOIN jpos ON jpos.id = ord.id AND jpos.kind = ? ORDER BY ord.seq",
                              (kind,))
        for (offset,) in cur:
            yield offset

    def remove(self) -> None:
        try:
            self.db.close()
        finally:
            self.path.unlink(missing_ok=True)
