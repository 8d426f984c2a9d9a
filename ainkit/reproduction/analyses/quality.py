"""Table 9 (back-translation quality) and Figure 13 (the verification funnel), set beside the report (notebook 03).

    from ainkit.stages import metrics
    from ainkit.reproduction.analyses import quality
    ref = quality.score(pairs, metrics.Config(), workers=2)     # (reference, back-translation) pairs
    quality.table9(ref)                                          # published vs kit, with signatures
    run = quality.funnel(records, ref.sentence, encoder)         # the report's rules in order
    rows = quality.result_rows(ref, run, llm_runs=[], sweep=None)

The report does not say whether its BLEU is corpus-level or a mean of sentence scores, so both
are kept. `threshold_sweep` asks where its "below 0.8 excluded, under 2% of the data" would hold:
the share of good and poor pairs a similarity threshold excludes, on the kit's sample set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ainkit.stages import metrics, verify
from ainkit.reproduction import paper
from ainkit.reproduction.results import Row

# Table 9's cells: (metric, the published column, the kit's score field)
LAYOUT = [("BLEU-2", "score_pct", "bleu2"), ("BLEU-4", "score_pct", "bleu4"), ("METEOR", "score_pct", "meteor"),
          ("ROUGE-1", "precision_pct", "rouge1_p"), ("ROUGE-1", "recall_pct", "rouge1_r"), ("ROUGE-1", "f1_pct", "rouge1_f"),
          ("ROUGE-L", "precision_pct", "rougeL_p"), ("ROUGE-L", "recall_pct", "rougeL_r"), ("ROUGE-L", "f1_pct", "rougeL_f")]
REPORT_THRESHOLD = verify.DEFAULT_RULES["similarity"]  # report Section 2.2: pairs below 0.8 LaBSE similarity are dropped
REPORT_EXCLUDED_PCT = 2.0  # ... and they were "under 2%" of its data


@dataclass
class Scores:
    """One set of back-translations scored: per sentence, corpus-level and the mean of sentences (0-1)."""

    label: str  # who back-translated: the kit's reference set or a model name
    sentence: list[dict[str, float]]
    corpus: dict[str, float]
    mean: dict[str, float]
    signatures: dict[str, str]

    @property
    def n(self) -> int:
        return len(self.sentence)

    def signature(self, key: str, corpus: bool = False) -> str:
        """The signature of a score field ('rouge1_f' -> the ROUGE-1 one; corpus BLEU has its own)."""
        if corpus and f"corpus_{key}" in self.signatures:
            return self.signatures[f"corpus_{key}"]
        return self.signatures[key] if key in self.signatures else self.signatures[key.split("_")[0]]


def score(pairs: Sequence[tuple[str, str]], config: metrics.Config | None = None, workers: int = 1,
          label: str = "reference back-translations") -> Scores:
    """Score (reference English, back-translated English) pairs with the kit's metrics (default: metrics.Config())."""
    config = config or metrics.Config()
    sentence = metrics.score_many(pairs, config, workers=workers)
    return Scores(label, sentence, metrics.corpus(pairs, sentence, config),
                  {k: float(np.mean([s[k] for s in sentence])) for k in metrics.FIELDS}, config.signatures())


def _name(metric: str, column: str) -> str:
    """'ROUGE-1', 'precision_pct' -> 'ROUGE-1 precision'."""
    return f"{metric} {column.split('_')[0]}"


def table9(s: Scores) -> pd.DataFrame:
    """Table 9: published (%), the kit's corpus and mean-of-sentences scores (%), and each score's signature."""
    t9 = paper.load("table9")
    return pd.DataFrame([{"metric": _name(m, c), "published (%)": t9.loc[m, c], "kit corpus (%)": 100 * s.corpus[k],
                          "kit mean of sentences (%)": 100 * s.mean[k], "signature": s.signature(k)}
                         for m, c, k in LAYOUT]).set_index("metric")


@dataclass
class FunnelRun:
    """The verification funnel over the scored pairs, and what it ran with."""

    funnel: verify.Funnel
    encoder: str | None  # name of the similarity encoder, None when the similarity rule was skipped

    @property
    def rules(self) -> dict[str, float]:
        return self.funnel.rules


def funnel(records: list[dict[str, Any]], sentence: list[dict[str, float]], encoder=None) -> FunnelRun:
    """The report's rules (ainkit.stages.verify) over back-translated pairs: records with `reference` (English) and `ar`,
    `sentence` their metric scores; without an encoder the similarity rule is left out."""
    scored = [dict(r, en=r["reference"], **s) for r, s in zip(records, sentence)]
    if encoder is not None:
        from ainkit.stages.similarity import score_pairs

        for r, sim in zip(scored, score_pairs(encoder, [r["en"] for r in scored], [r["ar"] for r in scored])):
            r["similarity"] = float(sim)
    rules = {k: v for k, v in verify.DEFAULT_RULES.items() if encoder is not None or k != "similarity"}
    run = FunnelRun(verify.Funnel(rules), encoder.name if encoder is not None else None)
    for r in scored:
        run.funnel.add(verify.failures(r, rules))
    return run


def funnel_figure(run: FunnelRun):
    """Figure 13: pairs remaining after each rule."""
    from ainkit.services import plots

    stages = run.funnel.stages()
    fig = plots.grouped_bars([s for s, _ in stages], {"pairs remaining": [n for _, n in stages]}, horizontal=True, fmt="{:.0f}",
                             title="Figure 13: verification funnel on the kit's sample set", ylabel="pairs")
    plots.source_label(fig, f"kit: {run.funnel.records_in} reference back-translations; similarity by {run.encoder or 'none'} "
                            "(the report: LaBSE); thresholds of the report's Figure 13")
    return fig


@dataclass
class Sweep:
    """Share of good and poor pairs (%) a similarity threshold excludes, over a grid of thresholds."""

    encoder: str
    excluded_share: float  # the share of good pairs the report says it dropped (0-1)
    n_good: int
    n_poor: int
    grid: np.ndarray
    curves: dict[str, list[float]]  # label -> % excluded at each grid point
    threshold: float  # the threshold that excludes `excluded_share` of the good pairs
    summary: dict[str, float] = field(default_factory=dict)


def threshold_sweep(good: Sequence[float], poor: Sequence[float], excluded_share: float, encoder: str) -> Sweep:
    """Where the report's threshold would exclude only `excluded_share` of good pairs, and what it lets through."""
    g, p = np.asarray(good, float), np.asarray(poor, float)
    if not len(g) or not len(p):
        raise ValueError("threshold_sweep needs at least one good and one poor score")
    grid = np.linspace(0, 1, 101)
    curves = {"good pairs excluded": [float((g < t).mean() * 100) for t in grid],
              "poor pairs excluded": [float((p < t).mean() * 100) for t in grid]}
    t_ok = float(np.quantile(g, excluded_share))
    summary = {f"good excluded at {REPORT_THRESHOLD} (%)": float((g < REPORT_THRESHOLD).mean() * 100),
               f"poor excluded at {REPORT_THRESHOLD} (%)": float((p < REPORT_THRESHOLD).mean() * 100),
               f"threshold excluding {excluded_share:.0%} of good pairs": t_ok,
               "poor excluded at that threshold (%)": float((p < t_ok).mean() * 100)}
    return Sweep(encoder, excluded_share, len(g), len(p), grid, curves, t_ok, summary)


def sweep_figure(s: Sweep):
    """Figure 13 (threshold): % of good and poor pairs excluded against the threshold, the report's 0.8 marked."""
    from ainkit.services import plots

    fig, ax = plots.plt.subplots(figsize=(7, 4))
    for i, (label, ys) in enumerate(s.curves.items()):
        ax.plot(s.grid, ys, color=plots.color(i), label=label)
    ax.axvline(REPORT_THRESHOLD, color="#b2182b", linestyle="--", label=f"report threshold {REPORT_THRESHOLD}")
    ax.axvline(s.threshold, color="#555555", linestyle=":", label=f"{s.excluded_share:.0%} of good pairs excluded")
    ax.set_xlabel(f"similarity threshold ({s.encoder})")
    ax.set_ylabel("% of pairs excluded")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Figure 13 (threshold): share of pairs a similarity threshold excludes")
    plots.source_label(fig, "kit: bilingual sample set and its documented corruptions")
    return fig


def result_rows(reference: Scores, run: FunnelRun, llm_runs: Sequence[Scores] = (), sweep: Sweep | None = None) -> list[Row]:
    """Rows of the results contract for Table 9 and Figure 13 (notebook 03)."""
    t9 = paper.load("table9")
    note = f"kit: {reference.n} hand-written reference back-translations instead of the report's GPT-4o-mini ones"
    rows = []
    for m, c, k in LAYOUT:
        name = _name(m, c)
        if k.startswith("bleu"):  # corpus BLEU differs from the mean of sentence BLEUs; for the others they are the same
            rows.append(Row("Table 9", f"{name} (corpus)", float(t9.loc[m, c]), round(100 * reference.corpus[k], 2), "substitute",
                            f"{note}; {reference.signature(k, corpus=True)}"))
        rows.append(Row("Table 9", f"{name} (mean of sentences)", float(t9.loc[m, c]), round(100 * reference.mean[k], 2),
                        "substitute", f"{note}; {reference.signature(k)}"))
    for s in llm_runs:
        for m, c, k in LAYOUT:
            rows.append(Row("Table 9", f"{_name(m, c)} ({s.label} back-translation, corpus)", float(t9.loc[m, c]),
                            round(100 * s.corpus[k], 2), "substitute",
                            f"{s.n} kit samples back-translated by {s.label} instead of GPT-4o-mini"))
    f = run.funnel
    fnote = f"kit sample set ({f.records_in} pairs); similarity by {run.encoder or 'none'} instead of LaBSE"
    rows.append(Row("Figure 13", "pairs in", None, f.records_in, "substitute", fnote))
    for n, t in f.rules.items():
        rows.append(Row("Figure 13", f"dropped at {n} >= {t}", None, f.dropped_at.get(n, 0), "substitute", fnote))
    rows.append(Row("Figure 13", "pairs kept", None, f.kept, "substitute", fnote))
    if sweep is not None:
        snote = f"{sweep.n_good} good / {sweep.n_poor} poor kit pairs, {sweep.encoder}; published: 'under 2%' of the report's data"
        for key, value in sweep.summary.items():
            published = REPORT_EXCLUDED_PCT if key.startswith("good") and f"at {REPORT_THRESHOLD}" in key else None
            rows.append(Row("Figure 13", key, published, round(float(value), 4), "substitute", snote))
    return rows
