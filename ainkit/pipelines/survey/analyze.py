"""`ainkit survey analyze`: the survey's responses, de-blinded, as shares, strengths, position bias, agreement and Figures 7-9.

    ainkit survey analyze --responses runs/survey/responses --key runs/survey/key.json --output runs/survey/analysis

Writes OUTPUT/analysis.json (every number below, with how it was computed), votes.csv (one row a vote:
rater, question, model picked, position, models in the order shown), problems.csv (file, rater, question,
problem, action: nothing is dropped silently), summary.md, and fig07/fig08/fig09 *_responses.png/.pdf.
Intervals: 95% percentile bootstrap resampling raters and questions (ainkit.pipelines.survey.stats).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ainkit.ground import atomic
from ainkit.services import plots
from ainkit.services.records import RecordError
from ainkit.services.tables import markdown_table
from ainkit.pipelines.sidebyside import FolderOutputs
from ainkit.pipelines.survey import demographics, stats
from ainkit.pipelines.survey.build import load_key
from ainkit.pipelines.survey.responses import NOT_GIVEN, Collected, read

FIGURES = {"fig07": "fig07_survey_nationality_responses", "fig08": "fig08_model_preference_responses",
           "fig09": "fig09_dialect_preference_responses", "strengths": "fig08_model_strengths_responses"}


@dataclass
class Analysis:
    key: dict[str, Any]
    got: Collected
    shares: pd.DataFrame          # model -> votes, share, low, high (percent)
    strengths: pd.DataFrame       # model -> strength, low, high (Luce pi, percent)
    position: dict[str, Any]
    by_position: pd.DataFrame     # position shown -> votes, share
    agreement: dict[str, Any]
    by_country: pd.DataFrame
    by_domain: pd.DataFrame
    by_question: pd.DataFrame
    countries: dict[str, int]     # raters per country label
    msa: dict[str, int]           # raters per Figure 9 option
    bootstrap: int
    seed: int

    @property
    def source(self) -> str:
        return (f"computed from {len(self.got.raters)} raters' responses to survey {self.key['survey']} "
                f"({len(self.got.set_aside)} files set aside; problems.csv)")

    def figures(self) -> dict[str, Any]:
        """name -> matplotlib figure (Figures 7, 8, 9 from the responses, and the strengths with intervals)."""
        figs = {}
        n = len(self.got.raters)
        fig = plots.pie(self.countries, title=f"Figure 7 from responses: raters' countries · جنسية المشاركين (n = {n})")
        plots.source_label(fig, self.source)
        figs[FIGURES["fig07"]] = fig
        labels = {m: f"{m} (95% CI {r.low:.1f}-{r.high:.1f}%)" for m, r in self.shares.iterrows()}
        fig = plots.pie({labels[m]: r.share for m, r in self.shares.iterrows()},
                        title=f"Figure 8 from responses: model preference · تفضيل النماذج ({int(self.shares.votes.sum())} votes)")
        plots.source_label(fig, self.source + "; intervals: bootstrap over raters and questions")
        figs[FIGURES["fig08"]] = fig
        opts = demographics.msa_options()
        keys = [k for k in opts if k in self.msa] + [k for k in self.msa if k not in opts]
        fig = plots.grouped_bars([f"{opts[k][1]}\n{k}" if k in opts else k for k in keys],
                                 {"share of raters (%)": [100 * self.msa[k] / max(n, 1) for k in keys]},
                                 title="Figure 9 from responses: MSA or local dialect · الفصحى أم اللهجة",
                                 ylabel="% of raters", horizontal=True, fmt="{:.1f}%")
        plots.source_label(fig, self.source)
        figs[FIGURES["fig09"]] = fig
        figs[FIGURES["strengths"]] = self._strengths_figure()
        return figs

    def _strengths_figure(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(self.strengths) + 1.4))
        y = np.arange(len(self.strengths))
        for i, (m, r) in enumerate(self.strengths.iterrows()):
            ax.errorbar(r.strength, i, xerr=[[r.strength - r.low], [r.high - r.strength]], fmt="o", color=plots.color(i), capsize=4)
            ax.text(r.high, i, f"  {r.strength:.1f}% [{r.low:.1f}, {r.high:.1f}]", va="center", fontsize=8)
        ax.axvline(100 / len(self.strengths), color="#999999", linestyle="--", linewidth=1)
        ax.set_yticks(y, [plots.ar(m) for m in self.strengths.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("Bradley-Terry (Luce) strength: % chance of being picked from all answers")
        ax.set_title(plots.ar("Model strengths from the survey · قوة النماذج"))
        plots.source_label(fig, self.source + "; dashed: no preference")
        return fig

    def to_json(self) -> dict[str, Any]:
        def frame(df):
            return {str(k): {c: (None if pd.isna(v) else v) for c, v in row.items()} for k, row in df.to_dict("index").items()}

        return {"survey": self.key["survey"], "models": self.key["models"], "raters_used": len(self.got.raters),
                "files": len(self.got.files), "files_set_aside": self.got.set_aside, "votes": len(self.got.votes),
                "problems": len(self.got.problems), "interval": f"{int(stats.LEVEL * 100)}% percentile bootstrap, "
                f"{self.bootstrap} resamples of raters and questions (seed {self.seed})",
                "shares_percent": frame(self.shares), "strengths_percent": frame(self.strengths),
                "strengths_method": "Luce (multi-way Bradley-Terry) ML by MM, pi summing to 100%",
                "position_bias": self.position, "by_position": frame(self.by_position), "agreement": self.agreement,
                "by_country": frame(self.by_country), "by_domain": frame(self.by_domain), "by_question": frame(self.by_question),
                "countries": self.countries, "msa": self.msa}

    def summary_md(self) -> str:
        p = self.position
        a = self.agreement
        alpha_text = "undefined" if a["alpha"] is None else f"{a['alpha']:.3f}"
        lines = [f"# Survey {self.key['survey']}: analysis", "",
                 f"{len(self.got.files)} response files, {len(self.got.raters)} raters used, {len(self.got.votes)} votes; "
                 f"{len(self.got.set_aside)} files set aside and {len(self.got.problems)} problems listed in problems.csv.", "",
                 "## Preference shares (% of votes, 95% bootstrap interval over raters and questions)", "",
                 markdown_table(self.shares.round(2)), "", "## Bradley-Terry (Luce) strengths (%)", "",
                 markdown_table(self.strengths.round(2)), "", "## Position bias", "",
                 f"The answer shown first got {p['first']} of {p['votes']} votes ({100 * p['share']:.1f}%, interval "
                 f"{100 * p['low']:.1f}-{100 * p['high']:.1f}%) against {100 * p['expected']:.1f}% expected with no bias; "
                 f"{p['test']}: p = {p['p_value']:.4g}.", "", markdown_table(self.by_position.round(2)), "",
                 "## Agreement", "", f"Krippendorff's alpha: {alpha_text} ({a['method']}).", "",
                 "## By country", "", markdown_table(self.by_country.round(2)), "", "## By domain", "",
                 markdown_table(self.by_domain.round(2)), "", "## By question", "", markdown_table(self.by_question.round(2)), ""]
        return "\n".join(lines)


def _split(votes, models: list[str], group) -> pd.DataFrame:
    """Votes grouped by `group(vote)`: count and % per model."""
    rows: dict[str, dict[str, float]] = {}
    for v in votes:
        g = rows.setdefault(group(v), {"votes": 0, **{m: 0.0 for m in models}})
        g["votes"] += 1
        g[v.model] += 1
    for g in rows.values():
        for m in models:
            g[m] = 100 * g[m] / g["votes"]
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def analyze(responses: str | Path, key_path: str | Path, bootstrap: int = stats.BOOTSTRAP, seed: int = 0) -> tuple[Analysis | None, Collected, dict]:
    """Read and check the responses, then compute everything; (None, collected, key) when no vote is usable."""
    key = load_key(key_path)
    got = read(responses, key)
    if not got.votes:
        return None, got, key
    models = list(key["models"])
    raters = sorted(got.raters)
    questions = [q["id"] for q in key["questions"]]
    ri, qi, mi = ({x: i for i, x in enumerate(xs)} for xs in (raters, questions, models))
    cube = np.zeros((len(raters), len(questions), len(models)))
    rel = np.full((len(raters), len(questions)), np.nan)
    for v in got.votes:
        cube[ri[v.rater], qi[v.question], mi[v.model]] = 1
        rel[ri[v.rater], qi[v.question]] = mi[v.model]
    sh = stats.shares_interval(cube, bootstrap, seed)
    counts = cube.sum(axis=(0, 1))
    shares = pd.DataFrame({"votes": counts.astype(int), "share": 100 * sh["share"], "low": 100 * sh["low"], "high": 100 * sh["high"]},
                          index=pd.Index(models, name="model"))
    st = stats.strengths_interval([(ri[v.rater], qi[v.question], mi[v.model], [mi[m] for m in v.shown]) for v in got.votes],
                                  len(raters), len(questions), len(models), bootstrap, seed)
    strengths = pd.DataFrame({"strength": 100 * st["strength"], "low": 100 * st["low"], "high": 100 * st["high"]},
                             index=pd.Index(models, name="model"))
    position = stats.position_bias([v.position == 1 for v in got.votes], [len(v.shown) for v in got.votes],
                                   [ri[v.rater] for v in got.votes], [qi[v.question] for v in got.votes], bootstrap, seed)
    pos = pd.Series([v.position for v in got.votes]).value_counts().sort_index()
    by_position = pd.DataFrame({"votes": pos, "share": 100 * pos / pos.sum()}).rename_axis("position shown")
    value, method = stats.alpha(rel)
    by_country = _split(got.votes, models, lambda v: demographics.country_label(got.raters[v.rater].country)
                        if got.raters[v.rater].country != NOT_GIVEN else NOT_GIVEN)
    by_country.insert(0, "raters", [sum(1 for r in got.raters.values() if (demographics.country_label(r.country)
                                        if r.country != NOT_GIVEN else NOT_GIVEN) == c) for c in by_country.index])
    by_domain = _split(got.votes, models, lambda v: v.domain)
    by_question = _split(got.votes, models, lambda v: v.question)
    countries: dict[str, int] = {}
    msa: dict[str, int] = {}
    for r in got.raters.values():
        label = demographics.country_label(r.country) if r.country != NOT_GIVEN else NOT_GIVEN
        countries[label] = countries.get(label, 0) + 1
        msa[r.msa] = msa.get(r.msa, 0) + 1
    countries = dict(sorted(countries.items(), key=lambda kv: (-kv[1], kv[0])))
    return Analysis(key, got, shares, strengths, position, by_position, {"alpha": value, "method": method}, by_country,
                    by_domain, by_question, countries, msa, bootstrap, seed), got, key


def problems_csv(got: Collected) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "rater", "question", "problem", "action"])
    for p in got.problems:
        w.writerow([p.file, p.rater, p.question, p.problem, p.action])
    return buf.getvalue()


def votes_csv(got: Collected) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "rater", "question", "domain", "model", "position", "shown"])
    for v in got.votes:
        w.writerow([v.file, v.rater, v.question, v.domain, v.model, v.position, " | ".join(v.shown)])
    return buf.getvalue()


def run(responses: str | Path, key_path: str | Path, output: str | Path, bootstrap: int = stats.BOOTSTRAP, seed: int = 0) -> Analysis:
    """Analyse and write every output; problems.csv is written even when no response is usable (then it raises)."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise RecordError(f"{out}: exists and is not a folder")
    result, got, key = analyze(responses, key_path, bootstrap, seed)
    atomic.write_text(out / "problems.csv", problems_csv(got))
    if result is None and not got.files:
        raise RecordError(f"{responses}: no response files (*.json) found; the form's Save button writes one per rater")
    if result is None:
        raise RecordError(f"{responses}: no usable vote in {len(got.files)} response files ({len(got.set_aside)} set aside; "
                          f"{len(got.problems)} problems in {out / 'problems.csv'})")
    atomic.write_text(out / "votes.csv", votes_csv(got))
    atomic.write_json(out / "analysis.json", result.to_json())
    atomic.write_text(out / "summary.md", result.summary_md())
    folder = FolderOutputs(out.resolve())
    for name, fig in result.figures().items():
        plots.save(fig, name, "ainkit survey analyze", folder)
    return result


def line(a: Analysis, output: str | Path) -> str:
    """The one-line summary the command prints."""
    top = ", ".join(f"{m} {r.share:.1f}% [{r.low:.1f}, {r.high:.1f}]" for m, r in a.shares.iterrows())
    return (f"[survey analyze] {len(a.got.files)} files, {len(a.got.raters)} raters, {len(a.got.votes)} votes; "
            f"{len(a.got.set_aside)} files set aside, {len(a.got.problems)} problems ({Path(output) / 'problems.csv'}); "
            f"shares {top}; first position {100 * a.position['share']:.1f}% (p = {a.position['p_value']:.3g}); {output}")
