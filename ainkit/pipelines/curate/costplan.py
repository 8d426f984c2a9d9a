"""curate's cost plan, for `--dry-run`: records per shard, and the requests, tokens and dollars the paid steps
would need (at configs/llm.yaml's prices, synchronous and through the Batch API), or the CPU-hours of a dedicated
MT model measured here on the input's first strings. Nothing is sent.

    ainkit curate --config configs/curate/ain.yaml --input chats.jsonl --output runs/curate/ain --dry-run
"""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

from ainkit.pipelines.curate.clients import endpoint_of
from ainkit.pipelines.curate.screening import image_paths
from ainkit.pipelines.curate.sources import source_rows
from ainkit.pipelines.curate.steps import chat_form, placeholder_free
from ainkit.services.records import shard_of


MT_SAMPLE = 32  # strings of the input a dry run translates to time a dedicated MT model


def plan(run_config: dict[str, Any], input: str | os.PathLike) -> dict[str, Any]:
    """Shards, records per shard, and the requests, tokens and cost the run would need at most (nothing sent)."""
    count = _count(run_config, Path(input))
    out = {"shards": run_config["shards"], "records": sum(count.per_shard), "malformed lines": count.malformed,
           "records per shard": count.per_shard, "images": len(count.images), "steps": {}}
    for step in ("translate", "back_translate"):
        out["steps"][step] = _step_plan(run_config[step], step, count)
    tox = run_config["toxicity"]
    out["steps"]["toxicity"] = {"mode": tox["mode"], "model": tox["model"],
                                "requests (at most)": len(count.images) if tox["mode"] == "required" and tox["model"] else 0}
    return out


@dataclasses.dataclass
class _Count:
    """What the input holds for the paid steps: records per shard, strings to translate and their tokens, images."""

    per_shard: list[int]
    malformed: int = 0
    strings: Counter = dataclasses.field(default_factory=Counter)
    tokens: Counter = dataclasses.field(default_factory=Counter)
    images: set[int] = dataclasses.field(default_factory=set)
    samples: dict[str, list[str]] = dataclasses.field(default_factory=lambda: {"translate": [], "back_translate": []})


def _count(run_config: dict[str, Any], input: Path) -> _Count:
    """One pass over the input: every record's strings as the translate step would send them (a chat whose structure
    fails costs nothing), and the back-translation of its text."""
    from ainkit.services import llm
    from ainkit.stages import translate

    n = run_config["shards"]
    c = _Count([0] * n)
    tr, bt = run_config["translate"], run_config["back_translate"]
    t_settings = translate.Settings("en-ar", tr["prompt_lang"], max_tokens=tr["max_tokens"], max_chars=tr["max_chars"])
    b_settings = translate.Settings("ar-en", bt["prompt_lang"], max_tokens=bt["max_tokens"])
    for _, rec, rid, error, _ in source_rows(input):
        if error:
            c.malformed += 1
            continue
        c.per_shard[shard_of(rid, n)] += 1
        rec = chat_form(rec)  # a top-level system prompt is translated too
        job = translate.plan(rec, None, True, t_settings.max_chars, "--set translate.max_chars=N")
        if job.problems:
            continue
        parts, todo, reqs = translate.requests_for(job.texts, t_settings)
        for k, m in zip(todo, reqs):
            if len(c.samples["translate"]) < MT_SAMPLE:
                c.samples["translate"].append(parts[k][1])
            c.strings["translate"] += 1
            c.tokens["translate_prompt"] += llm.estimate_tokens(m)
            c.tokens["translate_text"] += len(parts[k][1]) // 4
        joined = "\n".join(placeholder_free(t) for t in job.texts)
        if len(c.samples["back_translate"]) < MT_SAMPLE:
            c.samples["back_translate"].append(joined)  # English here: timed as a stand-in for its Arabic translation
        c.strings["back_translate"] += 1
        c.tokens["back_translate_prompt"] += llm.estimate_tokens(translate.messages_for(joined, b_settings))
        c.tokens["back_translate_text"] += len(joined) // 4
        for p in image_paths(rec):
            c.images.add(hash(p))
    return c


def _cost(section: dict[str, Any], prompt: int, completion: int, batch: bool) -> float | None:
    """At configs/llm.yaml's prices, as the stage's Client counts them; None when the model has none."""
    from ainkit.services import llm

    ep = endpoint_of(section)
    if ep.kind in ("local", "mt"):
        return 0.0
    client = llm.Client(llm.Backend("plan", "", ep.name or ""), cache=False)
    return client.price(prompt, completion, batch) if client.priced(batch) else None


def _step_plan(section: dict[str, Any], step: str, c: _Count) -> dict[str, Any]:
    """A paid step's requests, tokens and cost, at most and with answers as long as their source; CPU time for mt:."""
    prompt, completion = c.tokens[f"{step}_prompt"], c.strings[step] * section["max_tokens"]
    likely = c.tokens[f"{step}_text"]  # answers as long as the text they translate (4 characters a token)
    out = {"model": endpoint_of(section).describe(), "requests": c.strings[step], "prompt tokens": prompt,
           "completion tokens (at most)": completion, "completion tokens (as long as the source)": likely,
           "cost $ (synchronous)": _cost(section, prompt, completion, False),
           "cost $ (Batch API)": _cost(section, prompt, completion, True),
           "cost $ (synchronous, answers as long as the source)": _cost(section, prompt, likely, False),
           "cost $ (Batch API, answers as long as the source)": _cost(section, prompt, likely, True)}
    if endpoint_of(section).kind == "mt":
        out["cpu"] = _mt_cpu_plan(section, step, c.samples[step], c.strings[step])
    return out


def _mt_cpu_plan(section: dict[str, Any], step: str, sample: list[str], total: int) -> dict[str, Any]:
    """CPU-hours for a dedicated MT model: its rate measured here on the input's first strings, times the run's strings."""
    from ainkit.services import mt

    ep = endpoint_of(section)
    try:
        client = mt.open_client(ep.name, "ar-en" if step == "back_translate" else "en-ar", bool(section.get("allow_download")),
                                cache=False)
    except mt.MTUnavailable as exc:
        return {"error": str(exc)}
    if not sample:
        return {"error": "no string to time"}
    per_s, n = client.engine.rate(sample, client.direction, max_tokens=section["max_tokens"])
    threads = client.engine.threads
    return {"strings/s": per_s, "timed": n, "threads": threads, "device": client.engine.device,
            "cpu hours": total / per_s * threads / 3600, "hours on one such process": total / per_s / 3600}


def plan_lines(p: dict[str, Any]) -> list[str]:
    """The plan as the dry run prints it, a line a step."""
    def money(v):
        return "price unknown (configs/llm.yaml)" if v is None else f"${v:,.2f}" if v >= 1 else f"${v:.4f}"

    lines = [f"{p['records']:,} records ({p['malformed lines']} malformed lines) in {p['shards']} shard(s): "
             f"{min(p['records per shard']):,}-{max(p['records per shard']):,} a shard; {p['images']:,} distinct images"]
    for step in ("translate", "back_translate"):
        s = p["steps"][step]
        if "cpu" in s:
            lines.append(f"{step}: {s['model']}: {s['requests']:,} strings, about "
                         f"{s['completion tokens (as long as the source)']:,} tokens of text (4 characters a token); "
                         "a dedicated MT model on this machine: no API cost")
        else:
            lines.append(f"{step}: {s['model']}: {s['requests']:,} requests, about {s['prompt tokens']:,} prompt tokens + at most "
                         f"{s['completion tokens (at most)']:,} completion tokens (max_tokens each): at most "
                         f"{money(s['cost $ (synchronous)'])} synchronous, {money(s['cost $ (Batch API)'])} through the Batch API; "
                         f"about {money(s['cost $ (synchronous, answers as long as the source)'])} / "
                         f"{money(s['cost $ (Batch API, answers as long as the source)'])} if each answer is as long as its "
                         f"source ({s['completion tokens (as long as the source)']:,} tokens, 4 characters a token)")
        if "cpu" in s:
            c = s["cpu"]
            lines.append(f"{step}: CPU time: " + (
                f"not priced ({c['error']})" if "error" in c else
                f"{c['strings/s']:.2f} strings/s measured here on {c['timed']} strings of the input ({c['threads']} "
                f"thread(s), {c['device']}): about {c['cpu hours']:,.3g} CPU-hours for {s['requests']:,} strings "
                f"({c['hours on one such process']:,.3g} h on one such process; a job array of N such tasks divides it)"))
    t = p["steps"]["toxicity"]
    lines.append(f"toxicity: {t['mode']}" + (f", {t['model']}: at most {t['requests (at most)']:,} requests (images not in "
                                            "the decision cache)" if t["model"] else ", no judge configured"))
    return lines
