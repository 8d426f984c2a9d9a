"""Training data for Qwen2-VL: a records file checked up front, each record encoded when the Trainer asks.

    from ainkit.stages.train.data import LazyRecords
    from ainkit.services.qwen2vl import Encoder
    dataset = LazyRecords("train.jsonl", Encoder(tokenizer), rejects.append)

The encoding itself (chat records with <image> placeholders -> model inputs, loss on assistant tokens
only) is the Qwen2-VL chat format in ainkit.services.qwen2vl, which evaluation shares.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.services.qwen2vl import Encoder, RecordProblem


class LazyRecords:
    """A training data set read from a JSON Lines file as the Trainer asks for each example.

    One pass first checks every record without decoding its images (Encoder.encode(pixels=False)): a
    malformed line or a record that cannot train goes to `reject` with its line number, and what is kept
    is its byte offset (8 bytes a record), so memory does not grow with the data set, pixels included (each
    768 x 768 image is about 14 MB of float32 once encoded). `tokens` is the epoch's exact token count.
    Reading a record again at training time uses the same offsets; a file edited since is refused.
    """

    def __init__(self, path: str | Path, encoder: Encoder, reject, base: Path | None = None):
        from array import array

        from ainkit.services.records import read_lines

        self.path, self.encoder = Path(path), encoder
        self.base = base if base is not None else self.path.parent
        self.offsets, self.numbers = array("q"), array("q")
        self.tokens = 0
        self.lengths = array("i")  # each kept record's tokens, for packing (ainkit.stages.train.packing)
        self._stamp = self._stat()
        self._fh = None
        self._pid = None
        for line in read_lines(self.path):
            if line.error:
                reject({"line": line.number, "raw": line.raw[:2000], "reasons": [line.error]})
                continue
            try:
                n = self.encoder.encode(line.record, self.base, pixels=False)["tokens"]
            except RecordProblem as exc:
                reject({"line": line.number, "id": line.record.get("id"), "reasons": [str(exc)]})
                continue
            self.tokens += n
            self.lengths.append(n)
            self.offsets.append(line.offset)
            self.numbers.append(line.number)

    def _stat(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_size, st.st_mtime_ns

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import os

        from ainkit.services.records import read_at

        if self._fh is None or self._pid != os.getpid():  # one handle per process (DataLoader workers fork)
            if self._stat() != self._stamp:
                raise RecordProblem(f"{self.path}: changed since it was checked before training; start the run again")
            self._fh, self._pid = open(self.path, "rb"), os.getpid()
        try:
            return self.encoder.encode(read_at(self._fh, self.offsets[i]), self.base)
        except (RecordProblem, ValueError) as exc:
            raise RecordProblem(f"{self.path}: line {self.numbers[i]}: {exc} (it passed the check before training)") from None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fh": None, "_pid": None}
