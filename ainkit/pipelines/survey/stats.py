"""The survey's statistics: shares with two-way bootstrap intervals, Bradley-Terry (Luce) strengths, position bias,
Krippendorff's alpha, and what the published 76 / 15 / 9 split does and does not support.

    from ainkit.pipelines.survey import stats
    stats.shares_interval(votes_cube, B=2000, seed=0)          # cube: raters x questions x models, one-hot (0 = no vote)
    stats.published_split_intervals([76, 15, 9], raters=200, questions=10)

Intervals are percentile bootstrap intervals. The two-way bootstrap resamples raters and questions
independently (each with replacement) and weights a vote by (times its rater drawn) x (times its question
drawn), so an interval covers both "other raters" and "other questions" (Owen 2007, the pigeonhole
bootstrap). Bradley-Terry here is its multi-way form, Luce's choice model: a rater picking one answer out of
k is a win over the other k-1; strengths are the maximum-likelihood fit by Hunter's (2004) MM iteration on
weighted choice patterns (tests hold it to `choix.ilsr_top1`), reported as pi (they sum to 1: the chance each
model is picked when all are shown, position aside).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

LEVEL = 0.95
BOOTSTRAP = 2000
CHUNK = 100  # bootstrap replicates weighted at once (replicates x votes floats)


def _pct(samples: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    a = (1 - level) / 2
    return np.nanpercentile(samples, 100 * a, axis=0), np.nanpercentile(samples, 100 * (1 - a), axis=0)


def two_way_weights(n_raters: int, n_questions: int, b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(b x raters, b x questions) draw counts: raters and questions resampled with replacement, independently."""
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n_raters, np.full(n_raters, 1 / n_raters), size=b).astype(float)
    v = rng.multinomial(n_questions, np.full(n_questions, 1 / n_questions), size=b).astype(float)
    return w, v


def shares_interval(cube: np.ndarray, b: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL) -> dict[str, np.ndarray]:
    """Vote shares per model (cube: raters x questions x models, 1 where that rater chose that model) and their interval."""
    cube = np.asarray(cube, dtype=float)
    total = cube.sum()
    if total == 0:
        raise ValueError("no votes")
    point = cube.sum(axis=(0, 1)) / total
    w, v = two_way_weights(cube.shape[0], cube.shape[1], b, seed)
    num = np.einsum("br,rqm,bq->bm", w, cube, v)
    den = num.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = np.where(den > 0, num / den, np.nan)
    lo, hi = _pct(boot, level)
    return {"share": point, "low": lo, "high": hi, "bootstrap": b, "level": level}


def luce_mm(sets: np.ndarray, winners: np.ndarray, weights: np.ndarray, iters: int = 10_000, tol: float = 1e-10) -> np.ndarray:
    """Luce / multi-way Bradley-Terry ML strengths (sum 1) for weighted choices; many weightings at once.

    sets: patterns x models (1 where the model was among the answers shown); winners: the model picked per
    pattern; weights: (replicates x) patterns. Returns (replicates x) models. A model never picked gets 0; a
    replicate whose weights are all 0 (a bootstrap draw with no vote in it) gets NaN, left out of the intervals.
    """
    sets = np.asarray(sets, dtype=float)
    w_all = np.atleast_2d(np.asarray(weights, dtype=float))
    k = sets.shape[1]
    live = w_all.sum(axis=1) > 0                                      # a replicate that drew no vote has no strengths
    out = np.full((w_all.shape[0], k), np.nan)
    w = w_all[live]
    wins = w @ np.eye(k)[np.asarray(winners)]                       # replicates x models
    pi = np.full((w.shape[0], k), 1.0 / k)
    for _ in range(iters):
        denom = (w / np.maximum(pi @ sets.T, 1e-300)) @ sets          # sum over patterns holding i of w / sum(pi in set)
        new = np.where(wins > 0, wins / np.maximum(denom, 1e-300), 0.0)
        new /= new.sum(axis=1, keepdims=True)
        done = not len(pi) or np.max(np.abs(new - pi)) < tol
        pi = new
        if done:
            break
    out[live] = pi
    return out if np.ndim(weights) > 1 else out[0]


def strengths_interval(votes: Sequence[tuple[int, int, int, Sequence[int]]], n_raters: int, n_questions: int, n_models: int,
                       b: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL) -> dict[str, np.ndarray]:
    """Luce strengths from (rater, question, winner, models shown) votes, with a two-way bootstrap interval."""
    patterns: dict[tuple[int, tuple[int, ...]], int] = {}
    index = np.zeros((len(votes), 3), dtype=int)
    for i, (r, q, win, shown) in enumerate(votes):
        index[i] = (r, q, patterns.setdefault((win, tuple(sorted(shown))), len(patterns)))
    pats = list(patterns)
    sets = np.zeros((len(pats), n_models))
    for p, (_, shown) in enumerate(pats):
        sets[p, list(shown)] = 1
    winners = np.array([win for win, _ in pats])
    one = np.zeros(len(pats))
    np.add.at(one, index[:, 2], 1)
    point = luce_mm(sets, winners, one)
    w, v = two_way_weights(n_raters, n_questions, b, seed)
    boot_w = np.zeros((b, len(pats)))
    for lo in range(0, b, CHUNK):                                     # CHUNK x votes at a time: memory flat in b
        per_vote = w[lo:lo + CHUNK, index[:, 0]] * v[lo:lo + CHUNK, index[:, 1]]
        np.add.at(boot_w[lo:lo + CHUNK].T, index[:, 2], per_vote.T)
    boot = luce_mm(sets, winners, boot_w)
    lo, hi = _pct(boot, level)
    return {"strength": point, "low": lo, "high": hi, "bootstrap": b, "level": level}


def position_bias(first: Sequence[bool], k: Sequence[int], rater: Sequence[int], question: Sequence[int],
                  b: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL) -> dict[str, Any]:
    """Share of votes for the answer shown first, against 1/k (orders are random, so a fair rater picks it 1/k of the
    time): exact binomial test (treats votes as independent) and a two-way bootstrap interval (does not)."""
    from scipy.stats import binomtest

    first = np.asarray(first, dtype=bool)
    n, x = len(first), int(first.sum())
    if n == 0:
        raise ValueError("no votes")
    p0 = float(np.mean(1.0 / np.asarray(k, dtype=float)))
    test = binomtest(x, n, p0)
    rater, question = np.asarray(rater), np.asarray(question)
    w, v = two_way_weights(int(rater.max()) + 1, int(question.max()) + 1, b, seed)
    boot = np.empty(b)
    for lo in range(0, b, CHUNK):                                     # CHUNK x votes at a time: memory flat in b
        weight = w[lo:lo + CHUNK, rater] * v[lo:lo + CHUNK, question]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[lo:lo + CHUNK] = (weight * first).sum(axis=1) / weight.sum(axis=1)
    lo, hi = _pct(boot[:, None], level)
    return {"votes": n, "first": x, "share": x / n, "expected": p0, "p_value": float(test.pvalue),
            "test": f"exact binomial, two-sided, H0 share = {p0:.4f}", "low": float(lo[0]), "high": float(hi[0]),
            "bootstrap": b, "level": level}


def alpha(reliability: np.ndarray) -> tuple[float | None, str]:
    """Krippendorff's alpha, nominal (raters x questions, the model picked as a number, NaN = no vote); None + why when undefined."""
    import krippendorff

    data = np.asarray(reliability, dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum()
    if data.shape[0] < 2 or pairable == 0:
        return None, "needs at least two raters on one question"
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return None, "every vote went to the same model: agreement is total but alpha is undefined (no variation)"
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")), \
        "Krippendorff's alpha, nominal, krippendorff package"


# ---------- what the published split supports ----------

PUBLISHED_ASSUMPTIONS = {
    "independent votes": "every one of raters x questions votes is an independent draw (no rater or question effects): "
                         "the narrowest interval the numbers allow",
    "raters vote as one": "each rater casts the same vote on every question, so only the raters are independent: "
                          "n = raters",
}


def published_split_intervals(shares: Sequence[float], raters: int = 200, questions: int = 10, b: int = 20_000,
                              seed: int = 0, level: float = LEVEL) -> list[dict[str, Any]]:
    """Parametric bootstrap intervals (percent) on a published split, one per assumption in PUBLISHED_ASSUMPTIONS.

    The report gives only percentages, "more than 200 participants" and 10 questions. 200 is the smallest count
    it allows (more raters narrow the interval). What no assumption here covers: how much the preference varies
    from question to question (the per-question votes are not published), so neither interval speaks for
    questions other than these 10.
    """
    p = np.asarray(shares, dtype=float)
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    out = []
    for name, n in (("independent votes", raters * questions), ("raters vote as one", raters)):
        draws = rng.multinomial(n, p, size=b) / n * 100
        lo, hi = _pct(draws, level)
        out.append({"assumption": name, "n": n, "meaning": PUBLISHED_ASSUMPTIONS[name], "low": lo.tolist(), "high": hi.tolist(),
                    "bootstrap": b, "level": level})
    return out


def position_adjusted(shares: Sequence[float], odds: float) -> list[float]:
    """The split (percent) had the answer in position 1 not been favoured, if being first multiplied its Luce
    strength by `odds`: the first model's strength is divided by `odds`, the others kept, then renormalised."""
    p = np.asarray(shares, dtype=float) / np.sum(shares)
    p[0] /= odds
    return (p / p.sum() * 100).tolist()
