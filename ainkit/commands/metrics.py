"""`ainkit metrics`: BLEU-2/4, METEOR, ROUGE-1/L of hypothesis vs reference (ainkit.stages.metrics).

    ainkit metrics --input scored.jsonl --output metrics.jsonl
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import stage_options
from ainkit.ground.errors import epilog

PARSER = dict(help="BLEU-2/4, METEOR, ROUGE-1/L of hypothesis vs reference (Table 9)",
              description="""Add bleu2, bleu4, meteor, rouge1_p/r/f and rougeL_p/r/f to every JSON Lines record, all on
                          a 0-1 scale (1 = identical), then print corpus-level scores with their signatures.
                          Arabic-safe: BLEU tokenizes with sacrebleu's intl tokenizer (splits Arabic punctuation);
                          METEOR and ROUGE use the kit's Unicode word tokenizer. METEOR's WordNet comes from the
                          set-up (offline). A side with more than --max-words words is rejected with the reason
                          (METEOR and ROUGE-L grow with the square of the length).""",
              epilog=epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True, help="JSON Lines file")
    p.add_argument("--output", required=True, help="JSON Lines file to write (atomically)")
    p.add_argument("--reference-field", default="reference", help="field with the reference text (default: reference)")
    p.add_argument("--hypothesis-field", default="hypothesis", help="field with the text to score (default: hypothesis)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    p.add_argument("--tokenize", default="intl", choices=["intl", "13a", "char", "none"], help="sacrebleu tokenizer for BLEU (default: intl)")
    p.add_argument("--max-words", type=int, default=None, help="longest side scored, in words, each punctuation mark counting as one (default: 1000)")
    stage_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.stages import metrics

    config = metrics.Config(bleu_tokenize=args.tokenize)
    summary, corpus = metrics.score_records(args.input, args.output, args.reference_field, args.hypothesis_field,
                                            args.workers or metrics.default_workers(), config, args.rejects, args.shard,
                                            progress=sys.stderr.isatty(), resume=not args.restart,
                                            max_words=args.max_words or metrics.MAX_WORDS)
    print(summary.line("metrics"))
    sig = config.signatures()
    for key, value in corpus.items():
        name = {"bleu2": "corpus_bleu2", "bleu4": "corpus_bleu4"}.get(key, key.split("_")[0])
        print(f"  corpus {key:<9} {value:.4f}  {sig.get(name, sig.get(key, ''))}")
    return summary.exit_code()
