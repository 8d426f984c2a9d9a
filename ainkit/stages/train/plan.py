"""The paper-scale plan: per-GPU memory of full fine-tuning under ZeRO-3, tokens and GPU-hours, from stated assumptions.

    from ainkit.stages.train.plan import Assumptions, memory_per_gpu, compute_budget
    a = Assumptions()                       # Qwen2-VL-7B on 8 x 8 A100-80GB, as in the report
    print(memory_per_gpu(a), compute_budget(a))

Every number is computed from the fields of `Assumptions`, each with where it comes from;
change them to plan another run. None of it is measured: notebook 05 labels it as a plan.
The MFU is lmms-engine's published range for a padded or a packed run (`MFU_ANCHORS`, `mfu_anchor`), unless given.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

# lmms-engine's MFU reference (../shared/reference/training-throughput-anchors.md): Qwen2.5-VL-7B image SFT on 32 A800s,
# FSDP2, the vision tower's FLOPs NOT counted: 20-25 % padded, 30-40 % packed (padding removed, Liger kernels).
MFU_ANCHORS = {"padded": (0.20, 0.25), "packed": (0.30, 0.40)}


def mfu_anchor(packing: bool) -> tuple[float, str]:
    """(MFU, where it comes from): the mid-point of lmms-engine's range for a padded or a packed run."""
    kind = "packed" if packing else "padded"
    low, high = MFU_ANCHORS[kind]
    return (low + high) / 2, (f"lmms-engine's {kind} Qwen2.5-VL-7B anchor {low:.0%}-{high:.0%}, mid-point; "
                              "vision FLOPs not counted")


@dataclass
class Assumptions:
    params_total: float = 8.29e9        # Qwen2-VL-7B: 7.6 B language model + 675 M vision encoder (Qwen2-VL report, Table 1)
    params_vision: float = 0.675e9      # frozen (LLaMA-Factory freeze_vision_tower: true)
    hidden: int = 3584                  # Qwen2-VL-7B config: hidden_size
    layers: int = 28                    # Qwen2-VL-7B config: num_hidden_layers
    gpus: int = 64                      # report Section 3: 8 nodes x 8 A100-80GB
    gpu_memory_gb: float = 80.0
    seq_len: int = 2048                 # LLaMA-Factory cutoff_len (2025-01 example)
    micro_batch: int = 1                # LLaMA-Factory per_device_train_batch_size
    samples: float = 3.6e6              # report: 3.6 M curated samples
    image_tokens: int = 729             # one 768x768 image (LLaMA-Factory image_max_pixels): 756/14 = 54 patches a side, 2x2 merge -> 27x27
    text_tokens: int = 300              # assumed mean text tokens of an instruction sample (not stated in the report)
    epochs: float = 1.0                 # report Section 3
    peak_tflops: float = 312.0          # A100 dense bf16 peak
    packing: bool = False               # the run packs samples (TrainConfig.packing): picks the MFU anchor below
    mfu: float | None = None            # model FLOPs utilisation (language model FLOPs only); None: mfu_anchor(packing),
    #                                     22.5 % padded, 35 % packed (lmms-engine); packing_budget shows both
    mfu_source: str = ""                # where mfu comes from (filled in: the anchor, or "given")

    def __post_init__(self):
        if self.mfu is None:
            self.mfu, self.mfu_source = mfu_anchor(self.packing)
        elif not self.mfu_source:
            self.mfu_source = "given"


def memory_per_gpu(a: Assumptions) -> dict[str, float]:
    """GB per GPU: ZeRO-3 shards bf16 weights, bf16 gradients and fp32 Adam states (master, m, v) over all GPUs;
    activations with gradient checkpointing: one bf16 hidden state per layer plus one layer recomputed at a time
    (34 bytes per token per hidden unit, Korthikanti et al. 2022, without the s^2 attention term that sdpa/flash avoid)."""
    gb = 1024 ** 3
    trainable = a.params_total - a.params_vision
    weights = 2 * a.params_total / a.gpus / gb
    grads = 2 * trainable / a.gpus / gb
    adam = 12 * trainable / a.gpus / gb
    tokens = a.seq_len * a.micro_batch
    checkpoints = 2 * tokens * a.hidden * a.layers / gb
    layer_peak = 34 * tokens * a.hidden / gb
    gathered = 2 * 2 * (a.params_total / a.layers) / gb  # ZeRO-3 gathers a layer's full bf16 weights (x2: prefetch)
    total = weights + grads + adam + checkpoints + layer_peak + gathered
    return {"weights (bf16, sharded)": weights, "gradients (bf16, sharded)": grads, "Adam states (fp32 x3, sharded)": adam,
            "activation checkpoints": checkpoints, "one layer recomputed": layer_peak, "gathered layer weights": gathered,
            "total": total, "headroom of the GPU": a.gpu_memory_gb - total}


def packed_samples_per_row(seq_len: int) -> float:
    """Samples a packed row of `seq_len` tokens holds on the assumed report-like mix (report_like_lengths)."""
    from ainkit.stages.train.packing import pack

    lengths = report_like_lengths(cutoff=seq_len)
    return len(lengths) / len(pack(lengths, seq_len))


def compute_budget(a: Assumptions) -> dict[str, float]:
    """Tokens, training FLOPs (6 x trainable params x tokens), GPU-hours / wall hours at the assumed utilisation, and
    the optimizer steps: a micro-batch is `micro_batch` samples, or with packing that many packed rows (each holding
    packed_samples_per_row samples of the report-like mix)."""
    tokens = a.samples * (a.image_tokens + a.text_tokens) * a.epochs
    flops = 6 * (a.params_total - a.params_vision) * tokens
    per_gpu = a.peak_tflops * 1e12 * a.mfu
    gpu_hours = flops / per_gpu / 3600
    rows = a.samples * a.epochs / (packed_samples_per_row(a.seq_len) if a.packing else 1)
    return {"tokens": tokens, "training FLOPs": flops, "GPU-hours": gpu_hours, "wall-clock hours": gpu_hours / a.gpus,
            "optimizer steps (global batch = GPUs x micro x accumulation 2)": math.ceil(rows / (a.gpus * a.micro_batch * 2))}


def assumptions_table(a: Assumptions) -> dict[str, float]:
    return asdict(a)


def report_like_parts(n: int = 10_000, seed: int = 0) -> list[tuple[int, int]]:
    """(image tokens, text tokens) of n samples of an assumed report-like mix (the report's data are not public): one
    image of 64 to 729 tokens (log-uniform: 256 x 256 to 756 x 756 pixels) plus lognormal text (median 120 tokens,
    sigma 1.0, at least 8)."""
    rng = random.Random(seed)
    return [(round(64 * (729 / 64) ** rng.random()), max(8, round(rng.lognormvariate(4.79, 1.0)))) for _ in range(n)]


def report_like_lengths(n: int = 10_000, cutoff: int = 2048, seed: int = 0) -> list[int]:
    """Tokens a sample of report_like_parts, capped at cutoff."""
    return [min(cutoff, image + text) for image, text in report_like_parts(n, seed)]


def packing_budget(a: Assumptions, mfu_padded: float = sum(MFU_ANCHORS["padded"]) / 2,
                   mfu_packed: float = sum(MFU_ANCHORS["packed"]) / 2) -> dict[str, dict[str, float]]:
    """Padded vs packed: GPU-hours and wall hours at the anchors' MFU (vision FLOPs not counted, the mid-points by
    default), and the same runs' MFU with the frozen vision tower's forward FLOPs counted (2 x its parameters x
    patches, 4 patches an image token), and each one's padding share on report_like_lengths (micro-batches of
    a.micro_batch samples padded to their longest, in a shuffled order, vs packed rows of a.seq_len)."""
    from ainkit.stages.train.packing import pack, padding_share

    lengths = report_like_lengths(cutoff=a.seq_len)
    random.Random(1).shuffle(lengths)
    rows = {"padded": [[i] for i in range(len(lengths))], "packed": pack(lengths, a.seq_len)}
    tokens = a.samples * (a.image_tokens + a.text_tokens) * a.epochs
    lm = 6 * (a.params_total - a.params_vision) * tokens
    vision = 2 * a.params_vision * 4 * a.image_tokens * a.samples * a.epochs
    out = {}
    for name, mfu in (("padded", mfu_padded), ("packed", mfu_packed)):
        gpu_hours = lm / (a.peak_tflops * 1e12 * mfu) / 3600
        out[name] = {"MFU, vision not counted": mfu, "MFU, vision counted": (lm + vision) / (lm / mfu),
                     "padding share": padding_share(lengths, rows[name], a.micro_batch),
                     "samples a row": len(lengths) / len(rows[name]), "GPU-hours": gpu_hours, "wall-clock hours": gpu_hours / a.gpus}
    return out
