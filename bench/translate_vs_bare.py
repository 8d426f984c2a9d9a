"""`ainkit translate` against a bare `AsyncOpenAI` + semaphore client, same server, same run (issue 13, point 6).

    .venv/bin/python bench/translate_vs_bare.py [--records 4000] [--latency 0.2] [--concurrency 64] [--rounds 2]

Server: tests/fault_server.py on 127.0.0.1, every answer after `--latency` seconds, no fault.
Bare: one `AsyncOpenAI(max_retries=0)`, an `asyncio.Semaphore(concurrency)`, the kit's translation
messages, the answers kept in a list; nothing else (no checks, no cache, no journal). It is the
ceiling a Python client reaches on this machine, which the server ceiling (concurrency / latency)
is not when the CPUs are the limit. It runs in a fresh interpreter, timed from before `import openai`.
Kit: the `ainkit translate` command in a subprocess, at its default concurrency, on a JSON Lines
file of the same texts, with a fresh answer cache (so every request is sent) and the stage's whole
work (records, checks, journal, cache writes, ordered output). Its time is the seconds on its
summary line: the stage's wall time, which includes importing openai as the bare time does; the
interpreter's start and the kit's own imports are printed apart.
The rounds alternate bare and kit, so both see the same load; the best round of each is compared.
The last line is the ratio kit/bare (target >= 0.9, issue 13).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from fault_server import spawn

from ainkit.stages import translate

MODEL = "bench-model"


def texts(n: int) -> list[str]:
    return [f"Record {i}: what color is the car parked next to building {i}?" for i in range(n)]


def bare_process(base_url: str, records: int, concurrency: int, max_tokens: int) -> tuple[float, int]:
    """(seconds, failed) for the bare client in a fresh interpreter (so it pays for `import openai` as the kit does)."""
    out = subprocess.run([sys.executable, __file__, "--bare", base_url, "--records", str(records), "--concurrency",
                          str(concurrency), "--max-tokens", str(max_tokens)], capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bare client failed:\n{out.stderr}")
    seconds, failed = out.stdout.split()
    return float(seconds), int(failed)


async def bare(base_url: str, items: list[str], concurrency: int, max_tokens: int, t0: float) -> tuple[float, int]:
    """(seconds since t0, failed) for the bare client: AsyncOpenAI + semaphore, nothing else."""
    import openai

    settings = translate.Settings("en-ar", "ar", max_tokens=max_tokens)
    api = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)
    sem = asyncio.Semaphore(concurrency)

    async def one(text: str):
        async with sem:
            try:
                r = await api.chat.completions.create(model=MODEL, messages=translate.messages_for(text, settings),
                                                      temperature=0.0, max_tokens=max_tokens)
                return r.choices[0].message.content
            except openai.OpenAIError:
                return None

    out = await asyncio.gather(*(one(t) for t in items))
    dt = time.perf_counter() - t0
    await api.close()
    return dt, sum(o is None for o in out)


def kit(base_url: str, items: list[str], workdir: Path, max_tokens: int, extra: list[str]) -> tuple[float, float, str]:
    """(stage seconds, whole command seconds, summary line) for `ainkit translate` at its defaults."""
    src = workdir / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(items)), encoding="utf-8")
    cache = tempfile.mkdtemp(dir=workdir, prefix="cache-")
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench", "AINKIT_CACHE_DIR": cache}
    out = workdir / "out.jsonl"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ainkit.commands.cli", "translate", "--input", str(src), "--output", str(out),
                           "--model", MODEL, "--max-tokens", str(max_tokens), "--restart", *extra],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800, check=False)
    wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("[translate]") and " read" in ln), "")
    m = re.search(r", ([\d.]+) s$", line)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"ainkit translate failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return float(m.group(1)), wall, line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    ap.add_argument("--concurrency", type=int, default=64, help="the bare client's (the kit runs at its CLI default)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="bare/kit pairs; the best of each is compared")
    ap.add_argument("--kit-args", default="", help="extra `ainkit translate` arguments, e.g. '--no-cache'")
    ap.add_argument("--bare", metavar="URL", help=argparse.SUPPRESS)  # internal: run only the bare client, print seconds
    args = ap.parse_args()
    if args.bare:
        t0 = time.perf_counter()
        print(*asyncio.run(bare(args.bare, texts(args.records), args.concurrency, args.max_tokens, t0)))
        return
    proc, port = spawn(args.latency, lifetime=3600)
    base_url = f"http://127.0.0.1:{port}/v1"
    items = texts(args.records)
    best_bare = best_kit = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                dt, failed = bare_process(base_url, args.records, args.concurrency, args.max_tokens)
                best_bare = max(best_bare, args.records / dt)
                print(f"round {r + 1} bare AsyncOpenAI + semaphore({args.concurrency}): {args.records / dt:7.1f} records/s "
                      f"({dt:.1f} s with import openai, {failed} failed)", flush=True)
                stage, wall, line = kit(base_url, items, Path(tmp), args.max_tokens, args.kit_args.split())
                best_kit = max(best_kit, args.records / stage)
                print(f"round {r + 1} ainkit translate (default concurrency):  {args.records / stage:7.1f} records/s "
                      f"({stage:.1f} s in the stage, {wall:.1f} s with interpreter start)\n    {line}", flush=True)
    finally:
        proc.terminate()
        proc.wait()
    print(f"server ceiling at concurrency {args.concurrency}: {args.concurrency / args.latency:.0f} records/s; "
          f"best bare {best_bare:.1f}/s, best kit {best_kit:.1f}/s")
    print(f"ratio kit/bare: {best_kit / best_bare:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
