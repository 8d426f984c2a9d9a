"""`ainkit curate`: the report's data pipeline (Section 3, Figure 13) as one command, over shards.

    ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl --output runs/curate/demo
    ainkit curate --config configs/curate/ain.yaml --input chats.parquet --images /data/img --output runs/curate/ain \\
        --executor slurm --shards 64
    ainkit curate ... --dry-run        # the plan (records per shard, requests, tokens, cost) and the sbatch script

Records go to shard i of n by a hash of their id (the rule of every stage's `--shard i/n`). Each shard
runs these steps, each an ordinary stage (ainkit.services.records.StageIO: journalled, resumable, rejects beside
its output) in shards/NN/:

    input           the shard's records of the input (JSON Lines, Parquet or a `datasets` folder),
                    each given an id when it has none ("line:N", "row:N"); a second record with an
                    id already seen is rejected here ("duplicate id"); a top-level `system` string
                    (ShareGPT as LLaMA-Factory documents it) becomes the chat's first turn, so it
                    is translated and verified like any turn                        0_input.jsonl
    structure       the free checks, before any paid step: a chat a trainer takes (turn order,
                    roles, `<image>` placeholders = images), every image there and
                    readable, text to translate within the limit                    1_structure.jsonl
    translate       EN->AR of every chat turn, `<image>` kept in place             2_translate.jsonl
    pairs           `en` / `ar`: the chat's text on each side, placeholders out    3_pairs.jsonl
    back_translate  AR->EN of `ar` into `back_en`                                   4_back.jsonl
    similarity      cross-lingual cosine of `en` and `ar`                           5_similarity.jsonl
    metrics         BLEU, METEOR, ROUGE of `back_en` against `en`                   6_metrics.jsonl
    verify          the thresholds of the config                                    7_verify.jsonl
    toxicity        the images the surviving records use, each judged once through the decision
                    cache every shard shares; a record is kept when all its images are safe
                    and it is a valid training record (ainkit.pipelines.export's checks)      8_kept.jsonl

Before the first step, every model and service the steps still to run need is checked (endpoints and
their keys, the embedded model, the encoder, WordNet, the vision judge): nothing is sent when one is
missing, and the message names the `--set` switch that changes it. A finished step is recorded in
shards/NN/progress.json and not run again; a killed one resumes from its journal. A step whose requests
failed at the endpoint stops the shard (exit 3): run the same command again. Every client's requests,
tokens and cost are journalled as they are paid (shards/NN/usage/), so summary.json counts work done
before a kill too. The merge then writes, in the run folder: kept.jsonl and rejects.jsonl (each reject with
its input line, the record as that line had it, its stage and every reason; `stage_record`: the record as
the stage saw it, when it differs) in input order, the same bytes whatever the shard count or executor;
funnel.json and funnel.png (records per step and why they left: Figure 13 for your data); export/
(LLaMA-Factory and ms-swift data set, images copied, manifest.json saying whether the images were screened
and how system prompts were handled); summary.json (records, requests, tokens, cost and seconds per step).
The merged config is written first, as config.yaml, and run.json with the input's identity (its path, size
and sha256, streamed): a re-run with other settings or another input, an input edited in place included,
stops and names what differs (--restart starts over).

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

from ainkit.ground import atomic
from ainkit.ground.errors import UserError
from ainkit.services.records import shard_of
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


# ---------------------------------------------------------------- configuration

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


def source_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str, str, str]]:
    """(position, record or None, its id, error, the malformed line's text) of every row, streamed: JSON Lines by
    line (ids "line:N" when absent), Parquet and `datasets` folders by batches of rows (ids "row:N")."""
    from ainkit.services.records import read_lines, record_id

    kind = input_kind(path)
    if kind == "jsonl":
        for line in read_lines(path):
            if line.error:
                yield line.number, None, f"line:{line.number}", line.error, line.raw[:2000]
            else:
                yield line.number, line.record, record_id(line.record, line.number), "", ""
        return
    for n, row in enumerate(_arrow_rows(path, kind), 1):
        value = row.get("id")
        yield n, row, f"row:{n}" if value is None or value == "" else str(value), "", ""


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


def _input_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def input_identity(path: Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a re-run must agree on: where the input is, its size and the sha256 of its bytes (a folder: of each
    file's name, size and bytes), read in 1 MiB blocks. The size is only a hint: when it differs from `known`'s
    the input is another one and is not read; an equal size is settled by the hash (an edit in place that keeps
    the size and even the time stamp is caught)."""
    files = _input_files(path)
    ident = {"path": str(path.resolve()), "bytes": sum(f.stat().st_size for f in files)}
    if known is not None and known.get("path") == ident["path"] and known.get("bytes") != ident["bytes"]:
        return ident | {"sha256": "(not read: another size)"}
    h = hashlib.sha256()
    for f in files:
        if path.is_dir():
            h.update(f"{f.relative_to(path).as_posix()}\0{f.stat().st_size}\0".encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return ident | {"sha256": h.hexdigest()}


def check_input_unchanged(known: dict[str, Any], path: Path, what: str) -> None:
    """Refuse (naming what differs) when the input is no longer the one the run began with."""
    now = input_identity(path, known)
    if now != known:
        how = ("its size changed" if now["bytes"] != known.get("bytes") else
               "same size, other bytes: edited in place" if now["path"] == known.get("path") else "another file")
        raise CurateError(f"--input {path}: not the input this run began with ({how}; sha256 was "
                          f"{str(known.get('sha256'))[:16]}, now {now['sha256'][:16]}); {what}")


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
    old_path = root / "run.json"
    old = json.loads(old_path.read_text()) if old_path.is_file() and not restart else None
    meta = {"version": VERSION, "input": input_identity(src, old.get("input") if isinstance(old, dict) else None),
            "images": str(img.resolve()), "settings": {k: v for k, v in config.items() if k not in NOT_RESULTS}}
    if old_path.is_file() and restart:
        for name in ("shards", "export"):
            shutil.rmtree(root / name, ignore_errors=True)
        for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "funnel.png", "summary.json", "run.json"):
            (root / name).unlink(missing_ok=True)
    elif old is not None and old != meta:
        diffs = [f"{k}: was {a!r}, now {b!r}" for k, a, b in _differences(old, meta)]
        o, n = old.get("input", {}), meta["input"]
        edited = (" (the input's content changed: same path and size, other bytes, so it was edited in place)"
                  if o.get("path") == n["path"] and o.get("bytes") == n["bytes"] and o.get("sha256") != n["sha256"] else "")
        raise CurateError(f"{root}: an earlier run used other settings or another input{edited} ({'; '.join(diffs[:6])}"
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
    from ainkit.services import llm

    return llm.parse_endpoint(section["model"], None, section.get("backend"))


class Usage:
    """A client's requests, tokens and cost, journalled as they are paid: shards/NN/usage/<step>.<pid>.<ns>.json,
    one file per process and step, rewritten in place (one pwrite of a fixed width, which a kill cannot tear) after
    every finished request and when the client closes. The summary adds up every file: work paid before a kill
    counts once, and a resumed run's work is added to it."""

    WIDTH = 512

    def __init__(self, folder: Path, step: str, client):
        folder.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.path = folder / f"{step}.{os.getpid()}.{time.time_ns()}.json"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, atomic.file_mode())
        counted = client.account  # every finished request (not an answer from the cache) goes through it

        def account(*args: Any, **kwargs: Any) -> None:
            counted(*args, **kwargs)
            self.write()

        client.account = account
        self.write()

    def write(self) -> None:
        st = self.client.stats
        data = json.dumps({"requests": st.done + st.failed, "from_cache": st.cached, "retries": st.retried,
                           "tokens": st.prompt_tokens + st.completion_tokens, "cost_usd": st.cost}).encode()
        os.pwrite(self._fd, data.ljust(self.WIDTH), 0)

    def close(self) -> None:
        if self._fd is not None:
            self.write()
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def total(folder: Path, step: str) -> Counter:
        """The sum of a step's usage files in one shard folder (a file a kill left empty counts nothing)."""
        total: Counter = Counter()
        for path in sorted(folder.glob(f"{step}.*.json")) if folder.is_dir() else ():
            try:
                total.update(json.loads(path.read_bytes() or b"{}"))
            except ValueError:
                continue
        return total


def _llm_problem(config: dict[str, Any], step: str, vision: bool = False) -> str:
    """Why the section's endpoint cannot serve the run ('' when it can), each way out named as a --set switch."""
    import importlib.util

    from ainkit.services import llm, serve

    section = config[step]
    where = f"{step}.model {section['model']!r}"
    try:
        ep = endpoint_of(section)
        if ep.kind == "hf":
            return f"{where}: a Hugging Face folder is not a chat endpoint; --set {step}.model=openai:NAME or local:NAME"
        if vision and ep.kind != "openai":
            return (f"{where}: not a vision endpoint (the embedded server is text-only and never judges images); "
                    f"--set {step}.model=openai:NAME (a vision model), or --set toxicity.mode=skip (images NOT screened)")
        if section.get("batch") and ep.kind != "openai":
            return f"{step}.batch: {ep.describe()} has no Batch API; --set {step}.batch=false or an openai: model"
        if ep.kind == "mt":
            from ainkit.services import mt

            try:
                mt.locate(ep.name, bool(section.get("allow_download")))
            except mt.MTUnavailable as exc:
                return f"{where}: {str(exc).replace('--allow-download', f'--set {step}.allow_download=true')}"
            return ""
        if ep.kind == "local":
            if importlib.util.find_spec("llama_cpp") is None:
                return (f"{where}: the embedded server needs llama-cpp-python, which is not installed (the set-up builds "
                        f"it); or --set {step}.model=openai:NAME with OPENAI_BASE_URL")
            serve.model_path(ep.name)
            return ""
        backend = llm.endpoint_backend(ep)
    except llm.LLMError as exc:
        why = re.sub(r"^--(?:model|backend) \S+: ", "", str(exc)).replace("--backend", f"--set {step}.backend=")
        return f"{where}: {why}"
    if backend is not None and not backend.api_key and "api.openai.com" in backend.base_url:
        return (f"{where}: no API key for {backend.base_url} (OPENAI_API_KEY, or the backend's api_key_env, is not set); "
                f"set it, or point OPENAI_BASE_URL (or --set {step}.backend=NAME) at another server")
    return ""


def check_services(config: dict[str, Any], steps: set[str] | list[str] | tuple[str, ...]) -> None:
    """Every model and service `steps` need, checked before the first request of the run (nothing is sent):
    the endpoints (embedded model installed, a key for OpenAI's API), the encoder (here, or downloads allowed),
    WordNet for METEOR, a vision judge. A problem stops the run (exit 2) naming the curate switch that fixes it."""
    from ainkit.stages import metrics, similarity

    problems = [p for step in ("translate", "back_translate") if step in steps and (p := _llm_problem(config, step))]
    tox = config["toxicity"]
    if "toxicity" in steps and tox["mode"] == "required" and tox["model"]:
        problems += [p for p in [_llm_problem(config, "toxicity", vision=True)] if p]
    if "similarity" in steps:
        s = config["similarity"]
        allow = bool(s["allow_download"]) or None
        try:
            name = similarity.resolve_name(s["encoder"], allow, DOWNLOAD_SWITCH)
            if not Path(name).expanduser().is_dir():
                similarity.locate(name, allow, DOWNLOAD_SWITCH)
        except similarity.EncoderUnavailable as exc:
            problems.append(f"similarity.encoder {s['encoder']!r}: {exc}")
    if "metrics" in steps:
        try:
            metrics._wordnet()
        except metrics.MetricUnavailable as exc:
            problems.append(f"metrics: {exc}")
    if problems:
        raise CurateError("cannot run: " + "; ".join(problems) + ". Nothing was sent")


@contextlib.contextmanager
def opened_client(section: dict[str, Any], cache_dir: str | None, label: str, usage: Path | None = None):
    """A Client on the section's endpoint (the embedded server runs for as long as the block); its usage journalled
    in the folder `usage` when given."""
    from ainkit.services import cache, serve
    from ainkit.services.llm import Client

    ep = endpoint_of(section)
    with contextlib.ExitStack() as stack:
        if ep.kind == "mt":  # a dedicated translation model on this machine (ainkit.services.mt)
            from ainkit.services import mt

            client = mt.open_client(ep.name, "ar-en" if label == "back_translate" else "en-ar",
                                    bool(section.get("allow_download")), cache=cache.open_cache(cache_dir))
            print(f"[curate] {label}: {client.backend.describe()} ({client.engine.kind}, {client.engine.device})", flush=True)
        else:
            backend = stack.enter_context(serve.open_endpoint(ep))
            print(f"[curate] {label}: {backend.describe()}", flush=True)
            client = Client(backend, concurrency=section["concurrency"], cache=cache.open_cache(cache_dir))
        journal = Usage(usage, label, client) if usage is not None else None
        try:
            yield client
        finally:
            if journal is not None:
                journal.close()
            client.close()


def _summary(summary) -> dict[str, Any]:
    return dataclasses.asdict(summary)


class _FirstLines:
    """id -> the input line that first had it, in SQLite beside the shard's files (flat memory)."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.path, self.db = path, sqlite3.connect(path, isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                              "CREATE TABLE f (id TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID; BEGIN;")

    def first(self, rid: str, line: int) -> int | None:
        """None when `rid` is new (and remembered at `line`), else the line it was first seen at."""
        row = self.db.execute("SELECT line FROM f WHERE id = ?", (rid,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO f VALUES (?, ?)", (rid, line))
        return row[0] if row else None

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


def chat_form(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as the steps take it: a top-level `system` string (ShareGPT's system column) moved into the chat
    as its first turn, so it is translated, back-translated and scored like every turn (never left in English)."""
    from ainkit.stages.translate import CHAT_KEYS

    system = rec.get("system")
    key, text_key = next(((k, t) for k, t in CHAT_KEYS if isinstance(rec.get(k), list)), (None, None))
    if key is None or not isinstance(system, str) or not system.strip():
        return rec
    turn = {"role": "system", "content": system} if key == "messages" else {"from": "system", "value": system}
    return {k: ([turn, *v] if k == key else v) for k, v in rec.items() if k != "system"}


def _step_input(run: Run, i: int) -> dict[str, Any]:
    """The shard's rows of the input, each with an id, into 0_input.jsonl; malformed lines and records whose id an
    earlier line has (all of an id's records are in the same shard) to its rejects, each with its own line."""
    t0 = time.time()
    out, rej = run.output(i, "input"), run.rejects(i, "input")
    counts = Counter()
    seen = _FirstLines(run.shard_dir(i) / "0_input.ids.sqlite")
    try:
        with atomic.writer(out) as fo, atomic.writer(rej) as fr:
            for pos, rec, rid, error, raw in source_rows(run.input):
                if shard_of(rid, run.shards) != i:
                    continue
                counts["read"] += 1
                if error:
                    counts["malformed"] += 1
                    fr.write(json.dumps({"line": pos, "id": rid, "raw": raw, "reasons": [error]}, ensure_ascii=False) + "\n")
                    continue
                try:
                    text = json.dumps(rec, ensure_ascii=False)
                except (TypeError, ValueError) as exc:
                    counts["malformed"] += 1
                    fr.write(json.dumps({"line": pos, "id": rid, "reasons": [f"not JSON-serialisable: {exc}"]}) + "\n")
                    continue
                first = seen.first(rid, pos)
                if first is not None:
                    counts["rejected"] += 1
                    fr.write(json.dumps({"line": pos, "id": rid, "record": json.loads(text),
                                         "reasons": [f"duplicate id {rid!r} (first at line {first})"]},
                                        ensure_ascii=False) + "\n")
                    continue
                if rec.get("id") is None or rec.get("id") == "":
                    rec = {"id": rid, **{k: v for k, v in rec.items() if k != "id"}}
                fo.write(json.dumps(chat_form(rec), ensure_ascii=False) + "\n")
                counts["kept"] += 1
    finally:
        seen.close()
    return {"read": counts["read"], "kept": counts["kept"], "rejected": counts["rejected"], "malformed": counts["malformed"],
            "endpoint_failed": 0, "seconds": round(time.time() - t0, 2), "extra": {}}


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


def _step_structure(run: Run, i: int) -> dict[str, Any]:
    """The free checks (`structure_problems`) of every record, before any paid step."""
    from ainkit.services.records import StageIO

    settings = {"stage": "curate-structure", "version": VERSION, "images": str(run.images)}
    with StageIO(run.output(i, "input"), run.output(i, "structure"), rejects=run.rejects(i, "structure"),
                 settings=settings) as io:
        for rec in io.pending():
            reasons = structure_problems(rec, run.images, run.config["translate"]["max_chars"])
            if reasons:
                io.reject(rec, reasons)
            else:
                io.emit(rec)
    return _summary(io.summary)


def _placeholder_free(text: str) -> str:
    from ainkit.stages.translate import PLACEHOLDER

    return " ".join(PLACEHOLDER.sub(" ", text).split())


def _chat_texts(turns: Any, text_key: str) -> str:
    return "\n".join(t for t in (_placeholder_free(turn.get(text_key, "")) for turn in turns
                                 if isinstance(turn, dict) and isinstance(turn.get(text_key), str)) if t)


def _step_pairs(run: Run, i: int) -> dict[str, Any]:
    """`en` and `ar`: the chat's English source and Arabic translation as two texts (turns on their own lines)."""
    from ainkit.services.records import StageIO
    from ainkit.stages.translate import CHAT_KEYS

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
    return _summary(summary)


def _step_similarity(run: Run, i: int, progress: bool) -> dict[str, Any]:
    from ainkit.stages import similarity

    s = run.config["similarity"]
    summary = similarity.score_records(str(run.output(i, "back_translate")), str(run.output(i, "similarity")), s["encoder"],
                                       "en", "ar", s["batch_size"], str(run.rejects(i, "similarity")),
                                       allow_download=bool(s["allow_download"]) or None, progress=progress,
                                       warn=lambda m: print(f"[curate] similarity: warning: {m}", file=sys.stderr),
                                       switches={"allow_download": DOWNLOAD_SWITCH, "encoder": "--set similarity.encoder="})
    return _summary(summary)


def _step_metrics(run: Run, i: int, progress: bool) -> dict[str, Any]:
    from ainkit.stages import metrics

    workers = max(1, min(4, len(os.sched_getaffinity(0))))
    summary, _ = metrics.score_records(str(run.output(i, "similarity")), str(run.output(i, "metrics")), "en", "back_en",
                                       workers=workers, rejects=str(run.rejects(i, "metrics")), progress=progress,
                                       max_words=run.config["metrics"]["max_words"],
                                       max_words_switch="--set metrics.max_words=N")
    return _summary(summary)


def _step_verify(run: Run, i: int) -> dict[str, Any]:
    from ainkit.stages import verify

    t0 = time.time()
    funnel = verify.run(str(run.output(i, "metrics")), str(run.output(i, "verify")), str(run.rejects(i, "verify")),
                        dict(run.config["verify"]["thresholds"]),
                        summary_path=str(run.shard_dir(i) / "7_verify.funnel.json"))
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
    from ainkit.services import cache, llm
    from ainkit.stages import toxicity
    from ainkit.services.llm import Client
    from ainkit.services.records import read_lines

    section = run.config["toxicity"]
    listing = run.shard_dir(i) / "8_images.jsonl"
    seen = _Decisions(run.shard_dir(i) / "8_images.seen.sqlite")
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
    usage = Usage(run.shard_dir(i) / "usage", "toxicity", client)
    judged, rej = run.shard_dir(i) / "8_toxicity.jsonl", run.shard_dir(i) / "8_toxicity.rejects.jsonl"
    try:
        summary, counts = toxicity.run(listing, judged, client, rej, progress=progress)
    finally:
        usage.close()
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
    return {"images": summary.read, **{k: v for k, v in counts.items()}}  # requests, tokens, cost: in usage/


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


def _step_toxicity(run: Run, i: int, cache_dir: str | None, progress: bool) -> dict[str, Any]:
    """Keep a verified record when its images are safe (or, with `skip`, unscreened) and it can train."""
    from ainkit.pipelines.export import conversation, image_problem
    from ainkit.services.records import StageIO

    mode = run.config["toxicity"]["mode"]
    decisions = _Decisions(run.shard_dir(i) / "8_decisions.sqlite")
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
    check_services(run.config, [step for step in STEPS if step not in done])
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
        elif step == "structure":
            summary = _step_structure(run, i)
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
    from ainkit.services.records import read_lines

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
    def __init__(self, it: Iterator[tuple[str, dict[str, Any]]]):
        self.it, self.item = it, next(it, None)

    def take(self, rid: Any) -> dict[str, Any] | None:
        if self.item is not None and self.item[0] == rid:
            got, self.item = self.item[1], next(self.it, None)
            return got
        return None


def _reject_line(rid: str, pos: int, step: str, entry: dict[str, Any], source: dict[str, Any] | None) -> str:
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
    return json.dumps(out, ensure_ascii=False)


def merge(root: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """kept.jsonl, rejects.jsonl, funnel.json/.png, export/ and summary.json from the finished shards."""
    from ainkit.pipelines import export

    t0 = time.time()
    run = Run.open(root)
    n = run.shards
    missing = [i for i in range(n) if not run.shard_done(i)]
    if missing:
        raise CurateError(f"{run.root}: shard(s) {', '.join(map(str, missing))} of {n} not finished; run the same command "
                          "again to resume them")
    check_input_unchanged(json.loads((run.root / "run.json").read_text())["input"], run.input,
                          "the shards' files were made from the old one: use --restart")
    kept_heads = [_Head(_entries(run.output(i, "toxicity"), i, n, "kept")) for i in range(n)]
    line_heads = [_Head(_entries(run.rejects(i, "input"), i, n, "lines")) for i in range(n)]
    reject_heads = [[(step, _Head(_entries(run.rejects(i, step), i, n, "rejects"))) for step in STEPS[1:]]
                    for i in range(n)]
    funnel = {step: {"rejected": 0, "reasons": Counter()} for step in STEPS}
    read = kept = 0
    with atomic.writer(run.root / "kept.jsonl") as fk, atomic.writer(run.root / "rejects.jsonl") as fr:
        for pos, source, rid, _, _ in source_rows(run.input):
            read += 1
            s = shard_of(rid, n)
            found = line_heads[s].take(pos)  # the input step's rejects, by line: malformed, duplicate ids
            step = "input"
            if found is None:
                rec = kept_heads[s].take(rid)
                if rec is not None:
                    kept += 1
                    fk.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    continue
                step, found = next(((st, e) for st, head in reject_heads[s] if (e := head.take(rid)) is not None),
                                   ("", None))
            if found is None:
                raise CurateError(f"{run.root}: record {rid!r} (line {pos}) is in no shard file: a damaged run; use --restart")
            fr.write(_reject_line(rid, pos, step, found, source) + "\n")
            funnel[step]["rejected"] += 1
            funnel[step]["reasons"].update({reason_key(r) for r in found.get("reasons", [])})
    left = [(i, h.item[0]) for i, h in enumerate(kept_heads + line_heads) if h.item] + \
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
        "system prompts": ("translated and verified: a top-level `system` string of the input is the chat's first "
                           "turn from the input step on, so it went through translation, back-translation and the "
                           "similarity and metrics checks like every turn, and is exported as the system turn"),
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


def funnel_figure(fun: dict[str, Any], path: Path) -> Path:
    """Records left after each step, and the commonest reasons each step gave: Figure 13 for the user's data."""
    import io

    from matplotlib.figure import Figure

    steps = fun["steps"]
    fig = Figure(figsize=(11, 0.55 * len(steps) + 1.6))
    ax = fig.subplots()
    names = [s["step"].replace("_", "-") for s in steps]
    ax.barh(names, [s["out"] for s in steps], color="#4c72b0", label="records left")
    ax.barh(names, [s["rejected"] for s in steps], left=[s["out"] for s in steps], color="#dd8452", label="rejected here")
    top = max(1, fun["input"])
    for y, s in enumerate(steps):
        reasons = list(s["reasons"].items())  # commonest first; a record may give several
        why = ", ".join(f"{r[:40]} {n:,}" for r, n in reasons[:3]) + (f", {len(reasons) - 3} more" if len(reasons) > 3 else "")
        text = f"{s['out']:,} left" + (f"; -{s['rejected']:,}: {why}" if s["rejected"] else "")
        ax.text(top * 1.02, y, text, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 2.8)
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
    from ainkit.services import llm
    from ainkit.stages import translate

    n = run_config["shards"]
    per_shard = [0] * n
    malformed = 0
    strings = Counter()
    tokens = Counter()
    images: set[int] = set()
    samples: dict[str, list[str]] = {"translate": [], "back_translate": []}
    tr, bt = run_config["translate"], run_config["back_translate"]
    t_settings = translate.Settings("en-ar", tr["prompt_lang"], max_tokens=tr["max_tokens"], max_chars=tr["max_chars"])
    b_settings = translate.Settings("ar-en", bt["prompt_lang"], max_tokens=bt["max_tokens"])
    for _, rec, rid, error, _ in source_rows(Path(input)):
        if error:
            malformed += 1
            continue
        per_shard[shard_of(rid, n)] += 1
        rec = chat_form(rec)  # a top-level system prompt is translated too
        job = translate.plan(rec, None, True, t_settings.max_chars, "--set translate.max_chars=N")
        if job.problems:
            continue
        parts, todo, reqs = translate.requests_for(job.texts, t_settings)
        for k, m in zip(todo, reqs):
            if len(samples["translate"]) < MT_SAMPLE:
                samples["translate"].append(parts[k][1])
            strings["translate"] += 1
            tokens["translate_prompt"] += llm.estimate_tokens(m)
            tokens["translate_text"] += len(parts[k][1]) // 4
        joined = "\n".join(_placeholder_free(t) for t in job.texts)
        if len(samples["back_translate"]) < MT_SAMPLE:
            samples["back_translate"].append(joined)  # English here: timed as a stand-in for its Arabic translation
        strings["back_translate"] += 1
        tokens["back_translate_prompt"] += llm.estimate_tokens(translate.messages_for(joined, b_settings))
        tokens["back_translate_text"] += len(joined) // 4
        for p in image_paths(rec):
            images.add(hash(p))
    def cost(section: dict[str, Any], prompt: int, completion: int, batch: bool) -> float | None:
        """At configs/llm.yaml's prices, as the stage's Client counts them; None when the model has none."""
        ep = endpoint_of(section)
        if ep.kind in ("local", "mt"):
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
        if endpoint_of(section).kind == "mt":
            out["steps"][step]["cpu"] = _mt_cpu_plan(section, step, samples[step], strings[step])
    tox = run_config["toxicity"]
    out["steps"]["toxicity"] = {"mode": tox["mode"], "model": tox["model"],
                                "requests (at most)": len(images) if tox["mode"] == "required" and tox["model"] else 0}
    return out


MT_SAMPLE = 32  # strings of the input a dry run translates to time a dedicated MT model


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
    from ainkit.ground import cluster

    s = run.config["slurm"]
    return cluster.make_executor("slurm", run.root / "submitit", nodes=1, gpus_per_node=0, tasks=1,
                                 cpus_per_task=s["cpus_per_task"], partition=s["partition"], time_min=s["time_min"],
                                 job_name=job_name, mem_gb=s["mem_gb"])


def sbatch_script(run_config: dict[str, Any], root: str | os.PathLike) -> str:
    """The array script SLURM would get (written on any machine; writes no file)."""
    from ainkit.ground import cluster

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


def _lock(root: Path):
    """The run folder's lock (root/curate.lock); a second process is refused, naming that file and its holder."""
    from ainkit.services.records import OutputLock, RecordError

    try:
        return OutputLock(root / "curate")
    except RecordError:
        path = root / "curate.lock"
        try:
            holder = path.read_text().strip() or "?"
        except OSError:
            holder = "?"
        raise CurateError(f"--output {root}: another ainkit curate process (pid {holder}) is running in this run folder "
                          f"(it holds {path}); wait for it to finish, or give another --output") from None


def run(config: dict[str, Any], input: str | os.PathLike, output: str | os.PathLike, images: str | os.PathLike | None = None,
        executor: str = "local", restart: bool = False, cache_dir: str | None = None,
        progress: bool = False) -> dict[str, Any]:
    """The whole pipeline; returns the summary (see the module docstring)."""
    if executor not in EXECUTORS:
        raise CurateError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    t0 = time.time()
    _, root, _ = check_paths(input, output, images)
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(root)  # one curate process per run folder (a second one exits 2 before touching it)
    try:
        r = prepare(config, input, output, images, restart)
        check_services(r.config, {step for i in range(r.shards) for step in STEPS if step not in r.progress(i)["steps"]})
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
