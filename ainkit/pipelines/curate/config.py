"""curate's settings: the defaults every run starts from, a preset and `--set` over them (ainkit.services.config).

    cfg = load_config("configs/curate/tiny.yaml", ["translate.concurrency=32"], shards=4)

Also the names the other modules share: the steps in order, their files, and the run format's VERSION.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ainkit.ground.errors import UserError
from ainkit.stages.verify import DEFAULT_RULES

EXECUTORS = ("local", "slurm", "debug")
STEPS = ("input", "structure", "translate", "pairs", "back_translate", "similarity", "metrics", "verify", "toxicity")
FILES = {"input": "0_input.jsonl", "structure": "1_structure.jsonl", "translate": "2_translate.jsonl",
         "pairs": "3_pairs.jsonl", "back_translate": "4_back.jsonl", "similarity": "5_similarity.jsonl",
         "metrics": "6_metrics.jsonl", "verify": "7_verify.jsonl", "toxicity": "8_kept.jsonl"}
PAID = ("translate", "back_translate", "toxicity")  # steps that send requests (usage journalled)
DOWNLOAD_SWITCH = "--set similarity.allow_download=true"
LLM_SECTION = {"model": None, "backend": None, "prompt_lang": "en", "concurrency": 8, "max_tokens": 1024, "batch": False,
               "allow_download": False, "max_chars": 20_000}  # allow_download: an mt:HUB_ID model may be fetched from the hub
DEFAULTS: dict[str, Any] = {
    "shards": 1,
    "translate": dict(LLM_SECTION),
    "back_translate": dict(LLM_SECTION),
    "similarity": {"encoder": "auto", "batch_size": 32, "allow_download": False},
    "metrics": {"max_words": 1000},
    "verify": {"thresholds": dict(DEFAULT_RULES)},  # the report's (Figure 13), owned by the verify stage
    "leakage": {"drop": None},  # a drop list of `ainkit leakage` (OUTPUT/drop.jsonl): its records rejected at structure
    "toxicity": {"mode": "required", "model": None, "backend": None, "concurrency": 16},
    "export": {"name": "ain_curated", "images": "copy"},
    "slurm": {"partition": None, "array_parallelism": 16, "cpus_per_task": 2, "mem_gb": None, "time_min": 240},
}
NOT_RESULTS = ("slurm",)  # config sections that do not change what a run writes (free to change on a re-run)
VERSION = "curate-2"      # bump when a step's output changes: runs of another version do not resume


class CurateError(UserError):
    """A curate run that cannot go on; the message says why and what to do."""


class ShardIncomplete(CurateError):
    """Some records of a shard failed at the endpoint: exit 3, the same command retries them."""

    exit_code = 3


def load_config(path: str | os.PathLike, overrides: list[str] | None = None, shards: int | None = None) -> dict[str, Any]:
    """The config file over DEFAULTS, then `--set KEY=VALUE` (VALUE read as YAML), then --shards; checked."""
    from ainkit.pipelines.export import IMAGE_MODES, NAME
    from ainkit.services.config import layered
    from ainkit.stages.verify import RULE_NAMES

    p = Path(path)
    cfg = layered(DEFAULTS, p, overrides, free=("verify.thresholds",), error=CurateError,
                  presets="configs/curate/ain.yaml, configs/curate/tiny.yaml", example="translate.concurrency=32")
    if shards is not None:
        cfg["shards"] = shards
    if not isinstance(cfg["shards"], int) or isinstance(cfg["shards"], bool) or not 1 <= cfg["shards"] <= 10_000:
        raise CurateError(f"shards {cfg['shards']!r}: expected a whole number from 1 to 10000")
    for section in ("translate", "back_translate"):
        if not cfg[section]["model"]:
            raise CurateError(f"{p}: {section}.model is not set (e.g. openai:gpt-4o-mini or local:smollm2-135m)")
        if cfg[section]["prompt_lang"] not in ("en", "ar"):
            raise CurateError(f"{section}.prompt_lang {cfg[section]['prompt_lang']!r}: choose en or ar")
        for k in ("concurrency", "max_tokens"):
            if not isinstance(cfg[section][k], int) or cfg[section][k] < 1:
                raise CurateError(f"{section}.{k} {cfg[section][k]!r}: expected a whole number >= 1")
    if cfg["toxicity"]["mode"] not in ("required", "skip"):
        raise CurateError(f"toxicity.mode {cfg['toxicity']['mode']!r}: choose required (fail-closed) or skip (written in "
                          "the config: the images are then not screened)")
    rules = cfg["verify"]["thresholds"]
    if not isinstance(rules, dict) or not rules:
        raise CurateError(f"verify.thresholds {rules!r}: expected a mapping such as {{similarity: 0.8, bleu4: 0.6}}")
    for name, value in rules.items():
        if name not in RULE_NAMES:
            close = difflib.get_close_matches(str(name), RULE_NAMES, n=1)
            raise CurateError(f"verify.thresholds: unknown score {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                              + f" (known: {', '.join(RULE_NAMES)})")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CurateError(f"verify.thresholds.{name} {value!r}: expected a number")
    drop = cfg["leakage"]["drop"]
    if drop is not None and (not isinstance(drop, str) or not Path(drop).is_file()):
        raise CurateError(f"leakage.drop {drop!r}: not a file (the drop.jsonl that `ainkit leakage` writes)")
    if drop is not None:
        cfg["leakage"]["drop"] = str(Path(drop).resolve())  # SLURM tasks run elsewhere: the path, not the cwd's
    if cfg["export"]["images"] not in IMAGE_MODES:
        raise CurateError(f"export.images {cfg['export']['images']!r}: choose one of {', '.join(IMAGE_MODES)}")
    if not NAME.fullmatch(str(cfg["export"]["name"])):
        raise CurateError(f"export.name {cfg['export']['name']!r}: use letters, digits, '.', '_' or '-'")
    return cfg


def fingerprint(obj: Any) -> str:
    """12 hex digits of the sha256 of `obj` as canonical JSON (a step's settings, in its provenance)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
