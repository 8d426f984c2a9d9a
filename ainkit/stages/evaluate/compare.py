"""Two models on the same items: accuracies with 95 % bootstrap intervals, the paired difference, exact McNemar.

    ainkit evaluate compare runs/a/predictions.jsonl runs/b/predictions.jsonl --output runs/a-vs-b

Reads the predictions files `ainkit evaluate` writes (one row per item: `dataset` (ArabicMMLU: `category`), `id`,
and whether it was right: `correct`, or CAMEL-Bench's `correct_corrected` / `correct_original`). Both files must
hold the same items. Per data set and overall:
- each accuracy with a percentile bootstrap interval (B resamples, seeded) over clusters: items that share an
  image (the row's `images`) are drawn together, every other item is its own cluster;
- the paired difference B - A with its interval from the same resamples (both models on the same draw);
- McNemar's exact test: two-sided binomial p-value on the discordant pairs (A right / B wrong vs A wrong / B right),
  p = min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2); 1 when there is no discordant pair.
"""
from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Any

from ainkit.services.records import RecordError, read_lines

FIELDS = ("correct", "correct_corrected")  # read in this order when no field is named


def signature(resamples: int, seed: int) -> str:
    return f"bootstrap:percentile-95|cluster:image|B:{resamples}|seed:{seed}|mcnemar:exact-binomial-two-sided"


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for `b` and `c` discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def load(path: str | Path, field: str = "") -> dict[tuple[str, str], tuple[bool, str]]:
    """(dataset, id) -> (correct, cluster) of a predictions file."""
    rows: dict[tuple[str, str], tuple[bool, str]] = {}
    for line in read_lines(path):
        if line.error:
            raise RecordError(f"{path}: line {line.number}: {line.error}")
        r = line.record
        name = field or next((f for f in FIELDS if f in r), "")
        if not name or not isinstance(r.get(name), bool) or "id" not in r:
            raise RecordError(f"{path}: line {line.number}: needs an 'id' and a true/false "
                              f"{field or ' or '.join(FIELDS)}")
        ds = str(r.get("dataset") or r.get("category") or "all")
        key = (ds, str(r["id"]))
        if key in rows:
            raise RecordError(f"{path}: line {line.number}: item {ds}/{r['id']} appears twice")
        rows[key] = (r[name], cluster_of(r))
    if not rows:
        raise RecordError(f"{path}: no predictions")
    return rows


def cluster_of(row: dict[str, Any], i: int = 0) -> str:
    """A row's cluster: its images (items that share an image are drawn together), else the item itself (its data
    set or category and id; `i` when it has no id)."""
    images = row.get("images")
    ds = row.get("dataset") or row.get("category") or "all"
    return "|".join(map(str, images)) if images else f"item:{ds}/{row.get('id', i)}"


def clusters_of(rows: list[dict[str, Any]]) -> list[str]:
    """Each row's cluster (`cluster_of`)."""
    return [cluster_of(r, i) for i, r in enumerate(rows)]


def _cluster_sums(values, clusters: list[str]):
    """(clusters x k) sums of the rows of `values` (items x k) by cluster, clusters in order of first appearance."""
    import numpy as np

    index: dict[str, int] = {}
    members = np.array([index.setdefault(c, len(index)) for c in clusters])
    sums = np.zeros((len(index), values.shape[1]))
    np.add.at(sums, members, values)
    return sums


def cluster_interval(values, clusters: list[str], statistic, resamples: int = 1000, seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval of `statistic(summed rows)` over clusters drawn with replacement.

    `values` is an (items x k) array of per-item sums (for a mean: value and 1; for corpus BLEU: its sufficient
    statistics); a draw sums the rows of the drawn clusters and applies `statistic`."""
    import numpy as np

    per_cluster = _cluster_sums(np.asarray(values, dtype=float), clusters)
    draws = np.random.default_rng(seed).integers(0, len(per_cluster), size=(resamples, len(per_cluster)))
    sums = per_cluster[draws].sum(axis=1)
    stats = np.array([statistic(s) for s in sums])
    return [float(v) for v in np.percentile(stats, [2.5, 97.5])]


def accuracy_interval(correct: list[bool], clusters: list[str], resamples: int = 1000, seed: int = 0) -> list[float]:
    """The 95 % interval of an accuracy, clustered."""
    import numpy as np

    values = np.column_stack([np.asarray(correct, dtype=float), np.ones(len(correct))])
    return cluster_interval(values, clusters, lambda s: s[0] / s[1], resamples, seed)


def stratified(groups: dict[str, tuple[list[bool], list[str]]], resamples: int = 1000, seed: int = 0) -> dict:
    """Bootstrap draws within each group (a data set or category keeps its size in expectation; its clusters are
    drawn with replacement): group -> (right answers per draw, items per draw), arrays of length `resamples`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, (correct, clusters) in sorted(groups.items()):
        sums = _cluster_sums(np.column_stack([np.asarray(correct, dtype=float), np.ones(len(correct))]), clusters)
        drawn = sums[rng.integers(0, len(sums), size=(resamples, len(sums)))].sum(axis=1)
        out[name] = (drawn[:, 0], drawn[:, 1])
    return out


def percentile95(values) -> list[float]:
    import numpy as np

    return [float(v) for v in np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])]


def _paired(a: dict, b: dict, keys: list, resamples: int, seed: int) -> dict[str, Any]:
    """Accuracies, difference, intervals and McNemar for the items `keys`."""
    import numpy as np

    ya = np.array([a[k][0] for k in keys], dtype=float)
    yb = np.array([b[k][0] for k in keys], dtype=float)
    # per cluster: right answers of A, of B, and items
    sums = _cluster_sums(np.column_stack([ya, yb, np.ones(len(keys))]), [a[k][1] for k in keys])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(resamples, len(sums)))  # clusters drawn with replacement
    drawn = sums[draws].sum(axis=1)
    acc_a, acc_b = drawn[:, 0] / drawn[:, 2], drawn[:, 1] / drawn[:, 2]

    def interval(x) -> list[float]:
        return [float(v) for v in np.percentile(x, [2.5, 97.5])]

    disc_a = int(((ya == 1) & (yb == 0)).sum())
    disc_b = int(((ya == 0) & (yb == 1)).sum())
    return {"n": len(keys), "clusters": len(sums),
            "a": {"accuracy": float(ya.mean()), "ci95": interval(acc_a)},
            "b": {"accuracy": float(yb.mean()), "ci95": interval(acc_b)},
            "difference": {"b_minus_a": float(yb.mean() - ya.mean()), "ci95": interval(acc_b - acc_a)},
            "mcnemar": {"a_only": disc_a, "b_only": disc_b, "p_value": mcnemar_exact(disc_a, disc_b)}}


def compare(path_a: str | Path, path_b: str | Path, field: str = "", resamples: int = 2000, seed: int = 0) -> dict:
    """The comparison of two predictions files on their common items (which must be all of them)."""
    a, b = load(path_a, field), load(path_b, field)
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise RecordError(f"the two files hold different items: {len(only_a)} only in {path_a} (first {only_a[:3]}), "
                          f"{len(only_b)} only in {path_b} (first {only_b[:3]})")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    keys = sorted(a)
    per = {ds: _paired(a, b, [k for k in keys if k[0] == ds], resamples, seed) for ds in sorted({k[0] for k in keys})}
    return {"a": str(path_a), "b": str(path_b), "signature": signature(resamples, seed), "datasets": per,
            "overall": _paired(a, b, keys, resamples, seed),
            "rows_with_errors": {"a": errored(path_a), "b": errored(path_b)}}


def errored(path: str | Path) -> int:
    """Rows of a predictions file that carry an 'error' (an unusable prediction, which its scoring counted wrong)."""
    return sum(1 for line in read_lines(path) if isinstance(line.record, dict) and line.record.get("error"))


def render(result: dict) -> str:
    """One line per data set and overall."""
    def line(name: str, r: dict) -> str:
        a, b, d, m = r["a"], r["b"], r["difference"], r["mcnemar"]
        return (f"{name:24} n={r['n']:<6} A {a['accuracy']:.3f} [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]  "
                f"B {b['accuracy']:.3f} [{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}]  B-A {d['b_minus_a']:+.3f} "
                f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]  McNemar p={m['p_value']:.4g} ({m['a_only']} vs {m['b_only']})")
    notes = [f"{side.upper()}: {n} row(s) carry an 'error' (unusable predictions, counted wrong as they were scored): "
             f"read {result[side]}" for side, n in result.get("rows_with_errors", {}).items() if n]
    return "\n".join([*(line(ds, r) for ds, r in result["datasets"].items()), line("overall", result["overall"]),
                      result["signature"], *notes])
