"""`ainkit gallery`: Figures 4-5 for any models' answers (ainkit.pipelines.gallery).

    ainkit gallery --predictions runs/a/predictions.jsonl runs/b/predictions.jsonl --output runs/gallery
"""
from __future__ import annotations

import argparse

from ainkit.ground.errors import epilog

PARSER = dict(help="Figures 4-5 for any models: answers side by side, one self-contained HTML page + a panel",
              description="""Join several models' CAMEL-Bench predictions files (what `ainkit evaluate` writes) by
                          (dataset, id) and write OUTPUT/gallery.html (images embedded, Arabic right to left, each
                          answer with its verdict in both scoring modes and the judge's grade where there is one;
                          filters by data set, domain and 'models disagree') and OUTPUT/fig05_side_by_side.png/.pdf,
                          a paper panel.""",
              epilog="e.g. ainkit gallery --predictions runs/a/predictions.jsonl runs/b/predictions.jsonl --output "
                     "runs/gallery. " + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--predictions", nargs="+", required=True, metavar="FILE", help="one predictions file per model")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for gallery.html and the panel")
    p.add_argument("--items", help="item records with question and images (default: the kit's CAMEL-Bench fixture)")
    p.add_argument("--names", nargs="+", metavar="NAME", help="model names, one per predictions file (default: the model "
                   "in results.json beside the file, else the folder or file name)")
    p.add_argument("--panel", help="items in the panel, comma-separated ids or dataset/id (default: up to 4 where models disagree)")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.pipelines import gallery

    summary = gallery.build(args.predictions, args.output, args.items, args.names,
                            [s for s in args.panel.split(",") if s] if args.panel else None)
    print(gallery.line(summary))
    return 0
