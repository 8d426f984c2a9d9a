"""`ainkit survey build`: the blind form (OUTPUT/form/survey.html) and, apart from it, the key that de-blinds it.

    ainkit survey build --items ainkit/stages/evaluate/fixtures/camel_bench_fixture.jsonl \
        --answers ainkit/stages/evaluate/fixtures/camel_answers/*.jsonl --raters 30 --output runs/survey

Writes:
- form/survey.html: publish this (any static host, or send the file). Each answer carries a random token
  (secrets.token_hex, never derived from the seed or a name); the order each rater sees is seeded by
  survey seed + rater code + question (ainkit.pipelines.survey.order) and recorded in the response.
- key.json: token -> model for every question, the rater codes issued, the seed, the form's sha256. Keep it
  private: whoever has it can de-blind the form.
- raters.csv: one code per rater with a link (survey.html?rater=CODE). A response from a code not issued is
  reported as 'unknown rater' by `survey analyze`.

Every question must be answered by every model (a missing answer is refused, naming the file and item):
the raters choose among the same set everywhere, which is what the share and Bradley-Terry figures assume.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ainkit.ground import atomic
from ainkit.services.records import RecordError
from ainkit.pipelines.sidebyside import FIXTURE_ITEMS, answer_text, direction_runs, domain_of, image_data_uri, load_answers, load_items
from ainkit.pipelines.survey import demographics, form

KEY_KIND = "ainkit-survey-key"
TITLE = ("Which answer is closest to the correct one?", "أيّ الإجابات أقرب إلى الإجابة الصحيحة؟")
MAX_RATERS = 100_000


def rater_codes(n: int) -> list[str]:
    """n codes 'R0001-3fa2c1': a running number (for the researcher) and 24 random bits (so codes are not guessable)."""
    width = max(3, len(str(n)))
    return [f"R{i:0{width}d}-{secrets.token_hex(3)}" for i in range(1, n + 1)]


def build(answers: Sequence[str], output: str | Path, items: str | Path | None = None, names: Sequence[str] | None = None,
          raters: int = 20, seed: str | None = None, limit: int | None = None, codes: Sequence[str] | None = None) -> dict[str, Any]:
    """Write the form, the key and the rater list; returns a summary. `codes` replaces the generated rater codes."""
    if len(answers) < 2:
        raise RecordError("--answers: a side-by-side survey needs the answers of at least two models")
    if not codes and not 1 <= raters <= MAX_RATERS:
        raise RecordError(f"--raters {raters}: give 1 to {MAX_RATERS:,}")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise RecordError(f"{out}: exists and is not a folder")
    models = load_answers(answers, names)
    item_map = load_items(items or FIXTURE_ITEMS)
    keys = list(item_map)[:limit] if limit else list(item_map)
    for k in keys:
        for m in models:
            if k not in m.rows:
                raise RecordError(f"{m.path}: no answer for item {k[0]}/{k[1]} ({item_map[k]['_where']}); every model must "
                                  "answer every question (pass an items file with only the questions to ask)")
    seed = seed or secrets.token_hex(8)
    questions, key_questions = [], []
    for n, k in enumerate(keys, 1):
        it = item_map[k]
        qid = f"q{n:02d}"
        tokens = {}
        while len(tokens) < len(models):
            tokens.setdefault(secrets.token_hex(4), None)
        slots = dict(zip(sorted(tokens), secrets.SystemRandom().sample(models, len(models))))  # token -> model, paired at random
        ref = it.get("answer")
        questions.append({
            "id": qid, "question": direction_runs(it["question"]),  # [[dir, text], ...]: each run laid out in its direction
            "reference": None if ref is None else direction_runs(str(ref)),
            "images": [image_data_uri(p, it["_where"]) for p in it.get("images", [])],
            "answers": [{"token": t, "text": direction_runs(answer_text(m.rows[k].get("prediction")))} for t, m in slots.items()]})
        key_questions.append({"id": qid, "dataset": k[0], "item": k[1], "domain": domain_of(k[0], it),
                              "slots": {t: m.name for t, m in slots.items()}})
    survey_id = hashlib.sha256(json.dumps({"seed": seed, "questions": questions}, sort_keys=True).encode()).hexdigest()[:12]
    data = {"survey": survey_id, "seed": seed, "questions": questions}
    page = form.render(data, demographics.COUNTRIES, demographics.msa_options(), demographics.MSA_QUESTION, TITLE)
    form_path = atomic.write_text(out / "form" / "survey.html", page)
    issued = list(codes) if codes else rater_codes(raters)
    bad = [c for c in issued if not c or not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in c) or len(c) > 40]
    if bad or len(set(issued)) != len(issued):
        raise RecordError(f"rater codes must be distinct, ASCII letters, digits and '-', at most 40 long: {bad[:3] or 'duplicates'}")
    key = {"kind": KEY_KIND, "format": form.FORMAT, "survey": survey_id, "seed": seed, "built_at": datetime.now(timezone.utc).isoformat(),
           "models": [m.name for m in models], "sources": {m.name: str(m.path) for m in models},
           "form": "form/survey.html", "form_sha256": hashlib.sha256(page.encode("utf-8")).hexdigest(),
           "raters": issued, "questions": key_questions}
    key_path = atomic.write_json(out / "key.json", key)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rater", "link"])
    for c in issued:
        w.writerow([c, f"survey.html?rater={c}"])
    raters_path = atomic.write_text(out / "raters.csv", buf.getvalue())
    return {"survey": survey_id, "questions": len(questions), "models": [m.name for m in models], "raters": len(issued),
            "form": str(form_path), "key": str(key_path), "rater_list": str(raters_path), "form_bytes": len(page.encode("utf-8"))}


def line(summary: dict[str, Any]) -> str:
    """The one-line summary the command prints."""
    return (f"[survey build] survey {summary['survey']}: {summary['questions']} questions x {len(summary['models'])} models "
            f"({', '.join(summary['models'])}), {summary['raters']} rater codes; form {summary['form']} "
            f"({summary['form_bytes']:,} bytes, publish it); key {summary['key']} (keep it private); codes {summary['rater_list']}")


def load_key(path: str | Path) -> dict[str, Any]:
    """A key written by `build`, checked; a missing file or another kind of JSON raises, naming it."""
    path = Path(path)
    try:
        key = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such key file (survey build writes OUTPUT/key.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable survey key ({exc})") from None
    if not isinstance(key, dict) or key.get("kind") != KEY_KIND:
        raise RecordError(f"{path}: not a survey key (kind {key.get('kind') if isinstance(key, dict) else None!r}, expected {KEY_KIND!r})")
    for field in ("survey", "seed", "models", "raters", "questions"):
        if field not in key:
            raise RecordError(f"{path}: survey key without {field!r}")
    return key
