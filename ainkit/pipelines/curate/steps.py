"""curate's steps over one shard, in order, each an ordinary stage (ainkit.services.stageio.StageIO or a stage's own
run over it: journalled, resumable, rejects beside its output) in shards/NN/.

    run_shard("runs/curate/demo", 0)      # the steps of shard 0 not done yet; progress.json says which are

The input step reads the input itself (any of the three forms, ainkit.pipelines.curate.sources) and writes
through records' writers; the toxicity step is in ainkit.pipelines.curate.screening.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from ainkit.ground import atomic
from ainkit.pipelines.curate.clients import check_services, endpoint_of, opened_client
from ainkit.pipelines.curate.config import DOWNLOAD_SWITCH, STEPS, VERSION, CurateError, ShardIncomplete
from ainkit.pipelines.curate.rundir import Run
from ainkit.pipelines.curate.screening import step_toxicity
from ainkit.pipelines.curate.seen import FirstLines
from ainkit.pipelines.curate.sources import source_rows
from ainkit.services.records import record_writer, shard_of
from ainkit.services.stageio import StageIO


def summary_of(summary) -> dict[str, Any]:
    """A stage's Summary as progress.json keeps it."""
    return dataclasses.asdict(summary)


def chat_form(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as the steps take it: a top-level `system` string (ShareGPT's system column) moved into the chat
    as its first turn, so it is translated, back-translated and scored like every turn (never left in English)."""
    from ainkit.services.chat import CHAT_KEYS

    system = rec.get("system")
    key, text_key = next(((k, t) for k, t in CHAT_KEYS if isinstance(rec.get(k), list)), (None, None))
    if key is None or not isinstance(system, str) or not system.strip():
        return rec
    turn = {"role": "system", "content": system} if key == "messages" else {"from": "system", "value": system}
    return {k: ([turn, *v] if k == key else v) for k, v in rec.items() if k != "system"}



def step_input(run: Run, i: int) -> dict[str, Any]:
    """The shard's rows of the input, each with an id, into 0_input.jsonl; malformed lines and records whose id an
    earlier line has (all of an id's records are in the same shard) to its rejects, each with its own line."""
    t0 = time.time()
    counts: Counter = Counter()
    seen = FirstLines(run.shard_dir(i) / "0_input.ids.sqlite")
    try:
        with record_writer(run.output(i, "input")) as keep, record_writer(run.rejects(i, "input")) as reject:
            for pos, rec, rid, error, raw in source_rows(run.input):
                if shard_of(rid, run.shards) == i:
                    counts[_take_row(pos, rec, rid, error, raw, seen, keep, reject)] += 1
    finally:
        seen.close()
    return {"read": sum(counts.values()), "kept": counts["kept"], "rejected": counts["rejected"],
            "malformed": counts["malformed"], "endpoint_failed": 0, "seconds": round(time.time() - t0, 2), "extra": {}}


def _take_row(pos: int, rec: dict[str, Any] | None, rid: str, error: str, raw: str, seen: FirstLines,
              keep: Callable[[dict[str, Any]], None], reject: Callable[[dict[str, Any]], None]) -> str:
    """One input row of the shard to the output or the rejects; says which: kept, rejected or malformed."""
    if error:
        reject({"line": pos, "id": rid, "raw": raw, "reasons": [error]})
        return "malformed"
    try:
        text = json.dumps(rec, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        reject({"line": pos, "id": rid, "reasons": [f"not JSON-serialisable: {exc}"]})
        return "malformed"
    first = seen.first(rid, pos)
    if first is not None:
        reject({"line": pos, "id": rid, "record": json.loads(text),
                "reasons": [f"duplicate id {rid!r} (first at line {first})"]})
        return "rejected"
    if rec.get("id") is None or rec.get("id") == "":
        rec = {"id": rid, **{k: v for k, v in rec.items() if k != "id"}}
    keep(chat_form(rec))
    return "kept"


def structure_problems(rec: dict[str, Any], images: Path, max_chars: int = 20_000) -> list[str]:
    """Why a record cannot be curated, found without a request: the chat a trainer would refuse (roles, order,
    `<image>` placeholders vs images, ainkit.pipelines.export's checks), a missing or unreadable image, nothing to translate."""
    from ainkit.stages import translate
    from ainkit.pipelines.export import conversation, image_problem

    reasons = []
    if "system" in rec and not isinstance(rec["system"], str):
        reasons.append(f"'system' is a {type(rec['system']).__name__}, not text")
    _, paths, problems = conversation(rec)
    reasons += problems
    reasons += [p for p in translate.plan(rec, None, True, max_chars, "--set translate.max_chars=N").problems
                if p not in reasons]
    reasons += [w for w in (image_problem(images / p, p) for p in paths) if w]
    return reasons


def step_structure(run: Run, i: int) -> dict[str, Any]:
    """The free checks (`structure_problems`) of every record, before any paid step; and, with `leakage.drop` set,
    the records `ainkit leakage` found in a benchmark (with its reasons)."""
    settings = {"stage": "curate-structure", "version": VERSION, "images": str(run.images)}
    drops: dict[str, list[str]] = {}
    path = run.config.get("leakage", {}).get("drop")
    if path:
        from ainkit.pipelines.leakage import read_drop
        from ainkit.services.cache import file_sha256

        drops = read_drop(path)
        settings["leakage_drop"] = {"path": str(path), "sha256": file_sha256(path)}
    with StageIO(run.output(i, "input"), run.output(i, "structure"), rejects=run.rejects(i, "structure"),
                 settings=settings) as io:
        for rec in io.pending():
            reasons = drops.get(str(rec.get("id")), []) + structure_problems(rec, run.images,
                                                                             run.config["translate"]["max_chars"])
            if reasons:
                io.reject(rec, reasons)
            else:
                io.emit(rec)
    return summary_of(io.summary)


def placeholder_free(text: str) -> str:
    """The text without `<image>` and the other placeholders, its spaces collapsed."""
    from ainkit.stages.translate import PLACEHOLDER

    return " ".join(PLACEHOLDER.sub(" ", text).split())


def _chat_texts(turns: Any, text_key: str) -> str:
    """The turns' texts without placeholders, one a line (empty ones left out)."""
    return "\n".join(t for t in (placeholder_free(turn.get(text_key, "")) for turn in turns
                                 if isinstance(turn, dict) and isinstance(turn.get(text_key), str)) if t)


def step_pairs(run: Run, i: int) -> dict[str, Any]:
    """`en` and `ar`: the chat's English source and Arabic translation as two texts (turns on their own lines)."""
    from ainkit.services.chat import CHAT_KEYS

    settings = {"stage": "curate-pairs", "version": VERSION}
    with StageIO(run.output(i, "translate"), run.output(i, "pairs"), rejects=run.rejects(i, "pairs"),
                 settings=settings) as io:
        for rec in io.pending():
            key, text_key = next(((k, t) for k, t in CHAT_KEYS if isinstance(rec.get(k), list)), (None, None))
            if key is None or not isinstance(rec.get(f"source_{key}"), list):
                io.reject(rec, ["no translated chat (messages/conversations with source_ copies)"])
                continue
            rec.pop("translation", None)  # the back-translation writes its own; provenance names both models
            rec["en"], rec["ar"] = _chat_texts(rec[f"source_{key}"], text_key), _chat_texts(rec[key], text_key)
            if not rec["en"] or not rec["ar"]:
                io.reject(rec, ["no text left once placeholders such as <image> are taken out"])
                continue
            io.emit(rec)
    return summary_of(io.summary)


def step_translate(run: Run, i: int, step: str, cache_dir: str | None, progress: bool) -> dict[str, Any]:
    """translate: EN->AR of every chat turn; back_translate: AR->EN of `ar` into `back_en` (ainkit.stages.translate)."""
    from ainkit.stages import translate

    section = run.config[step]
    direction = "en-ar" if step == "translate" else "ar-en"
    settings = translate.Settings(direction, section["prompt_lang"], max_tokens=section["max_tokens"],
                                  max_chars=section["max_chars"], max_chars_switch=f"--set {step}.max_chars=N")
    source = run.output(i, "structure" if step == "translate" else "pairs")
    batch = translate.BatchOptions() if section["batch"] else None
    if batch and endpoint_of(section).kind != "openai":
        raise CurateError(f"{step}.batch: {endpoint_of(section).describe()} has no Batch API; use an openai: model")
    messages = step == "translate"
    summary = translate.run(str(source), str(run.output(i, step)),
                            lambda: opened_client(section, cache_dir, step, run.shard_dir(i) / "usage"), settings,
                            None if messages else "ar", messages, None if messages else "back_en",
                            str(run.rejects(i, step)), progress=progress, model=endpoint_of(section).describe(), batch=batch)
    return summary_of(summary)


def step_similarity(run: Run, i: int, progress: bool) -> dict[str, Any]:
    """The cross-lingual cosine of `en` and `ar` (ainkit.stages.similarity)."""
    from ainkit.stages import similarity

    s = run.config["similarity"]
    summary = similarity.score_records(str(run.output(i, "back_translate")), str(run.output(i, "similarity")), s["encoder"],
                                       "en", "ar", s["batch_size"], str(run.rejects(i, "similarity")),
                                       allow_download=bool(s["allow_download"]) or None, progress=progress,
                                       warn=lambda m: print(f"[curate] similarity: warning: {m}", file=sys.stderr),
                                       switches={"allow_download": DOWNLOAD_SWITCH, "encoder": "--set similarity.encoder="})
    return summary_of(summary)


def step_metrics(run: Run, i: int, progress: bool) -> dict[str, Any]:
    """BLEU, METEOR and ROUGE of `back_en` against `en` (ainkit.stages.metrics), on up to 4 cores."""
    from ainkit.stages import metrics

    workers = max(1, min(4, len(os.sched_getaffinity(0))))
    summary, _ = metrics.score_records(str(run.output(i, "similarity")), str(run.output(i, "metrics")), "en", "back_en",
                                       workers=workers, rejects=str(run.rejects(i, "metrics")), progress=progress,
                                       max_words=run.config["metrics"]["max_words"],
                                       max_words_switch="--set metrics.max_words=N")
    return summary_of(summary)


def step_verify(run: Run, i: int) -> dict[str, Any]:
    """The config's thresholds (ainkit.stages.verify); its funnel beside the output."""
    from ainkit.stages import verify

    t0 = time.time()
    funnel = verify.run(str(run.output(i, "metrics")), str(run.output(i, "verify")), str(run.rejects(i, "verify")),
                        dict(run.config["verify"]["thresholds"]),
                        summary_path=str(run.shard_dir(i) / "7_verify.funnel.json"))
    d = funnel.as_dict()
    kept = d.get("kept", 0)
    return {"read": d.get("records_in", 0), "kept": kept, "rejected": d.get("records_in", 0) - kept,
            "malformed": funnel.malformed, "endpoint_failed": 0, "seconds": round(time.time() - t0, 2), "extra": {}}


STEP_RUNNERS: dict[str, Callable[[Run, int, str | None, bool], dict[str, Any]]] = {  # (run, shard, cache_dir, progress)
    "input": lambda run, i, cache_dir, progress: step_input(run, i),
    "structure": lambda run, i, cache_dir, progress: step_structure(run, i),
    "translate": lambda run, i, cache_dir, progress: step_translate(run, i, "translate", cache_dir, progress),
    "pairs": lambda run, i, cache_dir, progress: step_pairs(run, i),
    "back_translate": lambda run, i, cache_dir, progress: step_translate(run, i, "back_translate", cache_dir, progress),
    "similarity": lambda run, i, cache_dir, progress: step_similarity(run, i, progress),
    "metrics": lambda run, i, cache_dir, progress: step_metrics(run, i, progress),
    "verify": lambda run, i, cache_dir, progress: step_verify(run, i),
    "toxicity": step_toxicity,
}
NOTHING_REACHED = {"read": 0, "kept": 0, "rejected": 0, "malformed": 0, "endpoint_failed": 0, "seconds": 0.0,
                   "extra": {"skipped": "no records reached this step"}}


def run_shard(root: str | os.PathLike, i: int, cache_dir: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Run shard i's steps that are not done yet; returns its progress record."""
    run = Run.open(root)
    run.shard_dir(i).mkdir(parents=True, exist_ok=True)
    done = run.progress(i)["steps"]
    check_services(run.config, [step for step in STEPS if step not in done])
    for step in STEPS:
        if step in done:
            continue
        print(f"[curate] shard {i}/{run.shards}: {step} ...", flush=True)
        source = run.output(i, STEPS[STEPS.index(step) - 1]) if step != "input" else None
        if source is not None and source.stat().st_size == 0:  # nothing reached this step: no model to load
            atomic.write_text(run.output(i, step), "")
            summary = {**NOTHING_REACHED}
        else:
            summary = STEP_RUNNERS[step](run, i, cache_dir, progress)
        if summary.get("endpoint_failed"):
            raise ShardIncomplete(f"shard {i}: {step}: {summary['endpoint_failed']} record(s) failed at the endpoint "
                                  "(see its rejects); run the same command again to retry them")
        run.record(i, step, summary, done=step == STEPS[-1])
        print(f"[curate] shard {i}/{run.shards}: {step}: {summary['read']} read, {summary['kept']} kept, "
              f"{summary['rejected'] + summary['malformed']} rejected, {summary['seconds']:.1f} s", flush=True)
    return run.progress(i)
