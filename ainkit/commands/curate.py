"""`ainkit curate`: the report's whole data pipeline over shards (ainkit.pipelines.curate).

    ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl --output runs/curate/demo
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import cache_dir_option
from ainkit.ground.errors import UserError, epilog

PARSER = dict(help="the report's whole data pipeline over shards: translate -> ... -> export",
              description="""Run the report's data pipeline (Figure 13) on chat records: per shard translate (EN->AR,
                          <image> kept in place) -> back-translate -> similarity -> metrics -> verify (the config's
                          thresholds) -> toxicity (each image judged once, through the decision cache every shard
                          shares; `toxicity.mode: required` keeps no image it could not judge, `skip` screens none
                          and says so), then merge: OUTPUT/kept.jsonl and rejects.jsonl (stage and every reason) in
                          input order, funnel.json + funnel.png (records per step and why they left), export/
                          (LLaMA-Factory and ms-swift data set with its images and manifest.json) and summary.json
                          (records, requests, tokens, cost and seconds per step). Every step resumes after a crash,
                          a kill or a SLURM preemption: run the same command again. A re-run with other settings or
                          another input stops and names the difference.""",
              epilog="e.g. ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl "
                     "--output runs/curate/demo   (offline; presets: configs/curate/ain.yaml is the report's set-up). "
                       + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", required=True, help="pipeline settings (YAML): configs/curate/ain.yaml (the report's), "
                   "configs/curate/tiny.yaml (offline)")
    p.add_argument("--input", required=True, help="""chat records: JSON Lines, Parquet, or a Hugging Face `datasets`
                                                  folder (save_to_disk), each record with `messages` (role/content)
                                                  or `conversations` (from/value) and optional `images` (paths)""")
    p.add_argument("--images", metavar="DIR", help="folder the records' image paths are relative to (default: the input's folder)")
    p.add_argument("--output", required=True, metavar="DIR", help="run folder (e.g. runs/curate/NAME)")
    p.add_argument("--executor", choices=["local", "slurm", "debug"], default="local",
                   help="local (default): shards one after another here; slurm: a job array (one task a shard) and a "
                        "dependent merge job; debug: here, through submitit's DebugExecutor (pdb on errors)")
    p.add_argument("--shards", type=int, help="number of shards (default: the config's `shards`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of the config, e.g. --set translate.concurrency=32 --set toxicity.mode=skip "
                        "(repeatable; VALUE is read as YAML)")
    p.add_argument("--dry-run", action="store_true",
                   help="""print the plan (records per shard, requests, tokens, cost at configs/llm.yaml's prices,
                        synchronous and Batch API; CPU-hours measured here for an mt: model) and, for slurm, the
                        sbatch script; warn about every model, key or service the real run would stop on; send,
                        submit and write nothing""")
    p.add_argument("--restart", action="store_true", help="discard the run folder's earlier work and start over")
    cache_dir_option(p, "answer and decision cache (default: AINKIT_CACHE_DIR or ~/.cache/ainkit/store; "
                     "on a cluster, a folder every node sees)")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.pipelines import curate

    cfg = curate.load_config(args.config, args.overrides, args.shards)
    if args.dry_run:
        for line in curate.plan_lines(curate.plan(cfg, args.input)):
            print(f"[curate] plan: {line}")
        if args.executor == "slurm":
            print(f"[curate] sbatch script of the shard array (submitted by submitit; the merge follows with "
                  f"--dependency=afterok):\n{curate.sbatch_script(cfg, args.output)}", end="")
        try:  # a plan is useful before the keys and models are in place: say what the real run would refuse
            curate.check_services(cfg, curate.STEPS)
        except UserError as exc:
            print(f"[curate] dry run: WARNING: the real run would stop here ({str(exc).removesuffix('. Nothing was sent')}); "
                  "fix that before running without --dry-run")
        print("[curate] dry run: nothing sent, submitted or written")
        return 0
    summary = curate.run(cfg, args.input, args.output, args.images, args.executor, args.restart, args.cache_dir,
                         progress=sys.stderr.isatty())
    for line in curate.summary_lines(summary):
        print(line)
    print(f"[curate] wrote {args.output}/kept.jsonl, rejects.jsonl, funnel.json, funnel.png, export/, summary.json")
    return 0
