"""The training job as submitit sees it: a thin callable that sets up torch.distributed and trains, and requeues.

    ainkit train --config configs/train/tiny.yaml --executor local --tasks 2
    ainkit train --config configs/train/ain_7b.yaml --executor slurm --partition gpu --time-min 4320

On preemption or the time limit, submitit calls `checkpoint()`: the job is requeued with the
same configuration, and the Trainer resumes from the last checkpoint in the output folder
(model, optimizer, scheduler, RNG and data position).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ainkit.train.trainer import TrainConfig


class TrainJob:
    """Callable submitted to submitit; every task (rank) runs it."""

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def __call__(self) -> dict[str, Any]:
        import submitit

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        from ainkit.train.trainer import train

        return train(TrainConfig(**self.config))

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Requeue: the Trainer's own checkpoints carry the state; the same job resumes from the last one."""
        import submitit

        return submitit.helpers.DelayedSubmission(TrainJob(self.config))


def submit(cfg: TrainConfig, executor: str = "local", tasks: int | None = None, folder: str | None = None, **cluster: Any):
    """Submit the job; returns the submitit job."""
    from pathlib import Path

    from ainkit.cluster import make_executor

    ex = make_executor(executor, folder or str(Path(cfg.output_dir) / "submitit"), nodes=cfg.nodes,
                       gpus_per_node=cfg.gpus_per_node, tasks=tasks, **cluster)
    return ex.submit(TrainJob(asdict(cfg)))


def dry_run(cfg: TrainConfig, executor: str = "slurm", tasks: int | None = None, folder: str | None = None, **cluster: Any) -> str:
    """What `submit` would do, submitting nothing: the SLURM script, the merged config, the per-GPU memory estimate."""
    import sys
    from pathlib import Path

    import yaml

    from ainkit.cluster import sbatch_script
    from ainkit.train.plan import Assumptions, memory_per_gpu

    folder = folder or str(Path(cfg.output_dir) / "submitit")
    lines = ["# merged configuration", yaml.safe_dump(asdict(cfg), sort_keys=False).rstrip(), ""]
    if executor == "slurm":
        command = f"{sys.executable} -u -m submitit.core._submit {folder}"
        script = sbatch_script(folder, command, nodes=cfg.nodes, gpus_per_node=cfg.gpus_per_node, tasks=tasks, **cluster)
        lines += ["# the sbatch script submitit would submit", script]
    else:
        lines += [f"# executor {executor}: {tasks or 1} task(s) on this machine"]
    gpus = max(1, cfg.nodes * max(cfg.gpus_per_node, 1))
    mem = memory_per_gpu(Assumptions(gpus=gpus, seq_len=cfg.cutoff_len, micro_batch=cfg.per_device_batch))
    lines += [f"# per-GPU memory estimate for Qwen2-VL-7B, ZeRO-3 over {gpus} GPUs (ainkit.train.plan assumptions)"]
    lines += [f"#   {k:<34} {v:8.2f} GB" for k, v in mem.items()]
    return "\n".join(lines)
