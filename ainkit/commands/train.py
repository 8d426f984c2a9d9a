"""`ainkit train`: fine-tune Qwen2-VL locally or on SLURM through submitit (ainkit.pipelines.launch).

    ainkit train --config configs/train/tiny.yaml --executor local
"""
from __future__ import annotations

import argparse


PARSER = dict(help="fine-tune Qwen2-VL (full parameters) locally or on SLURM through submitit",
              description="""Train from a preset (configs/train/*.yaml) with --set overrides; the merged config and git
                          commit are written to the output folder. Executors: local (submitit LocalExecutor, --tasks
                          processes, gloo on CPU), slurm (one task per GPU, requeue on preemption), debug (this
                          process).""")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", default="configs/train/tiny.yaml", help="preset YAML (default: configs/train/tiny.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting (repeatable)")
    p.add_argument("--output-dir", help="run folder (default: the preset's, or runs/train)")
    p.add_argument("--executor", choices=["local", "slurm", "debug"], default="local")
    p.add_argument("--tasks", type=int, help="tasks per node (default: GPUs per node, or 1)")
    p.add_argument("--nodes", type=int, help="nodes (overrides the preset)")
    p.add_argument("--gpus-per-node", type=int, help="GPUs per node (overrides the preset)")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--time-min", type=int, help="time limit in minutes (default: a GPU run's planned hours x 1.5 + 15 min, "
                   "see --dry-run; a CPU run 60); a job that outlasts it is requeued and resumes from its last checkpoint")
    p.add_argument("--cpus-per-task", type=int, help="CPUs per task (default: the config's cpus_per_task, else 8 per GPU "
                   "rank, 2 per CPU rank)")
    p.add_argument("--mem-gb-per-task", type=float, help="host memory per task in GB, asked of SLURM per node (default: "
                   "the config's mem_gb_per_task, else 48 per GPU rank, the cluster's default for CPU ranks)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the SLURM script submitit would submit, the merged config and the per-GPU memory estimate; submit nothing")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.pipelines.launch import submit
    from ainkit.stages.train.trainer import load_config

    cfg = load_config(args.config, args.set, output_dir=args.output_dir, nodes=args.nodes, gpus_per_node=args.gpus_per_node)
    cluster = {"time_min": args.time_min, "cpus_per_task": args.cpus_per_task, "mem_gb_per_task": args.mem_gb_per_task}
    if args.partition:
        cluster["partition"] = args.partition
    if args.dry_run:
        from ainkit.pipelines.launch import dry_run

        print(dry_run(cfg, args.executor, args.tasks, **cluster))
        return 0
    job = submit(cfg, args.executor, args.tasks, **cluster)
    print(f"[train] submitted job {job.job_id} ({args.executor}); logs in {cfg.output_dir}/submitit", flush=True)
    results = job.results()
    s = results[0]
    if s.get("already_done"):
        print(f"[train] {cfg.output_dir} already finished at step {s['global_step']}; nothing to do "
              f"({cfg.output_dir}/train_summary.json)")
        return 0
    print(f"[train] done: step {s['global_step']}, loss {s['train_loss']:.4f}, {s['seconds']:.1f} s, world size {s['world_size']}, "
          f"attention {s['attention']}; {cfg.output_dir}/train_summary.json")
    return 0
