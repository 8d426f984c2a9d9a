"""Checks of the report's benchmark tables (Tables 1-3) and of the claims it makes from them.

    from ainkit.reproduction.analyses import benchmarks
    benchmarks.table1_totals()          # Total recomputed as the mean of the 8 domains
    benchmarks.check_claims()           # each headline claim against the tables, and which source supports it
    benchmarks.table1_source_differences()   # cells where the AIN README's Table 1 differs from the report's

Everything here is computed from the published numbers in `ainkit.reproduction.paper` and, when
given, from a lab's own scores file (`load_model_scores`), which has this shape
(JSON; the evaluation stage writes it):

    {"model": "MyModel-7B",
     "camel_bench": {"VQA": 51.2, "OCR": 40.0, ..., "Med.": 33.3},     # % per domain
     "arabicmmlu": {"Accounting": 50.0, ..., "Total": 55.0},          # % per category
     "english": {"MMBench": 80.1, ...}}

or a list of such objects. A missing section is fine; unknown keys are an error. A `results.json`
written by `ainkit evaluate` is read as well (accuracies 0-1 turned into %; CAMEL-Bench in its
`corrected` scoring). Several files can be given, comma-separated; entries of the same model merge.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ainkit.reproduction import paper
from ainkit.services.plots import rank_marks
from ainkit.reproduction.results import Row

TOTAL_TOLERANCE = 0.01  # Table 1 prints 2 decimals: a recomputed mean within 0.01 agrees


@dataclass
class ModelScores:
    """A lab's own scores for one model, from a results file."""

    model: str
    camel_bench: dict[str, float] = field(default_factory=dict)
    arabicmmlu: dict[str, float] = field(default_factory=dict)
    english: dict[str, float] = field(default_factory=dict)
    path: str = ""
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # section -> name -> 95 % interval (%)


def _from_evaluate(payload: dict, path: Path) -> dict:
    """An `ainkit evaluate` results.json as a scores entry (percentages)."""
    if payload["benchmark"] == "arabic-mmlu":
        known = set(paper.load("table2").index)
        cats = {c: 100 * v["accuracy"] for c, v in payload.get("categories", {}).items() if c in known}
        ci = {c: [100 * x for x in v["ci95"]] for c, v in payload.get("categories", {}).items() if c in known and "ci95" in v}
        if payload.get("total", {}).get("accuracy") is not None:
            cats["Total"] = 100 * payload["total"]["accuracy"]
            if "ci95" in payload["total"]:
                ci["Total"] = [100 * x for x in payload["total"]["ci95"]]
        return {"model": payload["model"], "arabicmmlu": cats, "intervals": {"arabicmmlu": ci}}
    if payload["benchmark"] == "camel-bench":
        block = payload.get("corrected", {})
        doms = {d: 100 * a for d, a in block.get("domains", {}).items()}
        bounds = payload.get("ci95", {}).get("corrected", {})
        ci = {d: [100 * x for x in v] for d, v in bounds.get("domains", {}).items()}
        if len(doms) == len(paper.CAMEL_DOMAINS) and block.get("total") is not None:
            doms["Total"] = 100 * block["total"]
            if bounds.get("total"):
                ci["Total"] = [100 * x for x in bounds["total"]]
        return {"model": payload["model"], "camel_bench": doms, "intervals": {"camel_bench": ci}}
    raise ValueError(f"{path}: unknown benchmark {payload['benchmark']!r}")


def load_model_scores(path: str | Path | list[str | Path]) -> list[ModelScores]:
    """Read scores files (a list, or one path; JSON object or list, or `ainkit evaluate` results.json); errors name the file.

    The same model in several files is merged (e.g. ArabicMMLU from one run, CAMEL-Bench from another).
    """
    if isinstance(path, str) and "," in path:  # papermill's `-p extra_scores a.json,b.json` arrives as one string
        path = [p.strip() for p in path.split(",") if p.strip()]
    if isinstance(path, (list, tuple)):
        merged: dict[str, ModelScores] = {}
        for part in path:
            for m in load_model_scores(part):
                if m.model in merged:
                    for section in ("camel_bench", "arabicmmlu", "english", "intervals"):
                        getattr(merged[m.model], section).update(getattr(m, section))
                else:
                    merged[m.model] = m
        return list(merged.values())
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scores file {path} does not exist")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    intervals = {}
    if isinstance(payload, dict) and "benchmark" in payload:
        payload = _from_evaluate(payload, path)
        intervals = payload.pop("intervals")
    entries = payload if isinstance(payload, list) else [payload]
    known = {
        "camel_bench": set(paper.CAMEL_DOMAINS) | {"Total"},
        "arabicmmlu": set(paper.load("table2").index),
        "english": set(paper.load("table3").index),
    }
    found = []
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str) or not entry["model"].strip():
            raise ValueError(f"{where}: needs a non-empty string 'model'")
        where = f"{path}: model {entry['model']!r}"
        extra = set(entry) - {"model", *known}
        if extra:
            raise ValueError(f"{where}: unknown section(s) {sorted(extra)}; expected {sorted(known)}")
        scores = ModelScores(model=entry["model"], path=str(path), intervals=intervals)
        for section, names in known.items():
            block = entry.get(section, {})
            if not isinstance(block, dict):
                raise ValueError(f"{where}: '{section}' must be an object of name -> score")
            for name, value in block.items():
                if name not in names:
                    raise ValueError(f"{where}: {section} has unknown key {name!r}; expected one of {sorted(names)}")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                    raise ValueError(f"{where}: {section}[{name!r}] = {value!r} is not a finite number")
                if not 0 <= value <= (3000 if name == "MME" else 100):
                    raise ValueError(f"{where}: {section}[{name!r}] = {value} is out of range (scores are percentages)")
            setattr(scores, section, {k: float(v) for k, v in block.items()})
        found.append(scores)
    return found


def camel_table(extra: list[ModelScores] = ()) -> pd.DataFrame:
    """Table 1 with any extra models appended (their Total computed as the mean of 8 domains)."""
    table = paper.load("table1").copy()
    for m in extra:
        if not m.camel_bench:
            continue
        row = {d: m.camel_bench.get(d, np.nan) for d in paper.CAMEL_DOMAINS}
        row["Total"] = m.camel_bench.get("Total", float(np.mean([row[d] for d in paper.CAMEL_DOMAINS])))
        table.loc[m.model] = row
    return table


def lab_intervals(extra: list[ModelScores] = ()) -> pd.DataFrame:
    """Each lab score that came with a 95 % bootstrap interval (`ainkit evaluate` results.json): model, benchmark,
    name, score and bounds (%)."""
    rows = []
    for m in extra:
        for section, bounds in m.intervals.items():
            for name, (lo, hi) in bounds.items():
                rows.append({"model": m.model, "benchmark": section, "name": name,
                             "score": getattr(m, section).get(name, np.nan), "ci95_low": lo, "ci95_high": hi})
    return pd.DataFrame(rows, columns=["model", "benchmark", "name", "score", "ci95_low", "ci95_high"])


# CAMEL-Bench's questions per sub-domain, by the AIN report's domain column: CAMEL-Bench paper (arXiv 2410.18976)
# Table 2, as read in ../shared/reference/camel-bench-taxonomy.md (Med.: its five medical sub-fields and
# MMT-MI-Bench; the rows sum to the stated 29,036).
CAMEL_SUBDOMAIN_QUESTIONS = {
    "VQA": [3971, 997, 531, 1624, 3840, 120, 1422, 624, 1062, 60], "OCR": [480, 703, 1217, 40, 2354, 711, 1400, 506, 520],
    "CDT": [745, 1994, 81], "Video": [87, 24, 654], "Cult.": [444, 347, 494], "Med.": [89, 83, 87, 82, 87, 78],
    "Agro.": [769], "RS": [709]}


def _domain_variance(score: float, sizes: list[int]) -> float:
    """Sampling variance of a domain score (0-1) that is the plain mean of its sub-domains, each at `score`."""
    return sum(score * (1 - score) / n for n in sizes) / len(sizes) ** 2


def table1_leads(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per Table 1 column: the best model's lead over the second and whether it exceeds sampling noise.

    The published scores come without item-level answers, so no paired test is possible; the noise is the
    sampling error of each score on CAMEL-Bench's questions (the domain as the plain mean of its sub-domains,
    every sub-domain at the domain's published accuracy), the two models taken as independent. Answers on the
    same items are usually positively correlated, which makes the paired error smaller: a lead called 'within
    noise' here could still be real, one called 'beyond noise' is so under this model."""
    table = paper.load("table1") if table is None else table
    order = best_and_second(table[[*paper.CAMEL_DOMAINS, "Total"]])
    rows = {}
    for col, r in order.iterrows():
        best, second = r["best"].split(", ")[0], r["second"].split(", ")[0] if r["second"] else ""
        if not second:
            continue
        a, b = table.loc[best, col] / 100, table.loc[second, col] / 100
        if col == "Total":
            var = lambda row: sum(_domain_variance(table.loc[row, d] / 100, CAMEL_SUBDOMAIN_QUESTIONS[d])
                                  for d in paper.CAMEL_DOMAINS) / len(paper.CAMEL_DOMAINS) ** 2
            se = math.sqrt(var(best) + var(second))
        else:
            sizes = CAMEL_SUBDOMAIN_QUESTIONS[col]
            se = math.sqrt(_domain_variance(a, sizes) + _domain_variance(b, sizes))
        lead = 100 * (a - b)
        rows[col] = {"best": best, "second": second, "lead": round(lead, 2), "noise_95": round(100 * 1.96 * se, 2),
                     "z": round(lead / (100 * se), 2),
                     "verdict": "beyond sampling noise" if lead >= 100 * 1.96 * se else "within sampling noise"}
    return pd.DataFrame(rows).T


def table1_totals(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model: printed Total, mean of the 8 domains, difference, and whether they agree."""
    table = paper.load("table1") if table is None else table
    mean = table[paper.CAMEL_DOMAINS].mean(axis=1)
    out = pd.DataFrame({"printed_total": table["Total"], "mean_of_domains": mean.round(4)})
    out["difference"] = (out["mean_of_domains"] - out["printed_total"]).round(4)
    out["agrees"] = out["difference"].abs() <= TOTAL_TOLERANCE
    return out


def ranks(table: pd.DataFrame) -> pd.DataFrame:
    """'best' / 'second' / '' for each cell, per column (higher is better)."""
    return pd.DataFrame({c: rank_marks(table[c].to_numpy()) for c in table.columns}, index=table.index)


def best_and_second(table: pd.DataFrame) -> pd.DataFrame:
    """Per column: best model, its score, second model, its score."""
    marks = ranks(table)
    rows = {}
    for col in table.columns:
        best = marks.index[marks[col] == "best"].tolist()
        second = marks.index[marks[col] == "second"].tolist()
        rows[col] = {"best": ", ".join(best), "best_score": table.loc[best[0], col] if best else np.nan,
                     "second": ", ".join(second), "second_score": table.loc[second[0], col] if second else np.nan}
    return pd.DataFrame(rows).T


PRINTED_MARKS = {"best": "printed_best", "second": "printed_second_best"}  # mark -> catalogue key of the printed marks


def printed_marks_agreement(name: str = "table1") -> dict[tuple[str, str], tuple[str, str, bool]]:
    """For each (column, 'best' | 'second') whose mark the source prints: (printed, computed, equal)."""
    computed = best_and_second(paper.load(name))
    entry = paper.meta(name)
    return {(c, mark): (m, computed.loc[c, mark], m == computed.loc[c, mark])
            for mark, key in PRINTED_MARKS.items() for c, m in entry.get(key, {}).items()}


def printed_second_best_agreement() -> dict[str, tuple[str, str, bool]]:
    """For each column of the report's Table 1 whose underline survived extraction: (printed, computed, equal)."""
    return {c: v for (c, mark), v in printed_marks_agreement("table1").items() if mark == "second"}


def table2_wins(table: pd.DataFrame | None = None, model: str = "AIN-7B", baseline: str = "Qwen2-VL-7B") -> pd.DataFrame:
    """Per ArabicMMLU category (Total excluded): both scores, the gain, and who wins."""
    table = paper.load("table2") if table is None else table
    cats = table.drop(index="Total", errors="ignore")
    out = pd.DataFrame({baseline: cats[baseline], model: cats[model]})
    out["gain"] = (out[model] - out[baseline]).round(4)
    out["winner"] = np.where(out["gain"] > 0, model, np.where(out["gain"] < 0, baseline, "tie"))
    return out


def table3_gains() -> pd.DataFrame:
    """Per English benchmark: computed gain AIN - Qwen2-VL, the printed one, and whether they agree."""
    t = paper.load("table3")
    out = pd.DataFrame({"computed_gain": (t["AIN-7B"] - t["Qwen2-VL-7B"]).round(4), "printed_gain": t["improved_by"]})
    out["agrees"] = [
        (abs(c - p) < 0.005) if not (np.isnan(c) or np.isnan(p)) else None
        for c, p in zip(out["computed_gain"], out["printed_gain"])
    ]
    return out


@dataclass
class SourceCheck:
    """A claim checked against one published source's tables."""

    source: str  # paper.provenance of the tables used
    computed: float | int | str | None
    verdict: str  # "supported", "not supported"
    detail: str


@dataclass
class ClaimCheck:
    """One headline claim, the value the report's own tables give, the verdict, and which sources support it."""

    key: str
    text: str
    published: float | int | str
    computed: float | int | str | None
    verdict: str  # "supported", "not supported", "not checkable" (against the report's own tables)
    detail: str
    source: str = "AIN report"
    supported_by: list[str] = field(default_factory=list)  # every published source whose tables support the claim
    other_sources: list[SourceCheck] = field(default_factory=list)  # the same check on other sources' tables


TABLE1_CLAIMS = ("ain_vs_gpt4o_camel_total_gain", "camel_best_overall")  # claims also checked on other published Tables 1


def table1_sources() -> dict[str, pd.DataFrame]:
    """Every published Table 1, by provenance: the report's first, then the other sources (the AIN README)."""
    return {paper.provenance(n): paper.load(n) for n in ["table1", *paper.alternatives("table1")]}


def table1_source_differences() -> pd.DataFrame:
    """Cells where another published Table 1 prints a different number than the report's (model, column, both values)."""
    report, *others = paper.load("table1"), *(paper.load(n) for n in paper.alternatives("table1"))
    rows = []
    for alt in others:
        for model in alt.index.intersection(report.index):
            for col in alt.columns:
                a, b = float(report.loc[model, col]), float(alt.loc[model, col])
                if a != b:
                    rows.append({"model": model, "column": col, "report": a, "other": b, "difference": round(b - a, 4),
                                 "source": alt.attrs["provenance"]})
    return pd.DataFrame(rows, columns=["model", "column", "report", "other", "difference", "source"])


def table1_models_missing(name: str) -> list[str]:
    """Models of the report's Table 1 that another published Table 1 (`name`) does not list."""
    return [m for m in paper.load("table1").index if m not in paper.load(name).index]


def _table1_checks(t1: pd.DataFrame) -> tuple[dict, dict]:
    """(computed value, detail) of the Table 1 claims, from one published Table 1."""
    top = t1["Total"].idxmax()
    marks = ranks(t1[paper.CAMEL_DOMAINS]).loc["AIN-7B"]
    won = int((marks == "best").sum())
    computed = {"ain_vs_gpt4o_camel_total_gain": round(t1.loc["AIN-7B", "Total"] - t1.loc["GPT-4o", "Total"], 2),
                "camel_best_overall": top, "camel_domains": len([c for c in t1.columns if c != "Total"])}
    details = {
        "ain_vs_gpt4o_camel_total_gain": f"Table 1 Totals: {t1.loc['AIN-7B', 'Total']:.2f} - {t1.loc['GPT-4o', 'Total']:.2f}",
        "camel_best_overall": f"highest Total is {top}; AIN-7B is best in {won} of 8 domains "
            f"(not in: {', '.join(d for d in paper.CAMEL_DOMAINS if marks[d] != 'best')}) among {len(t1)} models"
            + ("; 'across all domains' holds for the Total only" if top == "AIN-7B" and won < len(paper.CAMEL_DOMAINS) else ""),
        "camel_domains": "Table 1 domain columns",
    }
    return computed, details


def _agrees(value, published) -> bool:
    if isinstance(published, str):
        return value == published
    return abs(float(value) - float(published)) < 0.05


def check_claims() -> list[ClaimCheck]:
    """Check every claim that the report's own tables can check (the rest are 'not checkable'); claims on Table 1
    are also checked on every other published Table 1 (the AIN README), and `supported_by` names each source that agrees."""
    claims = paper.claims()
    wins = table2_wins()
    t2 = paper.load("table2")
    (report_name, report_t1), *others = table1_sources().items()
    computed, details = _table1_checks(report_t1)
    computed.update({"arabicmmlu_categories_won": int((wins["winner"] == "AIN-7B").sum()),
                     "arabicmmlu_total_gain": round(t2.loc["Total", "AIN-7B"] - t2.loc["Total", "Qwen2-VL-7B"], 2)})
    details.update({
        "arabicmmlu_categories_won": f"AIN-7B higher in {computed['arabicmmlu_categories_won']} of {len(wins)} categories; "
            f"lower in: {', '.join(wins.index[wins['winner'] == 'Qwen2-VL-7B'])}",
        "arabicmmlu_total_gain": "Table 2 Total row"})
    alt = [(name, *_table1_checks(t1)) for name, t1 in others]
    checks = []
    for key, claim in claims.items():
        if key not in computed:
            checks.append(ClaimCheck(key, claim["text"], claim["value"], None, "not checkable",
                                     "no table of the report holds the data to recompute it"))
            continue
        value, published = computed[key], claim["value"]
        ok = _agrees(value, published)
        other = [SourceCheck(name, comp[key], "supported" if _agrees(comp[key], published) else "not supported", det[key])
                 for name, comp, det in alt if key in TABLE1_CLAIMS]
        supported_by = [report_name] * ok + [o.source for o in other if o.verdict == "supported"]
        detail = details[key]
        if other:
            detail += "; " + "; ".join(f"{o.source}: {o.computed} ({o.verdict})" for o in other)
        checks.append(ClaimCheck(key, claim["text"], published, value, "supported" if ok else "not supported", detail,
                                 report_name, supported_by, other))
    return checks


def result_rows(extra: list[ModelScores] = ()) -> list[Row]:
    """Rows of the results contract for Tables 1-3 and the claims (notebook 06)."""
    rows: list[Row] = []
    t1 = paper.load("table1")
    totals = table1_totals(t1)
    for model, r in totals.iterrows():
        rows.append(Row("Table 1", f"{model}: Total (mean of 8 domains)", r["printed_total"], r["mean_of_domains"], "recomputed",
                        "agrees to 0.01" if r["agrees"] else "printed Total is NOT the mean of the 8 printed domain scores"))
    bs = best_and_second(t1)
    for col, r in bs.iterrows():
        rows.append(Row("Table 1", f"{col}: best", None, f"{r['best']} ({r['best_score']:.2f})", "recomputed",
                        "best is green in the PDF, lost in the extracted text"))
    for col, r in table1_leads(t1).iterrows():
        rows.append(Row("Table 1", f"{col}: lead of {r['best']} over {r['second']} vs sampling noise", None,
                        f"{r['lead']:.2f} pp, noise {r['noise_95']:.2f} pp", "recomputed",
                        f"{r['verdict']} (95 %, independent samples on CAMEL-Bench's question counts)"))
    for col, (printed, comp, same) in printed_second_best_agreement().items():
        rows.append(Row("Table 1", f"{col}: second best (underlined)", printed, comp, "recomputed",
                        "matches the printed underline" if same else "differs from the printed underline"))
    for name in paper.alternatives("table1"):
        alt, where = paper.load(name), paper.provenance(name)
        for model, r in table1_totals(alt).iterrows():
            rows.append(Row("Table 1", f"{model}: Total (mean of 8 domains), {where}", r["printed_total"], r["mean_of_domains"],
                            "recomputed", "agrees to 0.01" if r["agrees"] else "printed Total is NOT the mean of the 8 printed domain scores"))
        for (col, mark), (printed, comp, same) in printed_marks_agreement(name).items():
            rows.append(Row("Table 1", f"{col}: {mark} (medal), {where}", printed, comp, "recomputed",
                            ("matches the printed medal" if same else "differs from the printed medal")
                            + f" among the {len(alt)} models it lists"))
    for _, d in table1_source_differences().iterrows():
        rows.append(Row("Table 1", f"{d['model']}: {d['column']}, report vs {d['source']}", d["report"], None, "published",
                        f"the report prints {d['report']:.2f}, {d['source']} prints {d['other']:.2f} ({d['difference']:+.2f}): "
                        "two published sources disagree"))
    with_lab = camel_table(extra)
    for m in (m for m in extra if m.camel_bench):
        for d in [*paper.CAMEL_DOMAINS, "Total"]:
            how = "mean of the 8 domains" if d == "Total" and "Total" not in m.camel_bench else "as given"
            rows.append(Row("Table 1", f"{m.model} (lab scores): {d}", None, with_lab.loc[m.model, d], "recomputed",
                            f"{how}, from {m.path}"))
    t2 = paper.load("table2")
    wins = table2_wins(t2)
    for cat, r in wins.iterrows():
        rows.append(Row("Table 2", f"{cat}: AIN-7B - Qwen2-VL-7B", None, r["gain"], "recomputed", f"winner {r['winner']}"))
    for m in (m for m in extra if m.arabicmmlu):
        for cat in t2.index:
            if cat in m.arabicmmlu:
                rows.append(Row("Table 2", f"{m.model} (lab scores): {cat}", None, round(m.arabicmmlu[cat], 2), "recomputed",
                                f"from {m.path}; beside AIN-7B {t2.loc[cat, 'AIN-7B']} (published)"))
    for model in ("Qwen2-VL-7B", "AIN-7B"):
        mean = float(t2.drop(index="Total")[model].mean())
        rows.append(Row("Table 2", f"{model}: Total vs unweighted mean of 19 categories", float(t2.loc["Total", model]), round(mean, 2),
                        "recomputed", "the report's Total is not a plain mean of the 19 categories (weighting unstated)"
                        if abs(mean - t2.loc["Total", model]) > 0.01 else "agrees"))
    for bench, r in table3_gains().iterrows():
        if np.isnan(r["computed_gain"]):
            note = "both scores illegible in the source text: missing"
        elif np.isnan(r["printed_gain"]):
            note = "printed gain illegible in the source text; kit value computed from the two rows"
        else:
            note = "agrees with the printed 'Improved by'" if r["agrees"] else "DIFFERS from the printed 'Improved by'"
        rows.append(Row("Table 3", f"{bench}: gain AIN-7B - Qwen2-VL-7B", r["printed_gain"], r["computed_gain"], "recomputed", note))
    for c in check_claims():
        support = f"; supported by: {', '.join(c.supported_by)}" if c.supported_by else ""
        rows.append(Row("Claims", f"{c.key} [{c.verdict}]", c.published, c.computed,
                        "recomputed" if c.computed is not None else "published", f"\"{c.text}\" - {c.detail}{support}"))
        for o in c.other_sources:
            rows.append(Row("Claims", f"{c.key}, on the Table 1 of {o.source} [{o.verdict}]", c.published, o.computed, "recomputed",
                            f"\"{c.text}\" - {o.detail}"))
    return rows
