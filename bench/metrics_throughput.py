"""Throughput of `ainkit.stages.metrics` (all five metrics) against a plain per-pair loop over the libraries.

    .venv/bin/python bench/metrics_throughput.py [--pairs 20000]

Data: English reference/hypothesis pairs of about 16 tokens, made from the kit's bilingual
sample set (reference = a sample sentence joined with a neighbour's opening words; hypothesis =
its hand-written back-translation treated the same way, or a word-dropped copy).
Baseline: a plain loop calling, per pair, `sacrebleu.sentence_bleu` (4-gram) and a fresh
`BLEU(max_ngram_order=2)`, nltk's `single_meteor_score` and one `RougeScorer`, the way a
script would. Kit: `metrics.score_many` with 1 and 2 worker processes.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ainkit.stages import metrics  # noqa: E402
from ainkit.reproduction.analyses import selection  # noqa: E402


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sents = [s["en"] for s in selection.load_samples()]
    out = []
    while len(out) < n:
        a, b = rng.sample(sents, 2)
        ref = (a + " " + " ".join(b.split()[:6])).split()[:16]
        hyp = [w for w in ref if rng.random() > 0.2] or ref[:1]
        out.append((" ".join(ref), " ".join(hyp)))
    return out


def plain_loop(pairs):
    import sacrebleu
    from nltk.translate.meteor_score import single_meteor_score
    from rouge_score.rouge_scorer import RougeScorer
    from sacrebleu.metrics import BLEU

    wn = metrics._wordnet()
    scorer = RougeScorer(["rouge1", "rougeL"], tokenizer=metrics.WordTokenizer())
    out = []
    for ref, hyp in pairs:
        b4 = sacrebleu.sentence_bleu(hyp, [ref], tokenize="intl").score
        b2 = BLEU(max_ngram_order=2, tokenize="intl", effective_order=True).sentence_score(hyp, [ref]).score
        m = single_meteor_score(metrics.words(ref), metrics.words(hyp), wordnet=wn)
        r = scorer.score(ref, hyp)
        out.append((b2, b4, m, r["rouge1"].fmeasure, r["rougeL"].fmeasure))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=20000)
    args = ap.parse_args()
    pairs = make_pairs(args.pairs)
    metrics.score_many(pairs[:50])  # warm-up: WordNet loaded, objects cached
    plain_loop(pairs[:50])
    t0 = time.perf_counter(); plain = plain_loop(pairs); t_plain = time.perf_counter() - t0
    t0 = time.perf_counter(); one = metrics.score_many(pairs, workers=1); t_one = time.perf_counter() - t0
    t0 = time.perf_counter(); two = metrics.score_many(pairs, workers=2); t_two = time.perf_counter() - t0
    assert one == two, "parallel scores differ from serial ones"
    assert all(abs(p[2] - o["meteor"]) < 1e-9 and abs(p[4] - o["rougeL_f"]) < 1e-9 for p, o in zip(plain, one))
    n = len(pairs)
    print(f"{n} pairs, {sum(len(r.split()) for r, _ in pairs) / n:.1f} reference tokens on average")
    print(f"plain loop (baseline): {n / t_plain:8.1f} pairs/s  ({t_plain:.1f} s)")
    print(f"ainkit, 1 worker:      {n / t_one:8.1f} pairs/s  ({t_one:.1f} s)")
    print(f"ainkit, 2 workers:     {n / t_two:8.1f} pairs/s  ({t_two:.1f} s)")
    print(f"speed-up 1 -> 2 workers: {t_one / t_two:.2f}x")
    print(f"ratio kit(1 worker)/plain: {t_plain / t_one:.2f}x   ratio kit(2 workers)/plain: {t_plain / t_two:.2f}x")


if __name__ == "__main__":
    main()
