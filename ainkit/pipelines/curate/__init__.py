"""`ainkit curate`: the report's data pipeline (Section 3, Figure 13) as one command, over shards.

    ainkit curate --config configs/curate/tiny.yaml --input ainkit/data/curate/chats.jsonl --output runs/curate/demo
    ainkit curate --config configs/curate/ain.yaml --input chats.parquet --images /data/img --output runs/curate/ain \\
        --executor slurm --shards 64
    ainkit curate ... --dry-run        # the plan (records per shard, requests, tokens, cost) and the sbatch script

Records go to shard i of n by a hash of their id (the rule of every stage's `--shard i/n`). Each shard
runs these steps, each an ordinary stage (ainkit.services.stageio.StageIO: journalled, resumable, rejects beside
its output) in shards/NN/:

    input           the shard's records of the input (JSON Lines, Parquet or a `datasets` folder),
                    each given an id when it has none ("line:N", "row:N"); a second record with an
                    id already seen is rejected here ("duplicate id"); a top-level `system` string
                    (ShareGPT as LLaMA-Factory documents it) becomes the chat's first turn, so it
                    is translated and verified like any turn                        0_input.jsonl
    structure       the free checks, before any paid step: a chat a trainer takes (turn order,
                    roles, `<image>` placeholders = images), every image there and
                    readable, text to translate within the limit; with `leakage.drop`
                    set, the records `ainkit leakage` found in a benchmark          1_structure.jsonl
    translate       EN->AR of every chat turn, `<image>` kept in place             2_translate.jsonl
    pairs           `en` / `ar`: the chat's text on each side, placeholders out    3_pairs.jsonl
    back_translate  AR->EN of `ar` into `back_en`                                   4_back.jsonl
    similarity      cross-lingual cosine of `en` and `ar`                           5_similarity.jsonl
    metrics         BLEU, METEOR, ROUGE of `back_en` against `en`                   6_metrics.jsonl
    verify          the thresholds of the config                                    7_verify.jsonl
    toxicity        the images the surviving records use, each judged once through the decision
                    cache every shard shares; a record is kept when all its images are safe
                    and it is a valid training record (ainkit.pipelines.export's checks)      8_kept.jsonl

Before the first step, every model and service the steps still to run need is checked (endpoints and
their keys, the embedded model, the encoder, WordNet, the vision judge): nothing is sent when one is
missing, and the message names the `--set` switch that changes it. A finished step is recorded in
shards/NN/progress.json and not run again; a killed one resumes from its journal. A step whose requests
failed at the endpoint stops the shard (exit 3): run the same command again. Every client's requests,
tokens and cost are journalled as they are paid (shards/NN/usage/), so summary.json counts work done
before a kill too. The merge then writes, in the run folder: kept.jsonl and rejects.jsonl (each reject with
its input line, the record as that line had it, its stage and every reason; `stage_record`: the record as
the stage saw it, when it differs) in input order, the same bytes whatever the shard count or executor;
funnel.json and funnel.png (records per step and why they left: Figure 13 for your data); export/
(LLaMA-Factory and ms-swift data set, images copied, manifest.json saying whether the images were screened
and how system prompts were handled); summary.json (records, requests, tokens, cost and seconds per step).
The merged config is written first, as config.yaml, and run.json with the input's identity (its path, size
and sha256, streamed) and the git commit the run began with: a re-run with other settings or another input,
an input edited in place included, stops and names what differs (--restart starts over).

Executors: local runs the shards one after another in this process; slurm submits them as a submitit job
array (one task a shard, `slurm.array_parallelism` at once, each requeued on preemption and resumed) and the
merge as a job that depends on the array; debug runs them in this process through submitit's DebugExecutor.

Modules, in the order data goes through them: config (settings), sources (the input), rundir (the run folder),
clients (models and services), steps and screening (one shard), merging and funnel (the run's outputs), costplan
(--dry-run), jobs (executors and the whole run).
"""
from __future__ import annotations

from ainkit.pipelines.curate.clients import Usage, check_services, endpoint_of
from ainkit.pipelines.curate.config import (DEFAULTS, EXECUTORS, FILES, PAID, STEPS, VERSION, CurateError,
                                            ShardIncomplete, load_config)
from ainkit.pipelines.curate.costplan import plan, plan_lines
from ainkit.pipelines.curate.jobs import run, sbatch_script, submit_slurm, summary_lines, wait
from ainkit.pipelines.curate.merging import merge, reason_key, summarize
from ainkit.pipelines.curate.rundir import Run, prepare
from ainkit.pipelines.curate.screening import provenance
from ainkit.pipelines.curate.sources import input_identity, source_rows
from ainkit.pipelines.curate.steps import chat_form, run_shard, structure_problems

__all__ = ["DEFAULTS", "EXECUTORS", "FILES", "PAID", "STEPS", "VERSION", "CurateError", "Run", "ShardIncomplete", "Usage",
           "chat_form", "check_services", "endpoint_of", "input_identity", "load_config", "merge", "plan", "plan_lines",
           "prepare", "provenance", "reason_key", "run", "run_shard", "sbatch_script", "source_rows", "structure_problems",
           "submit_slurm", "summarize", "summary_lines", "wait"]
