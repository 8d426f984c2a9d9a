"""OpenAI's Batch API for a stage's requests: half the price, answers within 24 h, into the shared answer cache.

    ainkit translate --input chats.jsonl --output ar.jsonl --messages --batch [--max-cost 200]

    from ainkit.services import batch
    with batch.Batches(client, Path("ar.jsonl")) as b:   # state in ar.jsonl.batches/ (resumable)
        b.add(messages, params)                          # cached or already in a batch: not sent again
        b.submit(); b.wait()                             # JSONL upload, create, poll, download
        answer = b.answer(messages, params)              # from the cache, or failed with the batch's reason

How: requests are written to JSON Lines files of at most `size` lines (OpenAI's limit is 50,000 and
200 MB), uploaded to /v1/files (purpose "batch") and run by POST /v1/batches (endpoint
/v1/chat/completions, window 24h). Each line's `custom_id` is the request's cache key
(`ainkit.services.llm.Client.key`), so an answer in the output file goes straight into the shared cache,
exactly as a synchronous answer does, and is never paid for again, whatever the output path.

Journal: `<output>.batches/state.sqlite` holds every uploaded file and created batch, and which
request keys each holds, committed (synchronous=FULL) before the next step: a restarted process
picks up its batches (polls them, downloads their answers) and sends no request twice. A file
uploaded but not known to be turned into a batch (killed in between) is looked up in GET /v1/batches
by its input file id before a batch is created for it.

Failures: a line in a batch's error file (the request failed, or the batch expired or was cancelled
before it ran) and a request with no line at all are not resubmitted by the same run: their records
go to the rejects file as endpoint failures (exit 3, or 4 when no record was kept), and running the
same command again sends only those, in a new batch (everything answered comes from the cache). A
second automatic round would double the worst-case wait (24 h) for what is usually a handful of
requests. Cost: answers are counted at the Batch API price (configs/llm.yaml: batch_discount,
batch_prices).
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ainkit.ground import redact
from ainkit.services.llm import (
    FATAL_STATUS,
    Answer,
    Client,
    EndpointRefused,
    LLMError,
)

MAX_REQUESTS = 50_000  # OpenAI's limit on lines per batch input file
MAX_BYTES = 190 * 1024 * 1024  # under OpenAI's 200 MB per batch input file
TERMINAL = {"completed", "expired", "cancelled", "failed"}
ENDPOINT = "/v1/chat/completions"


class Batches:
    """The batches of one output (see the module docstring); a context manager that keeps its state on error."""

    def __init__(self, client: Client, output: Path, size: int = MAX_REQUESTS, poll: float = 60.0, log=None):
        import openai

        if not (client.cache and client.cache.enabled):
            raise LLMError("--batch keeps the answers in the answer cache; it cannot run with --no-cache")
        self.client, self.size, self.poll = client, max(1, min(size, MAX_REQUESTS)), poll
        self.log = log or (lambda text: print(text, flush=True))
        self.dir = output.with_name(output.name + ".batches")
        self.dir.mkdir(exist_ok=True)
        self.db = sqlite3.connect(self.dir / "state.sqlite", isolation_level=None)
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS batches (n INTEGER PRIMARY KEY, file_id TEXT, batch_id TEXT, "
                        "requests INTEGER, status TEXT, done INTEGER DEFAULT 0, uploaded REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, n INTEGER, state TEXT, error TEXT)")
        b = client.backend
        self.api = openai.OpenAI(base_url=b.base_url, api_key=b.api_key or "no-key", max_retries=5, timeout=client.timeout)
        self.needed: set[int] = set()  # batches whose answers this run waits for
        self._lines: list[str] = []
        self._keys: set[str] = set()
        self._bytes = 0
        self._spool = None
        self._t0 = time.monotonic()

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(finished=exc_type is None)

    # -- submission -------------------------------------------------------------------------------------------

    def add(self, messages: list[dict], params: dict[str, Any]) -> None:
        """Queue one request for a batch, unless its answer is cached or a batch of this output already holds it."""
        cl = self.client
        key = cl.key(messages, params)
        if key in self._keys:
            return
        if cl.cached(key):
            cl.stats.done += 1
            cl.stats.cached += 1
            return
        row = self.db.execute("SELECT n FROM requests WHERE key = ?", (key,)).fetchone()
        if row:
            self.needed.add(row[0])
            return
        line = redact.scrub(json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT,
                                        "body": {"model": cl.backend.model, "messages": messages, **params}},
                                       ensure_ascii=False)) + "\n"
        if self._lines and (len(self._lines) >= self.size or self._bytes + len(line.encode()) > MAX_BYTES):
            self.submit()
        self._lines.append(line)
        self._keys.add(key)
        self._bytes += len(line.encode())

    def submit(self) -> None:
        """Upload the queued requests and create their batch (each step journalled before the next)."""
        if not self._lines:
            return
        n = (self.db.execute("SELECT MAX(n) FROM batches").fetchone()[0] or 0) + 1
        path = self.dir / f"{n:06d}.jsonl"
        path.write_text("".join(self._lines), encoding="utf-8")
        with open(path, "rb") as fh:
            file_id = self._call(self.api.files.create, file=(path.name, fh, "application/jsonl"), purpose="batch").id
        with self.db:  # one transaction: the file and the keys it holds
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO batches (n, file_id, requests, status, uploaded) VALUES (?, ?, ?, 'uploaded', ?)",
                            (n, file_id, len(self._lines), time.time()))
            self.db.executemany("INSERT OR REPLACE INTO requests (key, n) VALUES (?, ?)", ((k, n) for k in self._keys))
        path.unlink()
        self._lines, self._keys, self._bytes = [], set(), 0
        self.needed.add(n)
        self._create(n, file_id)

    def _create(self, n: int, file_id: str, adopt: bool = False) -> None:
        """Create the batch of an uploaded file and journal its id; `adopt`: first look for one a killed run created."""
        batch_id = self._find(file_id, self.db.execute("SELECT uploaded FROM batches WHERE n = ?", (n,)).fetchone()[0]) \
            if adopt else None
        if batch_id is None:
            batch_id = self._call(self.api.batches.create, input_file_id=file_id, endpoint=ENDPOINT,
                                  completion_window="24h", metadata={"ainkit": "translate"}).id
        self.db.execute("UPDATE batches SET batch_id = ?, status = 'created' WHERE n = ?", (batch_id, n))
        self.log(f"[batch] {batch_id}: {self._count(n)} requests (file {file_id}){' (found again)' if adopt else ''}")

    def _find(self, file_id: str, uploaded: float) -> str | None:
        """The batch already created from this file (newest first, back to the upload), or None."""
        for b in self._call(self.api.batches.list, limit=100):
            if b.input_file_id == file_id:
                return b.id
            if b.created_at and b.created_at < uploaded - 600:
                return None
        return None

    # -- waiting and collecting -------------------------------------------------------------------------------

    def wait(self) -> None:
        """Poll every batch this run needs until it ends, then put its answers into the cache."""
        for n in sorted(self.needed):  # files a killed run uploaded, but whose batch it may not have journalled
            file_id, batch_id = self.db.execute("SELECT file_id, batch_id FROM batches WHERE n = ?", (n,)).fetchone()
            if batch_id is None:
                self._create(n, file_id, adopt=True)
        todo = {n for n in self.needed if not self.db.execute("SELECT done FROM batches WHERE n = ?", (n,)).fetchone()[0]}
        last = ""
        while todo:
            states = []
            for n in sorted(todo):
                batch_id = self.db.execute("SELECT batch_id FROM batches WHERE n = ?", (n,)).fetchone()[0]
                b = self._call(self.api.batches.retrieve, batch_id)
                self.db.execute("UPDATE batches SET status = ? WHERE n = ?", (b.status, n))
                if b.status in TERMINAL:
                    self._collect(n, b)
                    todo.discard(n)
                else:
                    rc = b.request_counts
                    states.append(f"{batch_id} {b.status}" + (f" {rc.completed + rc.failed}/{rc.total}" if rc else ""))
            line = "; ".join(states)
            if todo and line != last:
                self.log(f"[batch] waiting: {line}")
                last = line
            if todo:
                time.sleep(self.poll)

    def _collect(self, n: int, b) -> None:
        """Answers of an ended batch into the cache; every other request of it marked failed with the reason."""
        cl, answered, failed = self.client, 0, 0
        with self.db:
            self.db.execute("BEGIN")
            for rec in self._content(b.output_file_id):
                key, resp = rec.get("custom_id"), rec.get("response") or {}
                answer = _answer(resp) if resp.get("status_code") == 200 else Answer(error=_reason(b.status, rec))
                if not key or not self.db.execute("SELECT 1 FROM requests WHERE key = ? AND n = ?", (key, n)).fetchone():
                    continue  # not a request of this batch (cannot happen with OpenAI; a stray line is ignored)
                cl.account(answer, key, batch=True)
                self.db.execute("UPDATE requests SET state = ?, error = ? WHERE key = ?",
                                ("ok" if answer.ok else "failed", answer.error or None, key))
                answered += answer.ok
                failed += not answer.ok
            for rec in self._content(b.error_file_id):
                key = rec.get("custom_id")
                if key and self.db.execute("SELECT 1 FROM requests WHERE key = ? AND n = ? AND state IS NULL",
                                           (key, n)).fetchone():
                    cl.account(Answer(error=_reason(b.status, rec)), key)
                    self.db.execute("UPDATE requests SET state = 'failed', error = ? WHERE key = ?", (_reason(b.status, rec), key))
                    failed += 1
            why = "; ".join(f"{e.code}: {e.message}" for e in (b.errors.data or [])) if b.errors else ""
            missing = redact.scrub(f"batch {b.status}: no answer for this request" + (f" ({why[:300]})" if why else ""))
            rows = self.db.execute("UPDATE requests SET state = 'failed', error = ? WHERE n = ? AND state IS NULL", (missing, n))
            for _ in range(rows.rowcount):
                cl.account(Answer(error=missing), "")
            failed += rows.rowcount
            self.db.execute("UPDATE batches SET done = 1, status = ? WHERE n = ?", (b.status, n))
        self.log(f"[batch] {b.id} {b.status}: {answered} answered, {failed} failed")

    def _content(self, file_id: str | None) -> Iterator[dict]:
        """The JSON lines of a result file, streamed (an output file can hold 50,000 answers)."""
        if not file_id:
            return
        with self._call(self.api.files.with_streaming_response.content, file_id) as resp:
            for line in resp.iter_lines():
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn line: its request has no answer and is counted as failed

    def answer(self, messages: list[dict], params: dict[str, Any]) -> Answer:
        """The answer to a request: from the cache, else failed with the reason its batch gave."""
        key = self.client.key(messages, params)
        if hit := self.client.cached(key):
            return hit
        row = self.db.execute("SELECT error FROM requests WHERE key = ?", (key,)).fetchone()
        return Answer(error=(row and row[0]) or "no answer from any batch (re-run to send it again)")

    # -- records between submission and collection ------------------------------------------------------------

    def spool(self, rec: dict[str, Any]) -> None:
        """Keep a record on disk until its answers are in (memory stays flat however many records wait)."""
        if self._spool is None:
            self._spool = open(self.dir / "records.jsonl", "w", encoding="utf-8")  # noqa: SIM115 (open until collected)
        self._spool.write(redact.scrub(json.dumps(rec, ensure_ascii=False)) + "\n")

    def spooled(self) -> Iterator[dict[str, Any]]:
        """The spooled records, in the order they were spooled."""
        from ainkit.services.records import read_lines

        if self._spool is None:
            return
        self._spool.close()
        for line in read_lines(self.dir / "records.jsonl"):
            if line.record is not None:
                yield line.record

    # -- housekeeping ---------------------------------------------------------------------------------------------

    def _count(self, n: int) -> int:
        return self.db.execute("SELECT requests FROM batches WHERE n = ?", (n,)).fetchone()[0]

    def _call(self, fn, *args, **kw):
        """A control request; 401/403/404 stop the run (EndpointRefused), other errors say which step failed."""
        import openai

        try:
            return fn(*args, **kw)
        except openai.APIStatusError as exc:
            text = redact.scrub(f"{self.client.backend.base_url}: Batch API call {fn.__qualname__} answered HTTP "
                                f"{exc.status_code}: {str(exc)[:300]}")
            if exc.status_code in FATAL_STATUS:
                raise EndpointRefused(f"{text} ({FATAL_STATUS[exc.status_code]}). Batches already created are "
                                      f"journalled in {self.dir}; the same command picks them up") from None
            raise LLMError(f"{text}. Batches already created are journalled in {self.dir}; the same command picks "
                           "them up") from None
        except openai.APIConnectionError as exc:
            raise LLMError(redact.scrub(f"{self.client.backend.base_url}: Batch API call {fn.__qualname__} failed: {exc}. "
                                        f"Batches already created are journalled in {self.dir}; the same command "
                                        "picks them up")) from None

    def close(self, finished: bool) -> None:
        """Forget what a finished run used (answers are in the cache, failures in the rejects file); keep the rest."""
        if self._spool is not None and not self._spool.closed:
            self._spool.close()
        self.client.stats.seconds += time.monotonic() - self._t0
        if finished:
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute("DELETE FROM requests WHERE n IN (SELECT n FROM batches WHERE done = 1)")
                self.db.execute("DELETE FROM batches WHERE done = 1")
            left = self.db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        self.db.close()
        self.api.close()
        if finished and not left:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif finished:
            self.log(f"[batch] {left} batches of other requests (another run's settings) are kept in {self.dir}")


def _answer(resp: dict) -> Answer:
    """An output line's response body as an Answer (a malformed one is a failed request)."""
    try:
        body = resp["body"]
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return Answer((choice.get("message") or {}).get("content"), choice.get("finish_reason"),
                      int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        return Answer(error=f"batch: malformed response ({type(exc).__name__})")


def _reason(status: str, rec: dict) -> str:
    """Why a batch line has no answer, from its `error` or its response's status and error message."""
    err = rec.get("error") or {}
    resp = rec.get("response") or {}
    if not err and resp:
        body = resp.get("body") or {}
        err = {"code": f"HTTP {resp.get('status_code')}", "message": (body.get("error") or {}).get("message", "")}
    return redact.scrub(f"batch {status}: {err.get('code') or 'error'}: {str(err.get('message') or '')[:200]}")
