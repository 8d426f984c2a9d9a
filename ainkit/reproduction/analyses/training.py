"""Section 3 of the report: the tiny CPU run that stands in for its training, and the paper-scale plan (notebook 05).

    from ainkit.reproduction.analyses import training
    summary = launch.submit(cfg, "local", 2).results()[0]          # ainkit.stages.train.trainer's summary
    rows = training.result_rows(summary, cfg, Assumptions())

The tiny run's numbers say the training path works on this machine (a random tiny Qwen2-VL, gloo
ranks under submitit), not what AIN's training cost; the plan's numbers (ainkit.stages.train.plan) follow
from stated assumptions, none measured.
"""
from __future__ import annotations

from typing import Any

from ainkit.reproduction.results import Row
from ainkit.stages.train.plan import Assumptions, compute_budget, memory_per_gpu

SUMMARY_ROWS = ("total", "headroom of the GPU")  # memory_per_gpu keys that are sums, not parts


def samples_seen(summary: dict[str, Any], cfg) -> int:
    """Samples trained on: steps x per-device batch x gradient accumulation x ranks."""
    return summary["global_step"] * cfg.per_device_batch * cfg.gradient_accumulation * summary["world_size"]


def tokens_per_s(summary: dict[str, Any], cfg) -> float | None:
    """Training tokens per second over all ranks (the summary's mean tokens per example x samples seen / seconds);
    None for a summary without timings (a finished run re-run does no work)."""
    if not summary.get("seconds") or not summary.get("examples") or "tokens_per_epoch" not in summary:
        return None
    return summary["tokens_per_epoch"] / summary["examples"] * samples_seen(summary, cfg) / summary["seconds"]


def result_rows(summary: dict[str, Any], cfg, a: Assumptions) -> list[Row]:
    """Rows of the results contract for Section 3 (notebook 05): the tiny run's, the published cluster, the plan's."""
    speed = tokens_per_s(summary, cfg)
    tiny = "tiny random Qwen2-VL on CPU"
    rows = [Row("Section 3", "tiny run: ranks", None, summary["world_size"], "substitute", f"{tiny}, gloo"),
            Row("Section 3", "tiny run: optimizer steps", None, summary["global_step"], "substitute", tiny),
            Row("Section 3", "tiny run: tokens/s (CPU)", None, None if speed is None else round(speed, 1), "substitute",
                f"{summary['world_size']} gloo ranks on this machine"),
            Row("Section 3", "tiny run: first / last loss", None, f"{summary['losses'][0]:.3f} / {summary['losses'][-1]:.3f}",
                "substitute", tiny),
            Row("Section 3", "nodes x GPUs", "8 x 8", f"{a.gpus // 8} x 8", "published", "report Section 3; the plan uses it")]
    for k, v in memory_per_gpu(a).items():
        rows.append(Row("Section 3 (plan)", f"memory per GPU: {k} (GB)", None, round(v, 2), "recomputed",
                        "from ainkit.stages.train.plan assumptions"))
    for k, v in compute_budget(a).items():
        rows.append(Row("Section 3 (plan)", k, None, float(f"{v:.4g}"), "recomputed",
                        f"assumes {a.text_tokens} text + {a.image_tokens} image tokens per sample, MFU {a.mfu:g} "
                        f"({a.mfu_source})"))
    return rows


def loss_figure(summary: dict[str, Any]):
    """The tiny run's training loss per optimizer step."""
    from ainkit.services import plots

    fig, ax = plots.plt.subplots(figsize=(7, 4))
    ax.plot(summary["steps"], summary["losses"], marker="o", markersize=3, color=plots.color(0))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(f"Tiny Qwen2-VL on CPU: {summary['world_size']} gloo ranks under submitit")
    plots.source_label(fig, "computed by the kit: random tiny model, the kit's sample records; "
                            "the numbers mean nothing, the path is real")
    return fig


def memory_figure(a: Assumptions):
    """The plan's memory per GPU, part by part (the sums left out of the bars, the total in the title)."""
    from ainkit.services import plots

    mem = memory_per_gpu(a)
    parts = {k: v for k, v in mem.items() if k not in SUMMARY_ROWS}
    fig = plots.grouped_bars(list(parts), {"GB per GPU": list(parts.values())}, horizontal=True, fmt="{:.2f}", ylabel="GB",
                             title=f"Plan: memory per A100-80GB, Qwen2-VL-7B full fine-tuning, ZeRO-3 on {a.gpus} GPUs "
                                   f"(total {mem['total']:.1f} GB)")
    plots.source_label(fig, "plan computed from stated assumptions (ainkit.stages.train.plan), not measured")
    return fig
