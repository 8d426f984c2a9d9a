"""How much the kit's runner adds on top of papermill itself.

    .venv/bin/python bench/reproduce_overhead.py [--repeat 3]

Baseline: `papermill` executing notebooks 06 and 07 directly, one after the other.
Kit: `ainkit reproduce --only 06,07` (parameter inspection, the same two executions,
REPRODUCTION.md and the manifest), then the same command again in the same folder, where
nothing changed and both notebooks are reused (the inputs fingerprint: ainkit.reproduction.rerun).
Prints the median seconds of each and the ratios.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["06_benchmark_results", "07_human_feedback_survey"]


def timed(cmds: list[list[str]]) -> float:
    t0 = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant (median reported)")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    base, kit, again = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            base.append(timed([[str(bindir / "papermill"), "-k", "ainkit", "-p", "out_root", tmp, "--no-progress-bar",
                                str(ROOT / "notebooks" / f"{nb}.ipynb"), f"{tmp}/{nb}.ipynb"] for nb in NOTEBOOKS]))
        with tempfile.TemporaryDirectory() as tmp:
            kit.append(timed([[str(bindir / "ainkit"), "reproduce", "--only", "06,07", "--out", tmp]]))
            again.append(timed([[str(bindir / "ainkit"), "reproduce", "--only", "06,07", "--out", tmp]]))
    b, k, a = statistics.median(base), statistics.median(kit), statistics.median(again)
    print(f"papermill CLI, notebooks 06+07 (baseline): median {b:.2f} s over {args.repeat} runs {[round(x, 2) for x in base]}")
    print(f"ainkit reproduce --only 06,07:            median {k:.2f} s over {args.repeat} runs {[round(x, 2) for x in kit]}")
    print(f"the same again, nothing changed (reused):   median {a:.2f} s over {args.repeat} runs {[round(x, 2) for x in again]}")
    print(f"ratio reused rerun/first run: {a / k:.2f}x")
    print(f"ratio ainkit/papermill: {k / b:.2f}x")


if __name__ == "__main__":
    main()
