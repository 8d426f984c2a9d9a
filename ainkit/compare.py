"""The report's translation-model comparison (Tables 4-5): time per sample, throughput, and accuracy.

    from ainkit import compare
    run = compare.measure(client, samples, translate.Settings("en-ar", "ar"), concurrency=8)

Accuracy as the report defines it is a native speaker's 0/1 rating of each output against a
reference translation: `write_rating_sheet` exports a CSV to fill in, `read_rating_sheet`
reads it back. Until it is filled, `proxies` gives automatic stand-ins against the kit's
reference translations, always labelled as proxies: chrF and BLEU (sacrebleu, `intl`
tokenizer, which splits Arabic punctuation), and cross-lingual similarity of source and
output under the offline multilingual encoder.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

from ainkit import atomic
from ainkit.llm import Client
from ainkit.translate import Settings, check, messages_for

RATING_COLUMNS = ["id", "model", "prompt_lang", "source", "reference", "translation", "rating"]


@dataclass
class Measurement:
    """One model x prompt language: outputs and timings."""

    model: str
    prompt_lang: str
    outputs: list[str | None] = field(default_factory=list)
    issues: list[list[str]] = field(default_factory=list)
    total_s: float = 0.0  # concurrency 1, the report's loop
    per_sample_s: float = 0.0
    concurrency: int = 1
    throughput: float = 0.0  # samples/s at `concurrency`


def measure(client: Client, samples: list[dict], settings: Settings, concurrency: int = 8,
            throughput_samples: int | None = None) -> Measurement:
    """Translate every sample one at a time (timed), then again at `concurrency` (timed); no cache involved."""
    m = Measurement(client.backend.model, settings.prompt_lang)
    reqs = [messages_for(s["en"], settings) for s in samples]
    params = dict(temperature=settings.temperature, max_tokens=settings.max_tokens)
    client.concurrency, client.cache = 1, None  # timings of cached answers would mean nothing
    t0 = time.perf_counter()
    answers = client.run(reqs, **params)
    m.total_s = time.perf_counter() - t0
    m.per_sample_s = m.total_s / max(1, len(samples))
    m.outputs = [a.content if a.ok else None for a in answers]
    m.issues = [check(s["en"], a, settings.target) for s, a in zip(samples, answers)]
    sub = reqs[: throughput_samples or len(reqs)]
    client.concurrency = m.concurrency = concurrency
    t0 = time.perf_counter()
    client.run(sub, **params)
    m.throughput = len(sub) / (time.perf_counter() - t0)
    return m


def proxies(m: Measurement, samples: list[dict], encoder=None) -> dict[str, float]:
    """Automatic accuracy proxies against the reference translations (0-100 / 0-1), labelled as such by callers."""
    from sacrebleu.metrics import BLEU, CHRF

    hyps = [o or "" for o in m.outputs]
    refs = [s["ar"] for s in samples]
    out = {"clean share": sum(not i for i in m.issues) / max(1, len(m.issues)),
           "chrF": CHRF().corpus_score(hyps, [refs]).score,
           "BLEU (intl)": BLEU(tokenize="intl").corpus_score(hyps, [refs]).score}
    if encoder is not None:
        from ainkit.similarity import score_pairs

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
