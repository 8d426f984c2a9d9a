"""The report's translation-model comparison (Tables 4-5): time per sample, throughput, and accuracy.

    from ainkit.reproduction.analyses import compare
    run = compare.measure(client, samples, translate.Settings("en-ar", "ar"), concurrency=8)
    table = compare.comparison_table([run], samples, encoder)    # Tables 4-5, published rows beside the kit's
    rows = compare.result_rows([run], samples, encoder)          # notebook 01's result rows

Accuracy as the report defines it is a native speaker's 0/1 rating of each output against a
reference translation: `write_rating_sheet` exports a CSV to fill in, `read_rating_sheet`
reads it back. Until it is filled, `proxies` gives automatic stand-ins against the kit's
reference translations, always labelled as proxies: chrF and BLEU (sacrebleu, `intl`
tokenizer, which splits Arabic punctuation), and cross-lingual similarity of source and
output under the offline multilingual encoder.

No number from a failure: a time per sample is the mean over the requests that succeeded (n
stated), a throughput is given only when every request of its pass succeeded, and a model
whose first request fails is not sent the rest (`Measurement.failed` says how many failed and
why). `failures` names every model that produced nothing, so the notebook can fail.
`heldout_quality` measures a stand-in on the held-out set (ainkit/data/heldout_en_ar.jsonl).
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

from ainkit.ground import atomic
from ainkit.services.llm import Answer, Client, EndpointUnreachable
from ainkit.reproduction.results import Row
from ainkit.stages.translate import Settings, check, messages_for

RATING_COLUMNS = ["id", "model", "prompt_lang", "source", "reference", "translation", "rating"]


@dataclass
class Measurement:
    """One model x prompt language: outputs and timings."""

    model: str
    prompt_lang: str
    outputs: list[str | None] = field(default_factory=list)
    issues: list[list[str]] = field(default_factory=list)
    total_s: float | None = None  # concurrency 1, the report's loop; None unless every request succeeded
    per_sample_s: float | None = None  # mean over the successful requests (n_ok of them); None when none succeeded
    concurrency: int = 1
    throughput: float | None = None  # samples/s at `concurrency`; None unless every request of that pass succeeded
    throughput_n: int = 0  # samples in the throughput pass (the first of `outputs`; 0: all of them)
    n_ok: int = 0  # requests answered (one at a time)
    failed: int = 0  # requests that failed (one at a time), or were not sent after the first failed
    reasons: dict[str, int] = field(default_factory=dict)  # why they failed
    error: str = ""  # the model could not be run at all (endpoint refused, server died, not installed)

    @property
    def usable(self) -> bool:
        """Whether any request succeeded (a row of numbers can be shown)."""
        return self.n_ok > 0

    def failure_note(self) -> str:
        """'' or how many requests failed and why."""
        if self.error:
            return f"not run: {self.error}"
        if not self.failed:
            return ""
        why = ", ".join(f"{k}: {v}" for k, v in self.reasons.items())
        return f"{self.failed} of {self.failed + self.n_ok} failed ({why})"


def measure(client: Client, samples: list[dict], settings: Settings, concurrency: int = 8,
            throughput_samples: int | None = None) -> Measurement:
    """Translate every sample one at a time (timed), then the first `throughput_samples` (default: all) again at
    `concurrency` (timed); no cache involved."""
    m = Measurement(client.backend.model, settings.prompt_lang)
    reqs = [messages_for(s["en"], settings) for s in samples]
    params = dict(temperature=settings.temperature, max_tokens=settings.max_tokens)
    client.concurrency, client.cache = 1, None  # timings of cached answers would mean nothing
    t0 = time.perf_counter()
    try:
        answers = client.run(reqs[:1], **params)
    except EndpointUnreachable as exc:  # nothing answers there: the first request failed, the rest are not sent
        answers = [Answer(error=f"connection error: {str(exc).split(' (')[0]}")]
    if answers and answers[0].ok:  # the endpoint answers: the rest, one at a time
        answers += client.run(reqs[1:], **params)
    elapsed = time.perf_counter() - t0
    answers += [Answer(error="not sent: the first request failed")] * (len(reqs) - len(answers))
    ok = [a for a in answers if a.ok]
    m.n_ok, m.failed = len(ok), len(answers) - len(ok)
    for a in answers:
        if not a.ok:
            kind = a.error.split(":")[0].split(" (")[0]
            m.reasons[kind] = m.reasons.get(kind, 0) + 1
    m.total_s = elapsed if ok and not m.failed else None
    m.per_sample_s = sum(a.seconds for a in ok) / len(ok) if ok else None
    m.outputs = [a.content if a.ok else None for a in answers]
    m.issues = [check(s["en"], a, settings.target) for s, a in zip(samples, answers)]
    sub = reqs[: throughput_samples or len(reqs)]
    client.concurrency = m.concurrency = concurrency
    m.throughput_n = len(sub)
    if ok and not m.failed:
        t0 = time.perf_counter()
        again = client.run(sub, **params)
        if all(a.ok for a in again):
            m.throughput = len(sub) / (time.perf_counter() - t0)
        else:
            bad = sum(not a.ok for a in again)
            m.reasons["throughput pass"] = bad
    return m


def not_run(model: str, prompt_lang: str, why: str) -> Measurement:
    """A model that could not be run at all: a row that says why, with no number."""
    return Measurement(model, prompt_lang, error=why)


def failures(measurements: list[Measurement]) -> list[str]:
    """One line per model x prompt that produced no answer at all (what makes notebook 01 fail)."""
    return [f"{m.model} / {m.prompt_lang} prompt: {m.failure_note()}" for m in measurements if not m.usable]


def proxies(m: Measurement, samples: list[dict], encoder=None) -> dict[str, float]:
    """Automatic accuracy proxies against the reference translations (0-100 / 0-1), labelled as such by callers."""
    from sacrebleu.metrics import BLEU, CHRF

    if not m.usable:
        return {}
    hyps = [o or "" for o in m.outputs]
    refs = [s["ar"] for s in samples]
    out = {"clean share": sum(not i for i in m.issues) / max(1, len(m.issues)),
           "chrF": CHRF().corpus_score(hyps, [refs]).score,
           "BLEU (intl)": BLEU(tokenize="intl").corpus_score(hyps, [refs]).score}
    if encoder is not None:
        from ainkit.stages.similarity import score_pairs

        out["similarity"] = float(score_pairs(encoder, [s["en"] for s in samples], [h or " " for h in hyps]).mean())
    return out


def write_rating_sheet(path: str | Path, measurements: list[Measurement], samples: list[dict]) -> Path:
    """A CSV for native speakers: one row per output, `rating` left empty (fill 1 = accurate, 0 = fail)."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RATING_COLUMNS)
    w.writeheader()
    for m in measurements:
        for s, out in zip(samples, m.outputs):
            w.writerow({"id": s["id"], "model": m.model, "prompt_lang": m.prompt_lang, "source": s["en"],
                        "reference": s["ar"], "translation": out or "", "rating": ""})
    return atomic.write_text(path, buf.getvalue())


def read_rating_sheet(path: str | Path) -> dict[tuple[str, str], tuple[float, int]]:
    """(model, prompt_lang) -> (accuracy, rated rows) from a filled sheet; bad ratings name their line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rating sheet {path} does not exist")
    sums: dict[tuple[str, str], list[int]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(RATING_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            value = (row["rating"] or "").strip()
            if value == "":
                continue
            if value not in ("0", "1"):
                raise ValueError(f"{path}: line {line}: rating {value!r} must be 0 (fail) or 1 (accurate)")
            sums.setdefault((row["model"], row["prompt_lang"]), []).append(int(value))
    return {k: (sum(v) / len(v), len(v)) for k, v in sums.items()}


# ---------------------------------------------------------------- Tables 4-5 beside the kit's runs (notebook 01)

REPORT_MODELS = ["gpt-4", "gpt-4o", "gpt-4o-mini"]  # the models the report compared (Tables 4-5)
PROMPT_NAMES = {"ar": "Arabic", "en": "English"}  # prompt language -> the report's label
ARTEFACTS = {"ar": "Table 4", "en": "Table 5"}  # the report's table for each prompt language
PROXY_FIELDS = ("chrF", "BLEU (intl)", "clean share", "similarity")


def _kit(measurements: list[Measurement], samples: list[dict], encoder, ratings) -> list[tuple[Measurement, dict, tuple | None]]:
    """(measurement, its proxies, its (accuracy, rated rows) or None) for each measurement."""
    ratings = ratings or {}
    return [(m, proxies(m, samples, encoder), ratings.get((m.model, m.prompt_lang))) for m in measurements]


def comparison_table(measurements: list[Measurement], samples: list[dict], encoder=None,
                     ratings: dict[tuple[str, str], tuple[float, int]] | None = None):
    """Tables 4-5: the report's rows beside the kit's, indexed by (prompt, model); proxies stand in for unrated accuracy."""
    import pandas as pd

    from ainkit.reproduction import paper

    rows = [{"prompt": r["prompt"], "model": f"{r['model']} (published)", "total (s)": r["time_s"],
             "avg s/sample": r["avg_time_per_sample_s"], "accuracy (%)": r["accuracy_pct"]}
            for _, r in paper.load("table4_5").iterrows()]
    nan = float("nan")
    for m, p, acc in _kit(measurements, samples, encoder, ratings):
        rows.append({"prompt": PROMPT_NAMES[m.prompt_lang], "model": f"{m.model} (kit)",
                     "total (s)": nan if m.total_s is None else m.total_s,
                     "avg s/sample": nan if m.per_sample_s is None else m.per_sample_s,
                     "timed n": m.n_ok, "failed": m.failure_note() or "0",
                     "accuracy (%)": 100 * acc[0] if acc else nan,
                     f"samples/s at concurrency {m.concurrency}": nan if m.throughput is None else m.throughput,
                     "throughput samples": m.throughput_n or len(m.outputs),
                     "proxy: clean (%)": 100 * p["clean share"] if p else nan,
                     "proxy: chrF": p.get("chrF", nan), "proxy: BLEU": p.get("BLEU (intl)", nan),
                     "proxy: similarity": p.get("similarity", nan)})
    table = pd.DataFrame(rows).set_index(["prompt", "model"])
    if "failed" in table:
        table["failed"] = table["failed"].fillna("")  # published rows: nothing failed, nothing to say
    return table


def time_figure(table):
    """Bars of the average seconds per sample, one per row of `comparison_table`."""
    from ainkit.services import plots

    flat = table.reset_index()
    fig = plots.grouped_bars([f"{p} prompt · {m}" for p, m in zip(flat["prompt"], flat["model"])],
                             {"average seconds per sample (one at a time)": flat["avg s/sample"].tolist()},
                             title="Tables 4-5: time per sample", ylabel="seconds", horizontal=True)
    plots.source_label(fig, "(published) rows: AIN report Tables 4-5; (kit) rows: measured by notebook 01 on this machine")
    return fig


def result_rows(measurements: list[Measurement], samples: list[dict], encoder=None,
                ratings: dict[tuple[str, str], tuple[float, int]] | None = None) -> list[Row]:
    """Rows of the results contract for Tables 4-5 (notebook 01): the report's, then each kit measurement's."""
    from ainkit.reproduction import paper

    rows = []
    for _, r in paper.load("table4_5").iterrows():
        art = "Table 4" if r["prompt"] == "Arabic" else "Table 5"
        rows.append(Row(art, f"{r['model']}: samples timed (total / average)", None,
                        round(r["time_s"] / r["avg_time_per_sample_s"], 1), "recomputed",
                        "not stated in the report; implied by its own total and average"))
        rows.append(Row(art, f"{r['model']}: avg s/sample", float(r["avg_time_per_sample_s"]), None, "published", "re-listed"))
        rows.append(Row(art, f"{r['model']}: accuracy (%)", float(r["accuracy_pct"]), None, "published", "native-speaker ratings"))
    for m, p, acc in _kit(measurements, samples, encoder, ratings):
        art = ARTEFACTS[m.prompt_lang]
        n = m.throughput_n or len(samples)
        timed = f"{len(samples)} kit samples" + ("" if n == len(samples) else
                                                f"; throughput on the first {n}, {min(n, m.concurrency)} in flight")
        note = f"{m.model} on this machine ({timed}) instead of the report's GPT models"
        if m.failed or m.error:
            rows.append(Row(art, f"kit {m.model}: failed requests", None, m.failed, "failed",
                            f"{m.model}, {m.prompt_lang} prompt: {m.failure_note()}; no time or quality from them"))
            if not m.usable:
                continue
        if m.per_sample_s is not None:
            rows.append(Row(art, f"kit {m.model}: avg s/sample", None, round(m.per_sample_s, 3), "substitute",
                            f"{note}; mean over the {m.n_ok} requests that succeeded"))
        if m.throughput is not None:
            rows.append(Row(art, f"kit {m.model}: samples/s at concurrency {m.concurrency}", None, round(m.throughput, 3),
                            "substitute", note))
        if acc:
            rows.append(Row(art, f"kit {m.model}: accuracy (%)", None, round(100 * acc[0], 1), "substitute",
                            f"{note}; {acc[1]} ratings"))
        for k in PROXY_FIELDS:
            if k in p:
                rows.append(Row(art, f"kit {m.model}: proxy {k}", None, round(p[k], 3), "substitute",
                                f"{note}; PROXY against the kit's reference translations, not the report's accuracy"))
    return rows


# ---------------------------------------------------------------- the stand-ins' quality on the held-out set

def load_heldout() -> list[dict]:
    """The held-out EN->AR references (ainkit/data/heldout_en_ar.jsonl; ainkit/data/README.md says how they were made)."""
    from ainkit.ground.paths import HELDOUT
    from ainkit.services.records import read_records

    return read_records(HELDOUT)


def heldout_quality(client: Client, heldout: list[dict], prompt_lang: str = "ar", max_tokens: int = 128) -> dict:
    """A stand-in's quality on the held-out set: share of answers in Arabic script, chrF against the references,
    and chrF of its own back-translation (AR->EN, same model) against the English source. Each over the requests
    that succeeded, with n; {'error': ...} when none did."""
    from sacrebleu.metrics import CHRF

    from ainkit.stages.translate import MIN_SCRIPT_SHARE, Settings, script_share, translate_texts

    forward = Settings("en-ar", prompt_lang, max_tokens=max_tokens)
    row = {"model": client.backend.model, "prompt": PROMPT_NAMES[prompt_lang], "n": len(heldout), "answered": 0}
    try:
        outputs, _ = translate_texts(client, [h["en"] for h in heldout], forward)
    except EndpointUnreachable as exc:
        return row | {"error": str(exc).split(" (")[0]}
    done = [(h, o) for h, o in zip(heldout, outputs) if o is not None]
    row["answered"] = len(done)
    if not done:
        return row | {"error": client.stats.line()}
    backward = Settings("ar-en", prompt_lang, max_tokens=max_tokens)
    back, _ = translate_texts(client, [o for _, o in done], backward)
    back_done = [(h, b) for (h, _), b in zip(done, back) if b is not None]
    row |= {"in Arabic (%)": 100 * sum(script_share(o, "ar") >= MIN_SCRIPT_SHARE for _, o in done) / len(done),
            "chrF vs reference": CHRF().corpus_score([o for _, o in done], [[h["ar"] for h, _ in done]]).score,
            "back-translated": len(back_done)}
    if back_done:
        row["back-translation chrF"] = CHRF().corpus_score([b for _, b in back_done], [[h["en"] for h, _ in back_done]]).score
    return row


def heldout_rows(quality: list[dict]) -> list[Row]:
    """Result rows for the stand-ins' held-out quality: labelled stand-in, never the report's accuracy."""
    rows = []
    for q in quality:
        what = f"stand-in {q['model']} ({q['prompt']} prompt) on the kit's {q['n']} held-out sentences"
        if "error" in q:
            rows.append(Row("Table 4" if q["prompt"] == "Arabic" else "Table 5", f"held-out {q['model']}: answered", None,
                            0, "failed", f"{what}: no request succeeded ({q['error']})"))
            continue
        for k, n in (("in Arabic (%)", q["answered"]), ("chrF vs reference", q["answered"]),
                     ("back-translation chrF", q.get("back-translated", 0))):
            if k in q:
                rows.append(Row("Table 4" if q["prompt"] == "Arabic" else "Table 5", f"held-out {q['model']}: {k}", None,
                                round(q[k], 1), "substitute", f"{what}, over the {n} answered; a STAND-IN's quality, "
                                "not usable translations and not the report's accuracy"))
    return rows
