"""The tiny training on a real SLURM cluster (controller + 2 simulated nodes on 127.0.0.1, brought up by
.ci/slurm.sh): one gloo rank per node, and an interrupt that requeues and resumes from the last checkpoint."""
import json
import shutil
import subprocess
import time

import pytest

from ainkit.pipelines import launch
from ainkit.stages.train.trainer import load_config
from helpers import cli


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
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(bool(REASON), reason=REASON)]


def config(out, steps):
    return load_config("configs/train/tiny.yaml", [f"max_steps={steps}", "save_steps=10", "nodes=2", "gpus_per_node=0"],
                       output_dir=str(out))


def test_cli_two_nodes_one_gloo_rank_each(tmp_path):
    from pathlib import Path

    proc = cli("train", "--config", "configs/train/tiny.yaml", "--executor", "slurm", "--nodes", "2",
               "--gpus-per-node", "0", "--set", "max_steps=20", "--output-dir", str(tmp_path / "run"), "--time-min",
               "10", "--cpus-per-task", "1", timeout=600, cwd=Path(__file__).resolve().parent.parent)
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


def test_curate_four_shards_on_two_nodes_interrupted_task_same_bytes(tmp_path, monkeypatch):
    """`ainkit curate --executor slurm --shards 4`: an array of 4 tasks over the 2 nodes, one preempted part-way
    (requeued, resumed from its journals), a dependent merge; the merged files equal an uninterrupted local run's."""
    from pathlib import Path

    from ainkit.pipelines import curate
    from fault_server import spawn

    root = Path(__file__).resolve().parent.parent
    chats = root / "ainkit" / "data" / "curate" / "chats.jsonl"
    proc, port = spawn(0.5)  # slow answers: the interrupt lands while a task is still translating
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")  # sbatch passes the environment on
    monkeypatch.setenv("OPENAI_API_KEY", "sk-slurm-test")
    try:
        cfg = curate.load_config(root / "configs" / "curate" / "tiny.yaml",
                                 ["translate.model=openai:fake", "back_translate.model=openai:fake",
                                  "verify.thresholds={similarity: -1, bleu4: 0}", "slurm.array_parallelism=4",
                                  "slurm.cpus_per_task=1", "slurm.time_min=15"], shards=4)
        local = curate.run(cfg, chats, tmp_path / "local", cache_dir=str(tmp_path / "cache-local"))
        run = curate.prepare(cfg, chats, tmp_path / "slurm")
        jobs, merge_job = curate.submit_slurm(run, str(tmp_path / "cache-slurm"))
        assert len(jobs) == 4
        done = curate.Run.open(tmp_path / "local")
        victim = max(range(4), key=lambda i: done.progress(i)["steps"]["translate"]["read"])  # the busiest shard
        journal = run.output(victim, "translate").with_name(run.output(victim, "translate").name + ".journal")
        deadline = time.time() + 300
        while not (journal.is_file() and journal.stat().st_size > 0) and time.time() < deadline:
            time.sleep(0.1)
        assert journal.is_file(), "the task never started translating"
        jobs[victim]._interrupt()  # preemption: SIGTERM then USR2; submitit requeues the task
        summary = curate.wait(jobs, merge_job, poll=1)
    finally:
        proc.terminate()
    assert summary["records"] == local["records"]
    for name in ("kept.jsonl", "rejects.jsonl", "funnel.json", "export/ain_curated.jsonl"):
        assert (tmp_path / "slurm" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    base = str(jobs[0].job_id).split("_")[0]
    acct = subprocess.run(["sacct", "-n", "-X", "-j", base, "-D", "-o", "JobID%20,State,NodeList"], capture_output=True,
                          text=True).stdout
    assert "REQUEUED" in acct, acct
    assert {"n1", "n2"} <= set(acct.split()), acct  # the array ran on both nodes

