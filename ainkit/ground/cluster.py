"""Everything cluster-specific in one place: submitit executors for SLURM, one machine, and debugging.

    from ainkit.ground.cluster import make_executor
    ex = make_executor("slurm", "runs/submitit", nodes=8, gpus_per_node=8, partition="gpu", time_min=4320)

slurm: submitit's AutoExecutor on SLURM, one task per GPU (or one per node when gpus_per_node
is 0: CPU ranks), SIGUSR2 `signal_delay_s` before the time limit so the job checkpoints and
requeues. local: submitit's LocalExecutor, `tasks` processes on this machine (gloo). debug:
in this process, for pdb.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

EXECUTORS = ("slurm", "local", "debug")


class Requeued:
    """A submitit job that calls `fn(*args)` and, on preemption or the time limit, is requeued as the same call:
    the work resumes from what it journalled (curate's shards; training keeps its own TrainJob)."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self.fn, self.args = fn, args

    def __call__(self) -> Any:
        return self.fn(*self.args)

    def checkpoint(self, *args: Any, **kwargs: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(Requeued(self.fn, *self.args))


def make_executor(kind: str, folder: str | Path, nodes: int = 1, gpus_per_node: int = 0, tasks: int | None = None,
                  cpus_per_task: int = 2, partition: str | None = None, time_min: int = 60, signal_delay_s: int = 120,
                  job_name: str = "ainkit-train", mem_gb: int | None = None):
    """A configured submitit executor of the given kind."""
    import submitit

    if kind not in EXECUTORS:
        raise ValueError(f"executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    tasks_per_node = tasks or max(1, gpus_per_node)
    if kind == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(nodes=1, tasks_per_node=tasks_per_node, timeout_min=time_min, gpus_per_node=gpus_per_node)
        return ex
    if kind == "debug":
        return submitit.DebugExecutor(folder=str(folder))
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    ex.update_parameters(**_slurm_parameters(nodes, tasks_per_node, gpus_per_node, cpus_per_task, partition, time_min,
                                             signal_delay_s, job_name, mem_gb))
    return ex


def _slurm_parameters(nodes, tasks_per_node, gpus_per_node, cpus_per_task, partition, time_min, signal_delay_s, job_name,
                      mem_gb) -> dict:
    """submitit AutoExecutor parameters (slurm_-prefixed where SLURM-only) of one training job."""
    params = dict(nodes=nodes, tasks_per_node=tasks_per_node, cpus_per_task=cpus_per_task, timeout_min=time_min,
                  name=job_name, slurm_signal_delay_s=signal_delay_s)
    if gpus_per_node:
        params["gpus_per_node"] = gpus_per_node
    if partition:
        params["slurm_partition"] = partition
    if mem_gb:
        params["mem_gb"] = mem_gb
    return params


def sbatch_script(folder: str | Path, command: str, nodes: int = 1, gpus_per_node: int = 0, tasks: int | None = None,
                  cpus_per_task: int = 2, partition: str | None = None, time_min: int = 60, signal_delay_s: int = 120,
                  job_name: str = "ainkit-train", mem_gb: int | None = None, array: int | None = None,
                  array_parallelism: int = 256) -> str:
    """The sbatch script `make_executor("slurm", ...)` would submit, written on any machine (SLURM there or not);
    writes no file (a dry run leaves nothing behind). `array`: the script of a job array of that many tasks,
    at most `array_parallelism` at once, as submitit writes it (`--array`, log names per task)."""
    import submitit

    class ScriptOnly(submitit.SlurmExecutor):
        """Writes scripts where `srun` is missing (submitit's executor refuses to exist there); never submits."""

        @classmethod
        def affinity(cls) -> int:
            return 1

    generic = _slurm_parameters(nodes, tasks or max(1, gpus_per_node), gpus_per_node, cpus_per_task, partition, time_min,
                                signal_delay_s, job_name, mem_gb)
    ex = ScriptOnly(folder=str(folder))
    native = {k.removeprefix("slurm_"): v for k, v in generic.items() if k.startswith("slurm_")}
    # submitit's own conversion, as AutoExecutor does it: renames, and mem_gb=384 -> --mem=384GB (a bare 384 is MB)
    ex.update_parameters(**ex._convert_parameters({k: v for k, v in generic.items() if not k.startswith("slurm_")}), **native)
    if array:
        ex.update_parameters(array_parallelism=array_parallelism)
        ex.parameters["map_count"] = array  # what submitit sets when it submits a batch as an array
    return ex._make_submission_file_text(command, "DRYRUN")
