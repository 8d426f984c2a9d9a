"""curate's last step: the images the verified records use, each judged once for toxicity (LlavaGuard's policy,
ainkit.stages.toxicity) through the decision cache every shard shares; a record is kept when all its images are
safe (or, with `toxicity.mode: skip`, unscreened) and it is a valid training record (ainkit.pipelines.export's
checks). The kept records carry their provenance: each step's model or encoder and settings.

    step_toxicity(run, 0, cache_dir, progress=False)     # shards/00/8_kept.jsonl
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ainkit.pipelines.curate.clients import Usage, endpoint_of
from ainkit.pipelines.curate.config import VERSION, ShardIncomplete, fingerprint
from ainkit.pipelines.curate.rundir import Run
from ainkit.pipelines.curate.seen import Decisions
from ainkit.services.records import read_lines, record_writer
from ainkit.services.stageio import StageIO


def image_paths(rec: dict[str, Any]) -> list[str]:
    """The record's image paths (`images`, a list, or `image`, one), as written in it."""
    raw = rec.get("images", rec.get("image"))
    if isinstance(raw, str):
        return [raw]
    return [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []


def _list_images(run: Run, i: int) -> Path:
    """8_images.jsonl: every image the shard's verified records use, once each, as the toxicity stage's records."""
    listing = run.shard_dir(i) / "8_images.jsonl"
    seen = Decisions(run.shard_dir(i) / "8_images.seen.sqlite")
    try:
        with record_writer(listing) as write:
            for line in read_lines(run.output(i, "verify")):
                for p in image_paths(line.record or {}):
                    if seen.get(p) is None:
                        seen.put(p, True, "")
                        write({"id": p, "image": str(run.images / p)})
    finally:
        seen.close()
    return listing


def _judge_images(run: Run, i: int, cache_dir: str | None, progress: bool, decisions: Decisions) -> dict[str, Any]:
    """Judge every image the verified records use (once each); fill `decisions`. Returns the stage's counts."""
    from ainkit.services import cache, endpoint
    from ainkit.services.llm import Client
    from ainkit.stages import toxicity

    section = run.config["toxicity"]
    listing = _list_images(run, i)
    backend = endpoint.vision_backend(endpoint_of(section), refusal=(
        f"toxicity.model {section['model']!r}: not a vision endpoint (openai:NAME or a backend of configs/llm.yaml); "
        "the embedded server is text-only and never judges images"))
    print(f"[curate] toxicity: {backend.describe()}; policy {toxicity.POLICY_VERSION}", flush=True)
    client = Client(backend, concurrency=section["concurrency"], cache=cache.open_cache(cache_dir))
    usage = Usage(run.shard_dir(i) / "usage", "toxicity", client)
    judged, rej = run.shard_dir(i) / "8_toxicity.jsonl", run.shard_dir(i) / "8_toxicity.rejects.jsonl"
    try:
        summary, counts = toxicity.run(listing, judged, client, rej, progress=progress)
    finally:
        usage.close()
        client.close()
    _read_decisions(judged, rej, decisions)
    if summary.endpoint_failed:
        raise ShardIncomplete(f"shard {i}: toxicity: {summary.endpoint_failed} image(s) failed at the endpoint; run the "
                              "same command again to retry them")
    return {"images": summary.read, **{k: v for k, v in counts.items()}}  # requests, tokens, cost: in usage/


def _read_decisions(judged: Path, rej: Path, decisions: Decisions) -> None:
    """Each judged image's decision (and why it is unsafe), and each image the judge could not judge, as unsafe."""
    for line in read_lines(judged) if judged.is_file() else ():
        r = line.record
        t = r.get("toxicity", {})
        why = "" if r.get("keep") else f"image {r['id']}: {t.get('rating', '?')} ({t.get('category', 'no category')})"
        decisions.put(r["id"], bool(r.get("keep")), why)
    for line in read_lines(rej) if rej.is_file() else ():
        r = line.record
        if r and isinstance(r.get("record"), dict):
            decisions.put(r["record"]["id"], False, f"image {r['record']['id']}: not judged ({'; '.join(r['reasons'])})")


def provenance(config: dict[str, Any]) -> dict[str, Any]:
    """Per step: its model or encoder, prompt version and a fingerprint of its settings (same for every record)."""
    from ainkit.stages import metrics, toxicity, translate

    out = {}
    for step in ("translate", "back_translate"):
        s = config[step]
        settings = translate.Settings("en-ar" if step == "translate" else "ar-en", s["prompt_lang"], max_tokens=s["max_tokens"])
        fp = settings.fingerprint(endpoint_of(s).describe())
        out[step] = {"model": endpoint_of(s).describe(), "prompt": f"{translate.VERSION}/{fp['prompt_sha256']}",
                     "settings": fingerprint(fp)}
    out["similarity"] = {"encoder": config["similarity"]["encoder"], "settings": fingerprint(config["similarity"])}
    out["metrics"] = {"version": metrics.VERSION, "settings": fingerprint(config["metrics"])}
    out["verify"] = {"thresholds": config["verify"]["thresholds"]}
    tox = config["toxicity"]
    out["toxicity"] = ({"screened": False, "mode": "skip"} if tox["mode"] == "skip" else
                       {"screened": True, "model": tox["model"], "policy": toxicity.POLICY_VERSION, "settings": fingerprint(tox)})
    return out


def step_toxicity(run: Run, i: int, cache_dir: str | None, progress: bool) -> dict[str, Any]:
    """Keep a verified record when its images are safe (or, with `skip`, unscreened) and it can train."""
    mode = run.config["toxicity"]["mode"]
    decisions = Decisions(run.shard_dir(i) / "8_decisions.sqlite")
    extra: dict[str, Any] = {"images screened": mode != "skip"}
    try:
        if mode == "required":
            if run.config["toxicity"]["model"]:
                extra |= _judge_images(run, i, cache_dir, progress, decisions)
            else:
                extra["judge"] = "none configured (toxicity.model): no image can be kept"
        prov = provenance(run.config)
        settings = {"stage": "curate-toxicity", "version": VERSION, "mode": mode, "images": str(run.images),
                    "judge": run.config["toxicity"]["model"]}
        with StageIO(run.output(i, "verify"), run.output(i, "toxicity"), rejects=run.rejects(i, "toxicity"),
                     settings=settings) as io:
            for rec in io.pending():
                reasons = _reasons(rec, run, decisions)
                if reasons:
                    io.reject(rec, reasons)
                    continue
                rec["provenance"] = prov
                io.emit(rec)
    finally:
        decisions.close()
    d = dataclasses.asdict(io.summary)
    d["extra"] = {**d["extra"], **extra}
    return d


def _reasons(rec: dict[str, Any], run: Run, decisions: Decisions) -> list[str]:
    """Why a verified record cannot be kept: an image judged unsafe or not judged, a chat or image a trainer refuses."""
    from ainkit.pipelines.export import conversation, image_problem

    judge = run.config["toxicity"]["model"]
    paths = image_paths(rec)
    reasons = []
    for p in paths:
        if run.config["toxicity"]["mode"] == "skip":
            continue
        got = decisions.get(p)
        if got is None:
            reasons.append(f"image {p}: not screened (toxicity: required, and no vision judge is configured)"
                           if not judge else f"image {p}: no decision")
        elif not got[0]:
            reasons.append(got[1])
    _, _, problems = conversation(rec)
    reasons += problems
    reasons += [w for w in (image_problem(run.images / p, p) for p in paths) if w]
    return reasons
