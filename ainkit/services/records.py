"""Records: JSON Lines read line by line (nothing lost), written atomically, sharded by id.

    from ainkit.services.records import read_lines, read_records, write_records
    for line in read_lines("in.jsonl"):      # Line(number, record or None, error, ...), one per physical line
        ...

Stages read and write through ainkit.services.stageio.StageIO (journal, resume, rejects), built on this.

- Input: one JSON object a line, each with a unique ``id`` (a record without one gets
  ``"line:N"``). A malformed line (bad UTF-8, bad JSON, not an object) or a duplicate id
  goes to the rejects file with its line number and reason; the other records go on.
  A UTF-8 byte-order mark is ignored, CRLF line ends are fine, and a line longer than
  `max_line_bytes()` (8 MiB; AINKIT_MAX_LINE_BYTES) is rejected without being held in memory.
- ``--shard i/n``: the stage takes the records whose id hashes to i modulo n (stable when
  the file is edited), so a SLURM job array can run one shard a task.
"""
from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ainkit.ground import atomic
from ainkit.ground.errors import UserError

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024


class RecordError(UserError, ValueError):
    """Bad input that stops a stage; the message names the file and line."""


def max_line_bytes() -> int:
    """The longest input line a stage reads (AINKIT_MAX_LINE_BYTES, default 8 MiB)."""
    try:
        return max(1024, int(os.environ.get("AINKIT_MAX_LINE_BYTES") or DEFAULT_MAX_LINE_BYTES))
    except ValueError:
        raise RecordError(f"AINKIT_MAX_LINE_BYTES={os.environ['AINKIT_MAX_LINE_BYTES']!r}: expected a number of bytes") from None


def shard_of(rec_id: str, count: int) -> int:
    """The shard (0 .. count-1) a record id belongs to: crc32 of the id, stable when the file is edited."""
    return 0 if count == 1 else zlib.crc32(rec_id.encode("utf-8")) % count


@dataclass(frozen=True)
class Shard:
    """Shard i of n (0-based)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> "Shard":
        """'i/n' -> Shard; errors say what is wrong."""
        if not text:
            return cls()
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise RecordError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
        if n < 1 or not 0 <= i < n:
            raise RecordError(f"--shard {text!r}: need 0 <= i < n")
        return cls(i, n)

    def owns(self, rec_id: str) -> bool:
        return shard_of(rec_id, self.count) == self.index


@dataclass
class Line:
    """One input line: its number, the record (or None) and why it is malformed (or '')."""

    number: int
    record: dict[str, Any] | None
    error: str = ""
    raw: str = ""
    offset: int = 0  # byte offset of the line's text in the file (after a BOM): read_at() reads the record again


def _raw_lines(fh, limit: int) -> Iterator[tuple[int, bytes, bool, int]]:
    """(line number, bytes, too long?, byte offset) for each line; a line over `limit` bytes is skipped in 1 MiB
    steps, its head kept."""
    number = 0
    offset = 0
    while True:
        data = fh.readline(limit + 1)
        if not data:
            return
        number += 1
        start, offset = offset, offset + len(data)
        if len(data) > limit and not data.endswith(b"\n"):
            while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
                offset += len(more)
            offset += len(more)
            yield number, data[:200], True, start
            continue
        if number == 1 and data.startswith(BOM):
            data, start = data[len(BOM):], start + len(BOM)
        yield number, data, False, start


def read_at(fh, offset: int) -> dict[str, Any]:
    """The record of the line at `offset` of a binary handle (an offset read_lines gave for a good line)."""
    fh.seek(offset)
    return json.loads(fh.readline())


def read_lines(path: str | os.PathLike, limit: int | None = None) -> Iterator[Line]:
    """Every non-blank line of a JSON Lines file, decoded one by one (a bad line does not stop the rest)."""
    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path}: is a folder, expected a JSON Lines file")
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    limit = limit or max_line_bytes()
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise RecordError(f"{path}: cannot be read ({exc.strerror})") from None
    with fh:
        for number, data, too_long, offset in _raw_lines(fh, limit):
            if too_long:
                yield Line(number, None, f"line longer than {limit} bytes (limit: AINKIT_MAX_LINE_BYTES)",
                           data.decode("utf-8", "replace"))
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Line(number, None, f"not UTF-8 (byte {exc.start})", data.decode("utf-8", "replace").rstrip("\n"))
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Line(number, None, f"malformed JSON ({exc.msg}, column {exc.colno})", text.rstrip("\n"))
                continue
            if not isinstance(obj, dict):
                yield Line(number, None, f"a JSON {type(obj).__name__}, not an object", text.rstrip("\n"))
                continue
            yield Line(number, obj, "", "", offset)


def record_id(rec: dict[str, Any], number: int) -> str:
    """The record's id as a string; 'line:N' when it has none."""
    value = rec.get("id")
    return f"line:{number}" if value is None or value == "" else str(value)


def text_problems(rec: dict[str, Any], fields: tuple[str, ...], allow_empty: bool = False) -> list[str]:
    """Why the given fields of a record are not usable text: missing, not a string, or (unless allowed) blank."""
    problems = []
    for f in fields:
        value = rec.get(f)
        if not isinstance(value, str):
            problems.append(f"field {f!r} is {'missing' if f not in rec else 'not a string'}")
        elif not allow_empty and not value.strip():
            problems.append(f"field {f!r} is empty")
    return problems


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a small file, strictly: the first malformed line raises, naming it."""
    out = []
    for line in read_lines(path):
        if line.error:
            raise RecordError(f"{path}: line {line.number}: {line.error}")
        out.append(line.record)
    return out


def too_long(rec: dict[str, Any], fields: tuple[str, ...], max_chars: int, flag: str = "--max-chars") -> list[str]:
    """Why string fields are over a stage's length limit (one reason a field), [] when none is."""
    return [f"field {f!r} has {len(rec[f]):,} characters, over the limit of {max_chars:,} ({flag})"
            for f in fields if isinstance(rec.get(f), str) and len(rec[f]) > max_chars]


def load_samples() -> list[dict[str, Any]]:
    """The kit's bilingual sample set (paths.SAMPLES; ainkit/data/README.md says how it was made)."""
    from ainkit.ground.paths import SAMPLES

    return read_records(SAMPLES)


@contextlib.contextmanager
def record_writer(path: str | os.PathLike) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function that writes one record a call as a JSON line; the file replaces `path` atomically when the block
    ends without error (streaming, secrets scrubbed). Several can be open at once (a stage's output and rejects)."""
    with atomic.writer(path) as fh:
        yield lambda rec: fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_records(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> Path:
    """Write records as JSON Lines, atomically, streaming (secrets scrubbed)."""
    with record_writer(path) as write:
        for r in records:
            write(r)
    return Path(path)
