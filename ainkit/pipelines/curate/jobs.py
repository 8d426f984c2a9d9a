"""curate's executors: local runs the shards one after another in this process; slurm submits them as a job
array through ainkit.ground.cluster (one task a shard, `slurm.array_parallelism` at once, each requeued on
preemption and resumed from its journals) and the merge as a job that depends on the array; debug runs them in
this process through submitit's DebugExecutor.

    ainkit curate --config configs/curate/ain.yaml --input chats.parquet --output runs/curate/ain --executor slurm
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ainkit.ground import atomic, cluster
from ainkit.pipelines.curate.clients import check_services
from ainkit.pipelines.curate.config import EXECUTORS, STEPS, CurateError
from ainkit.pipelines.curate.merging import merge
from ainkit.pipelines.curate.rundir import Run, check_paths, lock, prepare
from ainkit.pipelines.curate.steps import run_shard


def _slurm_executor(run: Run, job_name: str):
    """A SLURM executor of one single-task CPU job, with the config's slurm settings (ainkit.ground.cluster)."""
    s = run.config["slurm"]
    return cluster.make_executor("slurm", run.root / "submitit", nodes=1, gpus_per_node=0, tasks=1,
                                 cpus_per_task=s["cpus_per_task"], partition=s["partition"], time_min=s["time_min"],
                                 job_name=job_name, mem_gb=s["mem_gb"])


def sbatch_script(run_config: dict[str, Any], root: str | os.PathLike) -> str:
    """The array script SLURM would get (written on any machine; writes no file)."""
    s = run_config["slurm"]
    folder = str((Path(root) / "submitit").expanduser().absolute())
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(folder)}"
    return cluster.sbatch_script(folder, command, nodes=1, gpus_per_node=0, tasks=1, cpus_per_task=s["cpus_per_task"],
                                 partition=s["partition"], time_min=s["time_min"], job_name="ainkit-curate",
                                 mem_gb=s["mem_gb"], array=run_config["shards"], array_parallelism=s["array_parallelism"])


def submit_slurm(run: Run, cache_dir: str | None):
    """Submit the unfinished shards as an array and the merge as a job depending on it; returns (shard jobs, merge job)."""
    todo = [i for i in range(run.shards) if not run.shard_done(i)]
    jobs = []
    if todo:
        ex = _slurm_executor(run, "ainkit-curate")
        ex.update_parameters(slurm_array_parallelism=min(len(todo), run.config["slurm"]["array_parallelism"]))
        with ex.batch():
            for i in todo:
                jobs.append(ex.submit(cluster.Requeued(run_shard, str(run.root), i, cache_dir)))
    mx = _slurm_executor(run, "ainkit-curate-merge")
    if jobs:
        array_id = str(jobs[0].job_id).split("_")[0]
        mx.update_parameters(slurm_additional_parameters={"dependency": f"afterok:{array_id}", "kill-on-invalid-dep": "yes"})
    return jobs, mx.submit(merge, str(run.root))


def wait(jobs, merge_job, poll: float = 5.0) -> dict[str, Any]:
    """Follow the shard jobs (a line each time one ends), then return the merge's result."""
    pending = dict(enumerate(jobs))
    while pending:
        for k, job in list(pending.items()):
            if job.done():
                del pending[k]
                try:
                    job.result()
                    print(f"[curate] shard job {job.job_id} finished ({len(jobs) - len(pending)}/{len(jobs)})", flush=True)
                except Exception as exc:  # noqa: BLE001 - submitit wraps the task's error
                    merge_job.cancel(check=False)
                    raise CurateError(f"shard job {job.job_id} failed: {str(exc).strip().splitlines()[-1][:300]} "
                                      f"(log: {job.paths.stderr}); fix it and run the same command again") from None
        if pending:
            time.sleep(poll)
    return merge_job.result()


def run(config: dict[str, Any], input: str | os.PathLike, output: str | os.PathLike, images: str | os.PathLike | None = None,
        executor: str = "local", restart: bool = False, cache_dir: str | None = None,
        progress: bool = False) -> dict[str, Any]:
    """The whole pipeline; returns the summary (see ainkit.pipelines.curate)."""
    if executor not in EXECUTORS:
        raise CurateError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    t0 = time.time()
    _, root, _ = check_paths(input, output, images)
    root.mkdir(parents=True, exist_ok=True)
    held = lock(root)  # one curate process per run folder (a second one exits 2 before touching it)
    try:
        r = prepare(config, input, output, images, restart)
        check_services(r.config, {step for i in range(r.shards) for step in STEPS if step not in r.progress(i)["steps"]})
        print(f"[curate] {r.input} -> {r.root} ({r.shards} shard(s), executor {executor})", flush=True)
        if executor == "slurm":
            summary = _on_slurm(r, cache_dir)
        else:
            for i in range(r.shards):
                if executor == "debug":
                    ex = cluster.make_executor("debug", r.root / "submitit")
                    ex.submit(cluster.Requeued(run_shard, str(r.root), i, cache_dir)).result()
                else:
                    run_shard(r.root, i, cache_dir, progress)
            summary = merge(r.root, progress)
    finally:
        held.release()
    summary["wall_seconds"] = round(time.time() - t0, 1)
    atomic.write_json(r.root / "summary.json", summary)
    return summary


def _on_slurm(r: Run, cache_dir: str | None) -> dict[str, Any]:
    """Submit the shards and the merge, follow them, and return the merge's summary; Ctrl-C cancels them all."""
    jobs, merge_job = submit_slurm(r, cache_dir)
    print(f"[curate] submitted {len(jobs)} shard task(s) and the merge (job {merge_job.job_id}); logs in "
          f"{r.root / 'submitit'}", flush=True)
    try:
        return wait(jobs, merge_job)
    except KeyboardInterrupt:
        for job in [*jobs, merge_job]:
            job.cancel(check=False)
        print(f"[curate] cancelled the {len(jobs)} shard job(s) and the merge; their finished work is kept",
              file=sys.stderr)
        raise


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the command prints it: records, then a line a step and the total."""
    rec = summary["records"]
    lines = [f"[curate] {rec['input']:,} records: {rec['kept']:,} kept, {rec['rejected']:,} rejected, {rec['exported']:,} "
             f"exported" + ("" if summary["images screened"] else " (images NOT screened for toxicity: toxicity.mode skip)")]
    for step, s in summary["steps"].items():
        lines.append(f"  {step:<15} {s.get('read', 0):>8,} in {s.get('rejected', 0) + s.get('malformed', 0):>8,} rejected "
                     f"{int(s.get('requests', 0)):>8,} requests ({int(s.get('from_cache', 0)):,} from the cache) "
                     f"{int(s.get('tokens', 0)):>10,} tokens "
                     f"${s.get('cost_usd', 0):>8.2f} {s.get('seconds', 0):>8.1f} s")
    t = summary["total"]
    lines.append(f"  {'total':<15} {int(t.get('requests', 0)):>37,} requests {int(t.get('tokens', 0)):>10,} tokens "
                 f"${t.get('cost_usd', 0):>8.2f} {t.get('seconds', 0):>8.1f} s (task time); wall {summary.get('wall_seconds', 0)} s")
    return lines
