"""The embedded engine under concurrent requests: one llama.cpp server with every thread vs one single-thread server
per core (the kit's default, ainkit.services.serve.default_workers), at concurrency 1, 4 and 8.

    .venv/bin/python bench/serve_parallel.py [--samples 16] [--max-tokens 48]

llama-cpp-python's server decodes one request at a time, so concurrency alone gains nothing; several processes
serve requests in parallel. Each configuration translates the same sentences through the kit's own client
(ainkit.services.llm.Client, no cache) and counts only requests that succeeded (a failure stops the bench).
Baseline of the ratio line: one server with every thread at concurrency 1 (what the kit did before).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ainkit.services import llm, serve
from ainkit.stages import translate  # noqa: E402
from ainkit.reproduction.analyses.selection import load_samples  # noqa: E402


def run(workers: int, concurrency: int, texts: list[str], max_tokens: int) -> float:
    settings = translate.Settings("en-ar", "en", max_tokens=max_tokens)
    with serve.embedded_server(workers=workers) as b:
        client = llm.Client(b, concurrency=concurrency, cache=False, max_retries=0)
        reqs = [translate.messages_for(t, settings) for t in texts]
        client.run(reqs[:workers], **settings.params())  # warm every worker
        t0 = time.perf_counter()
        answers = client.run(reqs, **settings.params())
        dt = time.perf_counter() - t0
    bad = [a.error for a in answers if not a.ok]
    if bad:
        raise SystemExit(f"workers={workers} concurrency={concurrency}: {len(bad)} request(s) failed ({bad[0]}); no number")
    return len(texts) / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    texts = [s["en"] for s in load_samples()[: args.samples]]
    cores = os.cpu_count() or 1
    print(f"{len(texts)} sentences, at most {args.max_tokens} tokens each, {cores} cores, model {serve.DEFAULT_LOCAL_MODEL}")
    results = {}
    for workers in sorted({1, cores}):
        for c in (1, 4, 8):
            results[(workers, c)] = rate = run(workers, c, texts, args.max_tokens)
            print(f"workers {workers} x {max(1, cores // workers)} thread(s), concurrency {c}: {rate:.2f} samples/s", flush=True)
    base = results[(1, 1)]
    best = max(results, key=results.get)
    print(f"ratio best/baseline: {results[best] / base:.2f}x (workers {best[0]}, concurrency {best[1]}; baseline: 1 server "
          f"x {cores} threads at concurrency 1, {base:.2f} samples/s)")


if __name__ == "__main__":
    main()
