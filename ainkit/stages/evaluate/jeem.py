"""JEEM (2025): image captioning and visual question answering in four Arabic dialects (Jordan, Emirates, Egypt,
Morocco), scored with the caption metrics its card names.

    ainkit evaluate --benchmark jeem --model openai:NAME --base-url http://host:8000/v1 --output runs/jeem
    ainkit evaluate --benchmark jeem --model hf:runs/train/checkpoint-24 --data items.jsonl --output runs/jeem

JEEM publishes no evaluation code (searched: its dataset card `toloka/JEEM`, GitHub, the code index; the card names
CIDEr, BLEU, ROUGE, BERTScore and a GPT-4 judge). So the kit computes those it can as their reference
implementations define them, and says so:
- CIDEr as pycocoevalcap computes it (salaniz/pycocoevalcap @ ad63453cfab57a81a02b2949b17a91fab1c3df77,
  `cider/cider_scorer.py`, = PyPI pycocoevalcap 1.2): 1-4-grams, document frequencies over the references of the
  items scored together, log(number of items) as the reference length, clipped tf-idf cosine per n with a Gaussian
  length penalty (sigma 6; the "length" is counted as that code counts it, the number of bigrams), mean over n,
  divided by the number of references, times 10; the set's CIDEr is the mean over items.
- BLEU-4: sacrebleu `corpus_bleu` with its defaults (13a tokenisation, exponential smoothing), several references
  per item.
- ROUGE-L F1: rouge-score with whitespace tokens (its default tokenizer deletes Arabic), best over references,
  mean over items.
Tokens: the text lower-cased, punctuation (Unicode P*) removed, split on whitespace. pycocoevalcap first runs the
Stanford PTB tokenizer (Java), which the kit does not run; for Arabic it differs in punctuation handling only.
Not implemented (listed by `ainkit evaluate --list`): BERTScore (needs a multilingual BERT; none ships offline) and
the GPT-4 judge (its prompt is not published). The prompts sent are the kit's own (the paper's are not published):
CAPTION_PROMPT for captioning; for VQA the question, then ANSWER_HINT.

Items (JSON Lines, one per image and task): {dataset: jordan|emirates|egypt|morocco, task: caption|vqa, id,
question (VQA; captioning uses CAPTION_PROMPT), images: [path], answer: [reference, ...]}. The hub copy is gated and
its schema could not be read from here: convert it to this format (`--data FILE`); `--data hub` says so.
Every score comes with a 95 % percentile-bootstrap interval over images (items that share an image drawn together).
"""
from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from ainkit.services.records import RecordError, write_records

PYCOCO_COMMIT = "ad63453cfab57a81a02b2949b17a91fab1c3df77"
DATASETS = ["jordan", "emirates", "egypt", "morocco"]
TASKS = ["caption", "vqa"]
CAPTION_PROMPT = "صف هذه الصورة في جملة أو جملتين."
ANSWER_HINT = "أجب بإيجاز."
MAX_TOKENS = 128
SIGNATURE = (f"jeem|cider:pycocoevalcap@{PYCOCO_COMMIT[:7]} n=4 sigma=6|bleu:sacrebleu-corpus-13a|"
             "rougeL:f1-max-ref|tokens:lower,no-punct,whitespace|ci95:bootstrap-image")


def tokens(text: str) -> list[str]:
    """Lower-cased, punctuation removed, split on whitespace."""
    return "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower()).split()


def _ngrams(words: list[str], n: int = 4) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def cider(hypotheses: list[str], references: list[list[str]], n: int = 4, sigma: float = 6.0) -> list[float]:
    """Per-item CIDEr as pycocoevalcap's CiderScorer computes it (inputs already tokenised: space-separated)."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("CIDEr needs one hypothesis and at least one reference per item")
    crefs = [[_ngrams(r.split(), n) for r in refs] for refs in references]
    ctest = [_ngrams(h.split(), n) for h in hypotheses]
    df: dict[tuple[str, ...], float] = defaultdict(float)
    for refs in crefs:
        for g in {g for ref in refs for g in ref}:
            df[g] += 1
    ref_len = math.log(float(len(crefs)))

    def vec(counts):
        v = [dict() for _ in range(n)]
        norm, length = [0.0] * n, 0
        for g, tf in counts.items():
            k = len(g) - 1
            v[k][g] = float(tf) * (ref_len - math.log(max(1.0, df.get(g, 0.0))))
            norm[k] += v[k][g] ** 2
            if k == 1:  # pycocoevalcap counts the length in bigrams
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    scores = []
    for test, refs in zip(ctest, crefs):
        vh, nh, lh = vec(test)
        total = [0.0] * n
        for ref in refs:
            vr, nr, lr = vec(ref)
            penalty = math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2))
            for k in range(n):
                val = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
                if nh[k] != 0 and nr[k] != 0:
                    val /= nh[k] * nr[k]
                total[k] += val * penalty
        scores.append(sum(total) / n / len(refs) * 10.0)
    return scores


def rouge_l(hypotheses: list[str], references: list[list[str]]) -> list[float]:
    """Per-item ROUGE-L F1 (rouge-score, whitespace tokens), best over the item's references."""
    from rouge_score import rouge_scorer

    class Whitespace:
        @staticmethod
        def tokenize(text: str) -> list[str]:
            return text.split()

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Whitespace())
    return [max(scorer.score(r, h)["rougeL"].fmeasure for r in refs) for h, refs in zip(hypotheses, references)]


def bleu_stats(hypotheses: list[str], references: list[list[str]]):
    """Per-item sacrebleu BLEU sufficient statistics (summed over items they give corpus_bleu exactly)."""
    from sacrebleu.metrics import BLEU

    width = max(len(r) for r in references)
    streams = [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]
    metric = BLEU()
    return metric, metric._extract_corpus_statistics(hypotheses, streams)


def score(rows: list[dict[str, Any]], resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """CIDEr, BLEU-4 and ROUGE-L of rows {prediction, answer: [refs], images} with 95 % intervals over images."""
    import numpy as np

    from ainkit.stages.evaluate import compare

    hyps = [" ".join(tokens(r["prediction"] or "")) for r in rows]
    refs = [[" ".join(tokens(a)) for a in r["answer"]] for r in rows]
    clusters = compare.clusters_of(rows)
    per_cider, per_rouge = cider(hyps, refs), rouge_l(hyps, refs)
    metric, stats = bleu_stats(hyps, refs)
    stats = np.asarray(stats, dtype=float)

    def bleu(summed) -> float:
        return float(metric._compute_score_from_stats([int(x) for x in summed]).score)

    ones = np.ones(len(rows))
    out = {"n": len(rows), "images": len(set(clusters))}
    for name, values, statistic in (
            ("cider", np.column_stack([per_cider, ones]), lambda s: s[0] / s[1]),
            ("rougeL", np.column_stack([per_rouge, ones]), lambda s: 100 * s[0] / s[1]),
            ("bleu", stats, bleu)):
        out[name] = statistic(values.sum(axis=0))
        out[name + "_ci95"] = compare.cluster_interval(values, clusters, statistic, resamples, seed)
    return out


def summarize(rows: list[dict[str, Any]], resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores per task, per task and dialect, and the per-item CIDEr / ROUGE-L (for the predictions file)."""
    out: dict[str, Any] = {"signature": SIGNATURE, "tasks": {}, "dialects": {}}
    for task in TASKS:
        part = [r for r in rows if r["task"] == task]
        if not part:
            continue
        out["tasks"][task] = score(part, resamples, seed)
        for ds in DATASETS:
            sub = [r for r in part if r["dataset"] == ds]
            if sub:
                out["dialects"].setdefault(ds, {})[task] = score(sub, resamples, seed)
    return out


def validate(source: str | Path, located: list[tuple[str, dict[str, Any]]]) -> None:
    """Every item needs a dialect 'dataset', a 'task', 'images', references in 'answer' and (VQA) a 'question'."""
    if not located:
        raise RecordError(f"{source}: no items")
    for where, it in located:
        answer = it.get("answer")
        if (it.get("dataset") not in DATASETS or it.get("task") not in TASKS or not it.get("images")
                or not isinstance(answer, list) or not answer or not all(isinstance(a, str) and a.strip() for a in answer)
                or it.get("task") == "vqa" and not isinstance(it.get("question"), str)):
            raise RecordError(f"{source}: {where}: a JEEM item needs 'dataset' ({', '.join(DATASETS)}), 'task' "
                              f"({', '.join(TASKS)}), 'images', 'answer' (a list of non-empty reference strings) and, "
                              "for vqa, a 'question'")


def prompt(item: dict[str, Any]) -> str:
    """The text sent with the image: CAPTION_PROMPT, or the question and ANSWER_HINT."""
    return CAPTION_PROMPT if item["task"] == "caption" else f"{item['question'].strip()}\n{ANSWER_HINT}"


FIXTURE = [  # (dialect, colour, caption references, (question, answer references))
    ("jordan", "red", ["صورة حمراء بالكامل", "لون أحمر يملأ الصورة"], ("شو لون الصورة؟", ["أحمر"])),
    ("emirates", "green", ["صورة خضراء بالكامل", "لون أخضر يملأ الصورة"], ("شو لون الصورة؟", ["أخضر"])),
    ("egypt", "blue", ["صورة زرقاء بالكامل", "لون أزرق مالي الصورة"], ("الصورة لونها إيه؟", ["أزرق"])),
    ("morocco", "yellow", ["صورة صفراء بالكامل", "لون أصفر عامر التصويرة"], ("شنو هو اللون ديال التصويرة؟", ["أصفر"])),
]


def write_fixture(folder: str | Path) -> Path:
    """A small offline set in the items format (written by the kit, not JEEM data): one plain image per dialect,
    captioned and asked its colour; returns FOLDER/items.jsonl."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for ds, colour, captions, (question, answers) in FIXTURE:
        path = folder / "images" / f"{ds}.png"
        Image.new("RGB", (64, 48), colour).save(path)
        note = "ainkit fixture: written by the kit to exercise the path; not JEEM data"
        items.append({"dataset": ds, "task": "caption", "id": f"{ds}-caption", "images": [f"images/{path.name}"],
                      "answer": captions, "source": note})
        items.append({"dataset": ds, "task": "vqa", "id": f"{ds}-vqa-0", "question": question,
                      "images": [f"images/{path.name}"], "answer": answers, "source": note})
    return write_records(folder / "items.jsonl", items)


def data_file(data: str, output: str | Path) -> Path:
    """The item file `--data` names: 'fixture' (written into OUTPUT/fixture/) or a JSON Lines file as it is."""
    if data == "fixture":
        return write_fixture(Path(output) / "fixture")
    if data == "hub":
        raise RecordError("jeem: --data hub is not supported: the hub copy (toloka/JEEM) is gated and its schema could "
                          "not be read from here; accept its terms, download it, convert it to the items format "
                          "(ainkit.stages.evaluate.jeem's docstring) and pass --data FILE")
    return Path(data)


def run(model: str, data: str | Path, output: str, limit: int | None = None, concurrency: int = 16,
        base_url: str | None = None, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Ask `model` every item (answers cached), score, write OUTPUT/predictions.jsonl and OUTPUT/results.json."""
    from ainkit.ground import atomic
    from ainkit.stages.evaluate import runner

    located = runner.read_located(data)[:limit] if limit else runner.read_located(data)
    validate(data, located)
    runner.refuse_duplicates(data, located)
    items = [{**it, "dataset": it["dataset"], "question": prompt(it)} for _, it in located]
    asked = runner.ask_items("jeem", model, items, Path(data).parent, output, concurrency, max_images=1,
                             base_url=base_url, max_tokens=MAX_TOKENS)
    rows = [{**r, "task": it["task"]} for (_, r), it in zip(runner.read_located(asked), items, strict=True)]
    runner.require_answers(model, rows)
    results = {"benchmark": "jeem", "model": model, "data": str(data), "items": len(rows),
               **summarize(rows, resamples, seed)}
    write_records(Path(output) / "predictions.jsonl", rows)
    atomic.write_json(Path(output) / "results.json", results)
    return results


def render(results: dict[str, Any]) -> Iterable[str]:
    """One line per task: CIDEr, BLEU-4, ROUGE-L with their intervals."""
    for task, s in results["tasks"].items():
        yield (f"{task}: n={s['n']} ({s['images']} images)  CIDEr {s['cider']:.3f} [{s['cider_ci95'][0]:.3f}, "
               f"{s['cider_ci95'][1]:.3f}]  BLEU-4 {s['bleu']:.2f} [{s['bleu_ci95'][0]:.2f}, {s['bleu_ci95'][1]:.2f}]  "
               f"ROUGE-L {s['rougeL']:.2f} [{s['rougeL_ci95'][0]:.2f}, {s['rougeL_ci95'][1]:.2f}]")
