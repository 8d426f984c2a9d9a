"""Cost of `ainkit leakage` at 100 k training records x 10 k benchmark items on this machine, extrapolated to the
report's 3.6 M x 30 k; the planted set's precision and recall and the threshold evidence, measured in the same run.

    .venv/bin/python bench/leakage_scale.py                      # 100 k x 10 k, about 2-3 min on 2 cores
    .venv/bin/python bench/leakage_scale.py --train 20000 --bench 2000

What is real and what is synthetic:

- per-item costs are measured on real work: `phash.of_file` on drawn 640x480 JPEG images (read, decode whole, hash)
  and `phash.crops` (the 10 hashes a benchmark image gets), use-multilingual encoding real English questions (the
  kit's bilingual samples, joined to 10-40 words);
- matching cost is measured on synthetic data of the real shapes: random 64-bit hashes (10 per benchmark image)
  through `phash.near` (blocked XOR + popcount, threshold 8 bits), and random unit vectors of 512 dimensions through
  `leakage.closest` (one matrix product per chunk of 2,048 training questions, the closest question per benchmark);
  random data has no matches, so the cost of writing leaks is not in it (leaks are rare);
- extrapolation: one image and one question per training record and per benchmark item (state your own mix);
  matching scales with train x bench, encoding and hashing with their sum.

Baselines for the ratio lines: hashes, the same pairs compared one by one in Python (`int.bit_count`, measured on a
sample and scaled); questions, one matrix-vector product per training question (numpy, measured on a sample).
A full similarity matrix at once (100 k x 10 k float32 = 4 GB; 3.6 M x 30 k = 432 GB) does not fit; the blocked
product keeps 2,048 x 10 k x 4 B = 82 MB. faiss (IndexFlatIP is the same exact product) is not needed: the
extrapolated matching time is small beside encoding and hashing, which no index speeds up.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ainkit.pipelines import leakage, leakage_planted  # noqa: E402
from ainkit.services import phash  # noqa: E402
from ainkit.services.records import load_samples  # noqa: E402

PAPER_TRAIN, PAPER_BENCH = 3_600_000, 30_000
CROPS = 10  # hashes per benchmark image: the image and its nine 5 % crops


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def peak_mb(fn):
    """(result, seconds, peak MB of Python/numpy allocations during fn)."""
    tracemalloc.start()
    out, s = timed(fn)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return out, s, peak


def per_image_costs(folder: Path, n: int) -> tuple[float, float]:
    """(seconds a training image: read + decode + pHash; seconds a benchmark image: + its crops), drawn JPEGs."""
    from ainkit.services import images

    paths: list[Path] = []
    for i in range(n):
        p = folder / f"img-{i}.jpg"
        leakage_planted.scene(10_000 + i, (640, 480)).save(p, quality=90)
        paths.append(p)
    phash.of_file(paths[0])  # imports (scipy.fft) and the first decode out of the timing
    _, t_train = timed(lambda: [phash.of_file(p) for p in paths])
    _, t_bench = timed(lambda: [phash.crops(phash.decoded(images.read(p))) for p in paths])
    return t_train / n, t_bench / n


def questions(n: int, seed: int = 0) -> list[str]:
    """n English questions of 10-40 words, joined from the kit's bilingual samples."""
    en = [s["en"] for s in load_samples()]
    rng = random.Random(seed)
    return [" ".join(rng.sample(en, rng.randint(1, 3))) for _ in range(n)]


def hash_matching(n_train: int, n_bench: int, rng: np.random.Generator) -> tuple[float, float, int]:
    """(seconds, peak MB, pairs found) of phash.near over random hashes: n_train x n_bench * CROPS."""
    bench = rng.integers(0, 2**63, n_bench * CROPS, dtype=np.uint64)

    def run():
        found = 0
        for start in range(0, n_train, leakage.CHUNK):
            train = rng.integers(0, 2**63, min(leakage.CHUNK, n_train - start), dtype=np.uint64)
            found += sum(1 for _ in phash.near(train, bench, leakage.IMAGE_DISTANCE))
        return found

    found, s, mb = peak_mb(run)
    return s, mb, found


def hash_baseline(rng: np.random.Generator, rows: int, n_bench: int) -> float:
    """Seconds a pair, comparing one by one in Python."""
    a = [int(x) for x in rng.integers(0, 2**63, rows, dtype=np.uint64)]
    b = [int(x) for x in rng.integers(0, 2**63, n_bench * CROPS, dtype=np.uint64)]
    _, s = timed(lambda: [(i, j) for i, x in enumerate(a) for j, y in enumerate(b) if (x ^ y).bit_count() <= 8])
    return s / (len(a) * len(b))


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def question_matching(n_train: int, n_bench: int, dim: int, rng: np.random.Generator) -> tuple[float, float, int]:
    """(seconds, peak MB, matches) of leakage.closest over random unit vectors, CHUNK training questions at a time."""
    bench = unit(rng, n_bench, dim)
    chunks = [unit(rng, min(leakage.CHUNK, n_train - s), dim) for s in range(0, n_train, leakage.CHUNK)]

    def run():
        return sum(1 for c in chunks for _ in leakage.closest(c, bench, [(0, n_bench)], leakage.QUESTION_THRESHOLD))

    found, s, mb = peak_mb(run)
    return s, mb, found


def question_baseline(rng: np.random.Generator, rows: int, n_bench: int, dim: int) -> float:
    """Seconds a training question, one matrix-vector product each."""
    bench = unit(rng, n_bench, dim)
    train = unit(rng, rows, dim)
    _, s = timed(lambda: [int((bench @ v).argmax()) for v in train])
    return s / rows


def threshold_evidence(encoder) -> None:
    """The distributions the defaults were chosen from: the kit's 106 hand-made pairs, and the planted questions."""
    recs = [r for r in load_samples() if r.get("en") and r.get("ar")]
    s = encoder.encode([r["en"] for r in recs]) @ encoder.encode([r["ar"] for r in recs]).T
    pos, neg = np.diag(s), s[~np.eye(len(recs), dtype=bool)]
    th = leakage.QUESTION_THRESHOLD
    print(f"bilingual samples ({len(recs)} translations, {neg.size:,} unrelated pairs): translations cosine "
          f"min {pos.min():.3f} p5 {np.percentile(pos, 5):.3f} median {np.median(pos):.3f}; unrelated p99.9 "
          f"{np.percentile(neg, 99.9):.3f} max {neg.max():.3f}; at {th}: recall {(pos >= th).mean():.3f}, "
          f"{int((neg >= th).sum())} unrelated pairs above ({(neg >= th).mean():.1e} of pairs)")


def image_evidence(folder: Path) -> None:
    """The distances the image threshold was chosen from: each planted copy's to its original (the closest of its
    crops), and every unrelated drawn training image's to every benchmark image."""
    from ainkit.services import images

    bench = sorted((folder / "images").glob("bench-[0-9]*.png"), key=lambda p: int(p.stem.split("-")[1]))
    index = np.array([phash.crops(phash.decoded(images.read(p))) for p in bench], dtype=np.uint64)  # (n, CROPS)
    copies = [int(np.bitwise_count(index[int(p.stem.split("-")[1])] ^ np.uint64(phash.of_file(p).bits)).min())
              for p in (folder / "images").glob("copy-[0-9]*")]
    others = phash.as_array([phash.of_file(p).bits for p in (folder / "images").glob("other-[0-9]*.jpg")])
    unrelated = np.bitwise_count(others[:, None, None] ^ index[None, :, :]).min(axis=2).ravel()
    th = leakage.IMAGE_DISTANCE
    print(f"image distances (bits of 64): {len(copies)} planted copies max {max(copies)}, mean {np.mean(copies):.1f}; "
          f"{unrelated.size:,} unrelated pairs min {unrelated.min()}, p0.1 {np.percentile(unrelated, 0.1):.0f}, "
          f"median {np.median(unrelated):.0f}; at {th}: {sum(c <= th for c in copies)} of {len(copies)} copies, "
          f"{int((unrelated <= th).sum())} unrelated pairs")


def photo_evidence(n: int = 200) -> None:
    """A real photo (matplotlib's sample grace_hopper.jpg, 512x600): the distances of n random copies of each kind."""
    import matplotlib.cbook
    from PIL import Image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        im.load()
    index = phash.as_array(phash.crops(im))
    rng = np.random.default_rng(2)
    parts = []
    for how in leakage_planted.COPIES:
        d = [int(np.bitwise_count(index ^ np.uint64(phash.of_image(leakage_planted.copy_of(im, how, rng))[0])).min())
             for _ in range(n if how in ("crop", "all") else 5)]
        parts.append(f"{how} max {max(d)} (mean {np.mean(d):.1f}, {len(d)} copies)")
    print(f"a real photo (grace_hopper.jpg) and its copies, bits: {'; '.join(parts)}")


def planted(encoder, folder: Path) -> None:
    """The planted set through the real check: precision and recall of images and questions."""
    truth = leakage_planted.write(folder / "planted", images=40, distractors=200)
    image_evidence(folder / "planted")
    photo_evidence()
    report = leakage.check(folder / "planted" / "train.jsonl", [("planted", folder / "planted" / "bench.jsonl")],
                           folder / "out", encoder=encoder, encoder_name=leakage.ENCODER)
    leaks = leakage.read_leaks(folder / "out" / "leaks.jsonl")
    kinds_of = {"images": ("image-exact", "image-near"), "questions": ("question-exact", "question-encoder")}
    for what, kinds in kinds_of.items():
        pr = leakage.precision_recall(leaks, truth, kinds, "planted")
        print(f"planted {what}: precision {pr['precision']} recall {pr['recall']} ({pr['true_positives']} of "
              f"{pr['planted']} planted, {pr['found']} found; {report['train']['records']} training records)")
    for th in (0.65, 0.70, 0.75):  # the same check at higher thresholds: its encoder matches, the lower ones left out
        kept = [lk for lk in leaks if lk.get("score", 1.0) >= th]
        pr = leakage.precision_recall(kept, truth, ("question-exact", "question-encoder"), "planted")
        print(f"planted questions at {th:.2f}: precision {pr['precision']} recall {pr['recall']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--bench", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512, help="embedding size (use-multilingual: 512)")
    ap.add_argument("--images", type=int, default=60, help="drawn images timed for the per-image cost")
    ap.add_argument("--questions", type=int, default=512, help="questions timed for the per-question encoding cost")
    args = ap.parse_args()
    from ainkit.stages import similarity

    import os

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    rng = np.random.default_rng(0)
    encoder = similarity.load(leakage.ENCODER)
    with tempfile.TemporaryDirectory() as tmp:
        t_img, t_img_bench = per_image_costs(Path(tmp), args.images)
        planted(encoder, Path(tmp))
    threshold_evidence(encoder)
    qs = questions(args.questions)
    encoder.encode(qs[:32])  # warm
    _, t_enc = timed(lambda: encoder.encode(qs, batch_size=64))
    t_q = t_enc / len(qs)
    print(f"per item: image read+decode+pHash {t_img * 1e3:.1f} ms (640x480 JPEG), benchmark image with its crops "
          f"{t_img_bench * 1e3:.1f} ms; question encoding {t_q * 1e3:.2f} ms ({leakage.ENCODER}, "
          f"{np.mean([len(q.split()) for q in qs]):.0f} words)")

    t_hash, mb_hash, found_h = hash_matching(args.train, args.bench, rng)
    pairs = args.train * args.bench * CROPS
    t_pair_py = hash_baseline(rng, 40, args.bench)
    print(f"image matching {args.train:,} x {args.bench:,} ({args.bench * CROPS:,} hashes): {t_hash:.1f} s, "
          f"{pairs / t_hash / 1e9:.2f} G pairs/s, peak {mb_hash:.0f} MB, {found_h} random pairs within "
          f"{leakage.IMAGE_DISTANCE} bits; Python loop {t_pair_py * 1e9:.0f} ns/pair")
    t_qm, mb_q, found_q = question_matching(args.train, args.bench, args.dim, rng)
    t_row_mv = question_baseline(rng, 500, args.bench, args.dim)
    print(f"question matching {args.train:,} x {args.bench:,} x {args.dim}: {t_qm:.1f} s, "
          f"{2 * args.train * args.bench * args.dim / t_qm / 1e9:.0f} GFLOP/s, peak {mb_q:.0f} MB, "
          f"{found_q} random pairs at cosine >= {leakage.QUESTION_THRESHOLD}; one product a question "
          f"{t_row_mv * 1e3:.2f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"load average {os.getloadavg()[0]:.1f} at the end; process peak RSS {rss:.0f} MB")

    scale = (PAPER_TRAIN * PAPER_BENCH) / (args.train * args.bench)
    items = PAPER_TRAIN + PAPER_BENCH
    here = {"hash training images": args.train * t_img, "hash benchmark images": args.bench * t_img_bench,
            "encode questions": (args.train + args.bench) * t_q, "match images": t_hash, "match questions": t_qm}
    paper = {"hash training images": PAPER_TRAIN * t_img, "hash benchmark images": PAPER_BENCH * t_img_bench,
             "encode questions": items * t_q, "match images": t_hash * scale, "match questions": t_qm * scale}
    how = {"match images": "measured", "match questions": "measured"}
    print(f"\n{'step':<24}{args.train // 1000} k x {args.bench // 1000} k (s){'':>4}3.6 M x 30 k (h, one process)")
    for k in here:
        print(f"{k:<24}{here[k]:>14.1f}{paper[k] / 3600:>24.2f}   {how.get(k, 'per-item cost x items')}")
    print(f"{'total':<24}{sum(here.values()):>14.1f}{sum(paper.values()) / 3600:>24.2f}")
    print(f"memory at 3.6 M x 30 k: benchmark index {PAPER_BENCH * (CROPS * 8 + args.dim * 4) / 1e6:.0f} MB "
          f"(hashes + embeddings), a chunk's scores {leakage.CHUNK * PAPER_BENCH * 4 / 1e6:.0f} MB; training side "
          "streamed (flat in its size)")
    py_match = pairs * t_pair_py
    mv_match = args.train * t_row_mv
    print(f"ratio image matching, blocked numpy vs one-by-one Python: {py_match / t_hash:.0f}x "
          f"({py_match:.0f} s vs {t_hash:.1f} s); question matching, blocked product vs one product a question: "
          f"{mv_match / t_qm:.1f}x ({mv_match:.1f} s vs {t_qm:.1f} s)")


if __name__ == "__main__":
    main()
