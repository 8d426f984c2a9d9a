"""Kept records -> a training set for LLaMA-Factory, ms-swift and `ainkit train`, images copied or linked beside it.

    ainkit export --input runs/verify/kept.jsonl --output data/                  # data/ain_curated.jsonl + dataset_info.json
    ainkit export --input kept.jsonl --output data/ --images symlink --images-dir /datasets/images

Input: JSON Lines chat records, as the translate and verify stages write them: `messages`
(role/content) or `conversations` (from/value: human, gpt, system), an optional `system`
string, and `images`, a list of paths (or one path). Relative paths resolve against `--images-dir`; else, for
an `ainkit curate` run's kept.jsonl, the images folder its run.json records (the run's `--images`); else the
input file's folder. When none of the first relative paths exists there, the export refuses (exit 2, naming
`--images-dir`) rather than reject every record with an image and exit 0; the summary line counts the
relative paths not found. Written in the output folder (all atomically; images placed one by one):

    <name>.jsonl          {"id", "messages": [{"role", "content"}, ...], "images": ["images/...", ...]} a line;
                          the file `ainkit train --set data=<folder>/<name>.jsonl` reads
    dataset_info.json     its LLaMA-Factory entry (`dataset_dir: <folder>`, `dataset: <name>`); other entries kept
    <name>.swift.jsonl    the same records for ms-swift (`swift sft --dataset <file>`), image paths absolute
    <name>.rejects.jsonl  records that cannot train: line number, the record, every reason
    images/               each image the records use, once: copied (default), hard-linked or symlinked

Formats, from the tools' own documentation and code:
- LLaMA-Factory, data/README.md ("OpenAI format": `formatting: sharegpt`, `columns.messages`,
  `columns.images`, role/content tags) and src/llamafactory/data/converter.py: after an optional
  leading system turn, user and assistant turns must alternate, user first, assistant last, or the
  converter skips the example; images resolve against `media_dir`, which defaults to `dataset_dir`
  (hparams/data_args.py), so paths are written relative to the output folder; and mm_plugin.py
  raises, stopping the run, when a record's `<image>` placeholders and images differ in number.
- ms-swift, docs/source_en/Customization/Custom-dataset.md ("Standard Dataset Format",
  Multimodal): `messages` with role/content, `<image>` tags, `images` as "URLs or paths
  (preferably absolute paths)".
Such records are rejected here, with the reason, rather than dropped or fatal at training time.
Every record is also checked the way a trainer would meet it: each image exists, is under ainkit.services.images' size
limits and decodes whole (every pixel, as the trainer decodes it: a file cut short is refused here).
Resumable (`<name>.jsonl.journal`); an image already in place (same file, same link) is not placed again.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ainkit.ground import atomic
from ainkit.services import images
from ainkit.ground.errors import UserError
from ainkit.services.images import MAX_PATH_CHARS
from ainkit.services.chat import CHAT_KEYS, PLACEHOLDER

VERSION = "export-2"  # bump when the written records change: journals of another version do not resume
IMAGE_MODES = ("copy", "link", "symlink")
ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}
OTHER_MEDIA = ("<video>", "<audio>")  # placeholders LLaMA-Factory and ms-swift expect media for; the export carries images only
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_NAME = "ain_curated"  # configs/train/ain_7b.yaml reads data/ain_curated.jsonl
MAX_ASPECT = 200  # Qwen2-VL's smart_resize refuses an image whose long side is over 200 x its short side


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's dataset_info.json entry for a ShareGPT file with OpenAI-style role/content turns and images."""
    return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                     "system_tag": "system"}}


def register(folder: Path, name: str, file_name: str) -> Path:
    """Add (or replace) the data set's entry in <folder>/dataset_info.json, keeping the other entries."""
    path = folder / "dataset_info.json"
    info: dict[str, Any] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid JSON ({exc}); fix or remove it, the export adds its entry there") from None
        if not isinstance(info, dict):
            raise UserError(f"{path}: a JSON {type(info).__name__}, expected an object of data set entries")
    info[name] = dataset_info_entry(file_name)
    return atomic.write_json(path, info)


def conversation(rec: dict[str, Any]) -> tuple[list[dict[str, str]], list[str], list[str]]:
    """(turns as role/content, image paths, problems) of a record; problems empty when LLaMA-Factory and ms-swift take it."""
    problems: list[str] = []
    for list_key, text_key in CHAT_KEYS:
        if isinstance(rec.get(list_key), list):
            break
    else:
        return [], [], ["no 'messages' (role/content) or 'conversations' (from/value) list"]
    role_key = "role" if text_key == "content" else "from"
    turns: list[dict[str, str]] = []
    system = rec.get("system")
    if isinstance(system, str) and system.strip():
        turns.append({"role": "system", "content": system})
    for i, t in enumerate(rec[list_key]):
        role = ROLES.get(t.get(role_key)) if isinstance(t, dict) else None
        content = t.get(text_key) if isinstance(t, dict) else None
        if role is None or not isinstance(content, str):
            problems.append(f"turn {i}: not a {{{role_key!r}: system|user|assistant, {text_key!r}: text}} object: {t!r:.80}")
        elif not content.strip():
            problems.append(f"turn {i} ({role}): empty")
        else:
            turns.append({"role": role, "content": content})
    if problems:
        return [], [], problems
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    roles = [t["role"] for t in body]
    if not body or roles != ["user", "assistant"] * (len(body) // 2):
        problems.append(f"turns {'/'.join(roles) or '(none)'}: expected user/assistant pairs, user first, after an "
                        "optional system turn (LLaMA-Factory skips any other order)")
    raw = rec.get("images")
    paths = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else [] if raw is None else None
    if paths is None or not all(isinstance(p, str) and p.strip() and len(p) <= MAX_PATH_CHARS for p in paths):
        problems.append(f"'images' must be a list of paths, not {raw!r:.80}")
        paths = []
    n = sum(t["content"].count(PLACEHOLDER) for t in turns)
    if n != len(paths):
        problems.append(f"{n} {PLACEHOLDER} placeholder(s) but {len(paths)} image(s)")
    problems += [f"a {tag} placeholder: the export carries images only" for tag in OTHER_MEDIA
                 if any(tag in t["content"] for t in turns)]
    return turns, paths, problems


def image_problem(path: Path, shown: str) -> str:
    """Why an image cannot train ('' when it can): ainkit.services.images.check, the file read under its size limit and every
    pixel decoded as the trainer decodes it, and the aspect ratio Qwen2-VL's resize accepts."""
    if not path.is_file():
        return f"image {shown!r:.200}: {'not a file' if path.exists() else 'no such file'} ({path})"
    try:
        st = path.stat()
    except OSError as exc:
        return f"image {shown!r:.200}: cannot be read ({exc.strerror})"
    why = _decoded_problem(str(path), st.st_size, st.st_mtime_ns)
    return f"image {shown!r:.200}: {why}" if why else ""


@functools.lru_cache(maxsize=4096)  # an image many records share is decoded once; bounded, so memory stays flat
def _decoded_problem(path: str, size: int, mtime_ns: int) -> str:
    from PIL import Image

    why = images.check(path)
    if why:
        return why
    with Image.open(path) as im:
        w, h = im.size
    if max(w, h) > MAX_ASPECT * min(w, h):
        return f"aspect ratio {max(w, h) / min(w, h):.0f}:1 ({w}x{h}), over the {MAX_ASPECT}:1 Qwen2-VL's resize accepts"
    return ""


class Placer:
    """Puts each image into <output>/images once, atomically (temporary name, then rename), by copy or link."""

    def __init__(self, out: Path, mode: str):
        self.out, self.mode = out, mode
        self.placed = self.reused = 0

    @staticmethod
    def relative(raw: str, src: Path) -> str:
        """Where an image goes, relative to the output folder: its own relative path when it stays inside, else a
        name made unique by a hash of where it came from."""
        norm = os.path.normpath(raw)
        if not os.path.isabs(norm) and norm != ".." and not norm.startswith(".." + os.sep):
            return Path("images", norm).as_posix()
        return f"images/external/{hashlib.sha256(str(src).encode()).hexdigest()[:16]}-{src.name}"

    def _in_place(self, src: Path, dest: Path) -> bool:
        if self.mode == "symlink":
            return dest.is_symlink() and os.readlink(dest) == os.path.abspath(src)
        if dest.is_symlink() or not dest.is_file():
            return False
        if os.path.samefile(src, dest):
            return True
        a, b = src.stat(), dest.stat()  # copy2 keeps the time stamp: same size and time is the same copy
        return self.mode == "copy" and a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)

    def place(self, src: Path, rel: str) -> None:
        dest = self.out / rel
        if self._in_place(src, dest):
            self.reused += 1
            return
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            if self.mode == "copy":
                shutil.copy2(src, tmp)
            elif self.mode == "link":
                os.link(src, tmp)
            else:
                os.symlink(os.path.abspath(src), tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            hint = "; --images copy or symlink work across file systems" if exc.errno == errno.EXDEV else ""
            raise UserError(f"cannot {self.mode} {src} to {dest}: {exc.strerror}{hint}") from None
        finally:  # a failed or interrupted placement leaves no temporary file
            tmp.unlink(missing_ok=True)
        self.placed += 1


def image_root(input: str | os.PathLike, images_dir: str | os.PathLike | None) -> tuple[Path, str]:
    """(the folder relative image paths resolve against, where that came from): --images-dir; else, for the kept.jsonl
    of an `ainkit curate` run, the images folder its run.json records; else the input file's folder."""
    if images_dir:
        base = Path(images_dir)
        if not base.is_dir():
            raise UserError(f"--images-dir {base}: not a folder")
        return base, "--images-dir"
    meta_path = Path(input).parent / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and str(meta.get("version", "")).startswith("curate") and isinstance(meta.get("images"), str):
        base = Path(meta["images"])
        if not base.is_dir():
            raise UserError(f"{meta_path} says the run's images are in {base}, which is not a folder (moved?); give their "
                            "folder with --images-dir")
        return base, f"the curate run's images folder, from {meta_path}"
    return Path(input).parent, "the input file's folder"


PROBE_IMAGES = 20      # relative image paths looked at before the export starts ...
PROBE_RECORDS = 1000   # ... among at most this many first records


def check_images_found(input: str | os.PathLike, base: Path, origin: str) -> None:
    """Refuse (exit 2, naming --images-dir) when none of the first relative image paths exists under `base`: the
    folder is wrong, and going on would reject every record with an image while exiting 0."""
    from ainkit.services.records import read_lines

    tried: list[str] = []
    for n, line in enumerate(read_lines(input)):
        if n >= PROBE_RECORDS or len(tried) >= PROBE_IMAGES:
            break
        if line.record is None:
            continue
        _, paths, _ = conversation(line.record)
        for raw in paths:
            if os.path.isabs(raw):
                continue
            if (base / raw).exists():
                return
            tried.append(raw)
    if tried:
        raise UserError(f"none of the first {len(tried)} relative image path(s) of {input} is under {base} ({origin}), "
                        f"e.g. {tried[0]!r:.200} -> {base / tried[0]}; give the folder they are relative to with "
                        "--images-dir DIR")


def run(input: str | os.PathLike, output: str | os.PathLike, name: str = DEFAULT_NAME, images: str = "copy",
        images_dir: str | os.PathLike | None = None, rejects: str | os.PathLike | None = None, resume: bool = True,
        progress: bool = False):
    """The `ainkit export` stage (see the module docstring); returns (the records Summary, the files written by kind)."""
    from tqdm import tqdm

    from ainkit.services.records import read_lines, record_id
    from ainkit.services.stageio import StageIO, check_input

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: is a file; --output is the folder to write the data set into")
    if not NAME.fullmatch(name):
        raise UserError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (it names the files and the data set)")
    if images not in IMAGE_MODES:
        raise UserError(f"--images {images!r}: choose one of {', '.join(IMAGE_MODES)}")
    check_input(Path(input))
    base, origin = image_root(input, images_dir)
    check_images_found(input, base, origin)
    data = out / f"{name}.jsonl"
    settings = {"stage": VERSION, "name": name, "images": images, "images_dir": str(base.resolve())}
    placer = Placer(out, images)
    missing = 0
    with StageIO(input, data, rejects=rejects, resume=resume, settings=settings) as io:
        for rec in tqdm(io.pending(), desc="export", unit=" records", disable=not progress):
            turns, paths, problems = conversation(rec)
            sources = [Path(p) if os.path.isabs(p) else base / p for p in paths]
            found = [p for p in (image_problem(s, raw) for s, raw in zip(sources, paths)) if p]
            missing += sum(1 for raw, s in zip(paths, sources) if not os.path.isabs(raw) and not s.exists())
            problems += found
            if problems:
                io.reject(rec, problems)
                continue
            rels = [Placer.relative(raw, src) for raw, src in zip(paths, sources)]
            for src, rel in zip(sources, rels):
                placer.place(src, rel)
            io.emit({"id": record_id(rec, rec["_line"]), "messages": turns, "images": rels, "_line": rec["_line"]})
    swift = out / f"{name}.swift.jsonl"
    with atomic.writer(swift) as fh:  # streamed from the finished file: memory flat in the number of records
        for line in read_lines(data):
            r = line.record
            r["images"] = [os.path.abspath(out / p) for p in r["images"]]
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    info = register(out, name, data.name)
    verb = {"copy": "copied", "link": "hard-linked", "symlink": "symlinked"}[images]
    io.summary.extra = {f"images {verb}": placer.placed, "images already in place": placer.reused}
    if missing:
        io.summary.extra[f"relative image paths not found under {base} ({origin}; --images-dir sets it)"] = missing
    return io.summary, {"data": data, "dataset_info": info, "swift": swift, "rejects": io.rejects}
