"""ArabicMMLU, zero-shot: 19 categories of the AIN report's Table 2, local logits or API generation.

    ainkit evaluate --benchmark arabic-mmlu --model hf:PATH --data fixture --output runs/mine
    ainkit evaluate --benchmark arabic-mmlu --model openai:gpt-4o-mini --data path/to/ArabicMMLU.csv --output runs/4o

Items follow the schema of `MBZUAI/ArabicMMLU` (ID, Source, Country, Group, Subject, Level, Question,
Context, Answer Key, Option 1-5, is_few_shot). The prompt is English (the authors' README reports
it works best) with options labelled A-E. A local Hugging Face model chooses by the arg-max of its
next-token scores over the option letters (as the authors' code does); an API model generates and
its letter is extracted robustly (Latin A-E or Arabic أ ب ج د هـ, with or without brackets or a
lead-in). Categories: the report names 19 without saying how ArabicMMLU's 40 subjects fold into
them; the kit's rule is: a subject belongs to the Table 2 category its name starts with
("Arabic Language (Grammar)" -> Arabic Language); others are reported as "other".
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

from ainkit.stages.evaluate import text as T
from ainkit.ground.paths import PACKAGE

FIXTURE = PACKAGE / "stages" / "evaluate" / "fixtures" / "arabic_mmlu_fixture.csv"
COLUMNS = ["ID", "Source", "Country", "Group", "Subject", "Level", "Question", "Context", "Answer Key",
           "Option 1", "Option 2", "Option 3", "Option 4", "Option 5", "is_few_shot"]
CATEGORIES = ["Accounting", "Arabic Language", "Biology", "Civics", "Computer Science", "Driving Test", "Economics",
              "General Knowledge", "Geography", "History", "Islamic Studies", "Law", "Management", "Math",
              "Natural Science", "Philosophy", "Physics", "Political Science", "Social Science"]
LETTERS = "ABCDE"


def category(subject: str) -> str:
    s = (subject or "").strip().lower()
    return next((c for c in CATEGORIES if s.startswith(c.lower())), "other")


def _records(fh, path: Path):
    """(physical line where the record starts, row as a dict) for each CSV record: a quoted field may span lines,
    so the record number is not the line; blank lines are skipped, as csv.DictReader does."""
    reader = csv.reader(fh)
    fieldnames = next(reader, None) or []
    missing = [c for c in COLUMNS if c not in fieldnames]
    if missing:
        raise ValueError(f"{path}: not the ArabicMMLU schema, missing {missing}")
    end = reader.line_num  # the last physical line read so far
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a quote never closed, a NUL byte
            raise ValueError(f"{path}: line {end + 1}: not readable as CSV ({exc})") from None
        start, end = end + 1, reader.line_num
        if not row:
            continue
        yield start, {**dict.fromkeys(fieldnames), **dict(zip(fieldnames, row))}


def load(path: str | Path | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Items from a CSV in the published schema ('fixture' or None: the kit's fixture; a UTF-8 BOM is fine); errors name the line."""
    path = FIXTURE if path in (None, "fixture") else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ArabicMMLU data {path} not found (download MBZUAI/ArabicMMLU, or use --data fixture)")
    items, first_line = [], {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for line, row in _records(fh, path):
            if str(row.get("is_few_shot", "0")).strip() in ("1", "True", "true"):
                continue
            options = [row[f"Option {i}"] for i in range(1, 6) if (row.get(f"Option {i}") or "").strip()]
            key = (row["Answer Key"] or "").strip().upper()
            if key not in LETTERS[: len(options)]:
                raise ValueError(f"{path}: line {line}: Answer Key {row['Answer Key']!r} does not name one of {len(options)} options")
            ident = (row["Subject"], row["ID"])  # IDs are unique within a subject (per-subject files restart them)
            if ident in first_line:
                raise ValueError(f"{path}: line {line}: duplicate ID {row['ID']!r} in subject {row['Subject']!r} "
                                 f"(first at line {first_line[ident]})")
            first_line[ident] = line
            items.append({"id": row["ID"], "subject": row["Subject"], "category": category(row["Subject"]),
                          "question": row["Question"], "context": row.get("Context") or "", "options": options, "answer": key})
            if limit and len(items) >= limit:
                break
    return items


def prompt(item: dict[str, Any]) -> str:
    """The zero-shot prompt: instruction, context, question, lettered options, 'Answer:'."""
    lines = ["The following is a multiple choice question. Answer with the letter of the correct option only.", ""]
    if item["context"]:
        lines += [item["context"], ""]
    lines.append(item["question"])
    lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(item["options"])]
    lines.append("Answer:")
    return "\n".join(lines)


def prompt_hash(item: dict[str, Any]) -> str:
    return hashlib.sha256(prompt(item).encode("utf-8")).hexdigest()[:16]


def extract(answer: str | None, n_options: int) -> str | None:
    """The Latin letter an API answer picks, or None."""
    letter = T.option_letter(answer or "")
    if letter is None:
        return None
    latin = T.ARABIC_TO_LATIN.get(letter, letter.upper())
    return latin if latin in LETTERS[:n_options] else None


class LogitsChooser:
    """Zero-shot choice by a local causal LM: arg-max of next-token logits over the option letters."""

    def __init__(self, path: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
        self.letter_ids = []
        for letter in LETTERS:
            ids = self.tok.encode(" " + letter, add_special_tokens=False) or self.tok.encode(letter, add_special_tokens=False)
            self.letter_ids.append(ids[-1])

    def choose(self, item: dict[str, Any]) -> tuple[str, list[float]]:
        enc = self.tok(prompt(item), return_tensors="pt")
        with self.torch.no_grad():
            logits = self.model(**enc).logits[0, -1]
        scores = [float(logits[i]) for i in self.letter_ids[: len(item["options"])]]
        return LETTERS[max(range(len(scores)), key=scores.__getitem__)], scores


def summarize(preds: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy (0-1) per category and in total (micro-average over items, like the report's Total)."""
    per: dict[str, list[int]] = {}
    for p in preds:
        per.setdefault(p["category"], []).append(int(p["correct"]))
    cats = {c: {"accuracy": sum(v) / len(v), "n": len(v)} for c, v in sorted(per.items())}
    n = len(preds)
    return {"categories": cats, "total": {"accuracy": sum(int(p["correct"]) for p in preds) / n if n else None, "n": n},
            "unanswered": sum(p["prediction"] is None for p in preds)}
