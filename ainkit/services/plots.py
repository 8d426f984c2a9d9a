"""One house style for every figure of the kit: radar, heatmap, grouped bars, pie/donut, styled tables.
Annotated heatmaps and distributions are drawn with seaborn (imported when first used), in the same style.

    from ainkit.services import plots
    fig = plots.radar({"AIN-7B": [...], "GPT-4o": [...]}, axes=["VQA", ...])
    plots.save(fig, "fig01_camel_bench_radar", notebook="06_benchmark_results")

Files are `figures/figNN_<name>.png` (200 dpi) and `.pdf`, written atomically, each
carrying the notebook that made it in its metadata. In a Jupyter kernel (JupyterLab,
papermill) `save` also shows the PNG it wrote, once, as the cell's output; elsewhere it
only writes. The module sets no matplotlib backend: the caller's (MPLBACKEND, the
kernel's inline backend, matplotlib's own choice) is kept. Arabic text: matplotlib >= 3.11
lays text out with libraqm, which joins Arabic letters and orders them right to left,
so labels are passed as plain strings. Reshaping them again (arabic-reshaper +
python-bidi) would reverse them; that is done only on an older matplotlib.
"""
from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ainkit.ground import atomic
from ainkit.ground.paths import Outputs

DPI = 200
PALETTE = ["#1b7837", "#2166ac", "#b2182b", "#e08214", "#762a83", "#35978f", "#8c510a", "#4d4d4d", "#c51b7d", "#01665e"]
PUBLISHED_NOTE = "published: numbers from the AIN report"
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
NATIVE_RTL = _MPL >= (3, 11)

plt.rcParams.update({
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
})


def ar(text: str) -> str:
    """Text with Arabic in it, ready for matplotlib: unchanged on >= 3.11, reshaped + bidi before."""
    if NATIVE_RTL:
        return text
    try:
        import arabic_reshaper
        from bidi.algorithm import get_display
    except ImportError as exc:  # pragma: no cover - only on matplotlib < 3.11
        raise RuntimeError("matplotlib < 3.11 cannot lay out Arabic: upgrade matplotlib or install arabic-reshaper python-bidi") from exc
    return get_display(arabic_reshaper.reshape(text))  # pragma: no cover


def color(i: int) -> str:
    """The i-th colour of the house palette."""
    return PALETTE[i % len(PALETTE)]


def source_label(fig: Figure, text: str = PUBLISHED_NOTE) -> None:
    """Say where the numbers come from; `save` writes it under everything else in the figure."""
    fig._ainkit_source = text


def _place_source_label(fig: Figure) -> None:
    text = getattr(fig, "_ainkit_source", None)
    if not text:
        return
    bb = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    w, h = fig.get_size_inches()
    fig.text(bb.x0 / w, (bb.y0 - 0.08) / h, ar(text), fontsize=7, color="#555555", ha="left", va="top", style="italic")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill), which can show images; False in a script or terminal IPython."""
    ipython = sys.modules.get("IPython")  # never imported here: a script that did not load IPython is not in a kernel
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _show_png(png: bytes) -> None:
    """Show the PNG as this cell's output, at half its pixel size (200 dpi drawn at the screen's 100)."""
    from IPython.display import Image, display

    display(Image(data=png, format="png", retina=True))


def save(fig: Figure, name: str, notebook: str, out: Outputs | None = None) -> list[Path]:
    """Save `fig` as figures/<name>.png and .pdf (atomically), show the PNG in a Jupyter kernel, close it; returns both paths."""
    if not name.startswith(("fig", "tab")):
        raise ValueError(f"figure name {name!r} must start with figNN_ or tabNN_")
    out = (out or Outputs.resolve()).ensure()
    made_by = f"ainkit notebook {notebook}"
    _place_source_label(fig)
    paths, encoded = [], {}
    for ext, meta in (("png", {"Software": made_by, "Source": notebook}), ("pdf", {"Creator": made_by, "Subject": notebook})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=DPI, metadata=meta)
        encoded[ext] = buf.getvalue()
        paths.append(atomic.write_bytes(out.figures / f"{name}.{ext}", encoded[ext]))
    plt.close(fig)  # closed before the cell ends, so the inline backend does not show it a second time
    if in_kernel():
        _show_png(encoded["png"])
    return paths


def radar(series: Mapping[str, Sequence[float]], axes: Sequence[str], title: str = "",
          limits: tuple[float, float] = (0, 100), highlight: str | None = None, dashed: Sequence[str] = ()) -> Figure:
    """Radar chart: one closed polygon per series over the same axes; `highlight` is filled."""
    n = len(axes)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False).tolist()
    fig, ax = plt.subplots(figsize=(6.4, 6.4), subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    for i, (label, values) in enumerate(series.items()):
        values = list(values)
        if len(values) != n:
            raise ValueError(f"radar series {label!r} has {len(values)} values for {n} axes")
        closed = values + values[:1]
        style = "--" if label in dashed else "-"
        width = 2.6 if label == highlight else 1.4
        ax.plot(angles + angles[:1], closed, style, color=color(i), linewidth=width, label=label)
        if label == highlight:
            ax.fill(angles + angles[:1], closed, color=color(i), alpha=0.15)
    ax.set_xticks(angles)
    ax.set_xticklabels([ar(a) for a in axes])
    ax.set_ylim(*limits)
    ax.tick_params(axis="y", labelsize=7, colors="#666666")
    ax.spines["polar"].set_color("#bbbbbb")
    if title:
        ax.set_title(ar(title), pad=22)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=min(4, len(series)), frameon=False)
    return fig


def heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str = "",
            vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis", fmt: str = "{:.4f}",
            colorbar_label: str = "", groups: Sequence[str] | None = None,
            published: np.ndarray | None = None) -> Figure:
    """Annotated heatmap (seaborn's, the look of the authors' own Figure 14). NaN cells are grey ('missing');
    `groups` (one per row) draws the rows in labelled blocks; `published` (bool per cell) hatches cells whose
    value is the report's, not the kit's, and says so in the cell."""
    import seaborn as sns

    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(rows), len(cols)):
        raise ValueError(f"heatmap matrix {matrix.shape} does not fit {len(rows)} rows x {len(cols)} cols")
    pub = np.zeros(matrix.shape, dtype=bool) if published is None else np.asarray(published, dtype=bool)
    labels = np.array([["" if np.isnan(v) else fmt.format(v) + ("\npublished" if pub[i, j] else "")
                        for j, v in enumerate(row)] for i, row in enumerate(matrix)], dtype=object)
    fig, ax = plt.subplots(figsize=(1.35 * len(cols) + 6.5, 0.5 * len(rows) + 1.8))
    ax.set_facecolor("#dddddd")  # seaborn leaves NaN cells empty: the background is the 'missing' grey
    sns.heatmap(matrix, ax=ax, vmin=vmin, vmax=vmax, cmap=cmap, annot=labels, fmt="", annot_kws={"fontsize": 7.5},
                linewidths=0.6, linecolor="white", cbar_kws={"fraction": 0.04, "pad": 0.2 if groups is not None else 0.02,
                                                            "label": colorbar_label},
                xticklabels=[ar(c) for c in cols], yticklabels=[ar(r) for r in rows])
    ax.set_xticklabels(ax.get_xticklabels(), rotation=20, ha="right")
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0, fontsize=8)
    for (i, j), v in np.ndenumerate(matrix):
        if np.isnan(v):
            ax.text(j + 0.5, i + 0.5, "missing", ha="center", va="center", fontsize=7.5, color="#555555")
        elif pub[i, j]:
            ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor=(1, 1, 1, 0.3), linewidth=0))
    for text in ax.texts:  # the report's numbers in italics, the kit's upright
        if text.get_text().endswith("published"):
            text.set_style("italic")
    if groups is not None:
        starts = [i for i in range(len(rows)) if i == 0 or groups[i] != groups[i - 1]]
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(rows)
            if start:
                ax.axhline(start, color="white", linewidth=3)
            ax.text(len(cols) + 0.12, (start + end) / 2, ar(textwrap.fill(groups[start], 30)), ha="left",
                    va="center", fontsize=7, color="#333333", clip_on=False)
    if title:
        ax.set_title(ar(title))
    return fig


def distributions(data: Mapping[str, Mapping[str, Sequence[float]]], title: str = "", ylabel: str = "",
                  threshold: float | None = None, annotations: Mapping[str, str] | None = None) -> Figure:
    """Box plots with every point over them (seaborn): for each group (e.g. encoder), one box per series (e.g. good / poor)."""
    import pandas as pd
    import seaborn as sns

    groups = list(data)
    series = list(dict.fromkeys(k for g in groups for k in data[g]))
    long = pd.DataFrame([(g, name, float(v)) for g in groups for name in series for v in data[g].get(name, [])],
                        columns=["group", "series", "value"])
    palette = {name: color(i) for i, name in enumerate(series)}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 2), 4.4))
    common = {"data": long, "x": "group", "y": "value", "hue": "series", "order": groups, "hue_order": series,
              "palette": palette, "ax": ax}
    sns.boxplot(**common, showfliers=False, width=0.8, boxprops={"alpha": 0.75}, medianprops={"color": "black"})
    sns.stripplot(**common, dodge=True, size=2.2, alpha=0.55, jitter=0.18, legend=False, edgecolor="none")
    if threshold is not None:
        ax.axhline(threshold, color="#b2182b", linestyle="--", linewidth=1)
        ax.text(len(groups) - 0.5, threshold, f" {threshold}", color="#b2182b", va="bottom", ha="right", fontsize=8)
    ax.set_xticks(range(len(groups)), [ar(g) + (f"\n{annotations[g]}" if annotations and g in annotations else "") for g in groups])
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(ar(title))
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles[:len(series)], [ar(n) for n in series], frameon=False)
    return fig


def lines(series: Mapping[str, Sequence[float]], title: str = "", xlabel: str = "", ylabel: str = "",
          threshold: float | None = None, ylim: tuple[float, float] | None = None) -> Figure:
    """One line per series over the sample index (the report's Figure 15 style)."""
    fig, ax = plt.subplots(figsize=(8.5, 4.0))
    for i, (label, values) in enumerate(series.items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=2.5, linewidth=1.2, color=color(i), label=ar(label))
    if threshold is not None:
        ax.axhline(threshold, color="#b2182b", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(ar(title))
    ax.legend(frameon=False, fontsize=8, ncol=2)
    return fig


def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], title: str = "",
                 ylabel: str = "", horizontal: bool = False, annotate: bool = True, fmt: str = "{:.2f}") -> Figure:
    """Bars grouped by `groups`, one colour per series; NaN bars are left out and marked 'n/a'."""
    k = len(series)
    width = 0.8 / max(k, 1)
    pos = np.arange(len(groups))
    size = (7.5, 0.38 * len(groups) * k + 1.5) if horizontal else (max(6.0, 0.55 * len(groups) * k + 2), 4.2)
    fig, ax = plt.subplots(figsize=size)
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if len(values) != len(groups):
            raise ValueError(f"bar series {label!r} has {len(values)} values for {len(groups)} groups")
        offs = pos + (i - (k - 1) / 2) * width
        draw = ax.barh if horizontal else ax.bar
        bars = draw(offs, np.nan_to_num(values), width, label=ar(label), color=color(i))
        if annotate:
            for bar, v in zip(bars, values):
                text = "n/a" if np.isnan(v) else fmt.format(v)
                if horizontal:
                    ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + text, va="center", fontsize=7)
                else:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), text, ha="center", va="bottom", fontsize=7, rotation=90 if k > 2 else 0)
    labels = [ar(g) for g in groups]
    if horizontal:
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
    else:
        ax.set_xticks(pos, labels, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(ar(title))
    if k > 1:
        ax.legend(frameon=False, fontsize=8)
    return fig


def pie(shares: Mapping[str, float], title: str = "", donut: bool = True, hatch: Sequence[str] = (),
        fmt: str = "{:.1f}%") -> Figure:
    """Pie or donut of percentage shares; labels listed in `hatch` are drawn hatched (e.g. 'other')."""
    labels = list(shares)
    values = [float(shares[k]) for k in labels]
    fig, ax = plt.subplots(figsize=(6.6, 5.0))
    wedges, _ = ax.pie(values, colors=[color(i) for i in range(len(values))], startangle=90, counterclock=False,
                       wedgeprops={"width": 0.42 if donut else 1.0, "edgecolor": "white", "linewidth": 1.2})
    for w, label in zip(wedges, labels):
        if label in hatch:
            w.set_hatch("///")
            w.set_facecolor("#cccccc")
    ax.legend(wedges, [f"{fmt.format(v)}  {ar(l)}" for l, v in zip(labels, values)], loc="center left",
              bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_aspect("equal")
    if title:
        ax.set_title(ar(title))
    return fig


def rank_marks(values: Sequence[float], higher_is_better: bool = True) -> list[str]:
    """'best', 'second' or '' for each value (ties share the mark; NaN gets '')."""
    arr = np.asarray(values, dtype=float)
    distinct = sorted({v for v in arr if not np.isnan(v)}, reverse=higher_is_better)
    marks = []
    for v in arr:
        if np.isnan(v) or not distinct:
            marks.append("")
        elif v == distinct[0]:
            marks.append("best")
        elif len(distinct) > 1 and v == distinct[1]:
            marks.append("second")
        else:
            marks.append("")
    return marks


def styled_table(cells: Sequence[Sequence[str]], columns: Sequence[str], rows: Sequence[str],
                 marks: Sequence[Sequence[str]] | None = None, title: str = "", highlight_rows: Sequence[str] = ()) -> Figure:
    """A table drawn as a figure: 'best' cells bold on green, 'second' cells underlined, as the report does."""
    n_rows, n_cols = len(rows), len(columns)
    col_w = [max(len(rows[i]) for i in range(n_rows)) * 0.075 + 0.4] + [max(0.75, 0.085 * max(len(columns[j]), *(len(cells[i][j]) for i in range(n_rows)))) for j in range(n_cols)]
    fig_w, row_h = sum(col_w) + 0.2, 0.28  # inches
    fig = plt.figure(figsize=(fig_w, row_h * (n_rows + 1) + (0.35 if title else 0.0)))
    ax = fig.add_axes([0, 0, 1, row_h * (n_rows + 1) / fig.get_figheight()])
    ax.set_xlim(0, sum(col_w))
    ax.set_ylim(n_rows + 1, 0)
    ax.axis("off")
    x_edges = np.concatenate([[0], np.cumsum(col_w)])
    ax.axhline(1, color="black", linewidth=0.8)
    ax.axhline(0.02, color="black", linewidth=1.2)
    ax.axhline(n_rows + 1 - 0.02, color="black", linewidth=1.2)
    for j, name in enumerate(["", *columns]):
        ax.text((x_edges[j] + x_edges[j + 1]) / 2, 0.5, ar(name), ha="center", va="center", weight="bold")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for i, row in enumerate(rows):
        y = i + 1.5
        if row in highlight_rows:
            ax.add_patch(plt.Rectangle((0, i + 1), sum(col_w), 1, color="#f2f2f2", zorder=0))
        ax.text(0.1, y, ar(row), ha="left", va="center", weight="bold" if row in highlight_rows else "normal")
        for j in range(n_cols):
            mark = marks[i][j] if marks else ""
            cx = (x_edges[j + 1] + x_edges[j + 2]) / 2
            if mark == "best":
                ax.add_patch(plt.Rectangle((x_edges[j + 1] + 0.04, i + 1.08), col_w[j + 1] - 0.08, 0.84, color="#c7e9c0", zorder=0))
            t = ax.text(cx, y, cells[i][j], ha="center", va="center", weight="bold" if mark == "best" else "normal")
            if mark == "second":
                bb = t.get_window_extent(renderer).transformed(ax.transData.inverted())
                ax.plot([bb.x0, bb.x1], [bb.y0 + 0.02] * 2, color="black", linewidth=0.8)
    if title:
        fig.suptitle(ar(title), y=1.0, va="top", fontsize=10, weight="bold")
    return fig


def frame_table(frame, title: str = "", rank_along: str = "column", fmt: str = "{:.2f}",
                rank_columns: Sequence[str] | None = None, highlight_rows: Sequence[str] = ()) -> Figure:
    """A DataFrame as a styled table; best/second marked per column (`rank_along='column'`) or per row."""
    cells = [[("–" if v != v else fmt.format(v)) if isinstance(v, (int, float)) else str(v) for v in row]
             for row in frame.itertuples(index=False)]
    marks = [[""] * frame.shape[1] for _ in range(frame.shape[0])]
    numeric = frame.select_dtypes("number")
    ranked = [c for c in (rank_columns or numeric.columns) if c in numeric.columns]
    col_pos = {c: list(frame.columns).index(c) for c in ranked}
    def marks_of(values):  # with two contenders, 'second' only means 'last': mark the best alone
        found = rank_marks(values)
        return found if (~np.isnan(np.asarray(values, dtype=float))).sum() > 2 else [m if m == "best" else "" for m in found]

    if rank_along == "column":
        for c in ranked:
            for i, m in enumerate(marks_of(numeric[c].to_numpy())):
                marks[i][col_pos[c]] = m
    else:
        for i in range(frame.shape[0]):
            for c, m in zip(ranked, marks_of(numeric[ranked].iloc[i].to_numpy())):
                marks[i][col_pos[c]] = m
    return styled_table(cells, [str(c) for c in frame.columns], [str(r) for r in frame.index], marks, title, highlight_rows)
