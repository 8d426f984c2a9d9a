"""Choosing the verification encoder (report Figure 15): how well each encoder separates good from poor translations.

    from ainkit.stages import similarity
    from ainkit.reproduction.analyses import corrupt, selection
    good = selection.load_samples(); poor = corrupt.make_poor(good)
    scores, summary = selection.compare({"use-multilingual": similarity.load("use-multilingual")}, good, poor)

The report compared LaBSE and Paraphrase-XLM-R on 50 good and 50 poor translations and
kept LaBSE for its higher scores on good pairs and lower scores on poor ones. Here every
available encoder is scored on the kit's bilingual sample set and its corruptions, and
separation is measured: ROC AUC (probability a good pair outscores a poor one), the gap
between mean scores, and the share of each set kept at the report's 0.8 threshold.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ainkit.stages.verify import DEFAULT_RULES
from ainkit.services.records import load_samples  # noqa: F401 - the sample set, named here for the notebooks and benches

THRESHOLD = DEFAULT_RULES["similarity"]  # report Section 2.2: pairs below 0.8 LaBSE similarity are dropped


def roc_auc(good: np.ndarray, poor: np.ndarray) -> float:
    """P(score of a good pair > score of a poor pair), ties counting half (Mann-Whitney U / (n_good * n_poor))."""
    good, poor = np.asarray(good, float), np.asarray(poor, float)
    if not len(good) or not len(poor):
        raise ValueError("roc_auc needs at least one good and one poor score")
    both = np.concatenate([good, poor])
    ranks = pd.Series(both).rank(method="average").to_numpy()
    u = ranks[: len(good)].sum() - len(good) * (len(good) + 1) / 2
    return float(u / (len(good) * len(poor)))


def compare(encoders: dict, good: list[dict], poor: list[dict], threshold: float = THRESHOLD,
            batch_size: int = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-pair scores, per-encoder summary) for every encoder given."""
    from ainkit.stages.similarity import score_pairs

    pairs = [dict(r, quality="good", corruption="none") for r in good] + [dict(r, quality="poor") for r in poor]
    scores = pd.DataFrame({"id": [p["id"] for p in pairs], "quality": [p["quality"] for p in pairs],
                           "corruption": [p["corruption"] for p in pairs]})
    summary = []
    for name, enc in encoders.items():
        s = score_pairs(enc, [p["en"] for p in pairs], [p["ar"] for p in pairs], batch_size)
        scores[name] = s
        g, p = s[: len(good)], s[len(good):]
        summary.append({"encoder": name, "mean good": g.mean(), "mean poor": p.mean(), "mean gap": g.mean() - p.mean(),
                        "ROC AUC": roc_auc(g, p), f"good kept at {threshold}": (g >= threshold).mean(),
                        f"poor kept at {threshold}": (p >= threshold).mean()})
    return scores, pd.DataFrame(summary).set_index("encoder") if summary else pd.DataFrame()


def by_corruption(scores: pd.DataFrame, encoders: list[str]) -> pd.DataFrame:
    """Mean score per corruption kind (and 'none' for the good pairs), per encoder."""
    return scores.groupby("corruption")[encoders].mean()
