"""`ainkit verify`: the Figure 13 funnel (ainkit.stages.verify).

    ainkit verify --input metrics.jsonl --output kept.jsonl --threshold similarity=0.8
"""
from __future__ import annotations

import argparse

from ainkit.commands.options import stage_options
from ainkit.ground.errors import epilog
from ainkit.stages.verify import DEFAULT_RULES

PARSER = dict(help="the Figure 13 funnel: keep pairs whose scores clear every threshold",
              description="""Keep a record only when every rule holds (score >= threshold); rejected records are
                          written with every rule they failed; a funnel summary (records in, dropped at each rule,
                          kept) is written as JSON beside the output. Defaults are the report's Figure 13: """
                          + ", ".join(f"{name} {value}" for name, value in DEFAULT_RULES.items()) + """. Rule names:
                          similarity, bleu2, bleu4, meteor, rouge1_p/r/f, rougeL_p/r/f; an unknown name is refused.""",
              epilog=epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True, help="kept records")
    stage_options(p, "rejected and malformed records (default: <output stem>.rejects.jsonl)",
                  "process only shard I of N (by id hash)", restart=False)
    p.add_argument("--threshold", action="append", metavar="NAME=VALUE",
                   help="a rule, repeatable (e.g. --threshold similarity=0.8); replaces the defaults")
    p.add_argument("--summary", help="funnel JSON (default: <output stem>.funnel.json)")
    p.add_argument("--compute-missing", action="store_true",
                   help="compute scores the rules need but records lack (metrics from reference/hypothesis, "
                        "similarity with --encoder)")
    p.add_argument("--encoder", default="use-multilingual", help="encoder for a missing similarity (default: use-multilingual)")
    p.add_argument("--reference-field", default="reference")
    p.add_argument("--hypothesis-field", default="hypothesis")
    p.add_argument("--en-field", default="en")
    p.add_argument("--ar-field", default="ar")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.pipelines.rescore import MissingScores
    from ainkit.stages import verify

    rules = verify.parse_thresholds(args.threshold)
    fill = MissingScores(rules, args.encoder, args.reference_field, args.hypothesis_field, args.en_field, args.ar_field) \
        if args.compute_missing else None
    funnel = verify.run(args.input, args.output, args.rejects, rules, args.summary, fill, shard=args.shard)
    print(funnel.line())
    return 0
