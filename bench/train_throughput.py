"""Training tokens/s and padding share on CPU, packed rows vs padded batches, and the padding share the report's run would see.

    .venv/bin/python bench/train_throughput.py [--records 96] [--batch 4] [--cutoff 1024] [--repeats 3]
    .venv/bin/python bench/train_throughput.py --ranks [--steps 60]     # 1 vs 2 gloo ranks instead (submitit LocalExecutor)

Packed vs padded: one epoch of the tiny Qwen2-VL (configs/train/tiny.yaml, fp32, sdpa) over records built from the
kit's bilingual samples with a spread of lengths: record i joins 1 + (i * 7 mod 13) sample pairs into one
question and answer (about 50 to 700 tokens), every fourth with a drawn image. Baseline: padded (per_device_batch
records a batch, padded to the longest); packed: the same records first-fit into rows of cutoff_len tokens
(ainkit.stages.train.packing), per_device_batch rows a batch. tokens/s counts the records' own tokens (image tokens
included, padding not) over the epoch's wall time, the best of --repeats epochs of each (run alternately: the shared
machine's load varies); the padding share is measured at the collate.

The report-like distribution (an assumption, not the report's data, which is not public): 10,000 samples, each
one image of 64 to 729 tokens (log-uniform: Qwen2-VL's images at 256 x 256 to 756 x 756 pixels) plus text of
lognormal length (median 120 tokens, sigma 1.0), the total capped at cutoff 2048; the printed padding shares are
for micro-batches of 1 to 8 padded to their longest (random order), and the unused share of 2048-token rows when
each row is one sample (batch 1, the ain_7b preset) vs packed.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ainkit.ground.paths import CONFIGS  # noqa: E402
from ainkit.stages.train.packing import pack, padding_share  # noqa: E402
from ainkit.stages.train.plan import report_like_lengths  # noqa: E402
from ainkit.stages.train.trainer import load_config  # noqa: E402


def spread_records(folder: Path, n: int) -> list[dict]:
    """Chat records of widely spread lengths from the kit's bilingual samples; every fourth with a drawn image."""
    from PIL import Image

    from ainkit.services.records import load_samples

    samples = load_samples()
    out = []
    for i in range(n):
        picked = [samples[(i * 5 + j) % len(samples)] for j in range(1 + (i * 7) % 13)]
        rec = {"id": f"r{i}", "messages": [
            {"role": "user", "content": "Translate into Arabic: " + " ".join(s["en"] for s in picked)},
            {"role": "assistant", "content": " ".join(s["ar"] for s in picked)}]}
        if i % 4 == 0:
            path = folder / f"{i}.png"
            Image.new("RGB", (56 + 28 * (i % 5), 56), ((37 * i) % 255, 91, 53)).save(path)
            rec["messages"][0]["content"] = "<image>\n" + rec["messages"][0]["content"]
            rec["images"] = [str(path)]
        out.append(rec)
    return out


def epoch(packing: bool, records: list[dict], folder: Path, batch: int, cutoff: int) -> dict:
    """One epoch of the tiny model, packed or padded: tokens/s and the measured padding share."""
    from transformers import AutoTokenizer

    from ainkit.services import tiny
    from ainkit.services.qwen2vl import Encoder
    from ainkit.stages.train.packing import Packed, PackedCollate
    from ainkit.stages.train.trainer import build_trainer, load_model

    cfg = load_config(str(CONFIGS / "train" / "tiny.yaml"), [f"packing={packing}", "max_steps=-1", "logging_steps=1000",
                      f"per_device_batch={batch}", f"cutoff_len={cutoff}"], output_dir=str(folder / f"run-{packing}"))
    model_path = folder / "tiny-model"
    if not (model_path / "config.json").exists():
        tiny.build(model_path, seed=cfg.seed)
    enc = Encoder(AutoTokenizer.from_pretrained(model_path), cfg.min_pixels, cfg.max_pixels, cfg.cutoff_len)
    examples = [enc.encode(r) for r in records]
    data, collate = (Packed(examples, [len(e["input_ids"]) for e in examples], cutoff), PackedCollate(enc)) if packing \
        else (examples, enc.collate)
    seen = {"tokens": 0, "slots": 0}

    def counting(items):
        out = collate(items)
        seen["slots"] += out["input_ids"].numel()
        seen["tokens"] += sum(len(e["input_ids"]) for x in items for e in (x if packing else [x]))
        return out

    trainer = build_trainer(cfg, load_model(cfg, model_path, "sdpa"), data, counting, save_strategy="no")
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    return {"packing": packing, "steps": trainer.state.global_step, "seconds": round(seconds, 2),
            "tokens": seen["tokens"], "tokens_per_s": seen["tokens"] / seconds, "loss": result.training_loss,
            "padding_share": 1 - seen["tokens"] / seen["slots"], "rows": len(data)}


def print_report_like() -> None:
    """Padding shares of the report-like distribution: padded micro-batches of 1-8 vs packed 2048-token rows."""
    lengths = report_like_lengths()
    order = list(range(len(lengths)))
    random.Random(1).shuffle(order)
    shuffled = [lengths[i] for i in order]
    single = [[i] for i in range(len(shuffled))]
    mean = sum(lengths) / len(lengths)
    print(f"report-like lengths (assumed): {len(lengths):,} samples, mean {mean:.0f}, "
          f"median {sorted(lengths)[len(lengths) // 2]}, max {max(lengths)} tokens")
    for b in (1, 2, 4, 8):
        print(f"  padded, micro-batch {b}: padding share {padding_share(shuffled, single, b):.1%}")
    rows = pack(shuffled, 2048)
    print(f"  one sample a 2048-token row: unused share {1 - mean / 2048:.1%}; packed: {len(rows):,} rows, "
          f"unused {1 - sum(lengths) / (2048 * len(rows)):.1%} ({len(lengths) / len(rows):.2f} samples a row)")


def packed_vs_padded(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ainkit-bench-pack-"))
    try:
        records = spread_records(folder, args.records)
        runs = [epoch(p, records, folder, args.batch, args.cutoff) for _ in range(args.repeats) for p in (False, True)]
        padded, packed = (max((r for r in runs if r["packing"] == p), key=lambda r: r["tokens_per_s"]) for p in (False, True))
        for r in (padded, packed):
            print(f"{'packed' if r['packing'] else 'padded'}: {r['steps']} steps, {r['rows']} rows, {r['seconds']:.1f} s, "
                  f"{r['tokens_per_s']:,.0f} tokens/s, padding share {r['padding_share']:.1%}, loss {r['loss']:.3f}")
        print_report_like()
        if args.output:
            Path(args.output).write_text(json.dumps({"padded": padded, "packed": packed}, indent=1) + "\n")
        print(f"ratio: packed / padded tokens/s {packed['tokens_per_s'] / padded['tokens_per_s']:.2f}x "
              f"(baseline: padded, per_device_batch {args.batch})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ranks(tasks: int, steps: int) -> float:
    """Tokens/s of the tiny CPU trial with `tasks` gloo ranks."""
    from ainkit.pipelines import launch

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
    ap.add_argument("--records", type=int, default=96, help="records of spread length (packed vs padded)")
    ap.add_argument("--batch", type=int, default=4, help="per_device_batch: records (padded) or rows (packed) a step")
    ap.add_argument("--cutoff", type=int, default=1024, help="cutoff_len: the packed row length")
    ap.add_argument("--repeats", type=int, default=3, help="epochs of each, alternating; the best of each is kept")
    ap.add_argument("--output", help="also write the two runs' figures to this JSON file")
    ap.add_argument("--ranks", action="store_true", help="compare 1 and 2 gloo ranks instead")
    ap.add_argument("--steps", type=int, default=60, help="steps a run with --ranks")
    args = ap.parse_args()
    if args.ranks:
        one, two = ranks(1, args.steps), ranks(2, args.steps)
        print(f"scaling ratio 2 ranks / 1 rank: {two / one:.2f}x (ideal 2.00x)")
    else:
        packed_vs_padded(args)


if __name__ == "__main__":
    main()
