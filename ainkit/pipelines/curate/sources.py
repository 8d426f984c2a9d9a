"""curate's input in any of its three forms, streamed: JSON Lines, Parquet, or a Hugging Face `datasets` folder.

    for pos, rec, rid, error, raw in source_rows(Path("chats.parquet")): ...

Also the input's identity (path, size, sha256 of its bytes), which a re-run and the merge hold it to.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from ainkit.pipelines.curate.config import CurateError


def input_kind(path: Path) -> str:
    """jsonl, parquet or datasets; an input that is none of them is refused (a Parquet file's footer read now)."""
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            return "datasets"
        raise CurateError(f"--input {path}: a folder, but not a Hugging Face `datasets` folder (save_to_disk writes "
                          "state.json and dataset_info.json); give a JSON Lines or Parquet file or such a folder")
    if not path.is_file():
        raise CurateError(f"--input {path}: no such file or folder")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1" or path.suffix.lower() == ".parquet":
        _parquet(path)  # its footer read now: a bad file is refused before the run writes anything
        return "parquet"
    return "jsonl"


def _parquet(path: Path):
    """The opened Parquet file, or a refusal naming why it cannot be read."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise CurateError(f"--input {path}: not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None


def source_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str, str, str]]:
    """(position, record or None, its id, error, the malformed line's text) of every row, streamed: JSON Lines by
    line (ids "line:N" when absent), Parquet and `datasets` folders by batches of rows (ids "row:N")."""
    from ainkit.services.records import read_lines, record_id

    kind = input_kind(path)
    if kind == "jsonl":
        for line in read_lines(path):
            if line.error:
                yield line.number, None, f"line:{line.number}", line.error, line.raw[:2000]
            else:
                yield line.number, line.record, record_id(line.record, line.number), "", ""
        return
    for n, row in enumerate(_arrow_rows(path, kind), 1):
        value = row.get("id")
        yield n, row, f"row:{n}" if value is None or value == "" else str(value), "", ""


def _arrow_rows(path: Path, kind: str) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet file or a one-split `datasets` folder, by batches of 1,024."""
    if kind == "parquet":
        for batch in _parquet(path).iter_batches(batch_size=1024):
            yield from map(_present, batch.to_pylist())
        return
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise CurateError(f"--input {path}: a DatasetDict with splits {', '.join(ds)}; save one split "
                              "(ds['train'].save_to_disk(...)) and give that folder")
        ds = next(iter(ds.values()))
    for batch in ds.data.to_batches(max_chunksize=1024):
        yield from map(_present, batch.to_pylist())


def _present(row: dict[str, Any]) -> dict[str, Any]:
    """A columnar row without the columns it has no value in (Parquet fills them with nulls)."""
    return {k: v for k, v in row.items() if v is not None}


def _input_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def input_identity(path: Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a re-run must agree on: where the input is, its size and the sha256 of its bytes (a folder: of each
    file's name, size and bytes), read in 1 MiB blocks. The size is only a hint: when it differs from `known`'s
    the input is another one and is not read; an equal size is settled by the hash (an edit in place that keeps
    the size and even the time stamp is caught)."""
    files = _input_files(path)
    ident = {"path": str(path.resolve()), "bytes": sum(f.stat().st_size for f in files)}
    if known is not None and known.get("path") == ident["path"] and known.get("bytes") != ident["bytes"]:
        return ident | {"sha256": "(not read: another size)"}
    h = hashlib.sha256()
    for f in files:
        if path.is_dir():
            h.update(f"{f.relative_to(path).as_posix()}\0{f.stat().st_size}\0".encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return ident | {"sha256": h.hexdigest()}


def check_input_unchanged(known: dict[str, Any], path: Path, what: str) -> None:
    """Refuse (naming what differs) when the input is no longer the one the run began with."""
    now = input_identity(path, known)
    if now != known:
        how = ("its size changed" if now["bytes"] != known.get("bytes") else
               "same size, other bytes: edited in place" if now["path"] == known.get("path") else "another file")
        raise CurateError(f"--input {path}: not the input this run began with ({how}; sha256 was "
                          f"{str(known.get('sha256'))[:16]}, now {now['sha256'][:16]}); {what}")
