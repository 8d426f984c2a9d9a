"""Several models' answers to the same CAMEL-Bench items, joined by (dataset, id): what the gallery and the survey show.

    from ainkit.pipelines import sidebyside as sbs
    items = sbs.load_items(sbs.FIXTURE_ITEMS)                       # {(dataset, id): item}
    models = sbs.load_answers(["runs/a/predictions.jsonl", "runs/b/predictions.jsonl"])

A predictions file is what `ainkit evaluate --benchmark camel-bench` writes (OUTPUT/predictions.jsonl, with
`correct_corrected` / `correct_original`), or a plain {dataset, id, prediction[, answer]} file. A model is
named by `--names`, else by the `model` of the results.json beside the file, else by the file (or, for
predictions.jsonl, its folder). Images are embedded as data URIs, so a page built from them is one file.
"""
from __future__ import annotations

import html
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ainkit.stages.evaluate import camel_bench
from ainkit.ground.paths import Outputs
from ainkit.stages.evaluate.runner import CAMEL_FIXTURE, read_located, refuse_duplicates
from ainkit.services import images
from ainkit.services.records import RecordError

FIXTURE_ITEMS = CAMEL_FIXTURE
FIXTURE_ANSWERS = sorted((CAMEL_FIXTURE.parent / "camel_answers").glob("*.jsonl"))  # written for the kit, not model outputs
_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")

Key = tuple[str, str]


@dataclass(frozen=True)
class FolderOutputs(Outputs):
    """Outputs whose figures go straight into `root` (a command's --output folder), with no reports/ tree."""

    @property
    def figures(self) -> Path:
        return self.root

    def ensure(self) -> "FolderOutputs":
        self.root.mkdir(parents=True, exist_ok=True)
        return self


def key_of(rec: dict[str, Any]) -> Key:
    """(dataset, id as text): how items and answers are matched."""
    return str(rec.get("dataset")), str(rec.get("id"))


def has_arabic(text: str) -> bool:
    """True when the text holds Arabic letters (then it is laid out right to left)."""
    return bool(_ARABIC.search(text or ""))


def _strong(text: str) -> str | None:
    """The direction of the first strongly directional letter ('rtl' Arabic or Hebrew, 'ltr' Latin ...), None if none."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def text_dir(text: str) -> str:
    """An HTML dir attribute for a text: the direction of its first strong letter (what dir="auto" picks); with none
    (digits, punctuation), 'rtl' if it holds Arabic, else 'ltr'."""
    return _strong(text or "") or ("rtl" if has_arabic(text) else "ltr")


_SENTENCE = re.compile(r"(?<=[.!?؟:؛])[ \t]+|\n+")


def direction_runs(text: str) -> list[tuple[str, str]]:
    """A text cut into runs of one direction: [(dir, text), ...]. A cut falls only between sentences (after . ! ? ؟ : ؛
    or a line break) where the next sentence starts in the other direction; a sentence without letters joins the
    run before it. 'ما لون المربع؟ What colour is it?' -> [('rtl', 'ما لون المربع؟ '), ('ltr', 'What colour is it?')]."""
    runs: list[list[str]] = []
    pos = 0
    for m in [*_SENTENCE.finditer(text), None]:
        end = m.end() if m else len(text)
        piece = text[pos:end]
        pos = end
        if not piece:
            continue
        d = _strong(piece)
        if runs and (d is None or d == runs[-1][0]):
            runs[-1][1] += piece
        elif runs and runs[-1][0] is None:  # leading digits or punctuation take the first direction that follows
            runs[-1] = [d, runs[-1][1] + piece]
        else:
            runs.append([d, piece])
    return [(d or text_dir(t), t) for d, t in runs]


def bidi_html(text: str, cls: str = "", tag: str = "div") -> str:
    """A text as an HTML element laid out by its own direction, isolated from the page's: dir and lang from its first
    run; a text in two directions (a bilingual question) gets one <bdi> per run, so that an English sentence in a
    right-to-left page keeps its full stop on the right."""
    runs = direction_runs(text) or [("ltr", "")]
    attrs = f' class="{cls}"' if cls else ""
    first = runs[0][0]
    lang = lambda d: "ar" if d == "rtl" else "en"  # noqa: E731
    if len(runs) == 1:
        return f'<{tag}{attrs} dir="{first}" lang="{lang(first)}">{html.escape(text)}</{tag}>'
    inner = "".join(f'<bdi dir="{d}" lang="{lang(d)}">{html.escape(t)}</bdi>' for d, t in runs)
    return f'<{tag}{attrs} dir="{first}">{inner}</{tag}>'


def isolate(text: str, direction: str | None = None) -> str:
    """<bdi> around a text (escaped), in its own direction (`direction`, else that of its first strong letter)."""
    d = direction or text_dir(text)
    return f'<bdi dir="{d}" lang="{"ar" if d == "rtl" else "en"}">{html.escape(text)}</bdi>'


def bilingual(ar: str, en: str, sep: str = " · ", english_first: bool = False) -> str:
    """An Arabic and an English label side by side, each isolated in its own direction ('الإجابة 1 · Answer 1')."""
    pair = [isolate(ar, "rtl"), isolate(en, "ltr")]
    return sep.join(reversed(pair) if english_first else pair)


def isolated_text(ar: str, en: str) -> str:
    """The plain-text form of `bilingual` (Unicode first-strong isolates), for where no markup goes: <title>, <option>."""
    return f"\u2068{ar}\u2069 · \u2068{en}\u2069"


def domain_of(dataset: str, item: dict[str, Any] | None = None) -> str:
    """The item's own 'domain', else the CAMEL-Bench domain of its data set, else 'unknown'."""
    if item and item.get("domain"):
        return str(item["domain"])
    return camel_bench.taxonomy().get(dataset, {}).get("domain", "unknown")


def load_items(path: str | Path) -> dict[Key, dict[str, Any]]:
    """Items ({dataset, id, question, images, answer}) by key; image paths resolved against the file's folder."""
    path = Path(path)
    located = read_located(path)
    if not located:
        raise RecordError(f"{path}: no items")
    refuse_duplicates(path, located)
    items = {}
    for where, it in located:
        if it.get("id") in (None, "") or not isinstance(it.get("question"), str):
            raise RecordError(f"{path}: {where}: an item needs an 'id' and a 'question' (text)")
        images = it.get("images") or []
        if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
            raise RecordError(f"{path}: {where}: 'images' must be a list of paths")
        resolved = [p if Path(p).is_absolute() else str(path.parent / p) for p in images]
        items[key_of(it)] = {**it, "images": resolved, "_where": f"{path}: {where}"}
    return items


@dataclass
class ModelAnswers:
    """One model's answers, by key, with where each came from."""

    name: str
    path: Path
    rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    where: dict[Key, str] = field(default_factory=dict)


def model_name(path: Path) -> str:
    """The `model` of results.json beside a predictions file, else the folder (predictions.jsonl) or file stem."""
    import json

    results = path.parent / "results.json"
    if path.name == "predictions.jsonl" and results.is_file():
        try:
            model = json.loads(results.read_text(encoding="utf-8")).get("model")
        except (OSError, ValueError, AttributeError):
            model = None
        if model:
            return str(model)
    return path.parent.name if path.name == "predictions.jsonl" else path.stem


def load_answers(paths: Sequence[str | Path], names: Sequence[str] | None = None) -> list[ModelAnswers]:
    """Every predictions file, checked: a line without dataset/id/prediction, a repeated key or model name raises."""
    if names and len(names) != len(paths):
        raise RecordError(f"--names gives {len(names)} names for {len(paths)} predictions files")
    models = []
    for i, p in enumerate(paths):
        p = Path(p)
        located = read_located(p)
        if not located:
            raise RecordError(f"{p}: no predictions")
        refuse_duplicates(p, located)
        m = ModelAnswers(names[i] if names else model_name(p), p)
        for where, r in located:
            if r.get("id") in (None, "") or "prediction" not in r or r.get("dataset") in (None, ""):
                raise RecordError(f"{p}: {where}: needs 'dataset', 'id' and 'prediction'")
            m.rows[key_of(r)] = r
            m.where[key_of(r)] = where
        models.append(m)
    seen: dict[str, Path] = {}
    for m in models:
        if m.name in seen:
            raise RecordError(f"{m.path} and {seen[m.name]} are both named {m.name!r}: give distinct --names")
        seen[m.name] = m.path
    return models


def answer_text(pred: Any) -> str:
    """A prediction as shown to people: text, or a marker saying there was none."""
    if pred is None:
        return "(no answer)"
    text = str(pred)
    return text if text.strip() else "(empty answer)"


def verdicts(row: dict[str, Any], item: dict[str, Any] | None = None) -> dict[str, Any]:
    """{mode: True/False/None} under both scoring modes plus 'judge' (the LLM judge's grade, or None where none).

    Rows scored by `ainkit evaluate` carry their verdicts; plain predictions are scored here (no judge), so an
    open-ended set without a judge stays ungraded (None) rather than wrong.
    """
    ds = str(row.get("dataset"))
    gt = row.get("answer", (item or {}).get("answer"))
    out: dict[str, Any] = {}
    for mode in camel_bench.MODES:
        if f"correct_{mode}" in row:
            out[mode] = bool(row[f"correct_{mode}"])
        elif gt is None or ds not in camel_bench.DATASETS:
            out[mode] = None
        else:
            v = camel_bench.score_item(ds, row.get("prediction"), gt, mode)
            out[mode] = None if v.error and ds in camel_bench.JUDGED else v.correct
    judged = ds in camel_bench.JUDGED and "correct_corrected" in row and not row.get("original_error") and not row.get("error")
    out["judge"] = bool(row["correct_corrected"]) if judged else None
    if ds in camel_bench.JUDGED and not judged:
        out["corrected"] = out["original"] = None  # no grade: the benchmark has no scorer for open-ended sets
    return out


def image_data_uri(path: str | Path, where: str = "") -> str:
    """An image file as a data: URI, checked as every image of the kit is (ainkit.services.images: the file read
    under its size limit and decoded whole); a missing, unreadable, oversized or broken file raises, naming the item."""
    path = Path(path)
    try:
        data = images.read(path)
    except images.ImageError as exc:
        raise RecordError(f"{where or path}: image {path} cannot be read ({exc})") from None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not mime.startswith("image/"):
        raise RecordError(f"{where or path}: {path} is not an image ({mime})")
    try:
        images.whole(data)
    except images.ImageError as exc:
        raise RecordError(f"{where or path}: image {path} cannot be used ({exc})") from None
    return images.data_uri(data, mime)
