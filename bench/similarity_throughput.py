"""Throughput of `ainkit.stages.similarity` against a naive loop and one raw batched encode.

    .venv/bin/python bench/similarity_throughput.py [--pairs 500] [--encoder all-mpnet-base-v2]

Data: distinct English-Arabic pairs of 5 to 40 words, each made by joining 1 to 4 sentences
of the kit's bilingual sample set (a fixed random draw; no pair repeats, so deduplication
cannot help here). Three ways to score them:

- naive (baseline): `model.encode` called once per sentence;
- raw (the ceiling): one `model.encode` of all sentences, batched, then cosines;
- kit: `ainkit.stages.similarity.score_pairs` (length-sorted batches, one encode per unique sentence,
  ONNX Runtime when it reproduces PyTorch); also shown with `runtime="torch"`.

A second, separate measurement shows what deduplication gains on data that does repeat
sentences (every English sentence paired with several Arabic candidates), kit vs raw.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ainkit.stages import similarity  # noqa: E402
from ainkit.reproduction.analyses import selection  # noqa: E402


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n distinct pairs of 5-40 English words from joined sample sentences."""
    samples = selection.load_samples()
    rng = random.Random(seed)
    seen, en, ar = set(), [], []
    while len(en) < n:
        k = rng.randint(1, 4)
        picks = rng.sample(samples, k)
        e = " ".join(p["en"] for p in picks)
        if not 5 <= len(e.split()) <= 40 or e in seen:
            continue
        seen.add(e)
        en.append(e)
        ar.append(" ".join(p["ar"] for p in picks))
    return en, ar


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=500, help="distinct pairs to score (default 500)")
    ap.add_argument("--encoder", default="all-mpnet-base-v2")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    enc = similarity.load(args.encoder)
    model = enc._model
    en, ar = make_pairs(args.pairs)
    words = [len(s.split()) for s in en]
    print(f"{enc.description}; {len(en)} distinct pairs, English words per pair {min(words)}-{max(words)} (mean {np.mean(words):.1f})")
    similarity.score_pairs(enc, en[:8], ar[:8])  # warm-up

    def naive():
        e = np.stack([model.encode(s) for s in en])
        a = np.stack([model.encode(s) for s in ar])
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        return np.einsum("ij,ij->i", e, a)

    def raw():
        emb = model.encode(en + ar, batch_size=args.batch_size, normalize_embeddings=True)
        return np.einsum("ij,ij->i", emb[: len(en)], emb[len(en):])

    kit_s, t_kit = timed(lambda: similarity.score_pairs(enc, en, ar, args.batch_size))
    torch_enc = similarity.load(args.encoder, runtime="torch")
    torch_s, t_torch = timed(lambda: similarity.score_pairs(torch_enc, en, ar, args.batch_size))
    raw_s, t_raw = timed(raw)
    naive_s, t_naive = timed(naive)
    for other in (raw_s, naive_s, torch_s):
        assert np.allclose(kit_s, other, atol=1e-4), "the ways of scoring disagree"
    n = len(en)
    print(f"naive loop (baseline):  {n / t_naive:7.1f} pairs/s  ({t_naive:.1f} s)")
    print(f"raw batched encode:     {n / t_raw:7.1f} pairs/s  ({t_raw:.1f} s)")
    print(f"ainkit.stages.similarity, runtime torch: {n / t_torch:7.1f} pairs/s  ({t_torch:.1f} s)")
    print(f"ainkit.stages.similarity, runtime {enc.runtime}: {n / t_kit:7.1f} pairs/s  ({t_kit:.1f} s)")

    # separately: data with repeated sentences (each English sentence against 5 Arabic candidates)
    samples = selection.load_samples()[:60]
    rep_en = [s["en"] for s in samples for _ in range(5)]
    rep_ar = [samples[(i + j) % len(samples)]["ar"] for i in range(len(samples)) for j in range(5)]
    _, t_rep_kit = timed(lambda: similarity.score_pairs(enc, rep_en, rep_ar, args.batch_size))
    _, t_rep_all = timed(lambda: enc.encode(rep_en + rep_ar, args.batch_size))  # same runtime, every sentence encoded
    print(f"repeated-sentence data ({len(rep_en)} pairs, {len(set(rep_en)) + len(set(rep_ar))} unique sentences): "
          f"deduplicated {len(rep_en) / t_rep_kit:.1f} pairs/s vs every sentence encoded {len(rep_en) / t_rep_all:.1f} pairs/s, "
          f"dedup gain {t_rep_all / t_rep_kit:.2f}x")
    print(f"ratio kit/naive: {t_naive / t_kit:.2f}x   ratio kit/raw: {t_raw / t_kit:.2f}x")


if __name__ == "__main__":
    main()
