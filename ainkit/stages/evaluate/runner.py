"""`ainkit evaluate`: ask a model every item once (cached), score, write DIR/predictions.jsonl and DIR/results.json.

    ainkit evaluate --benchmark arabic-mmlu --model local:smollm2-135m --data fixture --output runs/smol
    ainkit evaluate --benchmark arabic-mmlu --model hf:/path/to/model --data fixture --output runs/mine
    ainkit evaluate --benchmark camel-bench --predictions preds.jsonl --output runs/cb    # score a model's answers
    ainkit evaluate --benchmark camel-bench --model openai:gpt-4o --data items.jsonl --output runs/cb   # ask a VLM first

Models, read by ainkit.services.endpoint: `openai:NAME` (any OpenAI-compatible endpoint: OPENAI_BASE_URL /
OPENAI_API_KEY, or --base-url), `local:NAME` (the embedded llama.cpp server), `hf:PATH` (a local Hugging Face
causal LM, logits).
Every answer is kept in the kit's shared cache (ainkit.services.cache; ~/.cache/ainkit/store) keyed by
benchmark, model (for hf:PATH also its weight files), item id and prompt hash: an interrupted
run resumes without asking again, and re-scoring, into any output folder, asks nothing.
results.json holds accuracies in 0-1; notebook 06 overlays it on the radar and in the tables.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from ainkit.ground import atomic
from ainkit.services import cache, endpoint
from ainkit.services.llm import Client, LLMError
from ainkit.ground.errors import UserError
from ainkit.stages.evaluate import arabic_mmlu, camel_bench
from ainkit.stages.evaluate.hub import CAMEL_FIXTURE  # noqa: F401 (runner.CAMEL_FIXTURE)
from ainkit.services.records import RecordError, read_lines, write_records



@lru_cache(maxsize=16)
def model_identity(model: str) -> str:
    """The model spec, plus for hf:PATH the names, sizes and times of its weight files (retrained weights: new answers)."""
    try:
        ep = endpoint.parse_endpoint(model)
    except LLMError:  # no endpoint at all: the spec is its identity
        return model
    folder = Path(ep.name or "")
    if ep.kind != "hf" or not folder.is_dir():
        return model
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()
                   if p.suffix in (".safetensors", ".bin", ".pt", ".gguf"))
    return f"{model}@{cache.key(files)[:16]}"


def answer_identity(model: str, base_url: str | None = None) -> str:
    """Who answered: `model_identity`, plus for an OpenAI-compatible endpoint the server it is asked at (--base-url,
    else OPENAI_BASE_URL, else OpenAI's): the same model name served elsewhere is another model, as in translate's
    cache (ainkit.services.llm)."""
    import os

    ident = model_identity(model)
    try:
        ep = endpoint.parse_endpoint(model, base_url)
    except LLMError:
        return ident
    if ep.kind != "openai":
        return ident
    url = ep.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    return f"{ident}@{url.rstrip('/').lower()}"


class AnswerCache:
    """Model answers in the shared cache (ainkit.services.cache, namespace 'evaluate'): benchmark + model + item id + prompt."""

    def __init__(self, store: cache.Cache | None = None):
        self.store = store or cache.open_cache()

    @staticmethod
    def key(benchmark: str, model: str, item_id: str, phash: str, base_url: str | None = None) -> str:
        return cache.key("evaluate", benchmark, answer_identity(model, base_url), item_id, phash)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get("evaluate", key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.store.put("evaluate", key, value)

    def close(self) -> None:
        self.store.close()


def run_arabic_mmlu(model: str, data: str | None, output: str, limit: int | None = None, concurrency: int = 16,
                    base_url: str | None = None, formulation: str = arabic_mmlu.DEFAULT) -> dict[str, Any]:
    """Evaluate `model` (at `base_url` when given) on ArabicMMLU items asked in `formulation` (arabic_mmlu.FORMULATIONS);
    returns the results dict (also DIR/results.json)."""
    form = arabic_mmlu.formulation(formulation)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    items = arabic_mmlu.load(data, limit)
    cache = AnswerCache()
    t0, asked = time.time(), 0
    ep = endpoint.parse_endpoint(model, base_url)
    kind, name = ep.kind, ep.name
    preds: list[dict[str, Any]] = []
    try:
        todo = []
        for it in items:
            k = AnswerCache.key("arabic-mmlu", model, it["id"], arabic_mmlu.prompt_hash(it, form.name), base_url)
            hit = cache.get(k)
            todo.append((it, k, hit))
        missing = [(it, k) for it, k, hit in todo if hit is None]
        from_cache = len(todo) - len(missing)
        if missing and kind == "hf":
            from ainkit.stages.evaluate import local_vlm

            if local_vlm.is_qwen2_vl(name):  # a checkpoint of `ainkit train`: asked in its training format
                vlm = local_vlm.QwenVL(name)
                for it, k in missing:
                    letters = arabic_mmlu.LETTERS[:len(it["options"])]
                    scores = vlm.letter_scores(form.render(it), [c.strip() for c in form.continuations(it)])
                    cache.put(k, {"raw": None, "prediction": letters[max(range(len(scores)), key=scores.__getitem__)],
                                  "scores": scores})
                    asked += 1
            else:
                chooser = arabic_mmlu.LogLikelihoodChooser(name, form.name)
                for it, k in missing:
                    letter, scores = chooser.choose(it)
                    cache.put(k, {"raw": None, "prediction": letter, "scores": scores})
                    asked += 1
        elif missing and kind in ("openai", "local"):
            with endpoint.open_endpoint(ep, unset="openai:NAME needs OPENAI_BASE_URL or OPENAI_API_KEY") as b:
                client = Client(b, concurrency=concurrency)
                answers = client.run([[{"role": "user", "content": form.render(it)}] for it, _ in missing],
                                     max_tokens=16, temperature=0)
                for (it, k), ans in zip(missing, answers):
                    if ans.ok:  # a failed request is not cached: the next run asks again
                        cache.put(k, {"raw": ans.content, "prediction": arabic_mmlu.extract(ans.content, len(it["options"]))})
                        asked += 1
        elif missing:
            raise ValueError(f"--model {model!r}: use openai:NAME, local:NAME or hf:PATH")
        for it, k, _ in todo:
            hit = cache.get(k)
            pred = hit["prediction"] if hit else None
            preds.append({"id": it["id"], "category": it["category"], "answer": it["answer"], "prediction": pred,
                          "raw": hit.get("raw") if hit else None, "scores": hit.get("scores") if hit else None,
                          "correct": pred == it["answer"],
                          "error": "" if hit else "no answer (request failed)"})
    finally:
        cache.close()
    require_answers(model, [{"prediction": p["raw"] or p["prediction"]} if not p["error"] else {"prediction": None}
                            for p in preds])
    if preds and all(p["prediction"] is None for p in preds):
        raise LLMError(f"{model}: none of the {len(preds)} answers names an option (the first: "
                       f"{str(preds[0]['raw'])[:80]!r}): nothing is scored; is it a chat model that follows the prompt?")
    summary = arabic_mmlu.summarize(preds)
    add_intervals(summary, preds)
    results = {"benchmark": "arabic-mmlu", "model": model, "data": str(data or "fixture"), "formulation": form.name,
               "formulation_signature": form.signature(kind), "items": len(items),
               "asked_now": asked, "from_cache": from_cache, "seconds": round(time.time() - t0, 2), **summary}
    write_records(out / "predictions.jsonl", preds)
    atomic.write_json(out / "results.json", results)
    return results


def add_intervals(summary: dict[str, Any], preds: list[dict[str, Any]], resamples: int = 1000, seed: int = 0) -> None:
    """ArabicMMLU: a 95 % bootstrap interval beside each category's accuracy and the total (items drawn within
    their category; the total is the micro-average of the draw)."""
    from ainkit.stages.evaluate import compare

    groups: dict[str, tuple[list[bool], list[str]]] = {}
    for p in preds:
        correct, clusters = groups.setdefault(p["category"], ([], []))
        correct.append(bool(p["correct"]))
        clusters.append(str(p["id"]))
    if not groups:
        return
    draws = compare.stratified(groups, resamples, seed)
    for cat, (right, n) in draws.items():
        summary["categories"][cat]["ci95"] = compare.percentile95(right / n)
    summary["total"]["ci95"] = compare.percentile95(sum(r for r, _ in draws.values()) / sum(n for _, n in draws.values()))
    summary["interval"] = f"bootstrap:percentile-95|stratified:category|B:{resamples}|seed:{seed}"


def camel_intervals(rows: list[dict[str, Any]], weighting: str, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """CAMEL-Bench: 95 % bootstrap intervals of every data set, domain and total in both scoring modes (items that
    share an image drawn together, within their data set; each draw aggregated as the scores are)."""
    from ainkit.stages.evaluate import compare

    clusters = compare.clusters_of(rows)
    out: dict[str, Any] = {"signature": f"bootstrap:percentile-95|cluster:image|stratified:dataset|B:{resamples}|seed:{seed}"}
    for m in camel_bench.MODES:
        groups: dict[str, tuple[list[bool], list[str]]] = {}
        for r, c in zip(rows, clusters):
            correct, members = groups.setdefault(r["dataset"], ([], []))
            correct.append(bool(r[f"correct_{m}"]))
            members.append(c)
        draws = compare.stratified(groups, resamples, seed)
        per_draw = [camel_bench.aggregate({ds: (right[b] / n[b], int(n[b])) for ds, (right, n) in draws.items()}, weighting)
                    for b in range(resamples)]
        out[m] = {"datasets": {ds: compare.percentile95(right / n) for ds, (right, n) in draws.items()},
                  "domains": {d: compare.percentile95([a["domains"][d] for a in per_draw]) for d in per_draw[0]["domains"]},
                  "total": compare.percentile95([a["total"] for a in per_draw])}
    return out


def grade_open_ended(rows: list[dict[str, Any]], judge_model: str, concurrency: int = 16) -> dict[int, bool | None]:
    """Ask the LLM judge about every open-ended row with a usable prediction (answers in the shared cache); row index -> verdict."""
    from ainkit.stages.evaluate import judge

    todo = [(i, r) for i, r in enumerate(rows)
            if r.get("dataset") in camel_bench.JUDGED and not camel_bench.prediction_problem(r.get("prediction"))]
    verdicts = judge.ask(judge_model, [camel_bench.judge_messages(r.get("question", ""), r["prediction"], str(r["answer"]))
                                       for _, r in todo], camel_bench.parse_grade, max_tokens=4, concurrency=concurrency)
    return {i: v for (i, _), v in zip(todo, verdicts)}


def _unusable_grade(pred: str, gt: str) -> bool:
    raise ValueError("the judge's answer was not 0 or 1 (or its request failed)")


def run_camel_bench(predictions: str, output: str, model: str = "", judge_model: str | None = None,
                    weighting: str = "subdomain-mean") -> dict[str, Any]:
    """Score a predictions file ({dataset, id, prediction, answer[, question]} per line) in both modes; aggregate; write results.

    Every row is checked before anything is asked or written; a null, non-string or overlong prediction is
    wrong, with its reason in the row's "error" and counted per data set in "prediction_errors".
    """
    located = load_benchmark_results(predictions) if Path(predictions).is_dir() else read_located(predictions)
    if not located:
        raise RecordError(f"{predictions}: no predictions")
    for where, r in located:
        if r.get("dataset") not in camel_bench.DATASETS or "answer" not in r:
            raise RecordError(f"{predictions}: {where}: needs a known 'dataset' and an 'answer'")
    refuse_duplicates(predictions, located)
    out = Path(output)
    name = model or Path(predictions).stem
    withheld = [r for _, r in located if r["answer"] is None or not str(r["answer"]).strip()]
    rows = [r for _, r in located if not (r["answer"] is None or not str(r["answer"]).strip())]
    submission = write_submission(withheld, out / "submission", name) if withheld else None
    grades = grade_open_ended(rows, judge_model) if judge_model else {}
    per: dict[str, dict[str, list]] = {}
    scored = []
    for i, r in enumerate(rows):
        ds = r["dataset"]
        problem = camel_bench.prediction_problem(r["prediction"]) if "prediction" in r else "prediction is missing"
        if problem:
            verdicts = {m: camel_bench.Verdict(False) for m in camel_bench.MODES}
        else:
            judge = None
            if i in grades:
                grade = grades[i]
                judge = (lambda p, g, grade=grade: bool(grade)) if grade is not None else _unusable_grade
            verdicts = {m: camel_bench.score_item(ds, r["prediction"], r["answer"], m, judge) for m in camel_bench.MODES}
        per.setdefault(ds, {m: [] for m in camel_bench.MODES} | {"errors": [], "prediction_errors": [], "defects": {}})
        for m, v in verdicts.items():
            per[ds][m].append(int(v.correct))
        per[ds]["errors"].append(int(bool(verdicts["original"].error)))
        per[ds]["prediction_errors"].append(int(bool(problem)))
        if defect := verdicts["original"].defect:
            per[ds]["defects"][defect] = per[ds]["defects"].get(defect, 0) + 1
        scored.append({**r, **{f"correct_{m}": v.correct for m, v in verdicts.items()},
                       "original_error": verdicts["original"].error, "original_defect": defect, "error": problem})
    not_scored = unjudged(rows, grades, judge_model)
    for ds in not_scored:
        per.pop(ds, None)
    scored = [r for r in scored if r["dataset"] not in not_scored]
    datasets = {ds: {"n": len(v["corrected"]), **{m: sum(v[m]) / len(v[m]) for m in camel_bench.MODES},
                     "original_errors": sum(v["errors"]), "prediction_errors": sum(v["prediction_errors"]),
                     "original_defects": v["defects"]}
                for ds, v in per.items()}
    results = {"benchmark": "camel-bench", "model": name, "scoring_modes": list(camel_bench.MODES),
               "scored_items": len(scored), "withheld_answers": len(withheld), "not_scored": not_scored,
               "submission": str(submission) if submission else None,
               "datasets": datasets, "differences": {ds: round(d["corrected"] - d["original"], 4) for ds, d in datasets.items()
                                                     if d["corrected"] != d["original"]},
               "original_defects": camel_bench.DEFECTS}
    for m in camel_bench.MODES:
        results[m] = camel_bench.aggregate({ds: (d[m], d["n"]) for ds, d in datasets.items()}, weighting) if datasets else {}
    results["ci95"] = camel_intervals(scored, weighting) if scored else {}
    unjudged_rows = [{**r, "error": f"not scored: {not_scored[r['dataset']]}"} for r in rows if r["dataset"] in not_scored]
    write_records(out / "predictions.jsonl", scored + unjudged_rows
                  + [{**r, "error": "no answer key (withheld): not scored"} for r in withheld])
    atomic.write_json(out / "results.json", results)
    return results


def unjudged(rows: list[dict[str, Any]], grades: dict[int, bool | None], judge_model: str | None) -> dict[str, str]:
    """CAMEL-Bench's open-ended data sets that cannot be scored, with why: without --judge, every one present; with
    a judge, those where no reply about a usable prediction was 0 or 1. Their items are left out of the scores
    (not counted wrong): no accuracy from answers nobody graded."""
    out = {}
    for ds in sorted({r["dataset"] for r in rows} & camel_bench.JUDGED):
        idx = [i for i, r in enumerate(rows) if r["dataset"] == ds and i in grades]  # the items the judge was asked
        if not judge_model:
            out[ds] = "open-ended set: needs an LLM judge (--judge)"
        elif idx and all(grades[i] is None for i in idx):
            out[ds] = f"no reply of the judge {judge_model} was 0 or 1 for any of its {len(idx)} item(s)"
    return out


def write_submission(rows: list[dict[str, Any]], folder: Path, model: str) -> Path:
    """Predictions without an answer key (CAMEL-Bench's hub copy withholds them: its authors score submissions) in
    the benchmark's own results format, one `<model>_<dataset>.json` per data set: [{index, pred_answer, question}]
    (the files load_benchmark_results reads back once the keys are known)."""
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in model.replace(":", "-")).strip("-") or "model"
    by_set: dict[str, list[dict[str, Any]]] = {}
    for k, r in enumerate(rows):
        index = r.get("index", r.get("id", k))
        by_set.setdefault(r["dataset"], []).append({"index": index, "pred_answer": r.get("prediction"),
                                                     "question": r.get("question", "")})
    for dataset, items in by_set.items():
        atomic.write_json(folder / f"{safe}_{dataset}.json", items)
    return folder


def read_located(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """('line N', record) for every record of a JSON Lines file; a malformed line raises, naming the file and line."""
    located = []
    for line in read_lines(path):
        if line.error:
            raise RecordError(f"{path}: line {line.number}: {line.error}")
        located.append((f"line {line.number}", line.record))
    return located


def refuse_duplicates(source: str | Path, located: list[tuple[str, dict[str, Any]]]) -> None:
    """Refuse a (dataset, id) seen twice, naming the file, the id and both places; records without an id are not compared."""
    first: dict[tuple[Any, str], str] = {}
    for where, r in located:
        if r.get("id") is None or r.get("id") == "":
            continue
        key = (r.get("dataset"), str(r["id"]))
        if key in first:
            raise RecordError(f"{source}: {where}: duplicate id {key[1]!r} in data set {key[0]!r} (first at {first[key]})")
        first[key] = where


def load_benchmark_results(folder: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Predictions written by the benchmark's own scripts (results/<model>_<dataset>.json: index, pred_answer,
    answer, question) as the kit's predictions records, each with where it came from ('FILE item K')."""
    located = []
    for path in sorted(Path(folder).glob("*_*.json")):
        dataset = next((d for d in sorted(camel_bench.DATASETS, key=len, reverse=True) if path.stem.endswith("_" + d)), None)
        if dataset is None:
            continue
        try:
            items = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: not a JSON results file ({exc})") from None
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            raise RecordError(f"{path}: expected a JSON list of objects (index, pred_answer, answer, question)")
        for k, r in enumerate(items, 1):
            located.append((f"{path.name} item {k}", {"dataset": dataset, "id": f"{dataset}-{r.get('index')}",
                                                        "question": r.get("question", ""), "prediction": r.get("pred_answer"),
                                                        "answer": r.get("answer")}))
    if not located:
        raise RecordError(f"{folder}: no <model>_<dataset>.json results files of known CAMEL-Bench data sets")
    return located


def _item_image(it: dict[str, Any], i: int, path: Path, long_side: int) -> dict[str, Any]:
    """The image part of item `it` (number `i`), or a RecordError naming the item and the file."""
    from ainkit.services.images import ImageError

    try:
        return image_part(path, long_side)
    except ImageError as exc:
        raise RecordError(f"item {it.get('id', i)} ({it.get('dataset', '?')}): image {path}: {exc}") from None


def image_part(path: str | Path, long_side: int = 420) -> dict[str, Any]:
    """An OpenAI image_url part: the image resized so its long side is `long_side` (the benchmark's 420 px), as JPEG."""
    from ainkit.services import images

    return images.part(images.load(path, long_side, upscale=True)[1])


def ask_camel_bench(model: str, data: str, output: str, limit: int | None = None, concurrency: int = 16,
                    max_images: int = 5, long_side: int = 420, base_url: str | None = None) -> Path:
    """Ask a vision model (at `base_url` when given) every item ({dataset, id, question, images, answer} per line; at most
    `max_images` images, long side `long_side`, as the benchmark sends them); answers cached; returns the predictions file."""
    located = read_located(data)[:limit] if limit else read_located(data)
    if not located:
        raise RecordError(f"{data}: no items")
    for where, it in located:
        if it.get("dataset") not in camel_bench.DATASETS or "answer" not in it or not isinstance(it.get("question"), str):
            raise RecordError(f"{data}: {where}: needs a known 'dataset', a 'question' and an 'answer'")
    refuse_duplicates(data, located)
    return ask_items("camel-bench", model, [it for _, it in located], Path(data).parent, output, concurrency,
                     max_images, long_side, base_url)


def ask_items(benchmark: str, model: str, items: list[dict[str, Any]], base: Path, output: str, concurrency: int = 16,
              max_images: int = 5, long_side: int = 420, base_url: str | None = None, max_tokens: int = 512) -> Path:
    """Ask a vision model every item (images relative to `base`, then the question); cached per `benchmark`; writes
    OUTPUT/asked.jsonl."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    refusal = (f"--model {model!r}: {benchmark} needs a vision model: at an OpenAI-compatible endpoint "
               "(openai:NAME with OPENAI_BASE_URL / OPENAI_API_KEY) or a local Qwen2-VL checkpoint "
               "(hf:PATH); the embedded server is text-only")
    ep = _parse(model, base_url, refusal)
    for i, it in enumerate(items, 1):
        for p in it.get("images", [])[:max_images]:
            path = base / p if not Path(p).is_absolute() else Path(p)
            if not path.is_file():
                raise RecordError(f"item {it.get('id', i)} ({it.get('dataset', '?')}): image {p} not found "
                                  f"({'not a file' if path.exists() else 'no such file'}: {path})")
    if ep.kind == "hf":
        return _ask_local(ep.name, model, items, base, out, max_images, benchmark, max_tokens)
    backend = endpoint.vision_backend(ep, refusal=refusal, unset=refusal)
    client = Client(backend, concurrency=concurrency)
    cache = AnswerCache()
    try:
        todo, keys = [], {}
        for i, it in enumerate(items, 1):
            keys[i] = camel_key(model, it, i, base, benchmark,
                                f"long_side={long_side}|max_images={max_images}|max_tokens={max_tokens}|temperature=0",
                                base_url)
            if cache.get(keys[i]) is None:
                parts = [_item_image(it, i, base / p if not Path(p).is_absolute() else Path(p), long_side)
                         for p in it.get("images", [])[:max_images]]
                todo.append((i, [{"role": "user", "content": [*parts, {"type": "text", "text": it["question"]}]}]))
        if todo:  # every answer cached: nothing to ask, not even whether the model sees images
            endpoint.require_vision(backend, client)
        answers = client.run([m for _, m in todo], max_tokens=max_tokens, temperature=0)
        for (i, _), ans in zip(todo, answers):
            if ans.ok:
                cache.put(keys[i], {"prediction": ans.content})
        preds = []
        for i, it in enumerate(items, 1):
            hit = cache.get(keys[i])
            preds.append(camel_row(it, i, hit["prediction"] if hit else None))
    finally:
        cache.close()
    path = write_records(out / "asked.jsonl", preds)
    cached = len(items) - len(todo)
    print(client.stats.line(benchmark) + f"; {cached} of {len(items)} items from the answer cache" if todo else
          f"[{benchmark}] {model}: {len(items)} items, all from the answer cache: nothing asked")
    return path


def _parse(model: str, base_url: str | None, refusal: str) -> endpoint.Endpoint:
    """The endpoint of a model spec, or `refusal` when it names none (ainkit.services.endpoint reads every spec)."""
    try:
        return endpoint.parse_endpoint(model, base_url)
    except LLMError:
        raise LLMError(refusal) from None


def require_answers(model: str, rows: list[dict[str, Any]]) -> None:
    """Refuse to score when a request of `model` failed: an item it was never able to answer is not a wrong answer.
    The answers that came are in the cache, so the same command asks only the rest."""
    missing = sum(r.get("prediction") is None for r in rows)
    if missing:
        raise LLMError(f"{model}: {missing} of {len(rows)} items got no answer (the line above says why); nothing is "
                       "scored. The answers that came are cached: the same command asks only the rest")


def camel_key(model: str, it: dict[str, Any], i: int, base: Path, benchmark: str = "camel-bench", settings: str = "",
              base_url: str | None = None) -> str:
    """The answer-cache key of an item with images asked of `model`: its question, its images' bytes (a path
    relative to `base`) and the request `settings` (image size, image count, token limit), so a changed image or
    setting is asked again and a moved image is not; an unreadable image counts by its path (asking fails on it
    anyway)."""
    def content(p: str) -> str:
        try:
            return cache.file_sha256(base / p if not Path(p).is_absolute() else p)
        except OSError:
            return f"unreadable:{p}"
    images = [content(str(p)) for p in it.get("images", [])]
    phash = hashlib.sha256((it["question"] + "|" + "|".join(images) + (f"|{settings}" if settings else "")).encode()).hexdigest()[:16]
    return AnswerCache.key(benchmark, model, f"{it['dataset']}/{it.get('id', i)}", phash, base_url)


def camel_row(it: dict[str, Any], i: int, prediction: str | None) -> dict[str, Any]:
    """A predictions-file row for item `it` (number `i` when it has no id)."""
    return {"dataset": it["dataset"], "id": it.get("id", i), "question": it["question"], "answer": it["answer"],
            "prediction": prediction, **({"images": it["images"]} if it.get("images") else {})}  # images: compare's clusters


def _ask_local(path: str, model: str, items: list[dict[str, Any]], base: Path, out: Path, max_images: int,
               benchmark: str = "camel-bench", max_tokens: int = 64) -> Path:
    """Items answered by a local Qwen2-VL checkpoint (greedy generation with the item's images); cached."""
    from tqdm.auto import tqdm

    from ainkit.stages.evaluate import local_vlm

    if not local_vlm.is_qwen2_vl(path):
        raise UserError(f"--model hf:{path}: {benchmark} needs a vision model; {path} is not a Qwen2-VL-family folder "
                        "(config.json with model_type qwen2_vl or qwen2_5_vl)")
    cache, vlm, asked = AnswerCache(), None, 0
    try:
        preds = []
        for i, it in enumerate(tqdm(items, desc=benchmark, unit="item", disable=not sys.stderr.isatty()), 1):
            images = [str(p) for p in it.get("images", [])[:max_images]]
            key = camel_key(model, it, i, base, benchmark, f"max_images={max_images}|greedy|max_new_tokens={max_tokens}")
            hit = cache.get(key)
            if hit is None:
                vlm = vlm or local_vlm.QwenVL(path)
                question = it["question"].replace("<image>", "").strip()  # images first, as the API path sends them
                hit = {"prediction": vlm.generate("<image>" * len(images) + question, images, base, max_tokens)}
                cache.put(key, hit)
                asked += 1
            preds.append(camel_row(it, i, hit["prediction"]))
    finally:
        cache.close()
    print(f"[{benchmark}] {model}: {len(items)} items, {asked} generated now, {len(items) - asked} from the cache")
    return write_records(out / "asked.jsonl", preds)
