"""The kit's own training step on one GPU: tokens/s, TFLOP/s, MFU against a measured peak, peak memory vs the plan.

    python3 bench/gpu_check.py --profile --output $OUT/gpu_check.json    # one GPU (the device machine; estimated 1-2 min)
    .venv/bin/python bench/gpu_check.py --cpu-smoke                      # the same code path, tiny, fp32, on CPU (seconds)

Why: the report trained on 8 x 8 A100s and the kit had only ever trained on CPU, so nobody knew
whether `ainkit.stages.train` uses a GPU well (issue 15). This runs what `ainkit train` runs (TrainConfig from
configs/train/ain_7b.yaml, `trainer.load_model`, the `Encoder` and its collate, `trainer.build_trainer`:
the Hugging Face Trainer with the kit's arguments) on a Qwen2-VL with the 2 B model's shapes and random
weights (nothing downloaded), on synthetic chat records: one noise image of --image-side pixels (756:
729 image tokens, the plan's assumption) and the kit's bilingual sample text, filled to just under the
cutoff (2048). Overrides of the preset: deepspeed off (one GPU; not installed on the device) and no
checkpoint written; `--set KEY=VALUE` changes any other TrainConfig field (per_device_batch=4, ...).
Attention: flash_attention_2 where flash-attn imports, else sdpa (printed).

Measured in the same run: the bf16 dense peak (best of square matmuls, n up to 16384; fp32 on CPU),
the steps' wall time after --warmup steps (CUDA synchronised at each step's end), the tokens the model
saw (counted at its forward: non-padding tokens, image tokens included), and
torch.cuda.max_memory_allocated (peak process RSS on CPU). Model FLOPs, no recomputation counted
(gradient checkpointing's extra forward is overhead, as MFU defines it):
  language model, per sequence of s tokens: 6 N s + 12 L h s^2   (PaLM, Chowdhery et al. 2022, App. B;
      N = matmul parameters: all but the input embedding, the tied output matrix counted once; h = heads x head dim)
  vision tower, per image of p patches: 2 N_v p + 2 N_m p / merge^2 + 4 L_v d p^2   (forward only when frozen;
      x3 when it trains; N_m = patch merger, N_v = the rest)
MFU = model FLOP/s / measured peak. The plan (`ainkit.stages.train.plan.memory_per_gpu`) is evaluated for the same
shapes, 1 GPU, the same cutoff and micro-batch, and printed beside the measured peak and a measured breakdown.
The last line is the ratio against issue 15's target: MFU 0.35.
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MFU = 0.35  # issue 15: "if MFU is under 35 %, find out why"
GIB = 1024 ** 3    # ainkit.stages.train.plan's "GB"
RESULTS = Path(__file__).resolve().parent / "results"

# Qwen/Qwen2-VL-2B-Instruct config.json: the language model has Qwen2-1.5B's shapes, the vision tower the 7B's.
TEXT_2B = {"vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
           "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
           "tie_word_embeddings": True,
           "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}}
VISION_2B = {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4, "patch_size": 14,
             "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}


def matmul_peak(device: str, dtype, sizes: tuple[int, ...], seconds: float = 0.3) -> tuple[float, int]:
    """(best FLOP/s, its n) of n x n matmuls: each size timed 3 times for about `seconds`."""
    import torch

    best, best_n = 0.0, 0
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        c = torch.empty(n, n, device=device, dtype=dtype)
        torch.mm(a, b, out=c)
        sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        sync(device)
        iters = max(2, int(seconds / max(time.perf_counter() - t0, 1e-6)))
        for _ in range(3):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(iters):
                torch.mm(a, b, out=c)
            sync(device)
            rate = 2 * n ** 3 * iters / (time.perf_counter() - t0)
            if rate > best:
                best, best_n = rate, n
        del a, b, c
    return best, best_n


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def synthetic_examples(folder: Path, enc, n: int, side: int, seed: int) -> list[dict]:
    """n chat records through `enc.encode`: one noise image each (4 distinct, cycled) and the kit's sample sentences,
    filled to just under the cutoff."""
    import numpy as np
    from PIL import Image

    from ainkit.services.records import load_samples
    from ainkit.services.qwen2vl import RecordProblem

    rng = np.random.default_rng(seed)
    images = []
    for k in range(4):
        path = folder / f"noise{k}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
        images.append(str(path))
    sentences = [t for s in load_samples() for t in (s["ar"], s["en"])]
    cost = [len(enc.tok.encode(t + "\n", add_special_tokens=False)) for t in sentences]

    def record(i: int, parts: list[str]) -> dict:
        return {"id": f"synthetic-{i}", "images": [images[i % 4]], "messages": [
            {"role": "user", "content": "<image>\nDescribe the image, then translate the text that follows."},
            {"role": "assistant", "content": "\n".join(parts)}]}

    try:
        overhead = len(enc.encode(record(0, []))["input_ids"])  # turns, image tokens, special tokens
    except RecordProblem as exc:
        raise SystemExit(f"a record with one {side}x{side} image and no text: {exc}; lower --image-side") from None
    out = []
    for i in range(n):
        parts, used, j = [], overhead, (37 * i) % len(sentences)  # a different window of sentences per record
        while used + cost[j] <= enc.cutoff:
            parts.append(sentences[j])
            used += cost[j]
            j = (j + 1) % len(sentences)
        while True:  # joined text may tokenise a little longer than its parts
            try:
                out.append(enc.encode(record(i, parts)))
                break
            except RecordProblem:
                parts.pop()
    return out


def flop_counter(model, vision_trains: bool):
    """(count(attention_mask, image_grid_thw) -> model FLOPs of one forward+backward, formula parameters)."""
    inner = model.model
    lm, visual = inner.language_model, inner.visual
    tc, vc = lm.config, visual.config
    n_lm = sum(p.numel() for p in lm.parameters()) - lm.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    n_merger = sum(p.numel() for p in visual.merger.parameters())
    n_vis = sum(p.numel() for p in visual.parameters()) - n_merger
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    h_attn = tc.num_attention_heads * head_dim
    merge2 = vc.spatial_merge_size ** 2
    vfactor = 3 if vision_trains else 1

    def count(mask, grid, parts: dict | None = None) -> tuple[float, int]:
        lengths = mask.sum(dim=1).tolist()
        flops = lm_flops = sum(6 * n_lm * s + 12 * tc.num_hidden_layers * h_attn * s * s for s in lengths)
        if grid is not None:
            for p in grid.prod(dim=1).tolist():
                flops += vfactor * (2 * n_vis * p + 2 * n_merger * p / merge2 + 4 * vc.depth * vc.embed_dim * p * p)
        if parts is not None:  # the vision tower's share, for MFU without it (as the published anchors count)
            parts["vision"] = parts.get("vision", 0.0) + flops - lm_flops
        return flops, int(sum(lengths))

    params = {"N_lm": n_lm, "L": tc.num_hidden_layers, "h": h_attn, "N_vision": n_vis, "N_merger": n_merger,
              "L_vision": vc.depth, "d_vision": vc.embed_dim, "vision_factor": vfactor}
    return count, params


def run(args) -> dict:
    import torch
    import transformers
    from transformers import TrainerCallback

    from ainkit.ground.paths import CONFIGS
    from ainkit.services import tiny
    from ainkit.stages.train import plan, trainer
    from ainkit.services.qwen2vl import Encoder

    device = "cuda" if torch.cuda.is_available() else "cpu"  # --cpu-smoke hid any GPU before torch was imported
    smoke = ["cutoff_len=256", "bf16=false"] if args.cpu_smoke else []
    steps = args.warmup + args.steps + (1 if args.profile else 0)
    work = Path(tempfile.mkdtemp(prefix="ainkit-gpu-check-"))
    cfg = trainer.load_config(str(CONFIGS / "train" / "ain_7b.yaml"),
                              ["deepspeed=null", *smoke, *args.set],
                              model="random weights, tiny shapes" if args.cpu_smoke else "random weights, Qwen2-VL-2B shapes",
                              max_steps=steps, logging_steps=steps, save_steps=steps + 1, output_dir=str(work / "run"))
    if cfg.packing:  # its records are all filled to the cutoff, and its FLOP count reads a padded batch's mask
        raise SystemExit("bench/gpu_check.py measures padded batches only; packed vs padded: bench/train_throughput.py")

    peak_dtype = torch.bfloat16 if device == "cuda" else torch.float32
    peak, peak_n = matmul_peak(device, peak_dtype, (4096, 8192, 16384) if device == "cuda" else (256, 512),
                               seconds=0.3 if device == "cuda" else 0.05)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    t_build = time.perf_counter()
    tok = tiny.sample_tokenizer()
    mconfig = tiny.config(tok) if args.cpu_smoke else tiny.config(tok, TEXT_2B, VISION_2B)
    attn = trainer.attention_implementation(cfg.attention)
    torch.manual_seed(cfg.seed)
    model = trainer.load_model(cfg, mconfig, attn)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    enc = Encoder(tok, cfg.min_pixels, cfg.max_pixels, cfg.cutoff_len)
    examples = synthetic_examples(work, enc, steps * cfg.per_device_batch * cfg.gradient_accumulation, args.image_side, cfg.seed)
    build_s = time.perf_counter() - t_build

    visual = model.model.visual
    count, formula = flop_counter(model, any(p.requires_grad for p in visual.parameters()))
    seen: list[tuple[int, object, object]] = []  # (optimizer step it belongs to, attention_mask, image_grid_thw)
    clock: list[float] = []
    profiled: list[str] = []

    class Clock(TrainerCallback):
        """Wall time at each optimizer step's end, the device synchronised; the extra --profile step under the profiler."""

        def __init__(self):
            self.prof = None

        def on_step_begin(self, a, state, control, **kw):
            if args.profile and state.global_step == steps - 1:
                from torch.profiler import ProfilerActivity, profile

                acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
                try:  # a sandbox without CUPTI must not cost the measured figures
                    self.prof = profile(activities=acts)
                    self.prof.__enter__()
                except Exception as exc:  # noqa: BLE001
                    profiled.append(f"profiler failed to start: {type(exc).__name__}: {exc}")
                    self.prof = None

        def on_step_end(self, a, state, control, **kw):
            sync(device)
            clock.append(time.perf_counter())
            if self.prof is not None:
                key = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
                try:
                    self.prof.__exit__(None, None, None)
                    profiled.append(self.prof.key_averages().table(sort_by=key, row_limit=25))
                except Exception as exc:  # noqa: BLE001
                    profiled.append(f"profiler failed: {type(exc).__name__}: {exc}")
                self.prof = None

    tr = trainer.build_trainer(cfg, model, examples, enc.collate, callbacks=[Clock()], save_strategy="no")
    model.register_forward_pre_hook(
        lambda mod, a, kw: seen.append((tr.state.global_step, kw["attention_mask"], kw.get("image_grid_thw"))),
        with_kwargs=True)
    result = tr.train()

    timed_steps = args.steps
    seconds = clock[args.warmup + timed_steps - 1] - clock[args.warmup - 1]
    flops, tokens, parts = 0.0, 0, {"vision": 0.0}
    for step, mask, grid in seen:
        if args.warmup <= step < args.warmup + timed_steps:
            f, t = count(mask, grid, parts)
            flops, tokens = flops + f, tokens + t
    achieved = flops / seconds
    if device == "cuda":
        peak_mem, mem_source = torch.cuda.max_memory_allocated() / GIB, "torch.cuda.max_memory_allocated"
        reserved = torch.cuda.max_memory_reserved() / GIB
        device_name, device_mem = torch.cuda.get_device_name(), torch.cuda.get_device_properties(0).total_memory / GIB
    else:
        peak_mem, mem_source = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, "peak process RSS (ru_maxrss)"
        reserved = None
        device_name = f"CPU ({platform.machine()}, {torch.get_num_threads()} torch threads)"
        device_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB

    params_total = sum(p.numel() for p in model.parameters())
    params_vision = sum(p.numel() for p in visual.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    state_bytes = sum(t.numel() * t.element_size() for s in tr.optimizer.state.values() for t in s.values()
                      if torch.is_tensor(t) and t.dim() > 0)
    measured = {"weights": sum(p.numel() * p.element_size() for p in model.parameters()) / GIB,
                "gradients (trainable x dtype, alive during backward)": sum(p.numel() * p.element_size() for p in trainable) / GIB,
                "optimizer states": state_bytes / GIB}
    measured["rest: activations, logits, workspace (peak - above)"] = peak_mem - sum(measured.values())
    image_tokens = [int(g.prod()) // enc.merge ** 2 for e in examples for g in e["image_grid_thw"]]
    lengths = [len(e["input_ids"]) for e in examples]
    tc = model.model.language_model.config
    assumptions = plan.Assumptions(
        params_total=params_total, params_vision=params_vision, hidden=tc.hidden_size, layers=tc.num_hidden_layers, gpus=1,
        gpu_memory_gb=device_mem, seq_len=cfg.cutoff_len, micro_batch=cfg.per_device_batch,
        image_tokens=round(sum(image_tokens) / len(image_tokens)),
        text_tokens=round(sum(lengths) / len(lengths) - sum(image_tokens) / len(image_tokens)),
        peak_tflops=peak / 1e12, mfu=achieved / peak)
    predicted = plan.memory_per_gpu(assumptions)
    losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
    return {
        "mode": "cpu-smoke" if args.cpu_smoke else "gpu", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "git_commit": trainer.git_commit(),
        "machine": {"device": device_name, "device_memory_gb": device_mem, "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__},
        "config": asdict(cfg), "attention": attn, "dtype": dtype,
        "params": {"total": params_total, "vision": params_vision, "trainable": sum(p.numel() for p in trainable)},
        "data": {"records": len(examples), "mean_tokens": sum(lengths) / len(lengths), "max_tokens": max(lengths),
                 "image_tokens": assumptions.image_tokens, "image_side": args.image_side},
        "build_seconds": build_s, "warmup_steps": args.warmup, "timed_steps": timed_steps, "seconds": seconds,
        "step_seconds": [b - a for a, b in itertools.pairwise(clock)],  # every step after the first, warm-up included
        "tokens": tokens, "tokens_per_s": tokens / seconds, "flops": flops, "achieved_tflops": achieved / 1e12,
        "flops_formula": {"text": "LM 6*N_lm*s + 12*L*h*s^2 per sequence (PaLM App. B); vision vision_factor*(2*N_vision*p "
                                  "+ 2*N_merger*p/merge^2 + 4*L_vision*d_vision*p^2) per image; no recomputation", **formula},
        "peak_tflops": peak / 1e12, "peak_matmul": {"n": peak_n, "dtype": str(peak_dtype).removeprefix("torch.")},
        "mfu": achieved / peak, "mfu_without_vision": (flops - parts["vision"]) / seconds / peak,
        "memory": {"peak_gb": peak_mem, "source": mem_source, "peak_reserved_gb": reserved, "measured_parts_gb": measured},
        "plan": {"assumptions": asdict(assumptions), "per_gpu_gb": predicted},
        "plan_over_measured": predicted["total"] / peak_mem,
        "losses": losses, "train_loss": result.training_loss, "profile": profiled[0] if profiled else None,
    }


def gb(v: float) -> str:
    return f"{v:.2f} GB" if abs(v) >= 0.05 else f"{v * 1024:.2f} MB"


def n_params(n: float) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e8 else f"{n / 1e6:.3f} M"


def report(r: dict) -> None:
    """The figures, one a line; the last is the ratio line."""
    m = r["machine"]
    print(f"device: {m['device']}, {m['device_memory_gb']:.1f} GB; torch {m['torch']} (CUDA {m['cuda']}), "
          f"transformers {m['transformers']}, Python {m['python']}")
    why = " (flash-attn not importable here)" if r["mode"] == "gpu" and r["attention"] == "sdpa" else ""
    c, p = r["config"], r["params"]
    print(f"model: {c['model']}: {n_params(p['total'])} parameters, {n_params(p['trainable'])} trained, vision tower "
          f"{n_params(p['vision'])}{' frozen' if c['freeze_vision_tower'] else ''}; {r['dtype']}; attention "
          f"{r['attention']}{why}; gradient checkpointing {c['gradient_checkpointing']}")
    d = r["data"]
    print(f"data: {d['records']} synthetic records, one {d['image_side']}x{d['image_side']} image ({d['image_tokens']} image "
          f"tokens) + sample text, {d['mean_tokens']:.0f} tokens on average (max {d['max_tokens']}, cutoff {c['cutoff_len']}); "
          f"micro-batch {c['per_device_batch']} x accumulation {c['gradient_accumulation']}")
    print(f"timed: {r['timed_steps']} optimizer steps after {r['warmup_steps']} warm-up, {r['seconds']:.2f} s, "
          f"{r['tokens']:,} tokens; build {r['build_seconds']:.1f} s; loss {r['losses'][-1] if r['losses'] else float('nan'):.3f}")
    print(f"tokens/s: {r['tokens_per_s']:,.0f}")
    print(f"achieved: {r['achieved_tflops']:.4g} TFLOP/s (model FLOPs: {r['flops_formula']['text']})")
    print(f"peak: {r['peak_tflops']:.4g} TFLOP/s measured ({r['peak_matmul']['dtype']} matmul, n={r['peak_matmul']['n']})")
    print(f"MFU: {r['mfu']:.4f} with the vision tower's FLOPs, {r['mfu_without_vision']:.4f} without "
          "(as the published anchors count: ../shared/reference/training-throughput-anchors.md)")
    mem = r["memory"]
    extra = f", {gb(mem['peak_reserved_gb'])} reserved" if mem["peak_reserved_gb"] is not None else ""
    print(f"memory: peak {gb(mem['peak_gb'])} ({mem['source']}{extra}); measured parts: "
          + "; ".join(f"{k} {gb(v)}" for k, v in mem["measured_parts_gb"].items()))
    plan = r["plan"]["per_gpu_gb"]
    print("plan (ainkit.stages.train.plan, same shapes, 1 GPU): " + "; ".join(f"{k} {gb(v)}" for k, v in plan.items()
                                                                       if k != "headroom of the GPU"))
    print(f"plan vs measured: {gb(plan['total'])} predicted / {gb(mem['peak_gb'])} measured = {r['plan_over_measured']:.2f}x"
          " (GB = 2^30 bytes)")
    if r["profile"]:
        print("profile of one step after the timed ones (top operators by self time):")
        print("\n".join(r["profile"].splitlines()[:16]))
    smoke = "; cpu-smoke: a tiny model on CPU, not a GPU figure" if r["mode"] == "cpu-smoke" else ""
    print(f"ratio: MFU {r['mfu']:.2f} of measured peak (baseline: {TARGET_MFU} target from issue 15{smoke})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes, fp32, on CPU: checks the code path in seconds")
    ap.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 30; 3 with --cpu-smoke)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; 1 with --cpu-smoke)")
    ap.add_argument("--image-side", type=int, default=None, help="image side in pixels (default 756: 729 image tokens; 112 smoke)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a TrainConfig override, e.g. per_device_batch=2")
    ap.add_argument("--profile", action="store_true", help="profile one extra step after the timed ones (torch.profiler)")
    ap.add_argument("--output", default=None, help="JSON result (default bench/results/gpu_check[_cpu_smoke].json)")
    args = ap.parse_args()
    if not args.cpu_smoke:
        import torch

        if not torch.cuda.is_available():  # `make bench` runs every bench/*.py, also where there is no GPU
            print("no CUDA device here: running the tiny --cpu-smoke check instead (not a GPU measurement)", flush=True)
            args.cpu_smoke = True
    defaults = {"steps": 3, "warmup": 1, "image_side": 112} if args.cpu_smoke else {"steps": 30, "warmup": 3, "image_side": 756}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.steps < 1 or args.warmup < 1:
        ap.error("--steps and --warmup must be at least 1")
    if args.cpu_smoke:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported (or where it has no GPU): the trainer takes its CPU path
    from ainkit.ground import atomic

    r = run(args)
    out = Path(args.output or RESULTS / ("gpu_check_cpu_smoke.json" if args.cpu_smoke else "gpu_check.json"))
    atomic.write_json(out, r)
    report(r)
    print(f"result: {out}")


if __name__ == "__main__":
    main()
