"""curate's funnel: records in, rejected at each step (with the commonest reasons) and exported; Figure 13 for the
user's data. Its own drawing, not ainkit.services.plots' house style: funnel.png keeps the bytes it always had.

    fun = funnel_of(read, kept, rejected, export_summary, screened); funnel_figure(fun, Path("funnel.png"))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.ground import atomic
from ainkit.pipelines.curate.config import STEPS


def funnel_of(read: int, kept: int, rejected: dict[str, dict[str, Any]], summary_ex, screened: bool) -> dict[str, Any]:
    """funnel.json: per step, the records in, rejected (with each reason's count, commonest first) and out; then the
    export's."""
    steps = []
    remaining = read
    for step in STEPS:
        f = rejected[step]
        steps.append({"step": step, "in": remaining, "rejected": f["rejected"], "out": remaining - f["rejected"],
                      "reasons": dict(f["reasons"].most_common())})
        remaining -= f["rejected"]
    steps.append({"step": "export", "in": remaining, "rejected": summary_ex.rejected, "out": summary_ex.kept, "reasons": {}})
    return {"input": read, "kept": kept, "exported": summary_ex.kept, "images screened": screened, "steps": steps}


def funnel_figure(fun: dict[str, Any], path: Path) -> Path:
    """Records left after each step, and the commonest reasons each step gave: Figure 13 for the user's data."""
    import io

    from matplotlib.figure import Figure

    steps = fun["steps"]
    fig = Figure(figsize=(11, 0.55 * len(steps) + 1.6))
    ax = fig.subplots()
    names = [s["step"].replace("_", "-") for s in steps]
    ax.barh(names, [s["out"] for s in steps], color="#4c72b0", label="records left")
    ax.barh(names, [s["rejected"] for s in steps], left=[s["out"] for s in steps], color="#dd8452", label="rejected here")
    top = max(1, fun["input"])
    for y, s in enumerate(steps):
        reasons = list(s["reasons"].items())  # commonest first; a record may give several
        why = ", ".join(f"{r[:40]} {n:,}" for r, n in reasons[:3]) + (f", {len(reasons) - 3} more" if len(reasons) > 3 else "")
        text = f"{s['out']:,} left" + (f"; -{s['rejected']:,}: {why}" if s["rejected"] else "")
        ax.text(top * 1.02, y, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 2.8)
    ax.set_xlabel("records")
    note = "" if fun["images screened"] else " (images NOT screened for toxicity)"
    ax.set_title(f"ainkit curate: {fun['input']:,} records in, {fun['exported']:,} exported{note}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return atomic.write_bytes(path, buf.getvalue())
