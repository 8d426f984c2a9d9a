"""`ainkit export`: kept chat records -> a LLaMA-Factory / ms-swift training set (ainkit.pipelines.export).

    ainkit export --input runs/verify/kept.jsonl --output data/
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import stage_options
from ainkit.ground.errors import epilog

PARSER = dict(help="kept chat records -> a LLaMA-Factory / ms-swift training set, images beside it",
              description="""Write kept chat records (JSON Lines with `messages` or `conversations` and `images`, as
                          translate and verify write them) into OUTPUT as a training set: NAME.jsonl
                          (LLaMA-Factory's ShareGPT shape with role/content turns and images relative to OUTPUT;
                          `ainkit train --set data=OUTPUT/NAME.jsonl` reads it too), its entry in
                          OUTPUT/dataset_info.json (LLaMA-Factory: dataset_dir OUTPUT, dataset NAME),
                          NAME.swift.jsonl (ms-swift: `swift sft --dataset` it; image paths absolute) and
                          OUTPUT/images/ holding every image used. Records that would not train go to the rejects
                          file with the line and every reason: no chat, turns not user/assistant pairs (user first,
                          after an optional system turn), an empty turn, <image> placeholders and images that differ
                          in number, an image that is missing, too large or does not decode whole. Refuses (exit 2)
                          when none of the first relative image paths exists under the images folder. Resumes after
                          a crash or Ctrl-C.""",
              epilog="e.g. ainkit export --input runs/verify/kept.jsonl --output data/  (writes data/ain_curated.jsonl, "
                     "the file configs/train/ain_7b.yaml trains on). " + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True, help="kept records (JSON Lines)")
    p.add_argument("--output", required=True, help="folder to write the data set into (created if missing)")
    p.add_argument("--name", default="ain_curated", help="data set name: file stem and dataset_info.json key (default: ain_curated)")
    p.add_argument("--images", choices=["copy", "link", "symlink"], default="copy",
                   help="put each image into OUTPUT/images by copy (default: the set stands alone), link (hard link: no "
                        "extra space, same file system only) or symlink (points at the originals)")
    p.add_argument("--images-dir", help="folder relative image paths are resolved against (default: for a curate run's "
                   "kept.jsonl, the images folder its run.json records; else the input file's folder)")
    stage_options(p, "rejects file (default: OUTPUT/NAME.rejects.jsonl)", shard_help=None)
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.pipelines import export

    summary, files = export.run(args.input, args.output, args.name, args.images, args.images_dir, args.rejects,
                                resume=not args.restart, progress=sys.stderr.isatty())
    print(summary.line("export"))
    print(f"[export] {files['data']} + {files['dataset_info']} (LLaMA-Factory dataset {args.name!r}; ainkit train), "
          f"{files['swift']} (ms-swift)" + (f"; rejects in {files['rejects']}" if summary.rejected or summary.malformed else ""))
    return summary.exit_code()
