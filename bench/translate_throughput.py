"""Translation throughput: the report's one-at-a-time loop against the kit's concurrency.

    .venv/bin/python bench/translate_throughput.py [--records 500] [--latency 0.2] [--concurrency 64]

Server: the fault-injecting OpenAI-compatible server of the tests (tests/fault_server.py) on
127.0.0.1, answering every request after a fixed latency and injecting no fault. Both runs
go through `ainkit.stages.translate` with its checks (cache off, so nothing is served from cache).
Prints records/s at concurrency 1 (baseline) and at the kit's concurrency, the ratio, and the
kit's share of the server's ceiling (concurrency / latency).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ainkit.services import llm
from ainkit.stages import translate  # noqa: E402
from ainkit.services.serve import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    ap.add_argument("--concurrency", type=int, default=64, help="the kit's concurrency (the CLI default)")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_server.py"), "--port", str(port),
                               "--delay", str(args.latency)])
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        backend = llm.Backend("bench", f"http://127.0.0.1:{port}/v1", "bench-model")
        texts = [f"Record {i}: what color is the car parked next to building {i}?" for i in range(args.records)]
        settings = translate.Settings("en-ar", "ar", max_tokens=64)
        rates = {}
        for conc in (1, args.concurrency):
            client = llm.Client(backend, concurrency=conc, max_retries=2, cache=False)
            t0 = time.perf_counter()
            out, issues = translate.translate_texts(client, texts, settings)
            dt = time.perf_counter() - t0
            failed = sum(o is None for o in out)
            rates[conc] = args.records / dt
            print(f"concurrency {conc:>3}: {rates[conc]:8.1f} records/s ({dt:.1f} s), {failed} failed records, "
                  f"{sum(bool(i) for i in issues)} with issues")
        ceiling = args.concurrency / args.latency
        print(f"server ceiling at concurrency {args.concurrency}: {ceiling:.0f} records/s; kit reaches {rates[args.concurrency] / ceiling:.0%}")
        print(f"ratio concurrency {args.concurrency} / concurrency 1: {rates[args.concurrency] / rates[1]:.1f}x")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
