"""Tokens/s of the tiny Qwen2-VL on CPU with 1 and 2 gloo ranks (submitit LocalExecutor), and the scaling ratio.

    .venv/bin/python bench/train_throughput.py [--steps 60]

Baseline: 1 rank. Same per-rank batch, so 2 ranks train twice the samples per step; tokens/s
counts the tokens of the samples trained on (mean tokens per sample x samples x steps).
On a 2-core machine the two ranks share the cores: expect little or no gain.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ainkit.pipelines import launch  # noqa: E402
from ainkit.ground.paths import CONFIGS  # noqa: E402
from ainkit.stages.train.trainer import load_config  # noqa: E402


def run(tasks: int, steps: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="ainkit-bench-train-"))
    try:
        cfg = load_config(str(CONFIGS / "train" / "tiny.yaml"), [f"max_steps={steps}", f"save_steps={steps * 10}"],
                          output_dir=str(folder / "run"))
        s = launch.submit(cfg, "local", tasks).results()[0]
        samples = s["global_step"] * cfg.per_device_batch * cfg.gradient_accumulation * s["world_size"]
        tps = s["tokens_per_epoch"] / s["examples"] * samples / s["seconds"]
        print(f"{tasks} rank(s): {s['global_step']} steps in {s['seconds']:.1f} s, {tps:,.0f} tokens/s, final loss {s['losses'][-1]:.3f}")
        return tps
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    one, two = run(1, args.steps), run(2, args.steps)
    print(f"scaling ratio 2 ranks / 1 rank: {two / one:.2f}x (ideal 2.00x)")


if __name__ == "__main__":
    main()
