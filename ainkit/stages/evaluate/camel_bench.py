"""CAMEL-Bench scoring, two modes, and the aggregation data set -> sub-domain -> domain -> total.

    from ainkit.stages.evaluate import camel_bench as cb
    cb.score_item("chartqa", pred, gt, mode="original")     # -> Verdict(correct, error, defect)
    cb.aggregate({"chartqa": (0.61, 745), ...})              # per-domain and total accuracy

`original` reproduces the benchmark's published scorers (scripts/utils.py as of 2024-12-08),
written from their description in the kit's reference notes, defects included (DEFECTS), and
deterministic. Its OCR rate is the library's: `fast_edit_distance.edit_distance(pred, gt,
max_ed=1000)` (version 1.2.2; `original_edit_distance`), a banded byte-level distance capped at
min(1000, longer length in characters) that is the cap + 1 past it, so a long wrong page can
pass (1001 / 3,386 characters = 0.296 <= 0.3 on ocrisi). Only where the library reads outside
its table (the text longer in characters is longer in bytes by the cap + 4 or more, and its
early stop did not fire) is its answer run-dependent, often 0; there the exact byte distance
stands in. `Verdict.defect` marks the rows the cap or the band miss decided. A row the original
would crash on (empty prediction, numeric VizWiz answer, ...) is counted as an error, never
dropped.
`corrected` (the default) scores the same intent properly: Unicode-normalised text, character
CER, option letters extracted robustly, whole-word yes/no, numbers compared as numbers in every data set (digits of
any script; ',' and '٬' thousands, '.' and '٫' decimal separators: '١٬٠٠٠' = '1,000' = '1000'; where the answer is a
number, a prediction naming another number besides it, '3 or 4', is wrong).
Open-ended sets (vqav2, mathvista, geochat, mtvqa) have no scorer in the benchmark: an LLM judge
decides them in both modes (`judge`).

Bounded cost: a prediction longer than MAX_PREDICTION_CHARS (20,000 characters; OCR answers run
from a line to a page) is wrong, with that reason, in every data set, before any scorer or judge
sees it. OCR rates: the exact edit distance is bit-parallel (Myers 1999: len(a) * len(b) / 64 word
steps, memory linear); the original's banded one takes a numpy row of at most about 1,004 cells
per byte of the shorter text and stops where the library does; and a length difference that
alone puts the rate past the data set's threshold decides the row without either (neither
distance is ever smaller: the original's is at least min(byte gap, cap + 1)), so a 1 MB answer
costs one normalisation pass. Worst case, 20,000 characters against an answer of similar length:
a few seconds (original mode, which counts bytes; tests/test_evaluate.py holds it under 5 s).
"""
from __future__ import annotations

import ast
import csv
import re
from dataclasses import dataclass
from typing import Callable

from ainkit.stages.evaluate import text as T
from ainkit.stages.evaluate.text import edit_distance, original_edit_distance
from ainkit.ground.paths import PACKAGE

MODES = ("corrected", "original")
OCR_THRESHOLDS = {"ocrisi": 0.3, "evarest": 0.5, "historicalbooks": 0.2, "khatt": 0.3, "patsocr": 0.5, "arabicocr": 0.4}
JUDGED = {"vqav2", "mathvista", "geochat", "mtvqa"}
MCQ = {"mmmu", "realworldqa", "medicalMMMU", "medicalMMMUPro", "mmbench", "seed", "medicalmmt", "hallucinationmmt", "vqammt",
       "mutliimagemmt", "isidocvqa", "patddocvqa", "celebvqa", "countriesvqa", "foodvqa", "objectcoco", "blink", "examsv",
       "chartqa", "infographicsvqa", "agrovqa", "diagramsvqa", "tablesvqa", "iconqa", "culturevideovqa", "videomme", "muribench"}
YES = {"نعم", "صح", "صحيح", "yes", "true"}
NO = {"لا", "خطا", "no", "false"}
MAX_PREDICTION_CHARS = 20_000
ORIGINAL_MAX_ED = T.ORIGINAL_MAX_ED  # scripts/utils.py fastcer: edit_distance(pred, gt, max_ed=1000)
# The original scorers' defects, as `ainkit evaluate` lists them beside its results (the reference notes' numbering).
DEFECTS = {
    "ocr-bytes": "fastcer counts the edit distance in UTF-8 bytes but divides by characters: an Arabic letter costs 2, "
                 "a true 20% character error rate reads 0.4 (ocrisi, evarest, historicalbooks, khatt, patsocr, arabicocr)",
    "ocr-cap": "the edit distance is capped at min(1000, longer length in characters) and is the cap + 1 past it (its "
               "banded search also stops early, sometimes below the cap): a wrong page passes evarest and patsocr from "
               "2,002 characters, arabicocr from 2,503, ocrisi and khatt from 3,337 (1001 / 3,386 = 0.296), historicalbooks "
               "from 5,005; `original` reproduces the library, `corrected` does not cap",
    "ocr-band": "where the byte-length gap reaches the cap + 4 the library reads outside its table and returns a "
                "run-dependent number, often 0 (an empty or short Arabic prediction can pass); `original` uses the exact "
                "byte distance there",
    "mcq-first-char": "mcq_eval compares the first character only: a bare alef is A, lower-case letters and '( B )' fail, "
                      "'12' equals '15', an empty answer raises",
    "containment": "mme / pope match by substring: 'لا' inside 'كلاب', hedged answers with yes and no pass",
    "vizwiz": "a plain-string answer is iterated per character; a numeric answer raises",
    "exact-and-digits": "diagramsMMMU uses containment without the Latin map, gqa exact match, countbench rejects Persian digits",
    "dropped-rows": "rows whose scorer raises are dropped by the original; `original` counts them as errors (wrong)",
}


@dataclass
class Verdict:
    correct: bool
    error: str = ""  # why the original scorer would have crashed on this row, or why it was not scored
    defect: str = ""  # original mode: the DEFECTS key that decided this row otherwise than its intent (OCR cap / band)


# ---------- original (as published, defects reproduced deterministically) ----------

def _first_char_original(s: str) -> str:
    s = s.strip()
    if len(s) > 2 and s[0] == "(" and s[2] == ")":  # '(X)' unwrap only for exactly one character in brackets
        s = s[1]
    c = s[0]  # IndexError on an empty answer, as in the original
    c = T.LATIN_TO_ARABIC.get(c, c)  # upper-case Latin only
    return {"ا": "أ", "هـ": "ه"}.get(c, c)  # the original's map also sends a bare alef to أ


def mcq_original(pred: str, gt: str) -> bool:
    return _first_char_original(pred) == _first_char_original(gt)


def mme_original(pred: str, gt: str) -> bool:
    p = pred.strip()
    if p == "صح":
        p = "نعم"
    return gt in p  # gt not stripped; containment


def pope_original(pred: str, gt: str) -> bool:
    return gt.strip() in pred.strip()


def default_original(pred: str, gt: str) -> bool:
    return pred.strip() == gt.strip()


def vizwiz_original(pred: str, gt: str) -> bool:
    try:
        ast.literal_eval(gt)  # only a literal is re-parsed, after ' ' -> ', ' (which breaks multi-word lists)
        answers = ast.literal_eval(gt.replace(" ", ", "))
    except (ValueError, SyntaxError):
        answers = gt.strip()  # a plain string: iterated character by character below
    pred = pred.strip()
    if pred == answers:
        return True
    return any(a in pred for a in answers)  # TypeError on a number, as in the original


def countbench_original(pred: str, gt: str) -> bool:
    return pred.strip().translate(T.WESTERN_TO_ARABIC_INDIC) == gt.strip().translate(T.WESTERN_TO_ARABIC_INDIC)


def diagrams_original(pred: str, gt: str) -> bool:
    p, g = pred.strip(), gt.strip()
    if len(g) == 1:
        return p[0] == g  # no Latin map, no '(X)' unwrap; IndexError on empty
    return g.translate(T.WESTERN_TO_ARABIC_INDIC) in p.translate(T.WESTERN_TO_ARABIC_INDIC)


def scienceqa_gt(gt) -> str:
    return T.ARABIC_LETTERS[int(gt)]


def fastcer_original(pred: str, gt: str, max_rate: float | None = None) -> float:
    """The original fastcer: the library's capped byte distance / longer length in characters; where the library is
    run-dependent, the exact byte distance. With `max_rate`, a rate the length difference alone puts past it is
    returned as that lower bound (the library's distance is never under min(byte gap, cap + 1))."""
    return _fastcer_original(pred, gt, max_rate)[0]


def _fastcer_original(pred: str, gt: str, max_rate: float | None = None) -> tuple[float, str]:
    """(fastcer_original, how: 'library', 'run-dependent' (the exact distance stood in) or 'length' (the short-cut))."""
    longer = max(len(pred), len(gt))  # ZeroDivision when both empty, as in the original
    gap = abs(len(pred.encode("utf-8")) - len(gt.encode("utf-8")))
    bound = min(gap, min(ORIGINAL_MAX_ED, longer) + 1) / longer
    if max_rate is not None and bound > max_rate and _lower_bound_holds(pred, gt):
        return bound, "length"
    d = original_edit_distance(pred, gt)
    if d is None:
        return edit_distance(pred.encode("utf-8"), gt.encode("utf-8")) / longer, "run-dependent"
    return d / longer, "library"


def ocr_original(pred: str, gt: str, limit: float) -> Verdict:
    """An OCR row as the original scores it (fastcer <= limit); `defect` names the cap when it decided the row otherwise
    than the exact byte distance would, or the band miss when the library's answer was run-dependent."""
    rate, how = _fastcer_original(pred, gt, limit)
    correct = rate <= limit
    if how == "length" and not T.band(pred, gt, ORIGINAL_MAX_ED).in_table:  # decided by length: was the library's
        # own answer run-dependent (or did it stop early)?
        how = "run-dependent" if original_edit_distance(pred, gt) is None else how
    if how == "run-dependent":
        return Verdict(correct, defect="ocr-band")
    if how == "length":
        return Verdict(False)  # the exact distance is at least the gap too: both fail
    longer = max(len(pred), len(gt))
    cap = min(ORIGINAL_MAX_ED, longer)
    if correct and round(rate * longer) not in (cap + 1, 10 * cap) and _lower_bound_holds(pred, gt):
        return Verdict(True)  # the band's end cell (not the stop, not a boundary), never under the exact distance
    return Verdict(correct, defect="ocr-cap" if correct != (fastcer_exact(pred, gt, limit) <= limit) else "")


def _lower_bound_holds(pred: str, gt: str) -> bool:
    """Whether min(byte gap, cap + 1) bounds the library's answer: it returns the band's end cell, its early stop, a
    boundary cell (10 x cap) or reads outside its table (the exact distance stands in). It can read another cell
    only when the text shorter in characters is longer in bytes by more than the cap (then: no short-cut)."""
    band = T.band(pred, gt, ORIGINAL_MAX_ED)
    return band.m - band.n <= band.cap and "\0" not in pred + gt


def fastcer_exact(pred: str, gt: str, max_rate: float | None = None) -> float:
    """What the original's fastcer intends: edit distance on UTF-8 bytes / longer length in characters (uncapped).

    With `max_rate`, a rate the length difference alone puts past it is returned as that lower bound.
    """
    p, g = pred.encode("utf-8"), gt.encode("utf-8")
    longer = max(len(pred), len(gt))  # ZeroDivision when both empty, as in the original
    bound = abs(len(p) - len(g)) / longer
    if max_rate is not None and bound > max_rate:
        return bound
    return edit_distance(p, g) / longer


# ---------- corrected ----------

def numbers_agree(pred: str, gt: str) -> bool | None:
    """Where the ground truth is one number: whether the prediction names that number and no other (digits of any
    script, ',' / '٬' thousands and '.' / '٫' decimal separators read as such; '3 or 4' is not 3). None otherwise."""
    g = T.as_number(gt)
    if g is None:
        return None
    return set(T.numbers(pred)) == {g}


def mcq_corrected(pred: str, gt: str) -> bool:
    g = T.normalize(gt)
    gt_letter = T.option_letter(gt) if len(g) <= 3 else None
    if gt_letter:
        return T.option_letter(pred) == gt_letter
    agree = numbers_agree(pred, gt)
    if agree is not None:
        return agree
    return T.canonical(pred).strip(" .") == T.canonical(gt).strip(" .") or _whole_words_in(gt, pred)


def _whole_words_in(needle: str, hay: str) -> bool:
    """The needle's words appear in order in the hay, and the hay names no number the needle does not ('2 dollars'
    is not in '2 dollars or 3')."""
    n, h = T.words(needle), T.words(hay)
    if not n or len(n) > len(h):
        return False
    if T.numbers(needle) and set(T.numbers(hay)) != set(T.numbers(needle)):
        return False
    return any(h[i:i + len(n)] == n for i in range(len(h) - len(n) + 1))


def yes_no_corrected(pred: str, gt: str) -> bool:
    p = set(T.words(pred))
    says_yes, says_no = bool(p & YES), bool(p & NO)
    if says_yes == says_no:  # neither, or hedged with both
        return False
    want_yes = bool(set(T.words(gt)) & YES)
    return says_yes == want_yes


def exact_corrected(pred: str, gt: str) -> bool:
    agree = numbers_agree(pred, gt)
    if agree is not None:
        return agree
    return T.canonical(pred).strip(" .!؟?،,") == T.canonical(gt).strip(" .!؟?،,")


def vizwiz_corrected(pred: str, gt: str) -> bool:
    try:
        answers = ast.literal_eval(gt)
        answers = [str(a) for a in answers] if isinstance(answers, (list, tuple)) else [str(answers)]
    except (ValueError, SyntaxError, MemoryError):  # CPython's parser gives up on ~1,500 bare words with MemoryError
        answers = [gt]
    return any(exact_corrected(pred, a) or _whole_words_in(a, pred) for a in answers)


def count_corrected(pred: str, gt: str) -> bool:
    agree = numbers_agree(pred, gt)
    return exact_corrected(pred, gt) if agree is None else agree


def diagrams_corrected(pred: str, gt: str) -> bool:
    return mcq_corrected(pred, gt)


def cer(pred: str, gt: str, max_rate: float | None = None) -> float:
    """Character error rate on normalised text (diacritics kept): edit distance / reference length.

    With `max_rate`, a rate the length difference alone puts past it is returned as that lower bound.
    """
    p, g = T.normalize(pred, keep_diacritics=True), T.normalize(gt, keep_diacritics=True)
    if not g:
        return 0.0 if not p else 1.0
    bound = abs(len(p) - len(g)) / len(g)
    if max_rate is not None and bound > max_rate:
        return bound
    return edit_distance(p, g) / len(g)


ORIGINAL: dict[str, Callable[[str, str], bool]] = {**{n: mcq_original for n in MCQ}, "mme": mme_original, "pope": pope_original,
                                                   "gqa": default_original, "vizwiz": vizwiz_original,
                                                   "countbench": countbench_original, "diagramsMMMU": diagrams_original}
CORRECTED: dict[str, Callable[[str, str], bool]] = {**{n: mcq_corrected for n in MCQ}, "mme": yes_no_corrected,
                                                    "pope": yes_no_corrected, "gqa": exact_corrected, "vizwiz": vizwiz_corrected,
                                                    "countbench": count_corrected, "diagramsMMMU": diagrams_corrected}
DATASETS = sorted(set(ORIGINAL) | set(OCR_THRESHOLDS) | JUDGED | {"scienceqa"})


def prediction_problem(pred) -> str:
    """Why a prediction cannot be scored ('' when it can): null, not a string, or longer than MAX_PREDICTION_CHARS."""
    if pred is None:
        return "prediction is null"
    if not isinstance(pred, str):
        return f"prediction is not a string ({type(pred).__name__})"
    if len(pred) > MAX_PREDICTION_CHARS:
        return f"prediction longer than {MAX_PREDICTION_CHARS:,} characters"
    return ""


def score_item(dataset: str, pred: str | None, gt, mode: str = "corrected", judge: Callable[[str, str], bool] | None = None) -> Verdict:
    """Is `pred` right for `gt` in data set `dataset` under `mode`? Crashes of the original become errors."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: choose {' or '.join(MODES)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown CAMEL-Bench data set {dataset!r}")
    pred = "" if pred is None else str(pred)
    if len(pred) > MAX_PREDICTION_CHARS:
        return Verdict(False, prediction_problem(pred))
    if dataset in JUDGED and judge is None:
        return Verdict(False, "open-ended set: needs an LLM judge")
    try:
        if dataset in JUDGED:
            return Verdict(bool(judge(pred, str(gt))))
        if dataset == "scienceqa":
            gt = scienceqa_gt(gt)
            return Verdict(mcq_original(pred, gt) if mode == "original" else mcq_corrected(pred, gt))
        if dataset in OCR_THRESHOLDS:
            limit = OCR_THRESHOLDS[dataset]
            if mode == "original":
                return ocr_original(pred.strip(), str(gt).strip(), limit)
            return Verdict(cer(pred, str(gt), limit) <= limit)
        fn = (ORIGINAL if mode == "original" else CORRECTED)[dataset]
        return Verdict(bool(fn(pred, str(gt))))
    except (IndexError, TypeError, ZeroDivisionError, ValueError, MemoryError) as exc:  # MemoryError: vizwiz's parse of a long answer
        return Verdict(False, f"{type(exc).__name__}: {exc}")


# ---------- aggregation ----------

TAXONOMY = PACKAGE / "stages" / "evaluate" / "camel_bench_taxonomy.csv"
DOMAINS = ["VQA", "OCR", "Video", "RS", "CDT", "Agro.", "Cult.", "Med."]


def taxonomy() -> dict[str, dict[str, str]]:
    """dataset -> {domain, subdomain, questions, source} from the data file."""
    with open(TAXONOMY, encoding="utf-8") as fh:
        return {r["dataset"]: r for r in csv.DictReader(fh)}


def aggregate(per_dataset: dict[str, tuple[float, int]], weighting: str = "subdomain-mean") -> dict:
    """Data set accuracies (accuracy, items) -> sub-domains -> domains -> total (plain mean of the domains present).

    weighting: 'subdomain-mean' (default: a domain is the plain mean of its sub-domains, a sub-domain the
    question-weighted mean of its data sets) or 'question' (every level weighted by items).
    """
    if weighting not in ("subdomain-mean", "question"):
        raise ValueError("weighting must be 'subdomain-mean' or 'question'")
    tax = taxonomy()
    subs: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for ds, (acc, n) in per_dataset.items():
        if ds not in tax:
            raise ValueError(f"{ds}: not in {TAXONOMY}")
        subs.setdefault((tax[ds]["domain"], tax[ds]["subdomain"]), []).append((acc, n))
    sub_acc = {k: (sum(a * n for a, n in v) / max(1, sum(n for _, n in v)), sum(n for _, n in v)) for k, v in subs.items()}
    domains: dict[str, list[tuple[float, int]]] = {}
    for (dom, _), (acc, n) in sub_acc.items():
        domains.setdefault(dom, []).append((acc, n))
    if weighting == "question":
        dom_acc = {d: sum(a * n for a, n in v) / max(1, sum(n for _, n in v)) for d, v in domains.items()}
    else:
        dom_acc = {d: sum(a for a, _ in v) / len(v) for d, v in domains.items()}
    ordered = {d: dom_acc[d] for d in DOMAINS if d in dom_acc}
    return {"weighting": weighting, "subdomains": {f"{d} / {s}": a for (d, s), (a, _) in sub_acc.items()},
            "domains": ordered, "total": sum(ordered.values()) / len(ordered) if ordered else None,
            "domains_missing": [d for d in DOMAINS if d not in dom_acc]}


JUDGE_PROMPT = """You grade answers to questions about images. Decide whether the model's answer means the same as the
ground truth (same entity, number or fact; wording, language, case and extra politeness do not matter).
Reply with 1 if it does and 0 if it does not, nothing else.

Question: How many planes are on the runway?
Ground truth: 3
Answer: There are three planes.
Grade: 1

Question: ما لون السيارة؟
Ground truth: أحمر
Answer: السيارة زرقاء
Grade: 0

Question: What is written on the sign?
Ground truth: STOP
Answer: stop
Grade: 1
"""


def judge_messages(question: str, pred: str, gt: str) -> list[dict[str, str]]:
    """The binary few-shot judge request for one open-ended answer (first line of the question, as the benchmark does)."""
    first = (question or "").strip().splitlines()[0] if (question or "").strip() else ""
    return [{"role": "user", "content": f"{JUDGE_PROMPT}\nQuestion: {first}\nGround truth: {gt}\nAnswer: {pred}\nGrade:"}]


def parse_grade(content: str | None) -> bool | None:
    """1 -> True, 0 -> False, anything else -> None (counted as an error, not as correct)."""
    m = re.search(r"[01]", content or "")
    return None if m is None else m.group(0) == "1"
