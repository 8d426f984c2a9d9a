"""`ainkit curate`: the report's data pipeline (Section 3, Figure 13) as one command, over shards.

    ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl --output runs/curate/demo
    ainkit curate --config configs/curate/ain.yaml --input chats.parquet --images /data/img --output runs/curate/ain \\
        --executor slurm --shards 64
    ainkit curate ... --dry-run        # the plan (records per shard, requests, tokens, cost) and the sbatch script

Records go to shard i of n by a hash of their id (the rule of every stage's `--shard i/n`). Each shard
runs these steps, each an ordinary stage (ainkit.records.StageIO: journalled, resumable, rejects beside
its output) in shards/NN/:

    input           the shard's records of the input (JSON Lines, Parquet or a `datasets` folder),
                    each given an id when it has none ("line:N", "row:N")           0_input.jsonl
    translate       EN->AR of every chat turn, `<image>` kept in place             1_translate.jsonl
    pairs           `en` / `ar`: the chat's text on each side, placeholders out    2_pairs.jsonl
    back_translate  AR->EN of `ar` into `back_en`                                   3_back.jsonl
    similarity      cross-lingual cosine of `en` and `ar`                           4_similarity.jsonl
    metrics         BLEU, METEOR, ROUGE of `back_en` against `en`                   5_metrics.jsonl
    verify          the thresholds of the config                                    6_verify.jsonl
    toxicity        the images the surviving records use, each judged once through the decision
                    cache every shard shares; a record is kept when all its images are safe
                    and it is a valid training record (ainkit.export's checks)      7_kept.jsonl

A finished step is recorded in shards/NN/progress.json and not run again; a killed one resumes from its
journal. A step whose requests failed at the endpoint stops the shard (exit 3): run the same command again.
The merge then writes, in the run folder: kept.jsonl and rejects.jsonl (each reject with its stage and every
reason) in input order, the same bytes whatever the shard count or executor; funnel.json and funnel.png
(records per step and why they left: Figure 13 for your data); export/ (LLaMA-Factory and ms-swift data set,
images copied, manifest.json saying whether the images were screened); summary.json (records, requests,
tokens, cost and seconds per step). The merged config is written first, as config.yaml: a re-run with other
settings or another input stops and names what differs (--restart starts over).

Executors: local runs the shards one after another in this process; slurm submits them as a submitit job
array (one task a shard, `slurm.array_parallelism` at once, each requeued on preemption and resumed) and the
merge as a job that depends on the array; debug runs them in this process through submitit's DebugExecutor.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import yaml

from ainkit import atomic
from ainkit.errors import UserError
from ainkit.records import shard_of

EXECUTORS = ("local", "slurm", "debug")
STEPS = ("input", "translate", "pairs", "back_translate", "similarity", "metrics", "verify", "toxicity")
FILES = {"input": "0_input.jsonl", "translate": "1_translate.jsonl", "pairs": "2_pairs.jsonl",
         "back_translate": "3_back.jsonl", "similarity": "4_similarity.jsonl", "metrics": "5_metrics.jsonl",
         "verify": "6_verify.jsonl", "toxicity": "7_kept.jsonl"}
LLM_SECTION = {"model": None, "backend": None, "prompt_lang": "en", "concurrency": 8, "max_tokens": 1024, "batch": False}
DEFAULTS: dict[str, Any] = {
    "shards": 1,
    "translate": dict(LLM_SECTION),
    "back_translate": dict(LLM_SECTION),
    "similarity": {"encoder": "auto", "batch_size": 32, "allow_download": False},
    "metrics": {"max_words": 1000},
    "verify": {"thresholds": {"similarity": 0.8, "bleu4": 0.6, "meteor": 0.8, "rouge1_f": 0.8}},
    "toxicity": {"mode": "required", "model": None, "backend": None, "concurrency": 16},
    "export": {"name": "ain_curated", "images": "copy"},
    "slurm": {"partition": None, "array_parallelism": 16, "cpus_per_task": 2, "mem_gb": None, "time_min": 240},
}
NOT_RESULTS = ("slurm",)  # config sections that do not change what a run writes (free to change on a re-run)
VERSION = "curate-1"      # bump when a step's output changes: runs of another version do not resume


class CurateError(UserError):
    """A curate run that cannot go on; the message says why and what to do."""


class ShardIncomplete(CurateError):
    """Some records of a shard failed at the endpoint: exit 3, the same command retries them."""

    exit_code = 3


# ---------------------------------------------------------------- configuration

def _set(cfg: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    keys = dotted.split(".")
    node, known = cfg, DEFAULTS
    for depth, k in enumerate(keys):
        if not isinstance(known, dict) or k not in known:
            if isinstance(known, dict) and known is DEFAULTS["verify"]["thresholds"]:
                break  # thresholds: any rule name, checked below
            options = list(known) if isinstance(known, dict) else []
            close = difflib.get_close_matches(k, options, n=1)
            raise CurateError(f"{origin}: unknown setting {'.'.join(keys[:depth + 1])!r}"
                              + (f"; did you mean {'.'.join(keys[:depth] + [close[0]])!r}?" if close else "")
                              + (f" (known: {', '.join(options)})" if options else ""))
        if depth == len(keys) - 1:
            break
        node = node.setdefault(k, {})
        known = known[k]
    node[keys[-1]] = value


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and k != "thresholds":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def load_config(path: str | os.PathLike, overrides: list[str] | None = None, shards: int | None = None) -> dict[str, Any]:
    """The config file over DEFAULTS, then `--set KEY=VALUE` (VALUE read as YAML), then --shards; checked."""
    from ainkit.export import IMAGE_MODES, NAME
    from ainkit.verify import RULE_NAMES

    p = Path(path)
    if not p.is_file():
        raise CurateError(f"--config {p}: no such file (presets: configs/curate/ain.yaml, configs/curate/tiny.yaml)")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as exc:
        raise CurateError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise CurateError(f"{p}: expected a mapping of settings, found {type(raw).__name__}")
    cfg = copy.deepcopy(DEFAULTS)
    for key, value in _flatten(raw).items():
        _set(cfg, key, value, str(p))
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CurateError(f"--set {item!r}: expected KEY=VALUE, e.g. translate.concurrency=32")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        _set(cfg, key.strip(), parsed, f"--set {item!r}")
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
    if cfg["export"]["images"] not in IMAGE_MODES:
        raise CurateError(f"export.images {cfg['export']['images']!r}: choose one of {', '.join(IMAGE_MODES)}")
    if not NAME.fullmatch(str(cfg["export"]["name"])):
        raise CurateError(f"export.name {cfg['export']['name']!r}: use letters, digits, '.', '_' or '-'")
    return cfg


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- the input, in any of the three forms

def input_kind(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            return "datasets"
        raise CurateError(f"--input {path}: a folder, but not a Hugging Face `datasets` folder (save_to_disk writes "
                          "state.json and dataset_info.json); give a JSON Lines or Parquet file or such a folder")
    if not path.is_file():
        raise CurateError(f"--input {path}: no such file or folder")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1" or path.suffix.lower() == ".parquet":
        _parquet(path)  # its footer read now: a bad file is refused before the run writes anything
        return "parquet"
    return "jsonl"


def _parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise CurateError(f"--input {path}: not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None


def source_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str, str]]:
    """(position, record or None, its id, error) of every row, streamed: JSON Lines by line (ids "line:N"
    when absent), Parquet and `datasets` folders by batches of rows (ids "row:N")."""
    from ainkit.records import read_lines, record_id

    kind = input_kind(path)
    if kind == "jsonl":
        for line in read_lines(path):
            if line.error:
                yield line.number, None, f"line:{line.number}", line.error
            else:
                yield line.number, line.record, record_id(line.record, line.number), ""
        return
    for n, row in enumerate(_arrow_rows(path, kind), 1):
        value = row.get("id")
        yield n, row, f"row:{n}" if value is None or value == "" else str(value), ""


def _arrow_rows(path: Path, kind: str) -> Iterator[dict[str, Any]]:
    if kind == "parquet":
        for batch in _parquet(path).iter_batches(batch_size=1024):
            yield from map(_present, batch.to_pylist())
        return
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise CurateError(f"--input {path}: a DatasetDict with splits {', '.join(ds)}; save one split "
                              "(ds['train'].save_to_disk(...)) and give that folder")
        ds = next(iter(ds.values()))
    for batch in ds.data.to_batches(max_chunksize=1024):
        yield from map(_present, batch.to_pylist())


def _present(row: dict[str, Any]) -> dict[str, Any]:
    """A columnar row without the columns it has no value in (Parquet fills them with nulls)."""
    return {k: v for k, v in row.items() if v is not None}


def input_identity(path: Path) -> dict[str, Any]:
    """What a re-run must agree on: where the input is and its size (a changed file is another input)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {"path": str(path.resolve()), "bytes": sum(f.stat().st_size for f in files)}


# ---------------------------------------------------------------- the run folder

@dataclasses.dataclass
class Run:
    root: Path
    config: dict[str, Any]
    input: Path
    images: Path

    @property
    def shards(self) -> int:
        return self.config["shards"]

    def shard_dir(self, i: int) -> Path:
        return self.root / "shards" / f"{i:0{max(2, len(str(self.shards - 1)))}d}"

    def output(self, i: int, step: str) -> Path:
        return self.shard_dir(i) / FILES[step]

    def rejects(self, i: int, step: str) -> Path:
        out = self.output(i, step)
        return out.with_name(out.stem + ".rejects.jsonl")

    def progress(self, i: int) -> dict[str, Any]:
        path = self.shard_dir(i) / "progress.json"
        return json.loads(path.read_text()) if path.is_file() else {"steps": {}}

    def shard_done(self, i: int) -> bool:
        return self.progress(i).get("done", False)

    def record(self, i: int, step: str, summary: dict[str, Any], done: bool = False) -> None:
        prog = self.progress(i)
        prog["steps"][step] = summary
        prog["done"] = done
        atomic.write_json(self.shard_dir(i) / "progress.json", prog)

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Run":
        root = Path(root)
        meta_path = root / "run.json"
        if not meta_path.is_file():
            raise CurateError(f"{root}: no curate run here (run.json is missing)")
        meta = json.loads(meta_path.read_text())
        config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
        return cls(root, config, Path(meta["input"]["path"]), Path(meta["images"]))


def check_paths(input: str | os.PathLike, output: str | os.PathLike,
                images: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    """(input, run folder, images folder), checked before anything is written."""
    src = Path(input)
    input_kind(src)
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise CurateError(f"--output {root}: is a file; give the folder the run writes into")
    if root.resolve() == src.resolve() or root.resolve() in src.resolve().parents:
        raise CurateError(f"--input {src} is inside the run folder {root}, whose files the run rewrites; give another --output")
    img = Path(images) if images else (src if src.is_dir() else src.parent)
    if images and not img.is_dir():
        raise CurateError(f"--images {img}: not a folder")
    return src, root, img


def prepare(config: dict[str, Any], input: str | os.PathLike, output: str | os.PathLike,
            images: str | os.PathLike | None = None, restart: bool = False) -> Run:
    """Check the input and the run folder; write config.yaml and run.json (first run) or check they agree."""
    src, root, img = check_paths(input, output, images)
    meta = {"version": VERSION, "input": input_identity(src), "images": str(img.resolve()),
            "settings": {k: v for k, v in config.items() if k not in NOT_RESULTS}}
    old_path = root / "run.json"
    if old_path.is_file() and restart:
        for name in ("shards", "export"):
            shutil.rmtree(root / name, ignore_errors=True)
        for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "funnel.png", "summary.json", "run.json"):
            (root / name).unlink(missing_ok=True)
    elif old_path.is_file():
        old = json.loads(old_path.read_text())
        if old != meta:
            diffs = [f"{k}: was {a!r}, now {b!r}" for k, a, b in _differences(old, meta)]
            raise CurateError(f"{root}: an earlier run used other settings or another input ({'; '.join(diffs[:6])}"
                              f"{'; ...' if len(diffs) > 6 else ''}); use --restart to start over, or another --output")
    root.mkdir(parents=True, exist_ok=True)
    atomic.write_text(root / "config.yaml", "# merged settings of this run (ainkit curate)\n"
                      + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    atomic.write_json(old_path, meta)
    return Run(root, config, src, img)


def _differences(a: Any, b: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in dict.fromkeys([*a, *b]):
            yield from _differences(a.get(k), b.get(k), f"{prefix}{k}.")
    elif a != b:
        yield prefix.rstrip("."), a, b


# ---------------------------------------------------------------- one shard

def endpoint_of(section: dict[str, Any]):
    from ainkit import llm

    return llm.parse_endpoint(section["model"], None, section.get("backend"))


@contextlib.contextmanager
def opened_client(section: dict[str, Any], cache_dir: str | None, label: str):
    """A Client on the section's endpoint (the embedded server runs for as long as the block)."""
    from ainkit import cache, serve
    from ainkit.llm import Client

    ep = endpoint_of(section)
    with serve.open_endpoint(ep) as backend:
        print(f"[curate] {label}: {backend.describe()}", flush=True)
        client = Client(backend, concurrency=section["concurrency"], cache=cache.open_cache(cache_dir))
        try:
            yield client
        finally:
            client.close()


def _summary(summary) -> dict[str, Any]:
    return dataclasses.asdict(summary)


def _step_input(run: Run, i: int) -> dict[str, Any]:
    """The shard's rows of the input, each with an id, into 0_input.jsonl; malformed lines to its rejects."""
    t0 = time.time()
    out, rej = run.output(i, "input"), run.rejects(i, "input")
    counts = Counter()
    with atomic.writer(out) as fo, atomic.writer(rej) as fr:
        for pos, rec, rid, error in source_rows(run.input):
            if shard_of(rid, run.shards) != i:
                continue
            counts["read"] += 1
            if error:
                counts["malformed"] += 1
                fr.write(json.dumps({"line": pos, "id": rid, "reasons": [error]}, ensure_ascii=False) + "\n")
                continue
            if rec.get("id") is None or rec.get("id") == "":
                rec = {"id": rid, **{k: v for k, v in rec.items() if k != "id"}}
            try:
                fo.write(json.dumps(rec, ensure_ascii=False) + "\n")
            except (TypeError, ValueError) as exc:
                counts["malformed"] += 1
                fr.write(json.dumps({"line": pos, "id": rid, "reasons": [f"not JSON-serialisable: {exc}"]}) + "\n")
                continue
            counts["kept"] += 1
    return {"read": counts["read"], "kept": counts["kept"], "rejected": 0, "malformed": counts["malformed"],
            "endpoint_failed": 0, "seconds": round(time.time() - t0, 2), "extra": {}}


def _placeholder_free(text: str) -> str:
    from ainkit.translate import PLACEHOLDER

    return " ".join(PLACEHOLDER.sub(" ", text).split())


def _chat_texts(turns: Any, text_key: str) -> str:
    return "\n".join(t for t in (_placeholder_free(turn.get(text_key, "")) for turn in turns
                                 if isinstance(turn, dict) and isinstance(turn.get(text_key), str)) if t)


def _step_pairs(run: Run, i: int) -> dict[str, Any]:
    """`en` and `ar`: the chat's English source and Arabic translation as two texts (turns on their own lines)."""
    from ainkit.records import StageIO
    from ainkit.translate import CHAT_KEYS

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
    return _summary(io.summary)


def _translate_step(run: Run, i: int, step: str, cache_dir: str | None, progress: bool) -> dict[str, Any]:
    from ainkit import translate

    section = run.config[step]
    direction = "en-ar" if step == "translate" else "ar-en"
    settings = translate.Settings(direction, section["prompt_lang"], max_tokens=section["max_tokens"])
    source = run.output(i, "input" if step == "translate" else "pairs")
    batch = translate.BatchOptions() if section["batch"] else None
    if batch and endpoint_of(section).kind != "openai":
        raise CurateError(f"{step}.batch: {endpoint_of(section).describe()} has no Batch API; use an openai: model")
    messages = step == "translate"
    summary = translate.run(str(source), str(run.output(i, step)), lambda: opened_client(section, cache_dir, step), settings,
                            None if messages else "ar", messages, None if messages else "back_en",
                            str(run.rejects(i, step)), progress=progress, model=endpoint_of(section).describe(), batch=batch)
    return _summary(summary)


def _step_similarity(run: Run, i: int, progress: bool) -> dict[str, Any]:
    from ainkit import similarity

    s = run.config["similarity"]
    summary = similarity.score_records(str(run.output(i, "back_translate")), str(run.output(i, "similarity")), s["encoder"],
                                       "en", "ar", s["batch_size"], str(run.rejects(i, "similarity")),
                                       allow_download=bool(s["allow_download"]) or None, progress=progress,
                                       warn=lambda m: print(f"[curate] similarity: warning: {m}", file=sys.stderr))
    return _summary(summary)


def _step_metrics(run: Run, i: int, progress: bool) -> dict[str, Any]:
    from ainkit import metrics

    workers = max(1, min(4, len(os.sched_getaffinity(0))))
    summary, _ = metrics.score_records(str(run.output(i, "similarity")), str(run.output(i, "metrics")), "en", "back_en",
                                       workers=workers, rejects=str(run.rejects(i, "metrics")), progress=progress,
                                       max_words=run.config["metrics"]["max_words"])
    return _summary(summary)


def _step_verify(run: Run, i: int) -> dict[str, Any]:
    from ainkit import verify

    t0 = time.time()
    funnel = verify.run(str(run.output(i, "metrics")), str(run.output(i, "verify")), str(run.rejects(i, "verify")),
                        dict(run.config["verify"]["thresholds"]),
                        summary_path=str(run.shard_dir(i) / "6_verify.funnel.json"))
    d = funnel.as_dict()
    kept = d.get("kept", 0)
    return {"read": d.get("records_in", 0), "kept": kept, "rejected": d.get("records_in", 0) - kept,
            "malformed": funnel.malformed, "endpoint_failed": 0, "seconds": round(time.time() - t0, 2), "extra": {}}


def image_paths(rec: dict[str, Any]) -> list[str]:
    raw = rec.get("images", rec.get("image"))
    if isinstance(raw, str):
        return [raw]
    return [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []


class _Decisions:
    """image path -> (keep, what to say), in SQLite beside the shard's files (flat memory)."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE d (path TEXT PRIMARY KEY, keep INTEGER, why TEXT)")
        self.path = path

    def put(self, image: str, keep: bool, why: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO d VALUES (?, ?, ?)", (image, int(keep), why))

    def get(self, image: str) -> tuple[bool, str] | None:
        row = self.db.execute("SELECT keep, why FROM d WHERE path = ?", (image,)).fetchone()
        return (bool(row[0]), row[1]) if row else None

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


def _judge_images(run: Run, i: int, cache_dir: str | None, progress: bool, decisions: _Decisions) -> dict[str, Any]:
    """Judge every image the verified records use (once each); fill `decisions`. Returns the stage's counts."""
    from ainkit import cache, llm, toxicity
    from ainkit.llm import Client
    from ainkit.records import read_lines

    section = run.config["toxicity"]
    listing = run.shard_dir(i) / "7_images.jsonl"
    seen = _Decisions(run.shard_dir(i) / "7_images.seen.sqlite")
    try:
        with atomic.writer(listing) as fh:
            for line in read_lines(run.output(i, "verify")):
                for p in image_paths(line.record or {}):
                    if seen.get(p) is None:
                        seen.put(p, True, "")
                        fh.write(json.dumps({"id": p, "image": str(run.images / p)}, ensure_ascii=False) + "\n")
    finally:
        seen.close()
    ep = endpoint_of(section)
    backend = llm.endpoint_backend(ep) if ep.kind == "openai" else None
    if backend is None:
        raise CurateError(f"toxicity.model {section['model']!r}: not a vision endpoint (openai:NAME or a backend of "
                          "configs/llm.yaml); the embedded server is text-only and never judges images")
    print(f"[curate] toxicity: {backend.describe()}; policy {toxicity.POLICY_VERSION}", flush=True)
    client = Client(backend, concurrency=section["concurrency"], cache=cache.open_cache(cache_dir))
    judged, rej = run.shard_dir(i) / "7_toxicity.jsonl", run.shard_dir(i) / "7_toxicity.rejects.jsonl"
    try:
        summary, counts = toxicity.run(listing, judged, client, rej, progress=progress)
    finally:
        client.close()
    for line in read_lines(judged) if judged.is_file() else ():
        r = line.record
        t = r.get("toxicity", {})
        why = "" if r.get("keep") else f"image {r['id']}: {t.get('rating', '?')} ({t.get('category', 'no category')})"
        decisions.put(r["id"], bool(r.get("keep")), why)
    for line in read_lines(rej) if rej.is_file() else ():
        r = line.record
        if r and isinstance(r.get("record"), dict):
            decisions.put(r["record"]["id"], False, f"image {r['record']['id']}: not judged ({'; '.join(r['reasons'])})")
    if summary.endpoint_failed:
        raise ShardIncomplete(f"shard {i}: toxicity: {summary.endpoint_failed} image(s) failed at the endpoint; run the "
                              "same command again to retry them")
    return {"images": summary.read, **{k: v for k, v in counts.items()}, **client.stats.__dict__}


def provenance(config: dict[str, Any]) -> dict[str, Any]:
    """Per step: its model or encoder, prompt version and a fingerprint of its settings (same for every record)."""
    from ainkit import metrics, toxicity, translate

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


def _step_toxicity(run: Run, i: int, cache_dir: str | None, progress: bool) -> dict[str, Any]:
    """Keep a verified record when its images are safe (or, with `skip`, unscreened) and it can train."""
    from ainkit.export import conversation, image_problem
    from ainkit.records import StageIO

    mode = run.config["toxicity"]["mode"]
    decisions = _Decisions(run.shard_dir(i) / "7_decisions.sqlite")
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
                paths = image_paths(rec)
                reasons = []
                for p in paths:
                    if mode == "skip":
                        continue
                    got = decisions.get(p)
                    if got is None:
                        reasons.append(f"image {p}: not screened (toxicity: required, and no vision judge is configured)"
                                       if not run.config["toxicity"]["model"] else f"image {p}: no decision")
                    elif not got[0]:
                        reasons.append(got[1])
                _, _, problems = conversation(rec)
                reasons += problems
                reasons += [w for w in (image_problem(run.images / p, p) for p in paths) if w]
                if reasons:
                    io.reject(rec, reasons)
                    continue
                rec["provenance"] = prov
                io.emit(rec)
    finally:
        decisions.close()
    d = _summary(io.summary)
    d["extra"] = {**d["extra"], **extra}
    return d


def run_shard(root: str | os.PathLike, i: int, cache_dir: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Run shard i's steps that are not done yet; returns its progress record."""
    run = Run.open(root)
    run.shard_dir(i).mkdir(parents=True, exist_ok=True)
    done = run.progress(i)["steps"]
    for step in STEPS:
        if step in done:
            continue
        print(f"[curate] shard {i}/{run.shards}: {step} ...", flush=True)
        source = run.output(i, STEPS[STEPS.index(step) - 1]) if step != "input" else None
        if source is not None and source.stat().st_size == 0:  # nothing reached this step: no model to load
            atomic.write_text(run.output(i, step), "")
            summary = {"read": 0, "kept": 0, "rejected": 0, "malformed": 0, "endpoint_failed": 0, "seconds": 0.0,
                       "extra": {"skipped": "no records reached this step"}}
        elif step == "input":
            summary = _step_input(run, i)
        elif step in ("translate", "back_translate"):
            summary = _translate_step(run, i, step, cache_dir, progress)
        elif step == "pairs":
            summary = _step_pairs(run, i)
        elif step == "similarity":
            summary = _step_similarity(run, i, progress)
        elif step == "metrics":
            summary = _step_metrics(run, i, progress)
        elif step == "verify":
            summary = _step_verify(run, i)
        else:
            summary = _step_toxicity(run, i, cache_dir, progress)
        if summary.get("endpoint_failed"):
            raise ShardIncomplete(f"shard {i}: {step}: {summary['endpoint_failed']} record(s) failed at the endpoint "
                                  "(see its rejects); run the same command again to retry them")
        run.record(i, step, summary, done=step == STEPS[-1])
        print(f"[curate] shard {i}/{run.shards}: {step}: {summary['read']} read, {summary['kept']} kept, "
              f"{summary['rejected'] + summary['malformed']} rejected, {summary['seconds']:.1f} s", flush=True)
    return run.progress(i)


# ---------------------------------------------------------------- the merge

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?%?")


def reason_key(reason: str) -> str:
    """A reason without its record's particulars (turn numbers, scores, paths), to count reasons across records."""
    r = re.sub(r"^turn \d+(?: \(\w+\))?: ", "", reason)
    r = re.sub(r"^(\w+) -?[\d.]+ < ", r"\1 < ", r)                     # verify: "bleu4 0.1234 < 0.6"
    r = re.sub(r"^image .*?: ", "image: ", r)
    r = re.sub(r"^request failed.*", "request failed at the endpoint", r)
    r = re.sub(r"\s*\([^()]*\)", "", r)
    r = re.sub(r"\s*\[[^\]]*\]", "", r)
    r = re.sub(r" -?[\d.]+(?= outside)", "", r)                       # "length ratio 9.1 outside 0.3-3.5"
    r = re.sub(r"\d[\d,]*(?= (?:characters|words|placeholder))", "N", r)
    return r.strip()


def _entries(path: Path, shard: int, count: int, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, entry) of a shard's output or rejects file, skipping entries another shard owns."""
    from ainkit.records import read_lines

    if not path.is_file():
        return
    for line in read_lines(path):
        e = line.record
        if e is None:
            raise CurateError(f"{path}: line {line.number}: {line.error} (a damaged run file; use --restart)")
        rid = str(e["id"]) if kind == "kept" or "id" in e else str((e.get("record") or {}).get("id", f"line:{e.get('line')}"))
        if shard_of(rid, count) == shard:
            yield rid, e


class _Head:
    def __init__(self, it: Iterator[tuple[str, dict[str, Any]]]):
        self.it, self.item = it, next(it, None)

    def take(self, rid: str) -> dict[str, Any] | None:
        if self.item is not None and self.item[0] == rid:
            got, self.item = self.item[1], next(self.it, None)
            return got
        return None


def merge(root: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """kept.jsonl, rejects.jsonl, funnel.json/.png, export/ and summary.json from the finished shards."""
    from ainkit import export

    t0 = time.time()
    run = Run.open(root)
    n = run.shards
    missing = [i for i in range(n) if not run.shard_done(i)]
    if missing:
        raise CurateError(f"{run.root}: shard(s) {', '.join(map(str, missing))} of {n} not finished; run the same command "
                          "again to resume them")
    kept_heads = [_Head(_entries(run.output(i, "toxicity"), i, n, "kept")) for i in range(n)]
    reject_heads = [[(step, _Head(_entries(run.rejects(i, step), i, n, "rejects"))) for step in STEPS] for i in range(n)]
    funnel = {step: {"rejected": 0, "reasons": Counter()} for step in STEPS}
    read = kept = 0
    with atomic.writer(run.root / "kept.jsonl") as fk, atomic.writer(run.root / "rejects.jsonl") as fr:
        for pos, _, rid, _ in source_rows(run.input):
            read += 1
            s = shard_of(rid, n)
            rec = kept_heads[s].take(rid)
            if rec is not None:
                kept += 1
                fk.write(json.dumps(rec, ensure_ascii=False) + "\n")
                continue
            for step, head in reject_heads[s]:
                e = head.take(rid)
                if e is not None:
                    funnel[step]["rejected"] += 1
                    funnel[step]["reasons"].update({reason_key(r) for r in e.get("reasons", [])})
                    out = {"id": rid, "line": pos, "stage": step, "reasons": e.get("reasons", [])}
                    out |= {"endpoint": True} if e.get("endpoint") else {}
                    out |= {"record": e["record"]} if "record" in e else {}
                    fr.write(json.dumps(out, ensure_ascii=False) + "\n")
                    break
    left = [(i, h.item[0]) for i, h in enumerate(kept_heads) if h.item] + \
           [(i, h.item[0]) for i, hs in enumerate(reject_heads) for _, h in hs if h.item]
    if left:
        raise CurateError(f"{run.root}: shard {left[0][0]} holds record {left[0][1]!r}, which the input no longer has at its "
                          "place: was the input changed after the run started? Use --restart")
    ex = run.config["export"]
    summary_ex, _ = export.run(run.root / "kept.jsonl", run.root / "export", ex["name"], ex["images"],
                                   images_dir=run.images, rejects=run.root / "export" / "rejects.jsonl", resume=False,
                                   progress=progress)
    screened = run.config["toxicity"]["mode"] != "skip"
    atomic.write_json(run.root / "export" / "manifest.json", {
        "records": summary_ex.kept, "rejected by the export": summary_ex.rejected,
        "images screened for toxicity": screened,
        "toxicity": (f"judged by {run.config['toxicity']['model']} under policy (toxicity.mode: required)" if screened else
                     "NOT screened: toxicity.mode is skip in the config"),
        "source": str(run.input), "config": "../config.yaml", "funnel": "../funnel.json", "made_by": f"ainkit curate ({VERSION})"})
    steps = []
    remaining = read
    for step in STEPS:
        f = funnel[step]
        steps.append({"step": step, "in": remaining, "rejected": f["rejected"], "out": remaining - f["rejected"],
                      "reasons": dict(f["reasons"].most_common())})
        remaining -= f["rejected"]
    steps.append({"step": "export", "in": remaining, "rejected": summary_ex.rejected, "out": summary_ex.kept, "reasons": {}})
    fun = {"input": read, "kept": kept, "exported": summary_ex.kept, "images screened": screened, "steps": steps}
    atomic.write_json(run.root / "funnel.json", fun)
    funnel_figure(fun, run.root / "funnel.png")
    summary = summarize(run, time.time() - t0)
    summary |= {"records": {"input": read, "kept": kept, "rejected": read - kept, "exported": summary_ex.kept},
                "images screened": screened}
    atomic.write_json(run.root / "summary.json", summary)
    return summary


def summarize(run: Run, merge_seconds: float) -> dict[str, Any]:
    """Per step over all shards: records, requests, tokens, cost and task seconds."""
    per: dict[str, Counter] = {step: Counter() for step in STEPS}
    for i in range(run.shards):
        for step, s in run.progress(i)["steps"].items():
            c = per[step]
            for k in ("read", "kept", "rejected", "malformed"):
                c[k] += s.get(k, 0)
            c["seconds"] += s.get("seconds", 0.0)
            extra = s.get("extra", {})
            for k, name in (("requests", "requests"), ("tokens", "tokens"), ("cost $", "cost_usd"), ("from cache", "from_cache")):
                if isinstance(extra.get(k), (int, float)) and not isinstance(extra.get(k), bool):
                    c[name] += extra[k]
    steps = {step: {k: round(v, 4) if isinstance(v, float) else v for k, v in c.items()} for step, c in per.items()}
    total = Counter()
    for c in per.values():
        for k in ("requests", "tokens", "cost_usd", "seconds"):
            total[k] += c.get(k, 0)
    return {"shards": run.shards, "steps": steps, "total": {k: round(v, 4) for k, v in total.items()},
            "merge_seconds": round(merge_seconds, 2)}


def funnel_figure(fun: dict[str, Any], path: Path) -> Path:
    """Records left after each step, and the commonest reasons each step gave: Figure 13 for the user's data."""
    import io

    from matplotlib.figure import Figure

    steps = fun["steps"]
    fig = Figure(figsize=(9, 0.55 * len(steps) + 1.6))
    ax = fig.subplots()
    names = [s["step"].replace("_", "-") for s in steps]
    ax.barh(names, [s["out"] for s in steps], color="#4c72b0", label="records left")
    ax.barh(names, [s["rejected"] for s in steps], left=[s["out"] for s in steps], color="#dd8452", label="rejected here")
    top = max(1, fun["input"])
    for y, s in enumerate(steps):
        reason = next(iter(s["reasons"]), "")
        text = f"{s['out']:,} left" + (f"; -{s['rejected']:,}: {reason[:60]}" if s["rejected"] else "")
        ax.text(top * 1.02, y, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 2.1)
    ax.set_xlabel("records")
    note = "" if fun["images screened"] else " (images NOT screened for toxicity)"
    ax.set_title(f"ainkit curate: {fun['input']:,} records in, {fun['exported']:,} exported{note}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return atomic.write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------- plan and executors

def plan(run_config: dict[str, Any], input: str | os.PathLike) -> dict[str, Any]:
    """Shards, records per shard, and the requests, tokens and cost the run would need at most (nothing sent)."""
    from ainkit import llm, translate

    n = run_config["shards"]
    per_shard = [0] * n
    malformed = 0
    strings = Counter()
    tokens = Counter()
    images: set[int] = set()
    tr, bt = run_config["translate"], run_config["back_translate"]
    t_settings = translate.Settings("en-ar", tr["prompt_lang"], max_tokens=tr["max_tokens"])
    b_settings = translate.Settings("ar-en", bt["prompt_lang"], max_tokens=bt["max_tokens"])
    for _, rec, rid, error in source_rows(Path(input)):
        if error:
            malformed += 1
            continue
        per_shard[shard_of(rid, n)] += 1
        job = translate.plan(rec, None, True, t_settings.max_chars)
        if job.problems:
            continue
        parts, todo, reqs = translate.requests_for(job.texts, t_settings)
        for k, m in zip(todo, reqs):
            strings["translate"] += 1
            tokens["translate_prompt"] += llm.estimate_tokens(m)
            tokens["translate_text"] += len(parts[k][1]) // 4
        joined = "\n".join(_placeholder_free(t) for t in job.texts)
        strings["back_translate"] += 1
        tokens["back_translate_prompt"] += llm.estimate_tokens(translate.messages_for(joined, b_settings))
        tokens["back_translate_text"] += len(joined) // 4
        for p in image_paths(rec):
            images.add(hash(p))
    def cost(section: dict[str, Any], prompt: int, completion: int, batch: bool) -> float | None:
        """At configs/llm.yaml's prices, as the stage's Client counts them; None when the model has none."""
        ep = endpoint_of(section)
        if ep.kind == "local":
            return 0.0
        client = llm.Client(llm.Backend("plan", "", ep.name or ""), cache=False)
        return client.price(prompt, completion, batch) if client.priced(batch) else None

    out = {"shards": n, "records": sum(per_shard), "malformed lines": malformed, "records per shard": per_shard,
           "images": len(images), "steps": {}}
    for step, section in (("translate", tr), ("back_translate", bt)):
        prompt, completion = tokens[f"{step}_prompt"], strings[step] * section["max_tokens"]
        likely = tokens[f"{step}_text"]  # answers as long as the text they translate (4 characters a token)
        out["steps"][step] = {"model": endpoint_of(section).describe(), "requests": strings[step], "prompt tokens": prompt,
                              "completion tokens (at most)": completion, "completion tokens (as long as the source)": likely,
                              "cost $ (synchronous)": cost(section, prompt, completion, False),
                              "cost $ (Batch API)": cost(section, prompt, completion, True),
                              "cost $ (synchronous, answers as long as the source)": cost(section, prompt, likely, False),
                              "cost $ (Batch API, answers as long as the source)": cost(section, prompt, likely, True)}
    tox = run_config["toxicity"]
    out["steps"]["toxicity"] = {"mode": tox["mode"], "model": tox["model"],
                                "requests (at most)": len(images) if tox["mode"] == "required" and tox["model"] else 0}
    return out


def plan_lines(p: dict[str, Any]) -> list[str]:
    def money(v):
        return "price unknown (configs/llm.yaml)" if v is None else f"${v:,.2f}" if v >= 1 else f"${v:.4f}"

    lines = [f"{p['records']:,} records ({p['malformed lines']} malformed lines) in {p['shards']} shard(s): "
             f"{min(p['records per shard']):,}-{max(p['records per shard']):,} a shard; {p['images']:,} distinct images"]
    for step in ("translate", "back_translate"):
        s = p["steps"][step]
        lines.append(f"{step}: {s['model']}: {s['requests']:,} requests, about {s['prompt tokens']:,} prompt tokens + at most "
                     f"{s['completion tokens (at most)']:,} completion tokens (max_tokens each): at most "
                     f"{money(s['cost $ (synchronous)'])} synchronous, {money(s['cost $ (Batch API)'])} through the Batch API; "
                     f"about {money(s['cost $ (synchronous, answers as long as the source)'])} / "
                     f"{money(s['cost $ (Batch API, answers as long as the source)'])} if each answer is as long as its "
                     f"source ({s['completion tokens (as long as the source)']:,} tokens, 4 characters a token)")
    t = p["steps"]["toxicity"]
    lines.append(f"toxicity: {t['mode']}" + (f", {t['model']}: at most {t['requests (at most)']:,} requests (images not in "
                                            "the decision cache)" if t["model"] else ", no judge configured"))
    return lines


class ShardTask:
    """One shard, as a submitit job (an array task): requeued on preemption, resumed from its journals."""

    def __init__(self, root: str, index: int, cache_dir: str | None):
        self.root, self.index, self.cache_dir = root, index, cache_dir

    def __call__(self) -> dict[str, Any]:
        return run_shard(self.root, self.index, self.cache_dir)

    def checkpoint(self, *args: Any, **kwargs: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(ShardTask(self.root, self.index, self.cache_dir))


class MergeTask:
    def __init__(self, root: str):
        self.root = root

    def __call__(self) -> dict[str, Any]:
        return merge(self.root)


def _slurm_executor(run: Run, job_name: str):
    from ainkit import cluster

    s = run.config["slurm"]
    return cluster.make_executor("slurm", run.root / "submitit", nodes=1, gpus_per_node=0, tasks=1,
                                 cpus_per_task=s["cpus_per_task"], partition=s["partition"], time_min=s["time_min"],
                                 job_name=job_name, mem_gb=s["mem_gb"])


def sbatch_script(run_config: dict[str, Any], root: str | os.PathLike) -> str:
    """The array script SLURM would get (written on any machine; writes no file)."""
    from ainkit import cluster

    import shlex

    s = run_config["slurm"]
    folder = str((Path(root) / "submitit").expanduser().absolute())
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(folder)}"
    return cluster.sbatch_script(folder, command, nodes=1, gpus_per_node=0, tasks=1, cpus_per_task=s["cpus_per_task"],
                                 partition=s["partition"], time_min=s["time_min"], job_name="ainkit-curate",
                                 mem_gb=s["mem_gb"], array=run_config["shards"], array_parallelism=s["array_parallelism"])


def submit_slurm(run: Run, cache_dir: str | None):
    """Submit the unfinished shards as an array and the merge as a job depending on it; returns (shard jobs, merge job)."""
    todo = [i for i in range(run.shards) if not run.shard_done(i)]
    jobs = []
    if todo:
        ex = _slurm_executor(run, "ainkit-curate")
        ex.update_parameters(slurm_array_parallelism=min(len(todo), run.config["slurm"]["array_parallelism"]))
        with ex.batch():
            for i in todo:
                jobs.append(ex.submit(ShardTask(str(run.root), i, cache_dir)))
    mx = _slurm_executor(run, "ainkit-curate-merge")
    if jobs:
        array_id = str(jobs[0].job_id).split("_")[0]
        mx.update_parameters(slurm_additional_parameters={"dependency": f"afterok:{array_id}", "kill-on-invalid-dep": "yes"})
    return jobs, mx.submit(MergeTask(str(run.root)))


def wait(jobs, merge_job, poll: float = 5.0) -> dict[str, Any]:
    """Follow the shard jobs (a line each time one ends), then return the merge's result."""
    pending = dict(enumerate(jobs))
    while pending:
        for k, job in list(pending.items()):
            if job.done():
                del pending[k]
                try:
                    job.result()
                    print(f"[curate] shard job {job.job_id} finished ({len(jobs) - len(pending)}/{len(jobs)})", flush=True)
                except Exception as exc:  # noqa: BLE001 - submitit wraps the task's error
                    merge_job.cancel(check=False)
                    raise CurateError(f"shard job {job.job_id} failed: {str(exc).strip().splitlines()[-1][:300]} "
                                      f"(log: {job.paths.stderr}); fix it and run the same command again") from None
        if pending:
            time.sleep(poll)
    return merge_job.result()


def run(config: dict[str, Any], input: str | os.PathLike, output: str | os.PathLike, images: str | os.PathLike | None = None,
        executor: str = "local", restart: bool = False, cache_dir: str | None = None,
        progress: bool = False) -> dict[str, Any]:
    """The whole pipeline; returns the summary (see the module docstring)."""
    if executor not in EXECUTORS:
        raise CurateError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    from ainkit.records import OutputLock

    t0 = time.time()
    _, root, _ = check_paths(input, output, images)
    root.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(root / "curate")  # one curate process per run folder (a second one exits 2 before touching it)
    try:
        r = prepare(config, input, output, images, restart)
        print(f"[curate] {r.input} -> {r.root} ({r.shards} shard(s), executor {executor})", flush=True)
        if executor == "slurm":
            jobs, merge_job = submit_slurm(r, cache_dir)
            print(f"[curate] submitted {len(jobs)} shard task(s) and the merge (job {merge_job.job_id}); logs in "
                  f"{r.root / 'submitit'}", flush=True)
            try:
                summary = wait(jobs, merge_job)
            except KeyboardInterrupt:
                for job in [*jobs, merge_job]:
                    job.cancel(check=False)
                print(f"[curate] cancelled the {len(jobs)} shard job(s) and the merge; their finished work is kept",
                      file=sys.stderr)
                raise
        else:
            for i in range(r.shards):
                if executor == "debug":
                    import submitit

                    debug = submitit.DebugExecutor(folder=str(r.root / "submitit"))
                    debug.submit(ShardTask(str(r.root), i, cache_dir)).result()
                else:
                    run_shard(r.root, i, cache_dir, progress)
            summary = merge(r.root, progress)
    finally:
        lock.release()
    summary["wall_seconds"] = round(time.time() - t0, 1)
    atomic.write_json(r.root / "summary.json", summary)
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    rec = summary["records"]
    lines = [f"[curate] {rec['input']:,} records: {rec['kept']:,} kept, {rec['rejected']:,} rejected, {rec['exported']:,} "
             f"exported" + ("" if summary["images screened"] else " (images NOT screened for toxicity: toxicity.mode skip)")]
    for step, s in summary["steps"].items():
        lines.append(f"  {step:<15} {s.get('read', 0):>8,} in {s.get('rejected', 0) + s.get('malformed', 0):>8,} rejected "
                     f"{int(s.get('requests', 0)):>8,} requests ({int(s.get('from_cache', 0)):,} from the cache) "
                     f"{int(s.get('tokens', 0)):>10,} tokens "
                     f"${s.get('cost_usd', 0):>8.2f} {s.get('seconds', 0):>8.1f} s")
    t = summary["total"]
    lines.append(f"  {'total':<15} {int(t.get('requests', 0)):>37,} requests {int(t.get('tokens', 0)):>10,} tokens "
                 f"${t.get('cost_usd', 0):>8.2f} {t.get('seconds', 0):>8.1f} s (task time); wall {summary.get('wall_seconds', 0)} s")
    return lines
