"""`ainkit similarity`: cross-lingual cosine similarity of English-Arabic pairs (ainkit.stages.similarity).

    ainkit similarity --input pairs.jsonl --output scored.jsonl --encoder use-multilingual
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import stage_options
from ainkit.ground.errors import epilog

PARSER = dict(help="score English-Arabic pairs by cross-lingual cosine similarity",
              description="""Add `similarity` (cosine of the two sentences' normalised embeddings, -1..1) and
                          `similarity_encoder` to every JSON Lines record. Keeps input order; records with a missing
                          or empty side, malformed lines and duplicate ids go to the rejects file with the reason
                          and line. A text longer than --max-chars is cut there (the encoders themselves stop at
                          their maximum sequence length, 128-512 tokens) and the record lists it in
                          `similarity_truncated`. Resumes from <output>.journal after a crash or Ctrl-C, when the
                          settings are the same.""",
              epilog="Encoders: auto (default: LaBSE, the report's choice, when it is in the local Hugging Face "
                     "cache or --allow-download is given, else use-multilingual, which runs offline), M-BERT, "
                     "Paraphrase-XLM-R, all-mpnet-base-v2, LaBSE, AraBERT (the report's), use-multilingual and "
                     "all-MiniLM-L6-v2, a hub id, or a local model folder. all-mpnet-base-v2 and all-MiniLM-L6-v2 are "
                     "English-only: their scores of Arabic text do not measure translation quality. " + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True, help="JSON Lines file of pairs")
    p.add_argument("--output", required=True, help="JSON Lines file to write (atomically)")
    p.add_argument("--encoder", default="auto", help="encoder name (default: auto, see below)")
    p.add_argument("--en-field", default="en", help="field holding the English text (default: en)")
    p.add_argument("--ar-field", default="ar", help="field holding the Arabic text (default: ar)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per encoder batch (default: 32)")
    p.add_argument("--max-chars", type=int, default=None, help="cut longer texts here before encoding (default: 8 characters "
                   "per token of the encoder's maximum sequence length)")
    stage_options(p)
    p.add_argument("--allow-download", action="store_true", help="allow fetching the encoder from the Hugging Face hub")
    p.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto",
                   help="auto (default): ONNX Runtime when it reproduces PyTorch to 1e-4 (about 2.5x faster on CPU), "
                        "else PyTorch; onnx: insist on it; torch: PyTorch only")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.stages.similarity import score_records

    summary = score_records(args.input, args.output, args.encoder, args.en_field, args.ar_field, args.batch_size,
                            args.rejects, args.shard, allow_download=args.allow_download or None,
                            progress=sys.stderr.isatty(), resume=not args.restart, runtime=args.runtime,
                            max_chars=args.max_chars, warn=lambda msg: print(f"ainkit similarity: warning: {msg}", file=sys.stderr))
    print(summary.line("similarity"))
    return summary.exit_code()
