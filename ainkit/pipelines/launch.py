"""The training job as submitit sees it: a thin callable that sets up torch.distributed and trains, and requeues.

    ainkit train --config configs/train/tiny.yaml --executor local --tasks 2
    ainkit train --config configs/train/ain_7b.yaml --executor slurm --nodes 8 --gpus-per-node 8 --dry-run

On preemption or the time limit, submitit calls `checkpoint()`: the job is requeued with the
same configuration, and the Trainer resumes from the last checkpoint in the output folder
(model, optimizer, scheduler, RNG and data position).

What a job asks of the cluster (`resources`; a flag overrides each):
- time limit: for a GPU run, the plan's wall-clock estimate (`ainkit.stages.train.plan.compute_budget`
  for the run's GPUs and samples) x TIME_MARGIN + STARTUP_MIN. The plan assumes A100s at the MFU
  lmms-engine publishes for Qwen2.5-VL-7B fine-tuning (`plan.mfu_anchor`: 22.5 % for a padded run, 35 %
  with packing=true, vision FLOPs not counted) and a mean sample length; the margin covers a slower
  run, and requeue from the last checkpoint covers one that still outlasts it (the safety net, not the
  schedule). A CPU run: CPU_TIME_MIN.
- CPUs and memory per task (one task per GPU): the config's `cpus_per_task` / `mem_gb_per_task`
  when it has them, else GPU_TASK_CPUS / GPU_TASK_MEM_GB for a GPU rank (it decodes and resizes
  its own images) and the cluster's defaults for a CPU rank. SLURM gets memory per node (`--mem`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ainkit.stages.train.trainer import TrainConfig

TIME_MARGIN = 1.5       # x the plan's hours: a run at 2/3 of the assumed throughput still ends inside one allocation
STARTUP_MIN = 15        # model download and load, DeepSpeed initialisation, the final save
CPU_TIME_MIN = 60       # CPU trials (the tiny model): the plan is for Qwen2-VL-7B on GPUs
GPU_TASK_CPUS = 8       # per GPU rank: image decoding for its GPU; 8 x 8 = 64 cores, what 8-GPU nodes have at least
GPU_TASK_MEM_GB = 48    # per GPU rank: one bf16 checkpoint shard at a time under ZeRO-3, batches, CUDA context;
                        # 8 x 48 = 384 GB of a node, under the 512 GB-2 TB that 8 x A100/H100 nodes carry
CPU_TASK_CPUS = 2
TIMEOUT_REQUEUES = 3    # submitit's max_num_timeout (ainkit.ground.cluster keeps the default): a 4th time-out ends the job


class TrainJob:
    """Callable submitted to submitit; every task (rank) runs it."""

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def __call__(self) -> dict[str, Any]:
        import submitit

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        from ainkit.stages.train.trainer import train

        return train(TrainConfig(**self.config))

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Requeue: the Trainer's own checkpoints carry the state; the same job resumes from the last one."""
        import submitit

        return submitit.helpers.DelayedSubmission(TrainJob(self.config))


@dataclass
class Resources:
    """What one training job asks of the cluster, and why (the dry run prints `notes`)."""

    time_min: int
    cpus_per_task: int
    mem_gb: int | None  # per node (sbatch --mem); None: the cluster's default
    notes: list[str] = field(default_factory=list)


def _lines(path: Path) -> int:
    """Lines of a file, read in 16 MiB blocks (3.6 M records: seconds, flat memory)."""
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(16 << 20):
            n += block.count(b"\n")
    return n


def plan_hours(cfg: TrainConfig) -> tuple[float, str]:
    """The plan's wall-clock hours for this run, and what they rest on."""
    from ainkit.stages.train.plan import Assumptions, compute_budget

    gpus = max(1, cfg.nodes * cfg.gpus_per_node)
    a = Assumptions(gpus=gpus, seq_len=cfg.cutoff_len, micro_batch=cfg.per_device_batch, epochs=1.0, packing=cfg.packing)
    if cfg.max_steps > 0:
        a.samples = cfg.max_steps * gpus * cfg.per_device_batch * cfg.gradient_accumulation
        source = f"max_steps {cfg.max_steps} x {gpus} GPUs x {cfg.per_device_batch * cfg.gradient_accumulation} samples"
    elif cfg.data != "sample" and Path(cfg.data).is_file():
        n = _lines(Path(cfg.data))
        a.samples = n * cfg.epochs
        source = f"{n:,} records in {cfg.data} x {cfg.epochs:g} epoch(s)"
    else:
        why = "data=sample: the kit's sample set stands in" if cfg.data == "sample" else f"{cfg.data} not found"
        source = f"the report's {a.samples / 1e6:g} M samples ({why}) x {cfg.epochs:g} epoch(s)"
        a.samples *= cfg.epochs
    hours = compute_budget(a)["wall-clock hours"]
    return hours, (f"{source}, {a.image_tokens + a.text_tokens} tokens each, Qwen2-VL-7B on {gpus} GPUs at "
                   f"{a.peak_tflops:g} TFLOPS x {a.mfu:.1%} MFU ({a.mfu_source})")


def resources(cfg: TrainConfig, time_min: int | None = None, cpus_per_task: int | None = None,
              mem_gb_per_task: float | None = None, tasks: int | None = None) -> Resources:
    """Time, CPUs and memory for the job: the arguments when given, else the config's, else the defaults above."""
    gpu = cfg.gpus_per_node > 0
    per_node = tasks or max(1, cfg.gpus_per_node)
    notes = []
    if time_min is None:
        if gpu:
            hours, basis = plan_hours(cfg)
            time_min = math.ceil(hours * 60 * TIME_MARGIN) + STARTUP_MIN
            notes.append(f"time limit {time_min} min = plan {hours:.2f} h x {TIME_MARGIN:g} margin + {STARTUP_MIN} min start-up "
                         f"(plan: {basis}); past it, SIGUSR2 makes the job checkpoint and requeue")
        else:
            time_min = CPU_TIME_MIN
            notes.append(f"time limit {time_min} min (a CPU run: the plan is for GPUs)")
    else:
        notes.append(f"time limit {time_min} min (given)")
        if gpu:
            hours, _ = plan_hours(cfg)
            runs = math.ceil(hours * 60 / time_min)
            if runs > 1:
                notes.append(f"the plan estimates {hours:.2f} h: about {runs} allocations of {time_min} min" + (
                    f", more than the {TIMEOUT_REQUEUES + 1} submitit allows on time-outs: the run would stop unfinished"
                    if runs > TIMEOUT_REQUEUES + 1 else ", each resuming from the last checkpoint"))
    cpus = cpus_per_task or getattr(cfg, "cpus_per_task", None) or (GPU_TASK_CPUS if gpu else CPU_TASK_CPUS)
    per_task = mem_gb_per_task or getattr(cfg, "mem_gb_per_task", None) or (GPU_TASK_MEM_GB if gpu else None)
    mem = math.ceil(per_task * per_node) if per_task else None
    notes.append(f"{cpus} CPU(s) per task, " + (f"{per_task:g} GB per task x {per_node} tasks = {mem} GB per node (--mem)"
                                                if mem else "memory: the cluster's default"))
    return Resources(time_min, cpus, mem, notes)


def _cluster(cfg: TrainConfig, tasks: int | None, cluster: dict[str, Any]) -> tuple[dict[str, Any], Resources]:
    """submitit parameters: the resources resolved, the rest (partition, ...) passed on."""
    rest = dict(cluster)
    res = resources(cfg, rest.pop("time_min", None), rest.pop("cpus_per_task", None), rest.pop("mem_gb_per_task", None), tasks)
    return {**rest, "time_min": res.time_min, "cpus_per_task": res.cpus_per_task, "mem_gb": res.mem_gb}, res


def submit(cfg: TrainConfig, executor: str = "local", tasks: int | None = None, folder: str | None = None, **cluster: Any):
    """Submit the job; returns the submitit job. `cluster`: time_min, cpus_per_task, mem_gb_per_task, partition."""
    from ainkit.ground.cluster import make_executor
    from ainkit.stages.train.trainer import check_inputs

    check_inputs(cfg)  # a missing data file is exit 2 here, not a failed job
    params, _ = _cluster(cfg, tasks, cluster)
    ex = make_executor(executor, folder or str(Path(cfg.output_dir) / "submitit"), nodes=cfg.nodes,
                       gpus_per_node=cfg.gpus_per_node, tasks=tasks, **params)
    return ex.submit(TrainJob(asdict(cfg)))


def dry_run(cfg: TrainConfig, executor: str = "slurm", tasks: int | None = None, folder: str | None = None, **cluster: Any) -> str:
    """What `submit` would do, writing and submitting nothing: the resources and why, the SLURM script, the merged
    config, the per-GPU memory estimate."""
    import shlex
    import sys

    import yaml

    from ainkit.ground.cluster import sbatch_script
    from ainkit.stages.train.plan import Assumptions, memory_per_gpu
    from ainkit.stages.train.trainer import check_inputs

    check_inputs(cfg)  # nothing planned for a data file that is not there
    real = str(Path(folder or Path(cfg.output_dir) / "submitit").expanduser().absolute())
    params, res = _cluster(cfg, tasks, cluster)
    lines = ["# merged configuration", yaml.safe_dump(asdict(cfg), sort_keys=False).rstrip(), ""]
    lines += ["# resources"] + [f"#   {n}" for n in res.notes] + [""]
    if executor == "slurm":
        command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(real)}"
        script = sbatch_script(real, command, nodes=cfg.nodes, gpus_per_node=cfg.gpus_per_node, tasks=tasks, **params)
        lines += ["# the sbatch script submitit would submit", script]
    else:
        lines += [f"# executor {executor}: {tasks or 1} task(s) on this machine"]
    gpus = max(1, cfg.nodes * max(cfg.gpus_per_node, 1))
    mem = memory_per_gpu(Assumptions(gpus=gpus, seq_len=cfg.cutoff_len, micro_batch=cfg.per_device_batch))
    lines += [f"# per-GPU memory estimate for Qwen2-VL-7B, ZeRO-3 over {gpus} GPUs (ainkit.stages.train.plan assumptions)"]
    lines += [f"#   {k:<34} {v:8.2f} GB" for k, v in mem.items()]
    return "\n".join(lines)
