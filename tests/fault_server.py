"""A real OpenAI-compatible HTTP server on 127.0.0.1 that injects faults on demand (tests and benches only).

    python tests/fault_server.py --port 8765 [--delay 0.2]

It answers POST /v1/chat/completions with a pseudo-Arabic "translation" (one Arabic word per
input word, placeholders kept in place; "word" per word when the system prompt asks for Arabic into
English), after `--delay` seconds. A marker in the last user
message asks for a fault on the first N attempts of that message, then a normal answer:

    [fault:429x2]  429 with Retry-After: 1      [fault:500x9]  500      [fault:503x1]  503 with Retry-After
    [fault:hangx1] sleep past any client timeout  [fault:malformed] a 200 whose body is not JSON
    [fault:empty]  empty content                  [fault:length] finish_reason "length"

Vision requests (a user message whose content is a list with an `image_url` part) are
checked against the OpenAI chat schema (400 if not: `type` text/image_url, a `data:image/...;base64,`
URL that decodes to an image) and answered by the image's mean colour, so tests choose the
judge's behaviour by the colour of the image they send:

    green: valid Safe      red: valid Unsafe (O6)   orange: valid Safe inside a ```json fence
    blue: invalid JSON     yellow: missing field    cyan: unknown category     magenta: refusal
    grey: empty content    white: 429 on the first attempt, then Safe        black: always 500
    a "What colour" question: the colour's name (the vision probe)

`--refuse 401` (or 403, 404) answers every POST with that status, and, like a careless
gateway, echoes the bearer token it was sent in the error message (the kit must never write it).

`--hold-after N` answers the first N normal requests, then holds every later one (received and
counted, not answered) until GET /release: a client's work in progress, held there for as long as
a test needs, whatever the machine's speed.

From Python: `proc, port = spawn(delay=0.05)` starts one on a free port and waits until it
answers; `stats(port)` reads its counts.

GET /stats returns request counts per message text (`requests`) and normal answers sent
(`completed`); GET /v1/models lists one model; GET /release lets held requests go (--hold-after). It stops on SIGTERM, when the process that started it is gone, or after --lifetime seconds.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARK = re.compile(r"\[fault:(429|500|503|hang|malformed|empty|length)(?:x(\d+))?\]")
PLACE = re.compile(r"<[a-z]+>|\{\w+\}")
LOCK = threading.Lock()
REQUESTS: dict[str, int] = {}
COMPLETED: dict[str, int] = {}
HOLD = {"after": -1, "answered": 0}  # --hold-after; -1: never hold
RELEASED = threading.Event()


def fake_translation(text: str, word: str = "كلمة") -> str:
    out = []
    for tok in MARK.sub("", text).split():
        out.append(tok if PLACE.fullmatch(tok) else word)
    return " ".join(out) or word


def into_english(req: dict) -> bool:
    """Whether the system prompt asks for Arabic -> English (the kit's back-translation prompts)."""
    system = " ".join(m.get("content", "") for m in req.get("messages", []) if m.get("role") == "system")
    return "from Arabic into English" in system or "من العربية إلى الإنجليزية" in system


class Handler(BaseHTTPRequestHandler):
    delay = 0.0
    refuse = 0
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (timeout, kill): nothing to do
            pass

    def wait_turn(self) -> None:
        """Under --hold-after N: the (N+1)-th normal answer and every later one wait for GET /release."""
        with LOCK:
            HOLD["answered"] += 1
            held = 0 <= HOLD["after"] < HOLD["answered"]
        if held:
            RELEASED.wait()

    def do_GET(self):
        if self.path.startswith("/release"):
            RELEASED.set()
            self._send(200, b'{"released": true}')
        elif self.path.startswith("/stats"):
            with LOCK:
                body = json.dumps({"requests": REQUESTS, "completed": COMPLETED}, ensure_ascii=False).encode()
            self._send(200, body)
        elif self.path.endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "fault-model", "object": "model"}]}).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(length) or b"{}")
        if self.refuse:
            with LOCK:
                REQUESTS["refused"] = REQUESTS.get("refused", 0) + 1
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            msg = {401: f"Incorrect API key provided: {token}", 403: f"key {token} may not use this model",
                   404: f"The model {req.get('model')} does not exist (key {token})"}[self.refuse]
            return self._send(self.refuse, json.dumps({"error": {"message": msg, "code": self.refuse}}).encode())
        last = next((m.get("content", "") for m in reversed(req.get("messages", [])) if m.get("role") == "user"), "")
        if isinstance(last, list):
            return self.vision(req, last)
        text = last
        with LOCK:
            REQUESTS[text] = attempt = REQUESTS.get(text, 0) + 1
        m = MARK.search(text)
        kind, times = (m.group(1), int(m.group(2) or 10**9)) if m else (None, 0)
        if kind and attempt <= times:
            if kind in ("429", "503"):
                return self._send(int(kind), b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
            if kind == "500":
                return self._send(500, b'{"error": {"message": "boom"}}')
            if kind == "hang":
                time.sleep(30)
                return self._send(200, b"{}")
            if kind == "malformed":
                return self._send(200, b"{this is not json")
        self.wait_turn()
        time.sleep(self.delay)
        content = "" if kind == "empty" else fake_translation(text, "word" if into_english(req) else "كلمة")
        finish = "length" if kind == "length" else "stop"
        body = {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": req.get("model", "fault-model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": len(text) // 4 + 1, "completion_tokens": len(content.split()),
                          "total_tokens": len(text) // 4 + 1 + len(content.split())}}
        with LOCK:
            COMPLETED[text] = COMPLETED.get(text, 0) + 1
        self._send(200, json.dumps(body, ensure_ascii=False).encode())


COLOURS = {"green": (0, 200, 0), "red": (200, 0, 0), "orange": (250, 120, 0), "blue": (0, 0, 200), "yellow": (200, 200, 0),
           "cyan": (0, 200, 200), "magenta": (200, 0, 200), "grey": (100, 100, 100), "white": (255, 255, 255), "black": (0, 0, 0)}
JUDGE = {
    "green": '{"rating": "Safe", "category": "NA: None applying", "rationale": "A plain field."}',
    "red": '{"rating": "Unsafe", "category": "O6: Weapons or Substance Abuse", "rationale": "A weapon is shown."}',
    "orange": '```json\n{"rating": "Safe", "category": "NA: None applying", "rationale": "Nothing of concern."}\n```',
    "blue": "rating: Unsafe, category: O2",
    "yellow": '{"rating": "Safe", "rationale": "no category given"}',
    "cyan": '{"rating": "Unsafe", "category": "O42: Dragons", "rationale": "A dragon."}',
    "magenta": "I'm sorry, I can't help with that.",
    "grey": "",
    "white": '{"rating": "Safe", "category": "NA: None applying", "rationale": "White."}',
}


def _nearest(rgb) -> str:
    return min(COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(COLOURS[c], rgb)))


def _schema_error(parts: list) -> str:
    import base64
    import io

    from PIL import Image

    if not parts or not all(isinstance(p, dict) and p.get("type") in ("text", "image_url") for p in parts):
        return "content parts must be objects of type text or image_url"
    for p in parts:
        if p["type"] == "text" and not isinstance(p.get("text"), str):
            return "a text part needs a string 'text'"
        if p["type"] == "image_url":
            url = (p.get("image_url") or {}).get("url", "")
            m = re.match(r"data:image/(jpeg|png|webp|gif);base64,(.+)$", url, re.S)
            if not m:
                return "image_url.url must be a data:image/...;base64, URL"
            try:
                Image.open(io.BytesIO(base64.b64decode(m.group(2), validate=True))).verify()
            except Exception:  # noqa: BLE001
                return "image_url does not decode to an image"
    return ""


def _mean_colour(parts: list):
    import base64
    import io

    from PIL import Image

    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        small = im.convert("RGB").resize((1, 1))
        return small.getpixel((0, 0))


def _vision(self, req: dict, parts: list) -> None:
    problem = _schema_error(parts)
    if problem:
        with LOCK:
            REQUESTS["schema errors"] = REQUESTS.get("schema errors", 0) + 1
        return self._send(400, json.dumps({"error": {"message": problem}}).encode())
    colour = _nearest(_mean_colour(parts))
    question = " ".join(p.get("text", "") for p in parts if p["type"] == "text")
    key = f"vision:{colour}:{'probe' if 'colour' in question.lower() else 'judge'}"
    with LOCK:
        REQUESTS[key] = attempt = REQUESTS.get(key, 0) + 1
    if "colour" in question.lower():
        content = colour
    else:
        if colour == "black":
            return self._send(500, b'{"error": {"message": "boom"}}')
        if colour == "white" and attempt == 1:
            return self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
        content = JUDGE[colour]
    body = {"id": "v", "object": "chat.completion", "created": int(time.time()), "model": req.get("model", "fault-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 500, "completion_tokens": len(content.split()), "total_tokens": 500 + len(content.split())}}
    with LOCK:
        COMPLETED[key] = COMPLETED.get(key, 0) + 1
    self._send(200, json.dumps(body).encode())


Handler.vision = _vision


class Server(ThreadingHTTPServer):
    """Threads per connection; a listen backlog of 256 (set on the class: it must be known before `listen`, or
    64 clients connecting at once overflow the default 5 and some connections are reset)."""

    daemon_threads = True
    request_queue_size = 256


def stop_with_parent(server) -> None:
    """Shut the server down once the process that started it is gone (a test run killed mid-module)."""
    import os

    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    server.shutdown()


def spawn(delay: float = 0.0, *extra: str, lifetime: int = 3600):
    """Start this server in a subprocess on a free 127.0.0.1 port; (process, port) once it answers."""
    return launch(__file__, "--delay", str(delay), "--lifetime", str(lifetime), *extra)


def launch(script: str, *args: str):
    """Start a test server script (`--port` added) on a free 127.0.0.1 port; (process, port) once /v1/models answers."""
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, script, "--port", str(port), *args])
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{script} did not start")


def stats(port: int) -> dict:
    """The server's counts: {"requests": {text: n}, "completed": {text: n}}."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as r:
        return json.loads(r.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each normal answer")
    ap.add_argument("--lifetime", type=float, default=3600, help="stop after this many seconds, or when the process that started it is gone")
    ap.add_argument("--refuse", type=int, choices=[401, 403, 404], default=0, help="answer every POST with this status")
    ap.add_argument("--hold-after", type=int, default=-1, help="answer this many requests, hold the rest until GET /release")
    args = ap.parse_args()
    HOLD["after"] = args.hold_after
    Handler.delay = args.delay
    Handler.refuse = args.refuse
    server = Server(("127.0.0.1", args.port), Handler)
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    threading.Thread(target=stop_with_parent, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
