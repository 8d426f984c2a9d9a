"""The human-feedback survey of Section 1.3 (Figures 7-9): its published percentages, what they support, and a lab's own survey.

    from ainkit.reproduction.analyses import survey
    survey.country_shares()          # the four named countries + 'other' (the 13 unnamed ones together)
    survey.published_intervals()     # bootstrap intervals on 76 / 15 / 9 under stated assumptions
    survey.position_confound()       # the split if being shown first ("Model 1") had raised the odds
    survey.responses_analysis("runs/survey/responses")   # a survey built with `ainkit survey build`

Only shares the report prints are used; what it leaves out is computed as a remainder
and labelled as such, never split into invented per-country values. The report gives
percentages, "more than 200 participants" and 10 questions, and no raw votes: the intervals
say which assumption each takes, and nothing simulated is presented as data.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ainkit.reproduction import paper
from ainkit.reproduction.results import Row
from ainkit.pipelines.survey import stats

COUNTRY_AR = {"Saudi Arabia": "السعودية", "Egypt": "مصر", "UAE": "الإمارات", "Lebanon": "لبنان"}
OTHER = "Other countries (not named in the report)"
OTHER_AR = "دول أخرى"


def country_shares() -> dict[str, float]:
    """Figure 7: named countries' shares, then the remainder as 'other'."""
    named = paper.shares("figure7")
    other = round(100.0 - sum(named.values()), 2)
    if other < 0:
        raise ValueError(f"figure7 shares sum to {sum(named.values())} > 100")
    return {**named, OTHER: other}


def unnamed_country_count() -> int:
    """How many participating countries the report does not name."""
    return int(paper.meta("figure7")["countries_total"]) - len(paper.shares("figure7"))


def bilingual(label: str) -> str:
    """'English · العربية' for a Figure 7 label."""
    arabic = COUNTRY_AR.get(label) or (OTHER_AR if label == OTHER else "")
    return f"{label} · {arabic}" if arabic else label


def result_rows(analysis=None) -> list[Row]:
    """Rows of the results contract for Figures 7-9 (notebook 07): the published shares, the intervals and position
    sensitivity they support, and with `analysis` (responses_analysis) a lab's own survey."""
    rows = _published_rows() + interval_rows(published_intervals(), position_confound())
    return rows + (response_rows(analysis) if analysis is not None else [])


def _published_rows() -> list[Row]:
    rows = []
    for fig, artefact in (("figure7", "Figure 7"), ("figure8", "Figure 8"), ("figure9", "Figure 9")):
        values = paper.shares(fig)
        for label, value in values.items():
            rows.append(Row(artefact, label, value, None, "published", "re-plotted from the report's percentage"))
        total = round(sum(values.values()), 2)
        if fig == "figure7":
            other = country_shares()[OTHER]
            rows.append(Row(artefact, f"{OTHER} ({unnamed_country_count()} countries)", None, other, "recomputed",
                            "100 minus the named shares; the report gives no per-country split"))
        else:
            rows.append(Row(artefact, "sum of the printed shares", 100.0, total, "recomputed",
                            "adds to 100" if abs(total - 100) < 0.05 else f"adds to {total}, not 100 (rounding in the report)"))
    return rows


SURVEY_QUESTIONS = 10  # the report, Section 1.3: "it consists of 10 questions"
POSITION_ODDS = (1.0, 1.25, 1.5, 2.0, 3.0)  # odds multipliers for the first-shown answer in the sensitivity table


def published_raters() -> int:
    """The report's 'more than 200 participants', as its lower bound."""
    return int(paper.meta("figure7")["participants_at_least"])


def published_intervals(bootstrap: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """95% intervals (percent) on the published Figure 8 split, one block per assumption (ainkit.pipelines.survey.stats)."""
    split = paper.shares("figure8")
    rows = []
    for iv in stats.published_split_intervals(list(split.values()), published_raters(), SURVEY_QUESTIONS, bootstrap, seed):
        for (model, share), lo, hi in zip(split.items(), iv["low"], iv["high"]):
            rows.append({"assumption": iv["assumption"], "n": iv["n"], "model": model, "published %": share,
                         "low %": round(lo, 2), "high %": round(hi, 2)})
    return pd.DataFrame(rows).set_index(["assumption", "model"])


def position_confound(odds: tuple[float, ...] = POSITION_ODDS) -> pd.DataFrame:
    """The published split re-weighted as if being shown first (AIN was always 'Model 1') had multiplied the odds by each factor."""
    split = paper.shares("figure8")
    rows = {f"x{o:g}": dict(zip(split, (round(v, 1) for v in stats.position_adjusted(list(split.values()), o)))) for o in odds}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "first-position odds"
    return frame


def find_key(responses: str | Path, key: str | Path | None = None) -> Path:
    """The survey key: `key` if given, else key.json in the responses folder or the folder above it."""
    if key:
        return Path(key)
    folder = Path(responses)
    for candidate in (folder / "key.json", folder.parent / "key.json"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no key.json in {folder} or {folder.parent}: pass the key `ainkit survey build` wrote")


def responses_analysis(responses: str | Path, key: str | Path | None = None, bootstrap: int = stats.BOOTSTRAP):
    """The full analysis of a survey built with `ainkit survey build` (ainkit.pipelines.survey.analyze.Analysis)."""
    from ainkit.pipelines.survey import analyze

    result, got, _ = analyze.analyze(responses, find_key(responses, key), bootstrap)
    if result is None:
        problems = "; ".join(f"{p.file}: {p.problem}" for p in got.problems[:5])
        raise ValueError(f"{responses}: no usable vote in {len(got.files)} files ({problems})")
    return result


def interval_rows(intervals: pd.DataFrame, confound: pd.DataFrame) -> list[Row]:
    """Rows for the intervals on the published split and the position sensitivity."""
    rows = []
    for (assumption, model), r in intervals.iterrows():
        rows.append(Row("Figure 8", f"{model} (published {r['published %']:g}%): 95% interval, {assumption} (n = {int(r['n'])})",
                        None, f"{r['low %']:.1f}-{r['high %']:.1f}", "recomputed",
                        f"parametric bootstrap on the published %; {stats.PUBLISHED_ASSUMPTIONS[assumption]}"))
    rows.append(Row("Figure 8", "95% interval over questions (would other questions give 76 / 15 / 9?)", None, None, "unavailable",
                    "needs the votes per question, which the report does not publish"))
    first = next(iter(paper.shares("figure8")))
    for odds, r in confound.iterrows():
        if odds != "x1":
            rows.append(Row("Figure 8", f"{first} share if being first multiplied the odds {odds}", None, r[first], "recomputed",
                            "sensitivity, not a measurement: the published survey always showed AIN first"))
    return rows


def response_rows(a) -> list[Row]:
    """Rows for a lab's own survey (not the report's): shares, strengths, position bias, agreement."""
    tag = f"your survey {a.key['survey']}"
    rows = [Row("Figure 8", f"{tag}: {m} share of votes", None, round(r.share, 2), "recomputed",
                f"{r.votes} votes; 95% interval {r.low:.1f}-{r.high:.1f} (raters and questions resampled)")
            for m, r in a.shares.iterrows()]
    rows += [Row("Figure 8", f"{tag}: {m} Bradley-Terry strength", None, round(r.strength, 2), "recomputed",
                 f"Luce pi in %; 95% interval {r.low:.1f}-{r.high:.1f}") for m, r in a.strengths.iterrows()]
    p = a.position
    rows.append(Row("Figure 8", f"{tag}: share of votes for the answer shown first", None, round(100 * p["share"], 2), "recomputed",
                    f"{100 * p['expected']:.1f}% with no position bias; {p['test']}, p = {p['p_value']:.3g}"))
    alpha = a.agreement["alpha"]
    rows.append(Row("Figure 8", f"{tag}: Krippendorff's alpha", None, None if alpha is None else round(alpha, 3),
                    "recomputed", a.agreement["method"]))
    return rows


def problems_frame(a) -> pd.DataFrame:
    """Every problem found in the responses: file, rater, question, problem, what was done."""
    return pd.DataFrame([vars(p) for p in a.got.problems], columns=["file", "rater", "question", "problem", "action"])
