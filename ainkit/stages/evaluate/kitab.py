"""KITAB-Bench text recognition (its `ocr-eval` tasks): items, the authors' prompt, their CER / WER / CHrF / ED.

    ainkit evaluate --benchmark kitab-bench --model openai:NAME --base-url http://host:8000/v1 --output runs/kitab
    ainkit evaluate --benchmark kitab-bench --model openai:NAME --data hub --allow-download --output runs/kitab

Followed: github mbzuai-oryx/KITAB-Bench at commit c27abc2de12d65948257c471b9327a5d441631c0,
`ocr-eval/eval.py` (the 13 hub sets `ahmedheakl/arocrbench_<name>`, split train; the reference is column
`answer` for patsocr, historicalbooks and khattparagraph and `text` for the others; the prompt DEFAULT_PROMPT;
MAX_TOKENS 500; the image first, then the prompt) and `ocr-eval/metrics.py` (`preprocess_arabic_text` on both
sides; per data set: torchmetrics CharErrorRate / WordErrorRate, which are corpus rates (sum of edit distances /
sum of reference lengths, characters or whitespace words), sacrebleu `corpus_chrf` (defaults: chrF2, 6-grams),
the mean Levenshtein distance `ed`, each rounded to 2 decimals; the headline is the plain mean over data sets
of the rounded per-set values). Not implemented: their BLEU and METEOR columns (METEOR needs nltk's WordNet
download), and the other KITAB tasks (tables: TEDS; charts: SCRM / ChartEx; diagrams; layout; PDF-to-markdown:
MARS): `ainkit evaluate --list` names them.
Deviation, stated: the kit sends the image as JPEG with its long side capped at 4,096 px (ainkit.services.images);
the authors send the dataset image as PNG at full size.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from ainkit.services.records import RecordError, write_records
from ainkit.stages.evaluate import text as T

COMMIT = "c27abc2de12d65948257c471b9327a5d441631c0"
DEFAULT_PROMPT = "Extract the text in the image. Give me the final text, nothing else."
MAX_TOKENS = 500
LONG_SIDE = 4096
ANSWER_COLUMN = {"patsocr": "answer", "historicalbooks": "answer", "khattparagraph": "answer"}
DATASETS = ["patsocr", "historicalbooks", "khattparagraph", "synthesizear", "historyar", "adab", "muharaf",
            "onlinekhatt", "khatt", "isippt", "arabicocr", "hindawi", "evarest"]  # eval.py ds_ids, in its order
SIGNATURE = f"kitab-bench ocr-eval@{COMMIT[:7]}|preprocess:arabic|cer,wer:corpus|chrf:sacrebleu-corpus|round:2"


def preprocess_arabic_text(text: str) -> str:
    """The authors' normalisation: no newlines or tabs, no tashkeel, alef variants -> ا, ة -> ه, ى -> ي, no tatweel,
    whitespace runs -> one space."""
    text = text.replace("\n", " ").replace("\t", " ")
    text = re.sub(r"[\u064B-\u065F\u0670]", "", text)
    text = re.sub("[إأٱآا]", "ا", text)
    text = text.replace("ة", "ه").replace("ى", "ي")
    text = re.sub(r"(ـ+)|\s+", lambda m: " " if m.group(0).isspace() else "", text).strip()
    return " ".join(text.split())


def error_rate(hypotheses: list[str], references: list[str], unit: str) -> float:
    """torchmetrics' CharErrorRate (unit 'char') or WordErrorRate (unit 'word'): total edits / total reference units."""
    errors = total = 0
    for h, r in zip(hypotheses, references, strict=True):
        hs, rs = (list(h), list(r)) if unit == "char" else (h.split(), r.split())
        errors += T.edit_distance(hs, rs)
        total += len(rs)
    if total == 0:
        raise ValueError("no reference text: the error rate is undefined (torchmetrics divides by zero)")
    return errors / total


def intervals(hyps: list[str], refs: list[str], clusters: list[str], resamples: int = 1000, seed: int = 0) -> dict:
    """95 % bootstrap intervals of a set's CER, WER and CHrF (unrounded): items (clustered by image) drawn with
    replacement, each corpus rate recomputed from the drawn items' edit counts and sacrebleu's chrF statistics."""
    import numpy as np
    from sacrebleu.metrics import CHRF

    from ainkit.stages.evaluate import compare

    chars = np.array([[T.edit_distance(list(h), list(r)), len(r)] for h, r in zip(hyps, refs)], dtype=float)
    words = np.array([[T.edit_distance(h.split(), r.split()), len(r.split())] for h, r in zip(hyps, refs)], dtype=float)
    metric = CHRF()
    chrf = np.asarray(metric._extract_corpus_statistics(hyps, [refs]), dtype=float)
    rate = lambda s: s[0] / s[1] if s[1] else float("nan")  # noqa: E731
    return {"cer": compare.cluster_interval(chars, clusters, rate, resamples, seed),
            "wer": compare.cluster_interval(words, clusters, rate, resamples, seed),
            "chrf": compare.cluster_interval(chrf, clusters, lambda s: metric._compute_score_from_stats(
                [int(x) for x in s]).score, resamples, seed)}


def score_dataset(rows: Iterable[dict[str, Any]], resamples: int = 0, seed: int = 0) -> dict[str, Any]:
    """One data set's metrics as metrics.py's evaluate_file computes them ({gt, pred[, images]} rows; a null pred
    is ''); with `resamples`, their 95 % bootstrap intervals too (`ci95`, the kit's addition)."""
    from sacrebleu import corpus_chrf

    from ainkit.stages.evaluate import compare

    rows = list(rows)
    refs, hyps = [], []
    for r in rows:
        refs.append(preprocess_arabic_text(r["gt"]).strip())
        hyps.append(preprocess_arabic_text(r["pred"] or "").strip())
    if not refs:
        raise ValueError("no rows to score")
    eds = [T.edit_distance(g, p) for g, p in zip(refs, hyps)]
    exact = {"cer": error_rate(hyps, refs, "char"), "wer": error_rate(hyps, refs, "word"),
             "chrf": corpus_chrf(hyps, [refs]).score, "ed": sum(eds) / len(eds)}
    out = {"n": len(refs), **{k: round(v, 2) for k, v in exact.items()}, "unrounded": exact}
    if resamples:
        out["ci95"] = intervals(hyps, refs, compare.clusters_of(rows), resamples, seed)
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per data set and the authors' headline (plain mean of the rounded per-set CER, WER and CHrF)."""
    per: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per.setdefault(r["dataset"], []).append({"gt": r["answer"], "pred": r.get("prediction"), "id": r.get("id"),
                                                 "dataset": r["dataset"], "images": r.get("images")})
    datasets = {ds: score_dataset(v, resamples=1000) for ds, v in per.items()}
    mean = {k: sum(d[k] for d in datasets.values()) / len(datasets) for k in ("cer", "wer", "chrf")}
    return {"signature": SIGNATURE, "datasets": datasets, "mean": mean}


def rows_to_items(dataset: str, rows: Iterable[dict[str, Any]], folder: str | Path, limit: int | None = None) -> list[dict]:
    """Hub rows of `ahmedheakl/arocrbench_<dataset>` -> item records {dataset, id, question, images, answer}."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown KITAB-Bench OCR set {dataset!r}: {', '.join(DATASETS)}")
    from ainkit.stages.evaluate import hub

    items = []
    for i, row, paths in hub.saved_rows(rows, folder, f"kitab-{dataset}", limit):
        items.append({"dataset": dataset, "id": f"{dataset}-{i}", "question": DEFAULT_PROMPT, "images": paths[:1],
                      "answer": str(row[ANSWER_COLUMN.get(dataset, "text")]), "source": f"ahmedheakl/arocrbench_{dataset}"})
    return items


def validate(source: str | Path, located: list[tuple[str, dict[str, Any]]]) -> None:
    """Every item ('line N', record) needs a KITAB OCR 'dataset', 'images' and a string 'answer'."""
    if not located:
        raise RecordError(f"{source}: no items")
    for where, it in located:
        if it.get("dataset") not in DATASETS or not isinstance(it.get("answer"), str) or not it.get("images"):
            raise RecordError(f"{source}: {where}: needs a KITAB OCR 'dataset' ({', '.join(DATASETS)}), 'images' and a "
                              "string 'answer'")
        if not preprocess_arabic_text(it["answer"]):
            raise RecordError(f"{source}: {where}: item {it.get('id', '?')}: the reference 'answer' is empty (after the "
                              "authors' normalisation): its error rates are undefined")


FIXTURE_LINES = {"khatt": ["بسم الله الرحمن الرحيم", "مرحبا بكم في المدينة"],
                 "isippt": ["الفصل الأول: مقدمة", "نتائج التجربة الثانية"]}
FIXTURE_COLOURS = ["red", "green", "blue", "yellow"]


def write_fixture(folder: str | Path) -> Path:
    """A small offline set in the items format (written by the kit, not KITAB data): plain coloured images, each
    with an Arabic line as its reference; returns FOLDER/items.jsonl."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    items, k = [], 0
    for ds, lines in FIXTURE_LINES.items():
        for i, line in enumerate(lines):
            colour = FIXTURE_COLOURS[k % len(FIXTURE_COLOURS)]
            path = folder / "images" / f"{ds}-{i}.png"
            Image.new("RGB", (64, 32), colour).save(path)
            items.append({"dataset": ds, "id": f"{ds}-{i}", "question": DEFAULT_PROMPT, "images": [f"images/{path.name}"],
                          "answer": line, "source": "ainkit fixture: written by the kit to exercise the path; not KITAB data"})
            k += 1
    return write_records(folder / "items.jsonl", items)


def data_file(data: str, output: str | Path, datasets: str = "", allow_download: bool = False,
              limit: int | None = None) -> Path:
    """The item file `--data` names: 'fixture' (written into OUTPUT/fixture/), 'hub' (the sets, comma-separated,
    default all 13, downloaded into OUTPUT/items.jsonl with consent), or a JSON Lines file as it is."""
    if data == "fixture":
        return write_fixture(Path(output) / "fixture")
    if data != "hub":
        return Path(data)
    from ainkit.stages.evaluate import hub

    items = []
    for name in [d for d in datasets.split(",") if d] or DATASETS:
        if name not in DATASETS:
            raise ValueError(f"unknown KITAB-Bench OCR set {name!r}: {', '.join(DATASETS)}")
        items += rows_to_items(name, hub._load(f"ahmedheakl/arocrbench_{name}", allow_download, split="train"),
                               Path(output) / "images", limit)
    return write_records(Path(output) / "items.jsonl", items)


def run(model: str, data: str | Path, output: str, limit: int | None = None, concurrency: int = 16,
        base_url: str | None = None) -> dict[str, Any]:
    """Ask `model` every item with the authors' prompt (answers cached), score, write OUTPUT/predictions.jsonl and
    OUTPUT/results.json."""
    from ainkit.ground import atomic
    from ainkit.stages.evaluate import runner

    located = runner.read_located(data)[:limit] if limit else runner.read_located(data)
    validate(data, located)
    runner.refuse_duplicates(data, located)
    items = [{**it, "question": it.get("question") or DEFAULT_PROMPT} for _, it in located]
    asked = runner.ask_items("kitab-bench", model, items, Path(data).parent, output, concurrency, max_images=1,
                             long_side=LONG_SIDE, base_url=base_url, max_tokens=MAX_TOKENS)
    rows = [r for _, r in runner.read_located(asked)]
    runner.require_answers(model, rows)
    results = {"benchmark": "kitab-bench", "model": model, "data": str(data), "items": len(rows),
               "unanswered": sum(r["prediction"] is None for r in rows), **summarize(rows)}
    write_records(Path(output) / "predictions.jsonl", rows)
    atomic.write_json(Path(output) / "results.json", results)
    return results
