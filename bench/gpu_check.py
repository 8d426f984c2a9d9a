"""The kit's own training step on one GPU, padded and packed (and Liger off and on) in one call: tokens/s, padding,
MFU with and without the vision tower's FLOPs against a measured peak, peak memory vs the plan.

    python3 bench/gpu_check.py --profile --output $OUT/gpu_check.json    # one GPU (the device machine; 2-4 min)
    .venv/bin/python bench/gpu_check.py --cpu-smoke                      # the same code path, tiny, fp32, on CPU (~20 s)

Why: the report trained on 8 x 8 A100s and the kit had only ever trained on CPU, so nobody knew
whether `ainkit.stages.train` uses a GPU well (issue 15), nor what packing and Liger's kernels buy on one (issue 23).
This runs what `ainkit train` runs (TrainConfig from configs/train/ain_7b.yaml, `trainer.load_model`,
`trainer.patch_liger`, the `Encoder` and its collate or `packing.Packed` + `PackedCollate`, `trainer.build_trainer`:
the Hugging Face Trainer with the kit's arguments) on a Qwen2-VL with the 2 B model's shapes and random weights
(nothing downloaded), on synthetic chat records whose lengths follow the plan's report-like mix
(`plan.report_like_parts`, an assumption: one image of 64-729 tokens, log-uniform, as a noise image of the nearest
square side; lognormal text of median 120 tokens from the kit's bilingual samples; at most the cutoff, 2048).
Runs, each `--warmup` + `--steps` optimizer steps from the same initial weights, in this order: padded (each record
its own sequence, micro-batches padded to their longest), packed (`packing=true`: rows of up to cutoff_len tokens),
then both again with `liger=true` when liger-kernel, triton and CUDA are here (else the reason is printed; the runs
without Liger go first because its rope patch is module-wide). Before training, each run's loss on its first
micro-batch (the same samples in every run of a mode) is taken: Liger on vs off must agree (the kernels' loss
equality, which cannot be checked on CPU). `--time-budget` (420 s on a GPU) starts no run that the time spent plus
the longest run so far would push past it, so the whole command fits an 8-minute device slot.
Overrides of the preset: deepspeed off (one GPU; not installed on the device) and no checkpoint written;
`--set KEY=VALUE` changes any other TrainConfig field (per_device_batch=4, ...) except packing and liger.
Attention: flash_attention_2 where flash-attn imports (packed rows then run varlen), else sdpa (printed).

Measured in the same call: the bf16 dense peak (best of square matmuls, n up to 16384; fp32 on CPU); per run the
steps' wall time after the warm-up (CUDA synchronised at each step's end), the tokens the model saw (each sample's
own tokens, image tokens included, counted at the collate and matched to the forward in order), the padding share
(pad tokens / batch slots), the fill of the micro-batch rows (tokens / (rows x cutoff)) and
torch.cuda.max_memory_allocated (peak process RSS on CPU). Model FLOPs, no recomputation counted
(gradient checkpointing's extra forward is overhead, as MFU defines it):
  language model, per sample of s tokens: 6 N s + 12 L h s^2   (PaLM, Chowdhery et al. 2022, App. B;
      N = matmul parameters: all but the input embedding, the tied output matrix counted once; h = heads x head dim;
      a packed row counts as its samples, since attention never crosses a sample)
  vision tower, per image of p patches: 2 N_v p + 2 N_m p / merge^2 + 4 L_v d p^2   (forward only when frozen;
      x3 when it trains, less 2 N_pe p: no gradient for the pixels; N_m = patch merger, N_pe = patch embedding,
      N_v = all but the merger)
MFU = model FLOP/s / measured peak, with and without the vision tower's FLOPs (lmms-engine's anchors count without).
The plan (`ainkit.stages.train.plan.memory_per_gpu`) is evaluated for the same shapes, 1 GPU, the same cutoff and
micro-batch, and printed beside the packed run's measured peak (the plan's micro-batch is a row of cutoff tokens).
The last line before the result path is the ratio: packed / padded tokens/s (baseline: padded, Liger off).
"""
from __future__ import annotations

import argparse
import itertools
import math
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


def image_side(tokens: int, merge: int = 2, patch: int = 14) -> int:
    """The square image side (pixels, a multiple of merge x patch) whose Qwen2-VL image tokens come closest to `tokens`."""
    unit = merge * patch
    return unit * max(2, round(tokens ** 0.5))


def spread_examples(folder: Path, enc, n: int, seed: int, scale: float = 1.0) -> list[dict]:
    """n chat records through `enc.encode`, lengths drawn from the plan's report-like mix (plan.report_like_parts:
    one image of 64-729 tokens, lognormal text of median 120 tokens; both x `scale` for the smaller smoke cutoff):
    a noise image of the nearest square side, the kit's sample sentences up to the drawn text length, the whole
    record at most the cutoff."""
    import numpy as np
    from PIL import Image

    from ainkit.services.records import load_samples
    from ainkit.services.qwen2vl import RecordProblem
    from ainkit.stages.train.plan import report_like_parts

    rng = np.random.default_rng(seed)
    images: dict[int, str] = {}
    sentences = [t for s in load_samples() for t in (s["ar"], s["en"])]
    cost = [len(enc.tok.encode(t + "\n", add_special_tokens=False)) for t in sentences]

    def record(i: int, picture: str, parts: list[str]) -> dict:
        return {"id": f"synthetic-{i}", "images": [picture], "messages": [
            {"role": "user", "content": "<image>\nDescribe the image, then translate the text that follows."},
            {"role": "assistant", "content": "\n".join(parts)}]}

    out = []
    for i, (image_tokens, text_tokens) in enumerate(report_like_parts(n, seed)):
        side = image_side(max(1, round(image_tokens * scale)), enc.merge)
        if side not in images:
            images[side] = str(folder / f"noise{side}.png")
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(images[side])
        try:
            overhead = len(enc.encode(record(i, images[side], []))["input_ids"])  # turns, image and special tokens
        except RecordProblem as exc:
            raise SystemExit(f"a record with one {side}x{side} image and no text: {exc}") from None
        target = min(enc.cutoff, overhead + max(1, round(text_tokens * scale)))
        parts, used, j = [], overhead, (37 * i) % len(sentences)  # a different window of sentences per record
        while used + cost[j] <= target or not parts:  # at least one sentence: an answer to train on
            parts.append(sentences[j])
            used += cost[j]
            j = (j + 1) % len(sentences)
        while True:  # joined text may tokenise a little longer than its parts
            try:
                out.append(enc.encode(record(i, images[side], parts)))
                break
            except RecordProblem as exc:
                if len(parts) == 1:
                    raise SystemExit(f"record {i}: one image of {side}x{side} and one sentence: {exc}") from None
                parts.pop()
    return out


def flop_counter(model, vision_trains: bool):
    """(count(sample lengths, image_grid_thw) -> model FLOPs of one forward+backward, formula parameters). A packed row
    counts as its samples: attention never crosses a sample (ainkit.stages.train.packing), so its model FLOPs are
    each sample's s^2, not the row's."""
    inner = model.model
    lm, visual = inner.language_model, inner.visual
    tc, vc = lm.config, visual.config
    n_lm = sum(p.numel() for p in lm.parameters()) - lm.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    n_merger = sum(p.numel() for p in visual.merger.parameters())
    n_vis = sum(p.numel() for p in visual.parameters()) - n_merger
    n_patch = sum(p.numel() for p in visual.patch_embed.parameters())
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    h_attn = tc.num_attention_heads * head_dim
    merge2 = vc.spatial_merge_size ** 2
    vfactor = 3 if vision_trains else 1

    def count(lengths: list[int], grid, parts: dict | None = None) -> tuple[float, int]:
        flops = lm_flops = sum(6 * n_lm * s + 12 * tc.num_hidden_layers * h_attn * s * s for s in lengths)
        if grid is not None:
            for p in grid.prod(dim=1).tolist():
                flops += vfactor * (2 * n_vis * p + 2 * n_merger * p / merge2 + 4 * vc.depth * vc.embed_dim * p * p)
                flops -= 2 * n_patch * p if vision_trains else 0  # no gradient for the pixels: patch embedding x2, not x3
        if parts is not None:  # the vision tower's share, for MFU without it (as the published anchors count)
            parts["vision"] = parts.get("vision", 0.0) + flops - lm_flops
        return flops, int(sum(lengths))

    params = {"N_lm": n_lm, "L": tc.num_hidden_layers, "h": h_attn, "N_vision": n_vis, "N_merger": n_merger,
              "L_vision": vc.depth, "d_vision": vc.embed_dim, "vision_factor": vfactor, "N_patch_embed": n_patch}
    return count, params


MODES = (("padded", False), ("packed", False), ("padded", True), ("packed", True))  # Liger's rope patch is module-wide:
#                                                                                   the runs without it go first


def run(args) -> dict:
    import gc
    import shutil
    from collections import deque
    from dataclasses import replace

    import torch
    import transformers
    from transformers import TrainerCallback

    from ainkit.ground.paths import CONFIGS
    from ainkit.services import tiny
    from ainkit.services.qwen2vl import Encoder
    from ainkit.stages.train import liger, plan, trainer
    from ainkit.stages.train.packing import Packed, PackedCollate, pack

    t_start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"  # --cpu-smoke hid any GPU before torch was imported
    smoke = ["cutoff_len=256", "bf16=false"] if args.cpu_smoke else []
    steps = args.warmup + args.steps + (1 if args.profile else 0)
    work = Path(tempfile.mkdtemp(prefix="ainkit-gpu-check-"))
    base = trainer.load_config(str(CONFIGS / "train" / "ain_7b.yaml"),
                               ["deepspeed=null", *smoke, *args.set],
                               model="random weights, tiny shapes" if args.cpu_smoke else "random weights, Qwen2-VL-2B shapes",
                               max_steps=steps, logging_steps=steps, save_steps=steps + 1, output_dir=str(work / "run"))
    if base.packing or base.liger:
        raise SystemExit("bench/gpu_check.py runs packing and Liger off and on itself; leave them out of --set")
    lacking = liger.missing(device == "cuda")
    modes = [m for m in MODES if not m[1] or not lacking]

    peak_dtype = torch.bfloat16 if device == "cuda" else torch.float32
    peak, peak_n = matmul_peak(device, peak_dtype, (4096, 8192, 16384) if device == "cuda" else (256, 512),
                               seconds=0.3 if device == "cuda" else 0.05)
    if device == "cuda":
        torch.cuda.empty_cache()

    t_data = time.perf_counter()
    tok = tiny.sample_tokenizer()
    mconfig = tiny.config(tok) if args.cpu_smoke else tiny.config(tok, TEXT_2B, VISION_2B)
    attn = trainer.attention_implementation(base.attention)
    enc = Encoder(tok, base.min_pixels, base.max_pixels, base.cutoff_len)
    scale = base.cutoff_len / 2048  # the mix is drawn for 2048-token rows; the smoke's cutoff is smaller
    sequences = steps * base.per_device_batch * base.gradient_accumulation  # micro-batch rows the Trainer will take
    mean = sum(plan.report_like_lengths(1000, base.cutoff_len, args.seed)) / 1000 * scale
    examples = spread_examples(work, enc, math.ceil(sequences * max(1.0, 1.2 * base.cutoff_len / mean)), args.seed, scale)
    lengths = [len(e["input_ids"]) for e in examples]
    if len(pack(lengths, base.cutoff_len)) < sequences:
        raise SystemExit(f"{len(examples)} records make fewer than the {sequences} packed rows {steps} steps take")
    data_s = time.perf_counter() - t_data
    profiled: list[str] = []
    runs, skipped = [], []

    def one(mode: str, kernels_on: bool) -> dict:
        """One training run of `steps` optimizer steps from the same initial weights: timings, FLOPs, tokens, memory."""
        packed = mode == "packed"
        cfg = replace(base, packing=packed, liger=kernels_on, output_dir=str(work / f"run-{mode}-{int(kernels_on)}"))
        t_build = time.perf_counter()
        torch.manual_seed(cfg.seed)
        model = trainer.load_model(cfg, mconfig, attn)
        kernels = trainer.patch_liger(cfg, model)
        data, collate = (Packed(examples, lengths, cfg.cutoff_len), PackedCollate(enc)) if packed else (examples, enc.collate)
        probe = collate([data[i] for i in range(cfg.per_device_batch)])  # the same samples in every run of this mode
        with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=cfg.bf16 and device == "cuda"):
            model.train()
            probe_loss = float(model(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in probe.items()}).loss)
        del probe
        queue: deque = deque()  # (sample lengths, image_grid_thw, batch slots, rows) in collate order = forward order

        def counting(items):
            batch = collate(items)
            samples = [e for x in items for e in (x if packed else [x])]
            queue.append(([len(e["input_ids"]) for e in samples], batch.get("image_grid_thw"), batch["input_ids"].numel(),
                          len(items)))
            return batch

        visual = model.model.visual
        count, formula = flop_counter(model, any(p.requires_grad for p in visual.parameters()))
        seen: list[tuple[int, tuple]] = []
        clock: list[float] = []
        profile_here = args.profile and not runs

        class Clock(TrainerCallback):
            """Wall time at each optimizer step's end, the device synchronised; the extra --profile step profiled."""

            def __init__(self):
                self.prof = None

            def on_step_begin(self, a, state, control, **kw):
                if profile_here and state.global_step == steps - 1:
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

        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        tr = trainer.build_trainer(cfg, model, data, counting, callbacks=[Clock()], save_strategy="no")
        model.register_forward_pre_hook(lambda mod, a, kw: seen.append((tr.state.global_step, queue.popleft())),
                                        with_kwargs=True)
        build_s = time.perf_counter() - t_build
        result = tr.train()
        seconds = clock[args.warmup + args.steps - 1] - clock[args.warmup - 1]
        flops, tokens, slots, rows_seen, parts = 0.0, 0, 0, 0, {"vision": 0.0}
        for step, (sample_lengths, grid, batch_slots, batch_rows) in seen:
            if args.warmup <= step < args.warmup + args.steps:
                f, t = count(sample_lengths, grid, parts)
                flops, tokens, slots, rows_seen = flops + f, tokens + t, slots + batch_slots, rows_seen + batch_rows
        if device == "cuda":
            peak_mem, reserved = torch.cuda.max_memory_allocated() / GIB, torch.cuda.max_memory_reserved() / GIB
        else:
            peak_mem, reserved = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, None
        trainable = [p for p in model.parameters() if p.requires_grad]
        state_bytes = sum(t.numel() * t.element_size() for st in tr.optimizer.state.values() for t in st.values()
                          if torch.is_tensor(t) and t.dim() > 0)
        measured = {"weights": sum(p.numel() * p.element_size() for p in model.parameters()) / GIB,
                    "gradients (trainable x dtype, alive during backward)": sum(p.numel() * p.element_size()
                                                                                for p in trainable) / GIB,
                    "optimizer states": state_bytes / GIB}
        measured["rest: activations, logits, workspace (peak - above)"] = peak_mem - sum(measured.values())
        out = {"mode": mode, "liger": kernels_on, "kernels": kernels, "rows": len(data), "samples": len(examples),
               "build_seconds": build_s, "warmup_steps": args.warmup, "timed_steps": args.steps, "seconds": seconds,
               "step_seconds": [b - a for a, b in itertools.pairwise(clock)],  # every step after the first
               "tokens": tokens, "slots": slots, "padding_share": 1 - tokens / slots, "tokens_per_s": tokens / seconds,
               "row_fill": tokens / (rows_seen * cfg.cutoff_len),
               "flops": flops, "achieved_tflops": flops / seconds / 1e12, "mfu": flops / seconds / peak,
               "mfu_without_vision": (flops - parts["vision"]) / seconds / peak,
               "memory": {"peak_gb": peak_mem, "peak_reserved_gb": reserved, "measured_parts_gb": measured},
               "probe_loss": probe_loss, "losses": [h["loss"] for h in tr.state.log_history if "loss" in h],
               "train_loss": result.training_loss, "flops_formula": formula,
               "params": {"total": sum(p.numel() for p in model.parameters()),
                          "vision": sum(p.numel() for p in visual.parameters()),
                          "trainable": sum(p.numel() for p in trainable)},
               "dtype": str(next(model.parameters()).dtype).removeprefix("torch.")}
        tr = model = trainable = None  # freed before the next run builds its own
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        return out

    longest = 0.0
    for mode, kernels_on in modes:
        elapsed = time.perf_counter() - t_start
        if args.time_budget and runs and elapsed + longest > args.time_budget:
            skipped.append({"mode": mode, "liger": kernels_on,
                            "why": f"{elapsed:.0f} s spent + {longest:.0f} s (the longest run) > --time-budget {args.time_budget:g} s"})
            continue
        t_run = time.perf_counter()
        runs.append(one(mode, kernels_on))
        longest = max(longest, time.perf_counter() - t_run)
    shutil.rmtree(work, ignore_errors=True)

    if device == "cuda":
        device_name, device_mem = torch.cuda.get_device_name(), torch.cuda.get_device_properties(0).total_memory / GIB
        mem_source = "torch.cuda.max_memory_allocated, reset before each run"
    else:
        device_name = f"CPU ({platform.machine()}, {torch.get_num_threads()} torch threads)"
        device_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
        mem_source = "peak process RSS (ru_maxrss): the process's peak so far, not each run's own"
    first = runs[0]
    image_tokens = [int(g.prod()) // enc.merge ** 2 for e in examples for g in e["image_grid_thw"]]
    tc = mconfig.text_config
    by = {(r["mode"], r["liger"]): r for r in runs}
    planned = by.get(("packed", False), first)  # the plan's micro-batch is a row of cutoff_len tokens, as a packed one
    assumptions = plan.Assumptions(
        params_total=first["params"]["total"], params_vision=first["params"]["vision"], hidden=tc.hidden_size,
        layers=tc.num_hidden_layers, gpus=1, gpu_memory_gb=device_mem, seq_len=base.cutoff_len,
        micro_batch=base.per_device_batch, image_tokens=round(sum(image_tokens) / len(image_tokens)),
        text_tokens=round(sum(lengths) / len(lengths) - sum(image_tokens) / len(image_tokens)),
        peak_tflops=peak / 1e12, mfu=planned["mfu_without_vision"], packing=planned["mode"] == "packed",
        mfu_source=f"measured here, {planned['mode']} run, vision FLOPs not counted")
    predicted = plan.memory_per_gpu(assumptions)
    ordered = sorted(lengths)
    return {
        "mode": "cpu-smoke" if args.cpu_smoke else "gpu", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "git_commit": trainer.git_commit(),
        "machine": {"device": device_name, "device_memory_gb": device_mem, "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__},
        "config": asdict(base), "attention": attn, "dtype": first["dtype"], "params": first["params"],
        "data": {"records": len(examples), "mean_tokens": sum(lengths) / len(lengths), "median_tokens": ordered[len(ordered) // 2],
                 "min_tokens": ordered[0], "max_tokens": ordered[-1], "image_tokens": assumptions.image_tokens,
                 "image_tokens_range": [min(image_tokens), max(image_tokens)], "scale": scale, "seed": args.seed,
                 "build_seconds": data_s},
        "liger": {"missing": lacking, "version_wanted": liger.VERSION},
        "peak_tflops": peak / 1e12, "peak_matmul": {"n": peak_n, "dtype": str(peak_dtype).removeprefix("torch.")},
        "memory_source": mem_source,
        "flops_formula": {"text": "LM 6*N_lm*s + 12*L*h*s^2 per sample (PaLM App. B; a packed row counts as its samples); "
                                  "vision vision_factor*(2*N_vision*p + 2*N_merger*p/merge^2 + 4*L_vision*d_vision*p^2) "
                                  "(- 2*N_patch_embed*p when it trains) per image; no recomputation", **first["flops_formula"]},
        "runs": runs, "skipped": skipped,
        "packed_over_padded": (by[("packed", False)]["tokens_per_s"] / by[("padded", False)]["tokens_per_s"]
                               if ("packed", False) in by and ("padded", False) in by else None),
        "plan": {"run": f"{planned['mode']}, Liger {'on' if planned['liger'] else 'off'}", "assumptions": asdict(assumptions),
                 "per_gpu_gb": predicted},
        "plan_over_measured": predicted["total"] / planned["memory"]["peak_gb"],
        "profile": profiled[0] if profiled else None, "seconds_total": time.perf_counter() - t_start,
    }


def gb(v: float) -> str:
    return f"{v:.2f} GB" if abs(v) >= 0.05 else f"{v * 1024:.2f} MB"


def n_params(n: float) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e8 else f"{n / 1e6:.3f} M"


def name(r: dict) -> str:
    return r["mode"] + (" + Liger" if r["liger"] else "")


def report(r: dict) -> None:
    """The figures, a table of the runs, the Liger comparison, the plan; the last line is the ratio line."""
    m = r["machine"]
    print(f"device: {m['device']}, {m['device_memory_gb']:.1f} GB; torch {m['torch']} (CUDA {m['cuda']}), "
          f"transformers {m['transformers']}, Python {m['python']}")
    why = " (flash-attn not importable here)" if r["mode"] == "gpu" and r["attention"] == "sdpa" else ""
    c, p = r["config"], r["params"]
    print(f"model: {c['model']}: {n_params(p['total'])} parameters, {n_params(p['trainable'])} trained, vision tower "
          f"{n_params(p['vision'])}{' frozen' if c['freeze_vision_tower'] else ''}; {r['dtype']}; attention "
          f"{r['attention']}{why}; gradient checkpointing {c['gradient_checkpointing']}")
    d = r["data"]
    print(f"data: {d['records']} synthetic records of the plan's report-like mix (plan.report_like_parts x {d['scale']:g}): "
          f"one noise image of {d['image_tokens_range'][0]}-{d['image_tokens_range'][1]} tokens + sample text; "
          f"{d['min_tokens']}-{d['max_tokens']} tokens, median {d['median_tokens']}, mean {d['mean_tokens']:.0f} "
          f"(cutoff {c['cutoff_len']}); micro-batch {c['per_device_batch']} (records padded, or packed rows) "
          f"x accumulation {c['gradient_accumulation']}")
    first = r["runs"][0]
    print(f"timed: {first['timed_steps']} optimizer steps a run after {first['warmup_steps']} warm-up, each run from the "
          f"same initial weights; peak {r['peak_tflops']:.4g} TFLOP/s measured ({r['peak_matmul']['dtype']} matmul, "
          f"n={r['peak_matmul']['n']}); model FLOPs: {r['flops_formula']['text']}")
    print(f"{'run':<16}{'rows':>6}{'tokens/s':>12}{'padding':>9}{'row fill':>10}{'TFLOP/s':>10}{'MFU':>8}{'MFU w/o vision':>16}"
          f"{'peak memory':>13}{'probe loss':>12}{'train loss':>12}")
    for x in r["runs"]:
        print(f"{name(x):<16}{x['rows']:>6}{x['tokens_per_s']:>12,.0f}{x['padding_share']:>9.1%}{x['row_fill']:>10.1%}"
              f"{x['achieved_tflops']:>10.4g}"
              f"{x['mfu']:>8.4f}{x['mfu_without_vision']:>16.4f}{gb(x['memory']['peak_gb']):>13}{x['probe_loss']:>12.5f}"
              f"{x['train_loss']:>12.5f}")
    print("  (tokens/s: the samples' own tokens, image tokens included, padding not; padding: pad share of the batches' "
          "slots; row fill: tokens / (micro-batch rows x cutoff); MFU with and without the vision tower's FLOPs, the anchors count without: "
          "../shared/reference/training-throughput-anchors.md; memory: " + r["memory_source"] + ")")
    for s in r["skipped"]:
        print(f"skipped {name(s)}: {s['why']}")
    by = {(x["mode"], x["liger"]): x for x in r["runs"]}
    if r["liger"]["missing"]:
        print("Liger: not run here; it needs " + "; ".join(r["liger"]["missing"]))
    for mode in ("padded", "packed"):
        off, on = by.get((mode, False)), by.get((mode, True))
        if off and on:
            print(f"Liger, {mode}: probe loss off {off['probe_loss']:.6f} / on {on['probe_loss']:.6f} (|diff| "
                  f"{abs(off['probe_loss'] - on['probe_loss']):.2e}); train loss |diff| {abs(off['train_loss'] - on['train_loss']):.2e}; "
                  f"tokens/s on / off {on['tokens_per_s'] / off['tokens_per_s']:.2f}x; peak memory on / off "
                  f"{on['memory']['peak_gb'] / off['memory']['peak_gb']:.2f}x; kernels {on['kernels']}")
    plan = r["plan"]["per_gpu_gb"]
    mem = by.get(("packed", False), first)["memory"]
    print(f"plan (ainkit.stages.train.plan, same shapes, 1 GPU, beside the {r['plan']['run']} run): "
          + "; ".join(f"{k} {gb(v)}" for k, v in plan.items() if k != "headroom of the GPU"))
    print(f"plan vs measured: {gb(plan['total'])} predicted / {gb(mem['peak_gb'])} measured = {r['plan_over_measured']:.2f}x"
          " (GB = 2^30 bytes); measured parts: " + "; ".join(f"{k} {gb(v)}" for k, v in mem["measured_parts_gb"].items()))
    if r["profile"]:
        print(f"profile of one step after the timed ones of the {name(first)} run (top operators by self time):")
        print("\n".join(r["profile"].splitlines()[:16]))
    print(f"total: {r['seconds_total']:.0f} s")
    smoke = "; cpu-smoke: a tiny model on CPU, not a GPU figure" if r["mode"] == "cpu-smoke" else ""
    padded = by.get(("padded", False))
    if r["packed_over_padded"] is None:
        print(f"ratio: packed / padded tokens/s not measured (a run was skipped){smoke}")
    else:
        print(f"ratio: packed / padded tokens/s {r['packed_over_padded']:.2f}x (baseline: padded, micro-batch "
              f"{c['per_device_batch']}, Liger off; MFU w/o vision packed {by[('packed', False)]['mfu_without_vision']:.2f}, "
              f"padded {padded['mfu_without_vision']:.2f}, issue 15's target {TARGET_MFU}{smoke})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes, fp32, on CPU: checks the code path in seconds")
    ap.add_argument("--steps", type=int, default=None, help="timed optimizer steps a run (default 30; 3 with --cpu-smoke)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; 1 with --cpu-smoke)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the records' lengths and images")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds: no further run starts when the time spent plus the longest run so far would pass it "
                         "(default 420 on a GPU, for an 8-minute device slot; none with --cpu-smoke)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a TrainConfig override, e.g. per_device_batch=2")
    ap.add_argument("--profile", action="store_true", help="profile one extra step after the timed ones (torch.profiler)")
    ap.add_argument("--output", default=None, help="JSON result (default bench/results/gpu_check[_cpu_smoke].json)")
    args = ap.parse_args()
    if not args.cpu_smoke:
        import torch

        if not torch.cuda.is_available():  # `make bench` runs every bench/*.py, also where there is no GPU
            print("no CUDA device here: running the tiny --cpu-smoke check instead (not a GPU measurement)", flush=True)
            args.cpu_smoke = True
    defaults = {"steps": 3, "warmup": 1} if args.cpu_smoke else {"steps": 30, "warmup": 3, "time_budget": 420.0}
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
