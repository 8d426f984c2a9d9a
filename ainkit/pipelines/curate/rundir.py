"""curate's run folder: config.yaml and run.json (the settings, the input's identity, the git commit), one
folder a shard (shards/NN/, its steps' files and progress.json), and the lock that keeps a second process out.

    run = prepare(load_config("configs/curate/tiny.yaml"), "chats.jsonl", "runs/curate/demo")
    run.output(0, "translate")       # runs/curate/demo/shards/00/2_translate.jsonl
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import yaml

from ainkit.ground import atomic
from ainkit.ground.provenance import git_commit
from ainkit.pipelines.curate.config import FILES, NOT_RESULTS, VERSION, CurateError
from ainkit.pipelines.curate.sources import input_identity, input_kind


@dataclasses.dataclass
class Run:
    """A curate run folder: its merged config, the input and the images folder; where each shard's files go."""

    root: Path
    config: dict[str, Any]
    input: Path
    images: Path

    @property
    def shards(self) -> int:
        return self.config["shards"]

    def shard_dir(self, i: int) -> Path:
        """shards/NN/: shard i's folder (as many digits as the largest index needs, at least 2)."""
        return self.root / "shards" / f"{i:0{max(2, len(str(self.shards - 1)))}d}"

    def output(self, i: int, step: str) -> Path:
        return self.shard_dir(i) / FILES[step]

    def rejects(self, i: int, step: str) -> Path:
        out = self.output(i, step)
        return out.with_name(out.stem + ".rejects.jsonl")

    def progress(self, i: int) -> dict[str, Any]:
        """Shard i's progress.json: the summary of each finished step, and whether the shard is done."""
        path = self.shard_dir(i) / "progress.json"
        return json.loads(path.read_text()) if path.is_file() else {"steps": {}}

    def shard_done(self, i: int) -> bool:
        return self.progress(i).get("done", False)

    def record(self, i: int, step: str, summary: dict[str, Any], done: bool = False) -> None:
        """Record a finished step of shard i in its progress.json (atomically)."""
        prog = self.progress(i)
        prog["steps"][step] = summary
        prog["done"] = done
        atomic.write_json(self.shard_dir(i) / "progress.json", prog)

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Run":
        """The run prepared in `root` (run.json and config.yaml)."""
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
    """Check the input and the run folder; write config.yaml and run.json (first run) or check they agree (all but
    the git commit, which stays the one the run began with)."""
    src, root, img = check_paths(input, output, images)
    old_path = root / "run.json"
    old = json.loads(old_path.read_text()) if old_path.is_file() and not restart else None
    commit = old.pop("git_commit", None) if isinstance(old, dict) and "git_commit" in old else git_commit()
    meta = {"version": VERSION, "input": input_identity(src, old.get("input") if isinstance(old, dict) else None),
            "images": str(img.resolve()), "settings": {k: v for k, v in config.items() if k not in NOT_RESULTS}}
    if old_path.is_file() and restart:
        for name in ("shards", "export"):
            shutil.rmtree(root / name, ignore_errors=True)
        for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "funnel.png", "summary.json", "run.json"):
            (root / name).unlink(missing_ok=True)
    elif old is not None and _with_later_defaults(old, meta) != meta:
        diffs = [f"{k}: was {a!r}, now {b!r}" for k, a, b in _differences(_with_later_defaults(old, meta), meta)]
        o, n = old.get("input", {}), meta["input"]
        edited = (" (the input's content changed: same path and size, other bytes, so it was edited in place)"
                  if o.get("path") == n["path"] and o.get("bytes") == n["bytes"] and o.get("sha256") != n["sha256"] else "")
        raise CurateError(f"{root}: an earlier run used other settings or another input{edited} ({'; '.join(diffs[:6])}"
                          f"{'; ...' if len(diffs) > 6 else ''}); use --restart to start over, or another --output")
    root.mkdir(parents=True, exist_ok=True)
    atomic.write_text(root / "config.yaml", "# merged settings of this run (ainkit curate)\n"
                      + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    atomic.write_json(old_path, {"git_commit": commit, **meta})  # the commit the run began with: not compared
    return Run(root, config, src, img)


LATER_DEFAULTS = {"leakage": {"drop": None}}  # settings added after runs were made, at values that change nothing


def _with_later_defaults(old: dict, meta: dict) -> dict:
    """`old` with each setting added since it was written filled in at its do-nothing default, when the new run
    uses that default: a run prepared before the setting existed resumes without --restart."""
    settings = old.get("settings")
    if not isinstance(settings, dict):
        return old
    added = {k: v for k, v in LATER_DEFAULTS.items() if k not in settings and meta["settings"].get(k) == v}
    return {**old, "settings": {**settings, **added}} if added else old


def _differences(a: Any, b: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, a's value, b's value) of every leaf where two nested mappings differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in dict.fromkeys([*a, *b]):
            yield from _differences(a.get(k), b.get(k), f"{prefix}{k}.")
    elif a != b:
        yield prefix.rstrip("."), a, b


def lock(root: Path):
    """The run folder's lock (root/curate.lock); a second process is refused, naming that file and its holder."""
    from ainkit.services.records import RecordError
    from ainkit.services.stageio import OutputLock

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
