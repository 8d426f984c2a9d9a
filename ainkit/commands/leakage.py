"""`ainkit leakage`: training records that show a benchmark's images or ask its questions, in any language
(ainkit.pipelines.leakage).

    ainkit leakage --train runs/curate/demo/kept.jsonl --benchmarks camel=items.jsonl mmlu=ArabicMMLU.csv \\
        --output runs/leak
    ainkit leakage --plant runs/planted          # a planted set with known leaks, then:
    ainkit leakage --train runs/planted/train.jsonl --benchmarks planted=runs/planted/bench.jsonl \\
        --truth runs/planted/truth.jsonl --output runs/planted/check
"""
from __future__ import annotations

import argparse

from ainkit.ground.errors import epilog

PARSER = dict(help="find benchmark images and questions (translated too) in training records; list the records to drop",
              description="""Match every training record (chat JSON Lines, images relative to --images) against the
                          benchmarks: images by sha256 (exact) and 64-bit perceptual hash (near duplicates: re-encoded,
                          resized, cropped by 5 %), questions by normalised text and by a multilingual sentence
                          encoder (paraphrases and English-Arabic translations). Writes OUTPUT/report.json (per
                          benchmark: counts of each kind and the closest examples), OUTPUT/leaks.jsonl (every match)
                          and OUTPUT/drop.jsonl (the leaking training records with their reasons), which `ainkit curate
                          --set leakage.drop=OUTPUT/drop.jsonl` leaves out. --plant DIR writes a planted set;
                          --truth scores the first of --benchmarks against it (precision and recall).""",
              epilog="Benchmarks: NAME=PATH (or PATH, named by its stem); JSON Lines items {id, question, images, "
                     "dataset} with images relative to the file (the format of `ainkit evaluate`), or an ArabicMMLU "
                     "CSV. " + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from ainkit.commands.options import positive
    from ainkit.pipelines import leakage

    p.add_argument("--train", help="training records, JSON Lines (curate's kept.jsonl or any chat records)")
    p.add_argument("--images", help="folder the training records' image paths are relative to "
                   "(default: --train's folder)")
    p.add_argument("--benchmarks", nargs="+", metavar="NAME=PATH", help="benchmark item files (see below)")
    p.add_argument("--output", help="folder for report.json, leaks.jsonl and drop.jsonl")
    p.add_argument("--image-distance", type=int, default=leakage.IMAGE_DISTANCE,
                   help=f"near-duplicate threshold, bits of 64 (default: {leakage.IMAGE_DISTANCE}, chosen from "
                        "measured distances; see `ainkit.pipelines.leakage`)")
    p.add_argument("--question-threshold", type=float, default=leakage.QUESTION_THRESHOLD,
                   help=f"encoder cosine at or above which two questions match (default: {leakage.QUESTION_THRESHOLD}, "
                        f"measured for {leakage.ENCODER}; another encoder needs its own)")
    p.add_argument("--encoder", default=leakage.ENCODER,
                   help=f"sentence encoder for questions (default: {leakage.ENCODER}, offline, reads Arabic); "
                        "'none': exact questions only")
    p.add_argument("--allow-download", action="store_true", help="allow fetching the encoder from the Hugging Face hub")
    p.add_argument("--chunk", type=positive, default=leakage.CHUNK, help="training records matched at a time")
    p.add_argument("--examples", type=int, default=leakage.EXAMPLES, help="examples of each kind per benchmark")
    p.add_argument("--shard", metavar="I/N", help="check only shard I of N of the training records (by id hash), e.g. "
                   "one task of a SLURM array; concatenate the shards' drop.jsonl")
    p.add_argument("--truth", help="planted truth (JSON Lines {id, bench_id, kind}, as --plant writes): report "
                   "precision and recall of images and questions")
    p.add_argument("--plant", metavar="DIR", help="write a planted set into DIR (bench.jsonl, train.jsonl, "
                   "truth.jsonl, images/) and exit")
    return p


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ainkit.ground import atomic
    from ainkit.pipelines import leakage

    if args.plant:
        from ainkit.pipelines import leakage_planted

        truth = leakage_planted.write(Path(args.plant))
        print(f"ainkit leakage: planted set in {args.plant}: {len(truth)} planted leaks (truth.jsonl)")
        return 0
    if not (args.train and args.benchmarks and args.output):
        raise ValueError("--train, --benchmarks and --output are required (or --plant DIR)")
    if args.examples < 0:
        raise ValueError("--examples must be at least 0")
    benchmarks = [leakage.benchmark_spec(s) for s in args.benchmarks]
    leakage.preflight(args.train, benchmarks, args.output, args.shard)  # before the encoder loads
    truth = None
    if args.truth:
        from ainkit.services.records import read_records

        truth = read_records(args.truth)
    encoder = None
    if args.encoder != "none":
        from ainkit.stages import similarity

        encoder = similarity.load(args.encoder, args.allow_download or None)
    report = leakage.check(args.train, benchmarks, args.output, args.images, encoder, args.encoder,
                           args.image_distance, args.question_threshold, args.chunk, args.examples, args.shard,
                           progress=sys.stderr.isatty())
    for line in leakage.summary_lines(report):
        print(line)
    if truth is not None:
        leaks = leakage.read_leaks(Path(args.output) / "leaks.jsonl")
        name = benchmarks[0][0]
        scores = {"images": leakage.precision_recall(leaks, truth, ("image-exact", "image-near"), name),
                  "questions": leakage.precision_recall(leaks, truth, ("question-exact", "question-encoder"), name)}
        atomic.write_json(Path(args.output) / "planted.json", scores)
        for what, s in scores.items():
            print(f"planted {what} ({name}): precision {s['precision']} recall {s['recall']} ({s['true_positives']} of "
                  f"{s['planted']} planted found, {s['found']} found in all)")
    return 0
