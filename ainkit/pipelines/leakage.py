"""Leakage between training records and benchmarks, across languages: which training records show a benchmark's
image or ask a benchmark's question, in the same words, in other words, or in the other language.

    ainkit leakage --train runs/curate/demo/kept.jsonl --benchmarks camel=items.jsonl mmlu=ArabicMMLU.csv \\
        --output runs/leak
    ainkit curate ... --set leakage.drop=runs/leak/drop.jsonl     # the matching records left out, with the reason

Four kinds of match, each a line of OUTPUT/leaks.jsonl:

    image-exact      the same bytes (sha256)
    image-near       64-bit DCT pHash (ainkit.services.phash) within `image_distance` bits of the benchmark image or
                     of one of its 9 crops by 5 % (a 3x3 grid of placements; pHash alone does not survive a
                     shifted crop); flat images (plain colours) match only exactly
    question-exact   the same question once case, Arabic diacritics and tatweel, punctuation, digit script and
                     spacing are normalised away
    question-encoder cosine of the multilingual sentence encoder (use-multilingual by default, ainkit.stages.similarity)
                     at least `question_threshold`: paraphrases and translations, which n-gram checks miss (a question
                     translated from the benchmark's language is still a leak, arXiv 2601.14994)

OUTPUT/drop.jsonl lists the records to leave out: every image match, and question matches of text-only items
(ArabicMMLU's); a question of an item with images counts there only when the record also shows that image, since
VQA benchmarks ask the same questions of thousands of images ("What colour is the car?"). The report counts all.

`--shard i/n` checks the training records of shard i (by a hash of their id, the kit's rule), so n tasks of a SLURM
array share a long check; concatenate their drop.jsonl files.

Training records are chat records (ainkit.services.chat: the user turns of `messages` / `conversations`, and of their
`source_` copies when curate kept the English; a `question` string too) with `images` relative to `images_dir`.
Benchmarks are item files in the kit's evaluation format (JSON Lines: id, question, images relative to the file,
dataset) or ArabicMMLU CSVs (ID, Question, Context). The benchmarks are the index (small: 30 k items); the training
records stream past it in chunks, so memory is flat in their number: images hashed, questions encoded, and both
matched by brute force (XOR + popcount; one matrix product a chunk), costs in bench/leakage_scale.py.

The defaults were chosen from measured distances (tests/test_leakage.py and bench/leakage_scale.py compute them):
`image_distance` 8 bits: on the planted set (ainkit.pipelines.leakage_planted) every re-encoded, resized or 5 %-cropped
copy came within 6 bits of its original's closest crop (160 copies), and so did 400 random copies of a real photo
(matplotlib's grace_hopper.jpg); unrelated drawn images were 12 bits apart at the closest (8,000 pairs, median 28);
random 64-bit hashes fall within 8 bits about 3 times in 10^10 pairs (binomial). `question_threshold` 0.60 for
use-multilingual: on the kit's 106 hand-made English-Arabic pairs (ainkit/data/bilingual_samples.jsonl) 96 % of the
translations score 0.60 or more and 1 of the 11,130 unrelated pairs does; on the planted questions every translation
does (lowest 0.605) and so do 5 of the 6 near misses (the same question about another country or shape, up to 0.69):
a sentence encoder does not see an entity swapped. Each training question counts only against
its closest question of each benchmark. Another encoder needs its own threshold.
"""
from __future__ import annotations

import csv
import json
import re
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm.auto import tqdm

from ainkit.ground import atomic
from ainkit.ground.errors import UserError
from ainkit.services import images, phash
from ainkit.services.chat import CHAT_KEYS
from ainkit.services.images import ImageError
from ainkit.services.records import Shard, read_lines, record_id, write_records

IMAGE_DISTANCE = 8          # bits of 64: the near-duplicate threshold (see the module docstring)
QUESTION_THRESHOLD = 0.60   # cosine under use-multilingual (see the module docstring)
ENCODER = "use-multilingual"
CHUNK = 2048                # training records a chunk (images hashed and texts encoded together)
EXAMPLES = 5                # examples of each kind a benchmark, in the report
MIN_CHARS = 12              # a normalised question shorter than this ("yes or no?") is not matched
TEMPLATE_ITEMS = 5          # a question more items of a benchmark ask is its prompt template: not matched
KINDS = ("image-exact", "image-near", "question-exact", "question-encoder")
SIGNATURE = f"phash:dct32x8|crops:{phash.CROP}x9|flat:{phash.FLAT_STD}"
_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")
_PLACEHOLDER = re.compile(r"<image>|<video>")
_USER_ROLES = ("user", "human")


class LeakageError(UserError):
    """A benchmark or training file the check cannot read; the message names the file and line."""


def normalise(text: str) -> str:
    """The text for exact matching: NFKC, case folded, Arabic diacritics and tatweel out, digits in ASCII,
    punctuation out, spaces collapsed."""
    text = _DIACRITICS.sub("", unicodedata.normalize("NFKC", text)).casefold()
    out = []
    for ch in text:
        if ch.isdigit():
            out.append(str(unicodedata.digit(ch, 0)))
        elif ch.isalnum():
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


@dataclass
class Item:
    """One benchmark item: where it is, its question texts and image paths."""

    benchmark: str
    id: str
    dataset: str
    line: int
    texts: list[str]
    images: list[Path]


def benchmark_spec(spec: str) -> tuple[str, Path]:
    """'NAME=PATH' or 'PATH' (named by its stem) -> (name, path)."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).stem, spec
    if not name or not path:
        raise LeakageError(f"--benchmarks {spec!r}: expected NAME=PATH or PATH")
    return name, Path(path)


def read_benchmark(name: str, path: Path) -> list[Item]:
    """A benchmark's items: JSON Lines in the evaluation format, or an ArabicMMLU CSV."""
    if not path.is_file():
        raise LeakageError(f"benchmark {name}: {path}: no such file")
    if path.suffix.lower() == ".csv":
        return _read_csv(name, path)
    items = []
    for ln in read_lines(path):
        if ln.error:
            raise LeakageError(f"benchmark {name}: {path}: line {ln.number}: {ln.error}")
        rec = ln.record
        texts = [t for t in (rec.get("question"), rec.get("context")) if isinstance(t, str) and t.strip()]
        imgs = rec.get("images") or ([rec["image"]] if isinstance(rec.get("image"), str) else [])
        if not isinstance(imgs, list) or not all(isinstance(p, str) for p in imgs):
            raise LeakageError(f"benchmark {name}: {path}: line {ln.number}: 'images' is not a list of paths")
        if not texts and not imgs:
            raise LeakageError(f"benchmark {name}: {path}: line {ln.number}: no 'question' and no 'images'")
        items.append(Item(name, record_id(rec, ln.number), str(rec.get("dataset", "")), ln.number, texts,
                          [path.parent / p for p in imgs]))
    if not items:
        raise LeakageError(f"benchmark {name}: {path}: no items")
    return items


def _read_csv(name: str, path: Path) -> list[Item]:
    """ArabicMMLU's published CSV: a question (and its context) a row, read as the evaluation reads it
    (arabic_mmlu.csv_records: a row's line is where it starts, a quoted field may span lines); only Question is
    required."""
    from ainkit.stages.evaluate.arabic_mmlu import csv_records

    items = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = fh.readline()
            if "Question" not in next(csv.reader([header]), []):
                raise LeakageError(f"benchmark {name}: {path}: no 'Question' column (ArabicMMLU's CSV schema)")
            fh.seek(0)
            for line, row in csv_records(fh, path, required=("Question",)):
                texts = [t for t in (row.get("Question"), row.get("Context")) if t and t.strip()]
                if not texts:
                    raise LeakageError(f"benchmark {name}: {path}: line {line}: empty Question")
                items.append(Item(name, row.get("ID") or f"line:{line}", row.get("Subject") or "", line, texts, []))
    except UnicodeDecodeError as exc:
        raise LeakageError(f"benchmark {name}: {path}: not a UTF-8 CSV ({exc})") from None
    except ValueError as exc:
        if isinstance(exc, LeakageError):
            raise
        raise LeakageError(f"benchmark {name}: {exc}") from None
    if not items:
        raise LeakageError(f"benchmark {name}: {path}: no rows")
    return items


def train_texts(rec: dict[str, Any]) -> list[str]:
    """The questions a training record asks: its user turns (and their `source_` copies), placeholders out."""
    texts = []
    for key, text_key in CHAT_KEYS:
        for k in (key, f"source_{key}"):
            for turn in rec.get(k) or []:
                if isinstance(turn, dict) and turn.get("role", turn.get("from")) in _USER_ROLES:
                    text = _PLACEHOLDER.sub(" ", str(turn.get(text_key, ""))).strip()
                    if text:
                        texts.append(text)
    if isinstance(rec.get("question"), str) and rec["question"].strip():
        texts.append(rec["question"].strip())
    return list(dict.fromkeys(texts))


@dataclass
class Index:
    """The benchmarks as matching sees them: hashes (with crops), normalised questions, question embeddings."""

    items: list[Item]
    bits: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))  # (n,) pHashes of images and crops
    bits_owner: list[tuple[int, str]] = field(default_factory=list)            # (item, image path) per hash
    sha: dict[str, list[tuple[int, str]]] = field(default_factory=dict)        # sha256 -> (item, image path)
    sha_of: dict[str, str] = field(default_factory=dict)                       # image path -> sha256
    exact: dict[str, list[tuple[int, str]]] = field(default_factory=dict)      # normalised question -> (item, text)
    emb: np.ndarray | None = None                                              # (m, dim) question embeddings
    emb_owner: list[tuple[int, str]] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)                 # each benchmark's rows of emb
    unreadable: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)  # questions too many items ask (prompts): not matched
    flat: int = 0


def build_index(items: list[Item], encoder=None) -> Index:
    """Hash every benchmark image (and its 9 crops), normalise and encode every question."""
    index = Index(items)
    asked = Counter((it.benchmark, k) for it in items for k in {normalise(t) for t in it.texts})
    index.templates = sorted({k for (_, k), c in asked.items() if c > TEMPLATE_ITEMS})
    bits: list[int] = []
    for n, it in enumerate(items):
        for p in it.images:
            try:
                data = images.read(p)
                h = phash.of_bytes(data)
                index.sha.setdefault(h.sha256, []).append((n, str(p)))
                index.sha_of[str(p)] = h.sha256
                if h.flat:
                    index.flat += 1
                    continue
                for b in phash.crops(phash.decoded(data)):
                    bits.append(b)
                    index.bits_owner.append((n, str(p)))
            except ImageError as exc:
                index.unreadable.append(f"{it.benchmark} {it.id}: {exc}")
        for t in it.texts:
            key = normalise(t)
            if len(key) >= MIN_CHARS and asked[(it.benchmark, key)] <= TEMPLATE_ITEMS:
                index.exact.setdefault(key, []).append((n, t))
                index.emb_owner.append((n, t))
    index.bits = phash.as_array(bits)
    names = [index.items[n].benchmark for n, _ in index.emb_owner]
    index.spans = [(names.index(b), len(names) - names[::-1].index(b)) for b in dict.fromkeys(names)]
    if encoder is not None and index.emb_owner:
        index.emb = encoder.encode([t[:encoder.max_chars] for _, t in index.emb_owner], batch_size=64)
    return index


def _train_chunks(path: Path, images_dir: Path, chunk: int, malformed: list[str],
                  shard: Shard) -> Iterator[list[tuple[int, str, list[str], list[Path]]]]:
    """(line, id, question texts, image paths) of the shard's training records, `chunk` at a time; a line that is
    not a record goes to `malformed` ("line N: why") and is not matched."""
    batch = []
    for ln in read_lines(path):
        rec = ln.record
        imgs = rec.get("images") or [] if rec is not None else []
        if ln.error or not isinstance(imgs, list) or not all(isinstance(p, str) for p in imgs):
            if shard.index == 0:  # every shard sees it; the first one reports it
                malformed.append(f"line {ln.number}: {ln.error or repr('images') + ' is not a list of paths'}")
            continue
        if not shard.owns(record_id(rec, ln.number)):
            continue
        batch.append((ln.number, record_id(rec, ln.number), train_texts(rec), [images_dir / p for p in imgs]))
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def preflight(train: str | Path, benchmarks: list[tuple[str, Path]], output: str | Path,
              shard: str | None = None) -> Shard:
    """The paths and the shard checked before any work (and before an encoder loads): the error names what is wrong."""
    part = Shard.parse(shard)
    train, out = Path(train), Path(output)
    if not train.is_file():
        raise LeakageError(f"--train {train}: " + ("is a folder; give the JSON Lines file of training records"
                                                   if train.is_dir() else "no such file"))
    if out.exists() and not out.is_dir():
        raise LeakageError(f"--output {out}: is a file; give a folder")
    if len({n for n, _ in benchmarks}) != len(benchmarks):
        raise LeakageError("--benchmarks: two benchmarks have the same name; give NAME=PATH")
    for name, path in benchmarks:
        if not path.is_file():
            raise LeakageError(f"benchmark {name}: {path}: " + ("is a folder; give its items file (JSON Lines) or CSV"
                                                                if path.is_dir() else "no such file"))
    return part


def check(train: str | Path, benchmarks: list[tuple[str, Path]], output: str | Path,
          images_dir: str | Path | None = None, encoder=None, encoder_name: str = "",
          image_distance: int = IMAGE_DISTANCE, question_threshold: float = QUESTION_THRESHOLD, chunk: int = CHUNK,
          examples: int = EXAMPLES, shard: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Match the training records (of `shard` 'i/n' of them, by id hash) against the benchmarks; write
    OUTPUT/leaks.jsonl, drop.jsonl, report.json; return the report. `encoder`: a loaded sentence encoder
    (ainkit.stages.similarity), or None for exact questions only."""
    t0 = time.time()
    part = preflight(train, benchmarks, output, shard)
    train, out = Path(train), Path(output)
    images_dir = Path(images_dir) if images_dir else train.parent
    items = [it for name, path in benchmarks for it in read_benchmark(name, path)]
    index = build_index(items, encoder)
    t_index = time.time() - t0
    leaks: list[dict[str, Any]] = []
    n_train = n_images = n_texts = n_unreadable = 0
    unreadable: list[str] = []
    seconds = Counter()
    malformed: list[str] = []
    bar = tqdm(desc="leakage", unit="record", disable=not progress)
    for batch in _train_chunks(train, images_dir, chunk, malformed, part):
        n_train += len(batch)
        bar.update(len(batch))
        t = time.time()
        hashes, failed = _hashed(batch)
        n_images += len(hashes) + len(failed)
        n_unreadable += len(failed)
        unreadable += failed[:max(0, examples - len(unreadable))]
        seconds["hash images"] += time.time() - t
        t = time.time()
        leaks += _image_matches(hashes, index, image_distance)
        seconds["match images"] += time.time() - t
        texts = [(line, rid, s) for line, rid, ts, _ in batch for s in ts]
        n_texts += len(texts)
        for line, rid, s in texts:
            for n, bt in index.exact.get(normalise(s), []):
                leaks.append(_leak(line, rid, index.items[n], "question-exact", 1.0, s, bt))
        if encoder is not None and index.emb is not None and texts:
            t = time.time()
            emb = encoder.encode([s[:encoder.max_chars] for _, _, s in texts], batch_size=64)
            seconds["encode questions"] += time.time() - t
            t = time.time()
            for i, j, score in closest(emb, index.emb, index.spans, question_threshold):
                line, rid, s = texts[i]
                n, bt = index.emb_owner[j]
                if normalise(s) != normalise(bt):  # the same text is a question-exact leak already
                    leaks.append(_leak(line, rid, index.items[n], "question-encoder", round(score, 4), s, bt))
            seconds["match questions"] += time.time() - t
    bar.close()
    leaks = _deduplicated(leaks)
    if n_train == 0 and part.count == 1:
        raise LeakageError(f"--train {train}: no training record read ({len(malformed)} malformed line(s)"
                           + (f", the first: {malformed[0]}" if malformed else "") + "): nothing was checked")
    settings = {"shard": f"{part.index}/{part.count}", "image_distance": image_distance,
                "question_threshold": question_threshold,
                "encoder": encoder_name if encoder is not None else "none (exact questions only)",
                "signature": SIGNATURE, "min_chars": MIN_CHARS, "train": str(train), "images": str(images_dir),
                "benchmarks": {n: str(p) for n, p in benchmarks}}
    report = _report(leaks, index, benchmarks, (n_train, n_images, n_texts, n_unreadable), unreadable, settings,
                     examples)
    report["train"]["malformed_lines"] = len(malformed)
    report["train"]["malformed_examples"] = malformed[:examples]
    report["seconds"] = {"index": round(t_index, 2), **{k: round(v, 2) for k, v in seconds.items()},
                         "total": round(time.time() - t0, 2)}
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "leaks.jsonl", leaks)
    write_records(out / "drop.jsonl", drop_list(leaks))
    atomic.write_json(out / "report.json", report)
    return report


def _hashed(batch: list[tuple[int, str, list[str], list[Path]]]) -> tuple[list[tuple], list[str]]:
    """The chunk's images: ([(line, id, path, ImageHash)], ["line N (id): why unreadable"]); an image several records
    share is read once a chunk (memory flat in the number of records)."""
    seen: dict[str, phash.ImageHash | str] = {}
    hashes, failed = [], []
    for line, rid, _, paths in batch:
        for p in map(str, paths):
            if p not in seen:
                try:
                    seen[p] = phash.of_file(p)
                except ImageError as exc:
                    seen[p] = str(exc)
            h = seen[p]
            if isinstance(h, str):
                failed.append(f"line {line} ({rid}): {h}")
            else:
                hashes.append((line, rid, p, h))
    return hashes, failed


def closest(emb: np.ndarray, index: np.ndarray, spans: list[tuple[int, int]],
            threshold: float) -> Iterator[tuple[int, int, float]]:
    """(row, column, cosine) of each row's closest column within each span of columns (a benchmark), when at least
    `threshold`; emb (n, dim) and index (m, dim) L2-normalised."""
    scores = emb @ index.T  # (n, m) cosines
    rows = np.arange(len(emb))
    for lo, hi in spans:
        best = lo + scores[:, lo:hi].argmax(axis=1)
        for i in np.nonzero(scores[rows, best] >= threshold)[0].tolist():
            yield i, int(best[i]), float(scores[i, best[i]])


def _image_matches(hashes: list[tuple[int, str, str, phash.ImageHash]], index: Index,
                   distance: int) -> Iterator[dict[str, Any]]:
    """Exact (sha256) and near (pHash) matches of a chunk's training images."""
    for line, rid, path, h in hashes:
        for n, bp in index.sha.get(h.sha256, []):
            yield _leak(line, rid, index.items[n], "image-exact", 0, path, bp)
    near = [(line, rid, path, h) for line, rid, path, h in hashes if not h.flat]
    if not near or not len(index.bits):
        return
    for i, j, d in phash.near(phash.as_array([h.bits for *_, h in near]), index.bits, distance):
        line, rid, path, h = near[i]
        n, bp = index.bits_owner[j]
        if index.sha_of.get(bp) != h.sha256:  # the same bytes are an image-exact leak already
            yield _leak(line, rid, index.items[n], "image-near", d, path, bp)


def _leak(line: int, rid: str, item: Item, kind: str, value: float, train_side: str, bench_side: str) -> dict[str, Any]:
    measure = "distance" if kind.startswith("image") else "score"
    return {"id": rid, "line": line, "benchmark": item.benchmark, "bench_id": item.id, "dataset": item.dataset,
            "kind": kind, measure: value, "train": train_side, "bench": bench_side, "item_images": len(item.images)}


def _deduplicated(leaks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One leak per (training record, benchmark item, kind, train side): the closest; in training-file order."""
    best: dict[tuple, dict[str, Any]] = {}
    for lk in leaks:
        key = (lk["line"], lk["benchmark"], lk["bench_id"], lk["kind"], lk["train"])
        closer = key in best and (lk.get("distance", 0) < best[key].get("distance", 0)
                                  or lk.get("score", 0) > best[key].get("score", 0))
        if key not in best or closer:
            best[key] = lk
    return sorted(best.values(), key=lambda lk: (lk["line"], lk["benchmark"], lk["bench_id"], KINDS.index(lk["kind"])))


def drop_list(leaks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per leaking training record: {id, line, reasons}, what `curate --set leakage.drop=` reads. A question
    of an item with images counts only when the record also shows that item's image (see `dropped`)."""
    reasons: dict[tuple[int, str], list[str]] = defaultdict(list)
    for lk in dropped(leaks):
        how = f"distance {lk['distance']} bits" if "distance" in lk else f"cosine {lk['score']}"
        text = f"benchmark leak: {lk['kind']} ({lk['benchmark']} item {lk['bench_id']}, {how})"
        if text not in reasons[(lk["line"], lk["id"])]:
            reasons[(lk["line"], lk["id"])].append(text)
    return [{"id": rid, "line": line, "reasons": rs} for (line, rid), rs in sorted(reasons.items())]


def dropped(leaks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaks that make a record drop: every image match; a question match of a text-only item; a question match of
    an item with images only when the same record also matches one of its images. VQA asks the same questions of
    thousands of images ("What colour is the car?"): the question alone, about another image, is not the item."""
    shown = {(lk["line"], lk["benchmark"], lk["bench_id"]) for lk in leaks if lk["kind"].startswith("image")}
    return [lk for lk in leaks if lk["kind"].startswith("image") or not lk["item_images"]
            or (lk["line"], lk["benchmark"], lk["bench_id"]) in shown]


def _report(leaks, index, benchmarks, counts, unreadable, settings, examples) -> dict[str, Any]:
    n_train, n_images, n_texts, n_unreadable = counts
    per: dict[str, Any] = {}
    for name, _ in benchmarks:
        own = [lk for lk in leaks if lk["benchmark"] == name]
        its = [it for it in index.items if it.benchmark == name]
        drop = dropped(own)
        per[name] = {"items": len(its), "images": sum(len(it.images) for it in its),
                     "questions": sum(len(it.texts) for it in its),
                     "leaks": {k: sum(lk["kind"] == k for lk in own) for k in KINDS},
                     "question_only_of_image_items": len(own) - len(drop),
                     "items_leaked": len({lk["bench_id"] for lk in drop}),
                     "train_records_leaking": len({lk["line"] for lk in drop}),
                     "examples": {k: _examples([lk for lk in own if lk["kind"] == k], examples) for k in KINDS}}
    return {"train": {"records": n_train, "images": n_images, "questions": n_texts, "unreadable_images": n_unreadable,
                      "unreadable_examples": unreadable[:examples]},
            "benchmarks": per, "bench_unreadable_images": len(index.unreadable),
            "bench_unreadable_examples": index.unreadable[:examples],
            "bench_flat_images": index.flat, "bench_templates_skipped": index.templates[:examples],
            "records_to_drop": len({lk["line"] for lk in dropped(leaks)}), "settings": settings}


def _examples(leaks: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The n closest matches of one kind (highest cosine, smallest distance first)."""
    return sorted(leaks, key=lambda lk: (lk.get("distance", 0), -lk.get("score", 0)))[:n]


def summary_lines(report: dict[str, Any]) -> list[str]:
    """One readable line per benchmark, and one for the whole check."""
    tr = report["train"]
    lines = []
    for name, b in report["benchmarks"].items():
        k = b["leaks"]
        first = next((e for kind in KINDS for e in b["examples"][kind]), None)
        eg = (f"; e.g. train {first['id']} ~ {first['bench_id']} ({first['kind']}: {str(first['train'])[:60]!r} ~ "
              f"{str(first['bench'])[:60]!r})") if first else ""
        lines.append(f"{name}: {tr['records']:,} train x {b['items']:,} items: images exact {k['image-exact']}, near "
                     f"{k['image-near']}; questions exact {k['question-exact']}, by encoder {k['question-encoder']} "
                     f"({b['question_only_of_image_items']} of them of image items, about other images: not dropped); "
                     f"{b['items_leaked']} items leaked into {b['train_records_leaking']} training records{eg}")
    lines.append(f"leakage: {report['records_to_drop']:,} of {tr['records']:,} training records to drop "
                 f"({tr['unreadable_images']} training images unreadable, {tr['malformed_lines']} malformed lines not "
                 f"checked{': ' + tr['malformed_examples'][0] if tr['malformed_examples'] else ''}); "
                 f"{report['seconds']['total']:.1f} s")
    return lines


def precision_recall(leaks: list[dict[str, Any]], truth: list[dict[str, Any]], kinds: tuple[str, ...],
                     benchmark: str) -> dict[str, Any]:
    """Precision and recall of the (training id, item) pairs of `benchmark` found by `kinds` against its planted truth
    pairs ({id, bench_id, kind} with kind 'image' or 'question')."""
    family = {k.split("-")[0] for k in kinds}
    want = {(t["id"], t["bench_id"]) for t in truth if t["kind"] in family}
    got = {(lk["id"], lk["bench_id"]) for lk in leaks if lk["kind"] in kinds and lk["benchmark"] == benchmark}
    tp = len(want & got)
    return {"planted": len(want), "found": len(got), "true_positives": tp,
            "precision": round(tp / len(got), 4) if got else None, "recall": round(tp / len(want), 4) if want else None,
            "missed": sorted(want - got)[:10], "false": sorted(got - want)[:10]}


def read_drop(path: str | Path) -> dict[str, list[str]]:
    """A drop list (OUTPUT/drop.jsonl) as {training id: reasons}; LeakageError naming the line that is not one."""
    out: dict[str, list[str]] = {}
    for ln in read_lines(path):
        rec = ln.record
        if ln.error or not isinstance(rec.get("id"), (str, int)) or not isinstance(rec.get("reasons"), list):
            why = ln.error or "expected {id, reasons} (ainkit leakage drop.jsonl)"
            raise LeakageError(f"{path}: line {ln.number}: {why}")
        out.setdefault(str(rec["id"]), []).extend(str(r) for r in rec["reasons"])
    return out


def read_leaks(path: str | Path) -> list[dict[str, Any]]:
    """OUTPUT/leaks.jsonl back as records."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
