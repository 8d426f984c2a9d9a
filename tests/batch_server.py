"""A real OpenAI Batch API server on 127.0.0.1 for the tests: files, batches, results (tests only).

    python tests/batch_server.py --port 8766 [--batch-seconds 0.5]

Endpoints, as OpenAI's: POST /v1/files (multipart: purpose=batch, file=JSONL), GET /v1/files/{id}/content,
POST /v1/batches (input_file_id, endpoint /v1/chat/completions, completion_window 24h), GET /v1/batches/{id},
GET /v1/batches (newest first, `limit`, `after`). Input lines are checked as OpenAI checks them (custom_id
unique, method POST, url = the batch's endpoint, a body with model and messages); a bad file makes a batch
that `failed` with the reason in `errors`. A batch is `validating`, then `in_progress`, and ends
`--batch-seconds` after its creation: each line answered with a pseudo-Arabic "translation"
(tests/fault_server.py), except for markers in a line's last user message, honoured on the first
submission of that message only (so a second batch with the same request succeeds):

    [batch:error]   the line fails: in the error file with a 500 response
    [batch:expire]  the batch expires: these lines unfinished (error file, code batch_expired), the others answered

GET /stats: {"uploads", "creates", "retrieves", "lists", "downloads", "lines": {message: submissions},
"bodies": [the first 20 request bodies]}. Stops on SIGTERM, when the process that started it is gone, or after --lifetime seconds.
From Python: `proc, port = spawn()` starts one on a free port; `stats(port)` reads its counts.
"""
from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from fault_server import Server, fake_translation, launch, stats, stop_with_parent  # noqa: F401 - stats: for the tests

LOCK = threading.Lock()
FILES: dict[str, dict] = {}  # id -> {"bytes": b"...", "filename", "purpose", "created_at"}
BATCHES: dict[str, dict] = {}  # id -> batch object (+ "_lines", "_ends")
STATS: dict = {"uploads": 0, "creates": 0, "retrieves": 0, "lists": 0, "downloads": 0, "lines": {}, "bodies": []}
MARK = re.compile(r"\[batch:(error|expire)\]")


def _new_file(data: bytes, filename: str, purpose: str) -> dict:
    fid = f"file-{len(FILES) + 1:04d}"
    FILES[fid] = {"bytes": data, "filename": filename, "purpose": purpose, "created_at": int(time.time())}
    return {"id": fid, "object": "file", "bytes": len(data), "created_at": FILES[fid]["created_at"],
            "filename": filename, "purpose": purpose, "status": "processed"}


def _last_user(body: dict) -> str:
    return next((m.get("content", "") for m in reversed(body.get("messages") or []) if m.get("role") == "user"), "")


def _validate(data: bytes, endpoint: str) -> tuple[list[dict], str]:
    """The input lines, or an error as OpenAI reports a bad input file."""
    lines, seen = [], set()
    for no, raw in enumerate(data.decode("utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            return [], f"line {no}: not JSON"
        cid = rec.get("custom_id")
        if not cid or cid in seen:
            return [], f"line {no}: custom_id missing or duplicated"
        body = rec.get("body") or {}
        if rec.get("method") != "POST" or rec.get("url") != endpoint or not body.get("model") or not body.get("messages"):
            return [], f"line {no}: needs method POST, url {endpoint} and a body with model and messages"
        seen.add(cid)
        lines.append(rec)
    return (lines, "") if lines else ([], "the input file has no requests")


def _finish(batch: dict) -> None:
    """Run an ended batch's lines: write its output and error files and its final status."""
    out, err = [], []
    kinds = []
    for rec in batch["_lines"]:
        m = MARK.search(_last_user(rec["body"]))
        kinds.append(m.group(1) if m and rec["_submission"] == 1 else None)
    expire = "expire" in kinds
    for rec, kind in zip(batch["_lines"], kinds):
        text = _last_user(rec["body"])
        rid = f"batch_req_{len(out) + len(err) + 1}"
        if kind == "expire":
            err.append({"id": rid, "custom_id": rec["custom_id"], "response": None,
                        "error": {"code": "batch_expired", "message": "This request could not be executed before the "
                                  "completion window expired."}})
        elif kind == "error":
            err.append({"id": rid, "custom_id": rec["custom_id"], "error": None,
                        "response": {"status_code": 500, "request_id": rid,
                                     "body": {"error": {"message": "The server had an error processing your request.",
                                                        "type": "server_error"}}}})
        else:
            content = fake_translation(text)
            body = {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": int(time.time()),
                    "model": rec["body"]["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(text) // 4 + 1, "completion_tokens": len(content.split()),
                              "total_tokens": len(text) // 4 + 1 + len(content.split())}}
            out.append({"id": rid, "custom_id": rec["custom_id"], "error": None,
                        "response": {"status_code": 200, "request_id": rid, "body": body}})
    now = int(time.time())
    if out:
        batch["output_file_id"] = _new_file("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out).encode(),
                                            "batch_output.jsonl", "batch_output")["id"]
    if err:
        batch["error_file_id"] = _new_file("".join(json.dumps(r) + "\n" for r in err).encode(),
                                           "batch_errors.jsonl", "batch_output")["id"]
    batch["status"] = "expired" if expire else "completed"
    batch["expired_at" if expire else "completed_at"] = now
    batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(out), "failed": len(err)}


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class Handler(BaseHTTPRequestHandler):
    batch_seconds = 0.5
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _error(self, code: int, message: str) -> None:
        self._send(code, {"error": {"message": message, "type": "invalid_request_error"}})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_POST(self):
        path = self.path.split("?")[0]
        if path == "/v1/files":
            return self.upload()
        if path == "/v1/batches":
            return self.create()
        self._error(404, f"no route {path}")

    def upload(self):
        raw = self._body()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + raw)
        fields = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if fields.get("purpose", (None, b""))[1] != b"batch" or "file" not in fields:
            return self._error(400, "expected multipart fields purpose=batch and file")
        with LOCK:
            STATS["uploads"] += 1
            self._send(200, _new_file(fields["file"][1], fields["file"][0] or "upload.jsonl", "batch"))

    def create(self):
        req = json.loads(self._body() or b"{}")
        fid = req.get("input_file_id")
        with LOCK:
            if fid not in FILES:
                return self._error(400, f"no file {fid}")
            if req.get("endpoint") != "/v1/chat/completions" or req.get("completion_window") != "24h":
                return self._error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
            STATS["creates"] += 1
            lines, problem = _validate(FILES[fid]["bytes"], req["endpoint"])
            for rec in lines:
                text = _last_user(rec["body"])
                STATS["lines"][text] = rec["_submission"] = STATS["lines"].get(text, 0) + 1
            STATS["bodies"] += [r["body"] for r in lines][: 20 - len(STATS["bodies"])]
            now = time.time()
            bid = f"batch_{len(BATCHES) + 1:04d}"
            batch = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None, "input_file_id": fid,
                     "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(now), "expires_at": int(now) + 86400, "metadata": req.get("metadata"),
                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                     "_lines": lines, "_ends": now + self.batch_seconds}
            if problem:
                batch.update(status="failed", failed_at=int(now),
                             errors={"object": "list", "data": [{"code": "invalid_request", "message": problem}]})
            BATCHES[bid] = batch
            self._send(200, _public(batch))

    def do_GET(self):
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path == "/stats":
            with LOCK:
                return self._send(200, STATS)
        if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
            with LOCK:
                STATS["downloads"] += 1
                f = FILES.get(m.group(1))
            return self._send(200, f["bytes"], "application/octet-stream") if f else self._error(404, "no such file")
        if m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
            with LOCK:
                STATS["retrieves"] += 1
                batch = BATCHES.get(m.group(1))
                if batch is None:
                    return self._error(404, "no such batch")
                if batch["status"] in ("validating", "in_progress"):
                    if time.time() >= batch["_ends"]:
                        _finish(batch)
                    else:
                        batch["status"] = "in_progress"
                return self._send(200, _public(batch))
        if path == "/v1/batches":
            with LOCK:
                STATS["lists"] += 1
                ids = sorted(BATCHES, reverse=True)
                if params.get("after") in ids:
                    ids = ids[ids.index(params["after"]) + 1:]
                limit = int(params.get("limit", 20))
                page = [_public(BATCHES[i]) for i in ids[:limit]]
                return self._send(200, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                                        "last_id": page[-1]["id"] if page else None, "has_more": len(ids) > limit})
        if path.endswith("/models"):
            return self._send(200, {"object": "list", "data": [{"id": "batch-model", "object": "model"}]})
        self._error(404, f"no route {path}")


def spawn(batch_seconds: float = 0.5, lifetime: int = 3600):
    """Start this server in a subprocess on a free 127.0.0.1 port; (process, port) once it answers."""
    return launch(__file__, "--batch-seconds", str(batch_seconds), "--lifetime", str(lifetime))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--batch-seconds", type=float, default=0.5, help="seconds from creation until a batch ends")
    ap.add_argument("--lifetime", type=float, default=3600, help="stop after this many seconds, or when the process that started it is gone")
    args = ap.parse_args()
    Handler.batch_seconds = args.batch_seconds
    server = Server(("127.0.0.1", args.port), Handler)
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    threading.Thread(target=stop_with_parent, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
