"""The tiny training on a real SLURM cluster (controller + 2 simulated nodes on 127.0.0.1, brought up by
.ci/slurm.sh): one gloo rank per node, and an interrupt that requeues and resumes from the last checkpoint."""
import json
import shutil
import subprocess
import time

import pytest

from ainkit import launch
from ainkit.train.trainer import load_config


def cluster_state() -> str:
    if not shutil.which("sinfo"):
        return "sinfo not installed (run `bash .ci/slurm.sh up` as root)"
    proc = subprocess.run(["sinfo", "-h", "-N", "-t", "idle,mix,alloc", "-o", "%N"], capture_output=True, text=True)
    nodes = set(proc.stdout.split())
    if proc.returncode != 0 or len(nodes) < 2:
        return f"no 2-node SLURM cluster up (sinfo: {proc.stderr.strip() or proc.stdout.strip() or 'no nodes'}); run `bash .ci/slurm.sh up`"
    return ""


REASON = cluster_state()
if REASON:
    print(f"SLURM tests skipped: {REASON}")
pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON)


def config(out, steps):
    return load_config("configs/train/tiny.yaml", [f"max_steps={steps}", "save_steps=10", "nodes=2", "gpus_per_node=0"],
                       output_dir=str(out))


def test_cli_two_nodes_one_gloo_rank_each(tmp_path):
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-m", "ainkit.cli", "train", "--config", "configs/train/tiny.yaml", "--executor", "slurm",
                           "--nodes", "2", "--gpus-per-node", "0", "--set", "max_steps=20", "--output-dir", str(tmp_path / "run"),
                           "--time-min", "10", "--cpus-per-task", "1"], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(slurm)" in proc.stdout and "step 20" in proc.stdout and "world size 2" in proc.stdout
    c0, c1 = ((tmp_path / "run" / f"rank{r}.checksum").read_text() for r in (0, 1))
    assert c0 == c1


def test_interrupt_requeues_and_resumes(tmp_path):
    steps = 40
    baseline = launch.submit(config(tmp_path / "straight", steps), "slurm", 1, time_min=10, cpus_per_task=1).results()[0]
    out = tmp_path / "interrupted"
    job = launch.submit(config(out, steps), "slurm", 1, time_min=10, cpus_per_task=1)
    deadline = time.time() + 240
    while not any(out.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:  # a complete one
        time.sleep(0.2)
    assert any(out.glob("checkpoint-*/trainer_state.json")), "no checkpoint appeared"
    job._interrupt()  # the preemption signal: submitit calls checkpoint(), SLURM requeues the job
    job.results()
    s = json.loads((out / "train_summary.json").read_text())
    assert s["resumed_from"] and "checkpoint-" in s["resumed_from"] and s["global_step"] == steps
    assert s["losses"][-1] == pytest.approx(baseline["losses"][-1], rel=0.05)  # same data order, same end point
    states = subprocess.run(["sacct", "-n", "-X", "-j", str(job.job_id).split("_")[0], "-D", "-o", "State"],
                            capture_output=True, text=True).stdout.split()
    assert "REQUEUED" in states
