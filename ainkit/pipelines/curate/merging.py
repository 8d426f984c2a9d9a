"""curate's merge: the finished shards' files into the run's outputs, in input order, the same bytes whatever the
shard count or executor.

    merge("runs/curate/demo")   # kept.jsonl, rejects.jsonl, funnel.json/.png, export/, summary.json

Each reject has its input line, the record as that line had it, its step and every reason (`stage_record`: the
record as the step saw it, when it differs). summary.json counts records and seconds per step (progress.json)
and every request, token and dollar paid (the usage journals).
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from ainkit.ground import atomic
from ainkit.pipelines.curate.clients import Usage
from ainkit.pipelines.curate.config import PAID, STEPS, VERSION, CurateError
from ainkit.pipelines.curate.funnel import funnel_figure, funnel_of
from ainkit.pipelines.curate.rundir import Run
from ainkit.pipelines.curate.sources import check_input_unchanged, source_rows
from ainkit.services.records import read_lines, record_writer, shard_of


def reason_key(reason: str) -> str:
    """A reason without its record's particulars (turn numbers, scores, paths), to count reasons across records."""
    r = re.sub(r"^turn \d+(?: \(\w+\))?: ", "", reason)
    r = re.sub(r"^(\w+) -?[\d.]+ < ", r"\1 < ", r)                     # verify: "bleu4 0.1234 < 0.6"
    r = re.sub(r"^image .*?: ", "image: ", r)
    r = re.sub(r"^duplicate id .*", "duplicate id", r)                  # one reason, whatever the id
    r = re.sub(r"^request failed.*", "request failed at the endpoint", r)
    r = re.sub(r"\s*\([^()]*\)", "", r)
    r = re.sub(r"\s*\[[^\]]*\]", "", r)
    r = re.sub(r" -?[\d.]+(?= outside)", "", r)                       # "length ratio 9.1 outside 0.3-3.5"
    r = re.sub(r"\d[\d,]*(?= (?:characters|words|placeholder))", "N", r)
    return r.strip()


def _entries(path: Path, shard: int, count: int, kind: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(id, entry) of a shard's output or rejects file, skipping entries another shard owns; kind "lines": (input
    line, entry) of the input step's rejects (a duplicate id's record is matched to its own line, not its id)."""
    if not path.is_file():
        return
    for line in read_lines(path):
        e = line.record
        if e is None:
            raise CurateError(f"{path}: line {line.number}: {line.error} (a damaged run file; use --restart)")
        rid = str(e["id"]) if kind == "kept" or "id" in e else str((e.get("record") or {}).get("id", f"line:{e.get('line')}"))
        if shard_of(rid, count) == shard:
            yield (e["line"] if kind == "lines" else rid), e


class _Head:
    """The next (key, entry) of a shard file's entries, taken only when the merge reaches its key."""

    def __init__(self, it: Iterator[tuple[str, dict[str, Any]]]):
        self.it, self.item = it, next(it, None)

    def take(self, rid: Any) -> dict[str, Any] | None:
        if self.item is not None and self.item[0] == rid:
            got, self.item = self.item[1], next(self.it, None)
            return got
        return None


def reject_entry(rid: str, pos: int, step: str, entry: dict[str, Any], source: dict[str, Any] | None) -> dict[str, Any]:
    """One line of rejects.jsonl: the input line's own record (or its text, when malformed), the step and every
    reason; `stage_record`: the record as the step saw it (translation, scores), when that differs."""
    out = {"id": rid, "line": pos, "stage": step, "reasons": entry.get("reasons", [])}
    out |= {"endpoint": True} if entry.get("endpoint") else {}
    if source is not None:
        try:
            mine = json.loads(json.dumps(source, ensure_ascii=False))
        except (TypeError, ValueError):
            mine = None
        if mine is not None:
            out["record"] = mine
        if "record" in entry and entry["record"] != mine:
            out["stage_record"] = entry["record"]
    elif "raw" in entry:
        out["raw"] = entry["raw"]
    return out


def merge(root: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """kept.jsonl, rejects.jsonl, funnel.json/.png, export/ and summary.json from the finished shards."""
    t0 = time.time()
    run = Run.open(root)
    n = run.shards
    missing = [i for i in range(n) if not run.shard_done(i)]
    if missing:
        raise CurateError(f"{run.root}: shard(s) {', '.join(map(str, missing))} of {n} not finished; run the same command "
                          "again to resume them")
    check_input_unchanged(json.loads((run.root / "run.json").read_text())["input"], run.input,
                          "the shards' files were made from the old one: use --restart")
    read, kept, rejected = _kept_and_rejects(run)
    summary_ex = _export(run, progress)
    screened = run.config["toxicity"]["mode"] != "skip"
    fun = funnel_of(read, kept, rejected, summary_ex, screened)
    atomic.write_json(run.root / "funnel.json", fun)
    funnel_figure(fun, run.root / "funnel.png")
    summary = summarize(run, time.time() - t0)
    summary |= {"records": {"input": read, "kept": kept, "rejected": read - kept, "exported": summary_ex.kept},
                "images screened": screened}
    atomic.write_json(run.root / "summary.json", summary)
    return summary


def _kept_and_rejects(run: Run) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """kept.jsonl and rejects.jsonl in input order, each input row found in its shard's files; returns the records
    read, kept, and per step the records it rejected and their reasons (counted once a record)."""
    n = run.shards
    kept_heads = [_Head(_entries(run.output(i, "toxicity"), i, n, "kept")) for i in range(n)]
    line_heads = [_Head(_entries(run.rejects(i, "input"), i, n, "lines")) for i in range(n)]
    reject_heads = [[(step, _Head(_entries(run.rejects(i, step), i, n, "rejects"))) for step in STEPS[1:]]
                    for i in range(n)]
    funnel = {step: {"rejected": 0, "reasons": Counter()} for step in STEPS}
    read = kept = 0
    with record_writer(run.root / "kept.jsonl") as keep, record_writer(run.root / "rejects.jsonl") as reject:
        for pos, source, rid, _, _ in source_rows(run.input):
            read += 1
            s = shard_of(rid, n)
            found = line_heads[s].take(pos)  # the input step's rejects, by line: malformed, duplicate ids
            step = "input"
            if found is None:
                rec = kept_heads[s].take(rid)
                if rec is not None:
                    kept += 1
                    keep(rec)
                    continue
                step, found = next(((st, e) for st, head in reject_heads[s] if (e := head.take(rid)) is not None),
                                   ("", None))
            if found is None:
                raise CurateError(f"{run.root}: record {rid!r} (line {pos}) is in no shard file: a damaged run; use --restart")
            reject(reject_entry(rid, pos, step, found, source))
            funnel[step]["rejected"] += 1
            funnel[step]["reasons"].update(dict.fromkeys((reason_key(r) for r in found.get("reasons", [])), 1))  # once a record, in its order
    left = [(i, h.item[0]) for i, h in enumerate(kept_heads + line_heads) if h.item] + \
           [(i, h.item[0]) for i, hs in enumerate(reject_heads) for _, h in hs if h.item]
    if left:
        raise CurateError(f"{run.root}: shard {left[0][0]} holds record {left[0][1]!r}, which the input no longer has at its "
                          "place: was the input changed after the run started? Use --restart")
    return read, kept, funnel


def _export(run: Run, progress: bool):
    """export/: the kept records as a LLaMA-Factory and ms-swift data set, and its manifest; returns the export's
    Summary."""
    from ainkit.pipelines import export

    ex = run.config["export"]
    summary_ex, _ = export.run(run.root / "kept.jsonl", run.root / "export", ex["name"], ex["images"],
                                   images_dir=run.images, rejects=run.root / "export" / "rejects.jsonl", resume=False,
                                   progress=progress)
    screened = run.config["toxicity"]["mode"] != "skip"
    atomic.write_json(run.root / "export" / "manifest.json", {
        "records": summary_ex.kept, "rejected by the export": summary_ex.rejected,
        "images screened for toxicity": screened,
        "system prompts": ("translated and verified: a top-level `system` string of the input is the chat's first "
                           "turn from the input step on, so it went through translation, back-translation and the "
                           "similarity and metrics checks like every turn, and is exported as the system turn"),
        "toxicity": (f"judged by {run.config['toxicity']['model']} under policy (toxicity.mode: required)" if screened else
                     "NOT screened: toxicity.mode is skip in the config"),
        "source": str(run.input), "config": "../config.yaml", "funnel": "../funnel.json", "made_by": f"ainkit curate ({VERSION})"})
    return summary_ex


def summarize(run: Run, merge_seconds: float) -> dict[str, Any]:
    """Per step over all shards: records and task seconds (progress.json), and every request, token and dollar paid,
    from the usage journals (a killed and resumed step's work counted in full)."""
    per: dict[str, Counter] = {step: Counter() for step in STEPS}
    for i in range(run.shards):
        for step, s in run.progress(i)["steps"].items():
            c = per[step]
            for k in ("read", "kept", "rejected", "malformed"):
                c[k] += s.get(k, 0)
            c["seconds"] += s.get("seconds", 0.0)
        for step in PAID:
            per[step].update({"requests": 0, "from_cache": 0, "tokens": 0, "cost_usd": 0.0})
            per[step].update(Usage.total(run.shard_dir(i) / "usage", step))
    steps = {step: {k: round(v, 4) if isinstance(v, float) else v for k, v in c.items()} for step, c in per.items()}
    total = Counter()
    for c in per.values():
        for k in ("requests", "tokens", "cost_usd", "seconds"):
            total[k] += c.get(k, 0)
    return {"shards": run.shards, "steps": steps, "total": {k: round(v, 4) for k, v in total.items()},
            "merge_seconds": round(merge_seconds, 2)}
