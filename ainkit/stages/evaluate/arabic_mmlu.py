"""ArabicMMLU, zero-shot: 19 categories of the AIN report's Table 2, local log-likelihoods or API generation.

    ainkit evaluate --benchmark arabic-mmlu --model hf:PATH --data fixture --output runs/mine
    ainkit evaluate --benchmark arabic-mmlu --model hf:PATH --mmlu-prompt lighteval --output runs/mine-lighteval
    ainkit evaluate --benchmark arabic-mmlu --model openai:gpt-4o-mini --data path/to/ArabicMMLU.csv --output runs/4o

Items follow the schema of `MBZUAI/ArabicMMLU` (ID, Source, Country, Group, Subject, Level, Question,
Context, Answer Key, Option 1-5, is_few_shot); Level is one of the published codes (Primary, Middle, High,
Univ, Prof) or empty. Four formulations (`--mmlu-prompt`), each a prompt text, the choice strings scored
after it, and the scoring rule:

- `authors` (default): the ArabicMMLU authors' English prompt, as lm-evaluation-harness's `arabicmmlu` task
  renders it: "This is a {Subject} question for {level} in {Country}. Select the correct answer!\n\nQuestion:
  {Context\n\n}{Question}\n{A. opt ...}\n\nAnswer:"; choices " A" ... (lm-eval's target delimiter " " before the
  letter); accuracy by the highest log-likelihood. Template facts from mbzuai-nlp/ArabicMMLU @ 8d5b148
  `util_prompt.py` (`prepare_data_en`, `level_en`, `alpa_en`) and EleutherAI/lm-evaluation-harness @ 4e7e0d4
  `lm_eval/tasks/arabicmmlu/utils.py` (`doc_to_text`, `doc_to_choice`) and `_default_arabicmmlu_template_yaml`
  (`doc_to_target: "Answer Key"`, metric `acc`).
- `authors-script`: the same text as the authors' own script scores it (`evaluate.py` with `--lora_weights x`,
  `--lang_prompt en --lang_alpa en`): the prompt ends "Answer: " (with the space) and the choice is the arg-max
  of the next-token logits of the bare letters, each letter's id `tokenizer.encode(letter)[-1]` (util_compute.py
  `predict_classification_causal_by_letter`). Only where the space sits differs from `authors`, and a model
  can choose differently.
- `kit`: the kit's earlier prompt: one fixed English instruction line, the context, the question, "A. opt"
  lines, "Answer:"; choices " A" ...; highest log-likelihood.
- `lighteval`: lighteval's community Arabic task (huggingface/lighteval @ 3fd1526,
  `src/lighteval/tasks/multilingual/tasks/arabic.py` `arabic_mmlu_pfn`, added in PR #372): an Arabic
  instruction, the question (no context: the prompt function leaves it out), options labelled with Arabic
  letters أ ب ج د هـ, "الإجابة:"; the choices are the bare Arabic letters, scored by log-likelihood divided by
  the choice's length in characters (`LogProbCharNorm`, so هـ counts 2).

A local Hugging Face model (`hf:PATH`) is scored the way lm-evaluation-harness (0.4.x, `HFLM`) scores a
`multiple_choice` task: trailing spaces of the prompt move to the continuation, the prompt and prompt+choice are
encoded with the tokenizer's default special tokens, the choice's tokens are what the joint encoding adds, and its
log-likelihood is the sum of their log-softmax scores; the first maximum wins. An API model generates and its
letter is extracted robustly (Latin A-E or Arabic أ ب ج د هـ, with or without brackets or a lead-in).
Categories: the report names 19 without saying how ArabicMMLU's 40 subjects fold into them; the kit's rule is:
a subject belongs to the Table 2 category its name starts with ("Arabic Language (Grammar)" -> Arabic
Language); others are reported as "other".
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ainkit.stages.evaluate import text as T
from ainkit.ground.paths import PACKAGE

FIXTURE = PACKAGE / "stages" / "evaluate" / "fixtures" / "arabic_mmlu_fixture.csv"
COLUMNS = ["ID", "Source", "Country", "Group", "Subject", "Level", "Question", "Context", "Answer Key",
           "Option 1", "Option 2", "Option 3", "Option 4", "Option 5", "is_few_shot"]
CATEGORIES = ["Accounting", "Arabic Language", "Biology", "Civics", "Computer Science", "Driving Test", "Economics",
              "General Knowledge", "Geography", "History", "Islamic Studies", "Law", "Management", "Math",
              "Natural Science", "Philosophy", "Physics", "Political Science", "Social Science"]
LETTERS = "ABCDE"
# The published Level codes and their English words (the authors' `level_en`; lm-eval's utils.py the same).
LEVELS = {"Primary": "primary school", "Middle": "middle school", "High": "high school", "Univ": "university",
          "Prof": "professional"}
_LEVEL_HINTS = {"primary school": "Primary", "middle school": "Middle", "high school": "High", "university": "Univ",
                "professional": "Prof"}


def category(subject: str) -> str:
    s = (subject or "").strip().lower()
    return next((c for c in CATEGORIES if s.startswith(c.lower())), "other")


def csv_records(fh, path: Path, required: tuple[str, ...] | list[str] = COLUMNS):
    """(physical line where the record starts, row as a dict) for each CSV record: a quoted field may span lines,
    so the record number is not the line; blank lines are skipped, as csv.DictReader does. ValueError naming the
    columns of `required` the header lacks."""
    reader = csv.reader(fh)
    fieldnames = next(reader, None) or []
    missing = [c for c in required if c not in fieldnames]
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


def _level(raw: str | None, path: Path, line: int) -> str:
    """The row's Level as a published code ('' when empty); anything else is refused, naming the line."""
    level = (raw or "").strip()
    if level and level not in LEVELS:
        hint = _LEVEL_HINTS.get(level.lower())
        raise ValueError(f"{path}: line {line}: Level {raw!r} is not a published ArabicMMLU level code "
                         f"({', '.join(LEVELS)}, or empty)" + (f"; write {hint!r}" if hint else ""))
    return level


def load(path: str | Path | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Items from a CSV in the published schema ('fixture' or None: the kit's fixture; a UTF-8 BOM is fine); errors name the line."""
    path = FIXTURE if path in (None, "fixture") else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ArabicMMLU data {path} not found (download MBZUAI/ArabicMMLU, or use --data fixture)")
    items, first_line = [], {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for line, row in csv_records(fh, path):
            if str(row.get("is_few_shot", "0")).strip() in ("1", "True", "true"):
                continue
            cells = [(row.get(f"Option {i}") or "") for i in range(1, 6)]
            filled = [bool(c.strip()) for c in cells]
            if any(filled[i] and not filled[i - 1] for i in range(1, 5)):  # lm-eval's text stops at the first gap
                raise ValueError(f"{path}: line {line}: an option follows an empty one "
                                 f"(Option {filled.index(False) + 1} is empty); fill the options in order")
            options = [c for c, f in zip(cells, filled) if f]
            if len(options) < 2:
                raise ValueError(f"{path}: line {line}: {len(options)} option(s); an item needs at least 2 "
                                 "(Option 1, Option 2, ...)")
            key = (row["Answer Key"] or "").strip().upper()
            if len(key) != 1 or key not in LETTERS[: len(options)]:
                raise ValueError(f"{path}: line {line}: Answer Key {row['Answer Key']!r} does not name one of {len(options)} options")
            ident = (row["Subject"], row["ID"])  # IDs are unique within a subject (per-subject files restart them)
            if ident in first_line:
                raise ValueError(f"{path}: line {line}: duplicate ID {row['ID']!r} in subject {row['Subject']!r} "
                                 f"(first at line {first_line[ident]})")
            first_line[ident] = line
            items.append({"id": row["ID"], "subject": row["Subject"], "category": category(row["Subject"]),
                          "level": _level(row.get("Level"), path, line), "country": (row.get("Country") or "").strip(),
                          "question": row["Question"], "context": row.get("Context") or "", "options": options,
                          "answer": key})
            if limit and len(items) >= limit:
                break
    if not items:
        raise ValueError(f"{path}: no items (only a header, or every row is a few-shot example)")
    return items


def authors_prompt(item: dict[str, Any]) -> str:
    """The authors' English prompt as lm-eval's `doc_to_text` renders it (template at the commits cited above)."""
    level = f" for {LEVELS[item['level']]}" if item["level"] else ""
    country = f" in {item['country']}" if item["country"] else ""
    question = f"{item['context']}\n\n{item['question']}" if item["context"] else item["question"]
    options = "\n".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(item["options"]))
    return (f"This is a {item['subject']} question{level}{country}. Select the correct answer!\n\n"
            f"Question: {question}\n{options}\n\nAnswer:")


def kit_prompt(item: dict[str, Any]) -> str:
    """The kit's earlier prompt: instruction, context, question, lettered options, 'Answer:'."""
    lines = ["The following is a multiple choice question. Answer with the letter of the correct option only.", ""]
    if item["context"]:
        lines += [item["context"], ""]
    lines.append(item["question"])
    lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(item["options"])]
    lines.append("Answer:")
    return "\n".join(lines)


LIGHTEVAL_LETTERS = ("أ", "ب", "ج", "د", "هـ")  # arabic_mmlu_pfn's latin_to_arabic (E is ه + tatweel)


def lighteval_prompt(item: dict[str, Any]) -> str:
    """lighteval's `arabic_mmlu_pfn` query: Arabic instruction, question (no context), أ. ... options, 'الإجابة:'."""
    instruction = "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة:\n\n"
    options = "".join(f"{LIGHTEVAL_LETTERS[i]}. {opt}\n" for i, opt in enumerate(item["options"]))
    return f"{instruction}{item['question']}\n{options}الإجابة:"


@dataclass(frozen=True)
class Formulation:
    """How an item is asked and scored: prompt text, the choice strings scored after it, length normalisation."""
    name: str
    render: Callable[[dict[str, Any]], str]
    choices: tuple[str, ...]  # the continuation for option A, B, ... (delimiter included)
    char_norm: bool  # log-likelihood divided by the choice's length in characters
    source: str
    next_token: bool = False  # score: the next-token logit of the choice's last token (not a log-likelihood)

    def continuations(self, item: dict[str, Any]) -> list[str]:
        return list(self.choices[: len(item["options"])])

    def signature(self, kind: str = "hf") -> str:
        """What the answers depend on besides the prompt text (part of the cache key); `kind` the model's endpoint kind
        (an API model generates and its letter is extracted)."""
        score = "generate+extract" if kind != "hf" else "next-token-logit" if self.next_token else "ll:lm-eval-0.4"
        return f"{self.name}|choices:{'/'.join(self.choices)}|norm:{'char' if self.char_norm else 'none'}|{score}"


FORMULATIONS = {
    "authors": Formulation("authors", authors_prompt, tuple(" " + l for l in LETTERS), False,
                           "mbzuai-nlp/ArabicMMLU util_prompt.py as lm-evaluation-harness arabicmmlu renders it"),
    "authors-script": Formulation("authors-script", lambda item: authors_prompt(item) + " ", tuple(LETTERS), False,
                                  "mbzuai-nlp/ArabicMMLU util_prompt.py prepare_data_en + util_compute.py", next_token=True),
    "kit": Formulation("kit", kit_prompt, tuple(" " + l for l in LETTERS), False, "ainkit's earlier prompt"),
    "lighteval": Formulation("lighteval", lighteval_prompt, LIGHTEVAL_LETTERS, True,
                             "lighteval community arabic_mmlu (arabic_mmlu_pfn, LogProbCharNorm)"),
}
DEFAULT = "authors"


def formulation(name: str | None = None) -> Formulation:
    try:
        return FORMULATIONS[name or DEFAULT]
    except KeyError:
        raise ValueError(f"ArabicMMLU formulation {name!r} unknown: use one of {', '.join(FORMULATIONS)}") from None


def prompt(item: dict[str, Any], name: str | None = None) -> str:
    """The zero-shot prompt of formulation `name` (default: the authors')."""
    return formulation(name).render(item)


def prompt_hash(item: dict[str, Any], name: str | None = None) -> str:
    """Hash of the formulation's signature and the prompt text: answers are cached per formulation."""
    f = formulation(name)
    return hashlib.sha256(f"{f.signature()}\n{f.render(item)}".encode("utf-8")).hexdigest()[:16]


def extract(answer: str | None, n_options: int) -> str | None:
    """The Latin letter an API answer picks, or None."""
    letter = T.option_letter(answer or "")
    if letter is None:
        return None
    latin = T.ARABIC_TO_LATIN.get(letter, letter.upper())
    return latin if latin in LETTERS[:n_options] else None


class LogLikelihoodChooser:
    """Zero-shot choice by a local causal LM: the option whose choice string is likeliest after the prompt (lm-eval's
    `multiple_choice` scoring, one sequence at a time), optionally divided by the choice's length in characters."""

    def __init__(self, path: str, name: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.form = formulation(name)
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype="auto").eval()

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """(context tokens, continuation tokens): trailing spaces move to the continuation, whose tokens are what the
        joint encoding adds after the context's (tokenizer's default special tokens)."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.tok.encode(context + continuation)
        ctx = self.tok.encode(context)
        return ctx, whole[len(ctx):]

    def loglikelihoods(self, context: str, continuations: list[str]) -> list[float]:
        """Sum of the log-softmax scores of each continuation's tokens given the context."""
        torch, out, seen = self.torch, [], {}
        for cont in continuations:
            ctx, cont_ids = self.encode_pair(context, cont)
            if not cont_ids:
                raise ValueError(f"choice {cont!r} adds no token after the prompt with this tokenizer")
            inp = tuple((ctx + cont_ids)[:-1])  # the model reads the context and all but the last choice token
            if inp not in seen:
                with torch.no_grad():
                    seen[inp] = torch.nn.functional.log_softmax(self.model(torch.tensor([inp])).logits, dim=-1)[0]
            logp = seen[inp][len(inp) - len(cont_ids):]  # [len(cont_ids), vocab]
            out.append(float(torch.gather(logp, 1, torch.tensor(cont_ids).unsqueeze(-1)).sum()))
        return out

    def next_token_logits(self, context: str, letters: list[str]) -> list[float]:
        """The next-token logit of each letter's last token after the context (the ArabicMMLU authors' scoring)."""
        ids = [self.tok.encode(letter)[-1] for letter in letters]
        with self.torch.no_grad():
            logits = self.model(self.torch.tensor([self.tok.encode(context)])).logits[0, -1]
        return [float(logits[i]) for i in ids]

    def choose(self, item: dict[str, Any]) -> tuple[str, list[float]]:
        """(Latin letter chosen, the score of each option); the first maximum wins, as numpy's argmax."""
        conts = self.form.continuations(item)
        if self.form.next_token:
            scores = self.next_token_logits(self.form.render(item), conts)
        else:
            scores = self.loglikelihoods(self.form.render(item), conts)
        if self.form.char_norm:
            scores = [s / len(c) for s, c in zip(scores, conts)]
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
