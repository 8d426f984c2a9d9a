"""Peak memory of the stages against the number of records: flat, or growing with the input?

    .venv/bin/python bench/stage_memory.py [--small 10000] [--large 100000] [--stages verify,metrics,export,train]

For each stage, the same kind of input at two sizes (--small and --large records), each run in a fresh
process that reports its own peak RSS (ru_maxrss, worker processes included). A stage whose
bookkeeping grows with the input (a set of every id, the whole journal read back at the end, every
pair kept for the corpus scores) shows it as large/small well above 1; flat is what a 3.6 M-record
run needs. Baseline: the --small run of the same stage. The last line is the worst stage's ratio
against the 1.3x budget of issue 13.

Stages measured: verify (scores already present), metrics (BLEU/METEOR/ROUGE of short pairs, one
worker), export (chat records with one shared image), and train (`ainkit train` of the tiny
Qwen2-VL for 2 steps on chat records with one image each, at --train-small / --train-large
records: 1,000 vs 20,000, issue 13's sizes; the data set is checked up front and encoded as the
Trainer asks, ainkit.stages.train.data.LazyRecords). translate and similarity share the same
StageIO bookkeeping; their per-record cost (an endpoint, an encoder) makes 100 k records a
benchmark of those instead.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUDGET = 1.3
STAGES = ["verify", "metrics", "export", "train"]


def write_input(stage: str, n: int, folder: Path) -> Path:
    """n records of the stage's shape, each with some text so a record is a realistic few hundred bytes."""
    path = folder / f"{stage}-{n}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            ref = f"the cat number {i} sat quietly on the old red mat near the door"
            hyp = f"a cat number {i} sat quietly on an old red mat by the door"
            if stage == "verify":
                rec = {"id": f"r{i}", "reference": ref, "hypothesis": hyp, "similarity": 0.7 + (i % 30) / 100,
                       "bleu4": 0.5 + (i % 50) / 100, "meteor": 0.85, "rouge1_f": 0.9}
            elif stage == "metrics":
                rec = {"id": f"r{i}", "reference": ref, "hypothesis": hyp}
            else:
                rec = {"id": f"r{i}", "messages": [{"role": "user", "content": f"<image>What is in picture {i}?"},
                                                   {"role": "assistant", "content": ref}], "images": ["cat.png"]}
            fh.write(json.dumps(rec) + "\n")
    if stage in ("export", "train"):
        from PIL import Image

        Image.new("RGB", (32, 32), (200, 80, 40)).save(folder / "cat.png")
    return path


def child(stage: str, src: str, out: str) -> None:
    """Run one stage in this process; print seconds and peak RSS (MB) as JSON."""
    t0 = time.perf_counter()
    if stage == "verify":
        from ainkit.stages import verify

        verify.run(src, out)
    elif stage == "metrics":
        from ainkit.stages import metrics

        metrics.score_records(src, out, workers=1, progress=False)
    elif stage == "export":
        from ainkit.pipelines import export

        export.run(src, out, progress=False)
    else:
        from ainkit.stages.train.trainer import load_config, train

        train(load_config(str(ROOT / "configs/train/tiny.yaml"), [f"data={src}", "max_steps=2", "save_steps=1000"],
                          output_dir=out))
    seconds = time.perf_counter() - t0
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))


def measure(stage: str, n: int, folder: Path) -> dict:
    src = write_input(stage, n, folder)
    out = folder / (f"{stage}-{n}-out" if stage in ("export", "train") else f"{stage}-{n}-out.jsonl")
    proc = subprocess.run([sys.executable, __file__, "--child", stage, str(src), str(out)], capture_output=True, text=True,
                          env={**os.environ, "AINKIT_CACHE_DIR": str(folder / "cache")})
    if proc.returncode != 0:
        sys.exit(f"{stage} with {n} records failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--train-small", type=int, default=1_000)
    ap.add_argument("--train-large", type=int, default=20_000)
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    worst = ("", 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for stage in args.stages.split(","):
            n_small, n_large = (args.train_small, args.train_large) if stage == "train" else (args.small, args.large)
            small, large = measure(stage, n_small, Path(tmp)), measure(stage, n_large, Path(tmp))
            ratio = large["peak_mb"] / small["peak_mb"]
            print(f"{stage:<8} {n_small:>7,} records: peak {small['peak_mb']:7.1f} MB in {small['seconds']:6.1f} s | "
                  f"{n_large:>7,} records: peak {large['peak_mb']:7.1f} MB in {large['seconds']:6.1f} s | ratio {ratio:.2f}x")
            worst = max(worst, (stage, ratio), key=lambda w: w[1])
    print(f"ratio worst peak-RSS growth ({worst[0]}, large vs small input): {worst[1]:.2f}x (budget {BUDGET}x)")


if __name__ == "__main__":
    main()
