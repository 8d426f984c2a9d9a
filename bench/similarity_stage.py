"""What the similarity stage's per-record encoding costs: `ainkit similarity` (each record's pair encoded as its own
batch, so a score never depends on its neighbours or the shard count) against batched `score_pairs` on the same pairs.

    .venv/bin/python bench/similarity_stage.py [--records 400] [--encoder use-multilingual]

Both load the encoder first (not timed); the stage's time includes its journal and its ordered output, as a user sees
it. The scores must agree to the stage's stated precision (6 decimals) or the bench stops: no speed from wrong numbers.
Baseline of the ratio line: batched `score_pairs` (what the stage did before it was made batch-independent).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ainkit.stages import similarity  # noqa: E402
from ainkit.services.records import load_samples, read_records  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--encoder", default=similarity.OFFLINE_MULTILINGUAL)
    args = ap.parse_args()
    samples = load_samples()
    # distinct pairs (score_pairs encodes each distinct sentence once: repeats would flatter it)
    pairs = [{"en": f"{samples[i % len(samples)]['en']} ({i})", "ar": f"{samples[i % len(samples)]['ar']} ({i})"}
             for i in range(args.records)]
    try:
        enc = similarity.load(args.encoder)
    except similarity.EncoderUnavailable as exc:
        raise SystemExit(f"no timing: {exc}") from None
    en, ar = [p["en"] for p in pairs], [p["ar"] for p in pairs]
    t0 = time.perf_counter()
    batched = similarity.score_pairs(enc, en, ar, 32)
    t_batched = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"id": f"r{i}", "en": e, "ar": a}, ensure_ascii=False) + "\n"
                               for i, (e, a) in enumerate(zip(en, ar))))
        warm = Path(tmp) / "warm.jsonl"  # the stage loads the encoder through its own call: load it there, untimed
        warm.write_text(json.dumps({"id": "w", "en": "warm", "ar": "تسخين"}, ensure_ascii=False) + "\n")
        similarity.score_records(str(warm), str(Path(tmp) / "warm.out.jsonl"), args.encoder, progress=False)
        t0 = time.perf_counter()
        similarity.score_records(str(src), str(Path(tmp) / "out.jsonl"), args.encoder, progress=False)
        t_stage = time.perf_counter() - t0
        staged = [r["similarity"] for r in read_records(Path(tmp) / "out.jsonl")]
    worst = max(abs(a - b) for a, b in zip(staged, batched))
    if len(staged) != len(batched) or worst > 5e-6:
        raise SystemExit(f"the stage's scores differ from score_pairs' by up to {worst:.2e}: no timing from that")
    print(f"{args.records} pairs, encoder {args.encoder}; scores agree to {worst:.1e}")
    print(f"batched score_pairs (batch 32): {t_batched:.2f} s ({args.records / t_batched:.0f} pairs/s)")
    print(f"ainkit similarity stage (per-record batches, journal, output): {t_stage:.2f} s ({args.records / t_stage:.0f} pairs/s)")
    print(f"ratio stage/batched time: {t_stage / t_batched:.2f}x (baseline: batched score_pairs)")


if __name__ == "__main__":
    main()
