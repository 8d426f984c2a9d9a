"""The real benchmark sets from the Hugging Face hub, turned into the kit's item records (network and consent needed).

    items = hub.camel_bench_items(["mmbench", "chartqa"], folder="runs/cb/images")   # ahmedheakl/arabic_<name>
    path = hub.arabic_mmlu_csv("runs/mmlu")                                           # MBZUAI/ArabicMMLU, All/test
    items = hub.camel_bench_data("hub", "runs/cb", "mmbench", allow_download=True)      # what `ainkit evaluate --data` reads

Downloads happen only when asked (`ainkit evaluate --data hub --allow-download`); without network the
caller gets a one-line error naming the data set. CAMEL-Bench rows carry `image` or `image_0` ... `image_8`
and `answer`; the question is built by the kit from the row's `question` and its options (`options`,
`A`-`I`, `choice_a`-`choice_d`, `choices`, `hint`), with the kit's own Arabic instruction, so prompts are
close to, not identical with, the benchmark's.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterable, Iterator

from ainkit.ground.paths import PACKAGE
from ainkit.services.records import write_records
from ainkit.stages.evaluate import camel_bench
from ainkit.stages.evaluate.text import ARABIC_LETTERS

CAMEL_FIXTURE = PACKAGE / "stages" / "evaluate" / "fixtures" / "camel_bench_fixture.jsonl"
ANSWER_WITH_LETTER = "أجب بحرف الخيار الصحيح فقط."
ANSWER_BRIEFLY = "أجب بكلمة أو عبارة قصيرة."


class HubUnavailable(RuntimeError):
    """A hub data set that cannot be had here; the message names it and why."""


def _options(row: dict[str, Any]) -> list[str]:
    for key in ("options", "choices"):
        value = row.get(key)
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = ast.literal_eval(value.replace("،", ","))
            except (ValueError, SyntaxError):
                value = None
        if isinstance(value, (list, tuple)) and value:
            return [str(v) for v in value]
    letters = [k for k in "ABCDEFGHI" if isinstance(row.get(k), str) and row[k].strip() and row[k] != "nan"]
    if letters:
        return [row[k].strip() for k in letters]
    return [str(row[k]) for k in ("choice_a", "choice_b", "choice_c", "choice_d") if row.get(k)]


def question_text(row: dict[str, Any]) -> str:
    """The kit's prompt for one CAMEL-Bench row: hint, question, lettered options, a short instruction."""
    parts = []
    hint = row.get("hint")
    if isinstance(hint, str) and hint.strip() and hint != "nan":
        parts.append(hint.strip())
    parts.append(str(row.get("question", "")).strip())
    opts = _options(row)
    if opts:
        parts += [f"{ARABIC_LETTERS[i]}. {o}" for i, o in enumerate(opts[: len(ARABIC_LETTERS)])]
        parts.append(ANSWER_WITH_LETTER)
    else:
        parts.append(ANSWER_BRIEFLY)
    return "\n".join(p for p in parts if p)


def row_images(row: dict[str, Any]) -> list:
    """PIL images of a row: `image`, or `image_0` ... `image_8` (the benchmark's two layouts)."""
    if row.get("image") is not None:
        return [row["image"]]
    return [row[f"image_{i}"] for i in range(9) if row.get(f"image_{i}") is not None]


def saved_rows(rows: Iterable[dict[str, Any]], folder: str | Path, stem: str,
               limit: int | None = None) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(index, row, paths of its images saved as FOLDER/STEM-index-k.png) for the first `limit` hub rows."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            break
        paths = []
        for k, im in enumerate(row_images(row)):
            path = folder / f"{stem}-{i}-{k}.png"
            if not path.exists():
                im.convert("RGB").save(path)
            paths.append(str(path))
        yield i, row, paths


def rows_to_items(dataset: str, rows: Iterable[dict[str, Any]], folder: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Item records {dataset, id, question, images, answer}; images saved as PNG under `folder`."""
    if dataset not in camel_bench.DATASETS:
        raise ValueError(f"unknown CAMEL-Bench data set {dataset!r}")
    items = []
    for i, row, paths in saved_rows(rows, folder, dataset, limit):
        answer = row.get("answer")  # withheld on the hub (CAMEL-Bench issue #1): empty or None, never the string "None"
        items.append({"dataset": dataset, "id": f"{dataset}-{i}", "index": i, "question": question_text(row), "images": paths,
                      "answer": "" if answer is None else str(answer), "source": f"ahmedheakl/arabic_{dataset}"})
    return items


def _load(repo: str, allow_download: bool, **kw):
    try:
        from datasets import load_dataset
    except ImportError as exc:  # pragma: no cover
        raise HubUnavailable(f"{repo}: the datasets package is missing") from exc
    if not allow_download:
        raise HubUnavailable(f"{repo}: downloads are off (use --allow-download with network access)")
    try:
        return load_dataset(repo, **kw)
    except Exception as exc:  # noqa: BLE001 - any hub failure: unavailable, with the reason
        raise HubUnavailable(f"{repo}: could not be loaded: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None


def camel_bench_items(datasets: list[str], folder: str | Path, allow_download: bool = False, limit: int | None = None) -> list[dict]:
    """Every requested CAMEL-Bench set from the hub, as item records."""
    items = []
    for name in datasets:
        ds = _load(f"ahmedheakl/arabic_{name}", allow_download, split="train")
        items += rows_to_items(name, ds, folder, limit)
    return items


def arabic_mmlu_csv(folder: str | Path, allow_download: bool = False) -> Path:
    """MBZUAI/ArabicMMLU (All, test) written as a CSV in its own schema, for `arabic_mmlu.load`."""
    ds = _load("MBZUAI/ArabicMMLU", allow_download, name="All", split="test")
    path = Path(folder) / "ArabicMMLU_All_test.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_pandas().to_csv(path, index=False)
    return path


def arabic_mmlu_data(data: str | None, output: str | Path, allow_download: bool = False) -> str | None:
    """The ArabicMMLU items `--data` names: 'hub' downloaded into OUTPUT (with consent), anything else as it is."""
    return str(arabic_mmlu_csv(output, allow_download)) if data == "hub" else data


def camel_bench_data(data: str, output: str | Path, datasets: str = "", allow_download: bool = False,
                     limit: int | None = None) -> str:
    """The CAMEL-Bench item file `--data` names: the kit's fixture, a file as it is, or 'hub': the `datasets`
    (comma-separated; default all) downloaded into OUTPUT/items.jsonl and OUTPUT/images/."""
    if data == "fixture":
        return str(CAMEL_FIXTURE)
    if data != "hub":
        return data
    names = [d for d in datasets.split(",") if d] or camel_bench.DATASETS
    items = camel_bench_items(names, Path(output) / "images", allow_download, limit)
    return str(write_records(Path(output) / "items.jsonl", items))
