"""Training: the collator masks every non-assistant token, bad records are rejected with reasons, the tiny Qwen2-VL
trains on CPU with 2 gloo ranks under submitit's LocalExecutor (loss down, identical weights), and resumes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ainkit.services import qwen2vl, tiny
from ainkit.stages.train import data
from ainkit.stages.train.trainer import load_config
from helpers import cli


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("tiny") / "qwen2vl")


@pytest.fixture(scope="module")
def encoder(tiny_model):
    from transformers import AutoTokenizer

    return qwen2vl.Encoder(AutoTokenizer.from_pretrained(tiny_model), max_pixels=128 * 128)


def test_collator_masks_every_non_assistant_token(encoder, tmp_path):
    Image.new("RGB", (64, 48), (10, 200, 10)).save(tmp_path / "g.png")
    rec = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>\nWhat colour?"},
                        {"role": "assistant", "content": "أخضر"}, {"role": "user", "content": "Sure?"},
                        {"role": "assistant", "content": "Yes, green."}], "images": ["g.png"]}
    ex = encoder.encode(rec, tmp_path)
    batch = encoder.collate([ex, encoder.encode({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})])
    tok = encoder.tok
    learned = [t for t, l in zip(batch["input_ids"][0].tolist(), batch["labels"][0].tolist()) if l != -100]
    assert tok.decode(learned) == "أخضر<|im_end|>Yes, green.<|im_end|>"
    n_pad = int((batch["input_ids"][0] == tok.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert n_pad == int(ex["image_grid_thw"][0].prod()) // 4 and batch["mm_token_type_ids"][0].sum() == n_pad
    assert batch["labels"][1][batch["attention_mask"][1] == 0].eq(-100).all()  # padding never learned


@pytest.mark.parametrize("rec, reason", [
    ({"messages": [{"role": "user", "content": "<image> hi"}, {"role": "assistant", "content": "x"}], "images": []}, "1 <image> placeholder(s) but 0 image(s)"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], "images": ["a.png"]}, "0 <image> placeholder(s) but 1 image(s)"),
    ({"messages": [{"role": "user", "content": "<image>"}, {"role": "assistant", "content": "x"}], "images": ["missing.png"]}, "cannot be read"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant turn"),
    ({"text": "not a chat"}, "no 'messages' list"),
])
def test_bad_records_rejected_with_reasons(encoder, rec, reason, tmp_path):
    with pytest.raises(qwen2vl.RecordProblem, match=reason.replace("(", r"\(").replace(")", r"\)")):
        encoder.encode(rec, tmp_path)


def test_config_layers(tmp_path):
    cfg = load_config("configs/train/ain_7b.yaml", ["learning_rate=2e-5"], output_dir=str(tmp_path))
    assert cfg.learning_rate == 2e-5 and cfg.epochs == 1 and cfg.deepspeed.endswith("ds_z3.json") and cfg.output_dir == str(tmp_path)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        load_config(None, ["nonsense"])


def train_cli(out, *extra):
    return cli("train", "--config", "configs/train/tiny.yaml", "--output-dir", str(out), "--executor", "local",
               "--tasks", "2", *extra, timeout=600, cwd=Path(__file__).resolve().parent.parent)


def test_two_gloo_ranks_train_resume_and_agree(tmp_path):
    out = tmp_path / "run"
    proc = train_cli(out, "--set", "max_steps=12", "--set", "save_steps=6")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = json.loads((out / "train_summary.json").read_text())
    assert s["world_size"] == 2 and s["global_step"] == 12
    assert sum(s["losses"][-3:]) / 3 < sum(s["losses"][:3]) / 3  # the loss goes down
    c0, c1 = (float((out / f"rank{r}.checksum").read_text()) for r in (0, 1))
    assert c0 == c1  # both ranks hold identical weights
    cfg = (out / "config.yaml").read_text()
    assert "git_commit" in cfg and "world_size: 2" in cfg
    # a second run with more steps resumes from the last checkpoint (optimizer, scheduler, data position)
    proc = train_cli(out, "--set", "max_steps=18", "--set", "save_steps=6")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s2 = json.loads((out / "train_summary.json").read_text())
    assert s2["resumed_from"].endswith("checkpoint-12") and s2["global_step"] == 18


def test_rerun_of_a_finished_run_is_a_no_op(tmp_path):
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "run"

    def train(max_steps):
        proc = cli("train", "--config", "configs/train/tiny.yaml", "--executor", "debug", "--output-dir", str(out),
                   "--set", f"max_steps={max_steps}", "--set", "save_steps=2", timeout=600, cwd=root)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def files():
        return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and "submitit" not in p.parts}

    train(3)
    first = json.loads((out / "train_summary.json").read_text())
    assert first["global_step"] == 3
    before = files()
    assert {p.parent.name for p in before if p.name == "trainer_state.json"} == {"checkpoint-2", "checkpoint-3"}
    for max_steps in (3, 2):  # the same run again, or one asking for fewer steps: nothing trained, nothing written or deleted
        assert "already finished at step 3; nothing to do" in train(max_steps)
        assert files() == before
    (out / "train_summary.json").unlink()  # as if killed after its last checkpoint: that checkpoint's log stands in
    assert "already finished at step 3" in train(3)
    assert not (out / "train_summary.json").exists() and not (out / "checkpoint-4").exists()
    # killed while saving checkpoint-4 (the Trainer writes trainer_state.json last): resume from checkpoint-3, not from it
    partial = out / "checkpoint-4"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    log = train(5)
    assert "checkpoint-4 is incomplete" in log
    s = json.loads((out / "train_summary.json").read_text())
    assert s["resumed_from"].endswith("checkpoint-3") and s["global_step"] == 5
    assert (partial / "trainer_state.json").is_file() and (partial / "model.safetensors").is_file()


def test_zero3_config_is_accepted_by_deepspeed_on_cpu():
    code = r'''
import json, os
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29561", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
from transformers import TrainingArguments
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig
args = TrainingArguments(output_dir="/tmp/ainkit-ds-check", per_device_train_batch_size=1, gradient_accumulation_steps=2, use_cpu=True, report_to=[])
hf = HfTrainerDeepSpeedConfig(json.load(open("configs/deepspeed/ds_z3.json")))
hf.trainer_config_process(args)
import deepspeed.comm as dist
dist.init_distributed(dist_backend="gloo")
from deepspeed.runtime.config import DeepSpeedConfig
d = DeepSpeedConfig(hf.config)
print("stage", d.zero_optimization_stage, "micro", d.train_micro_batch_size_per_gpu, "accum", d.gradient_accumulation_steps)
'''
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "stage 3 micro 1 accum 2" in proc.stdout


def test_dry_run_prints_script_config_and_memory_and_submits_nothing(tmp_path):
    """The report's 8 x 8 launch: a time limit from the plan (not 60 min), CPUs and memory for GPU ranks, and not one
    file written, the default runs/train/submitit under the current folder included."""
    import math
    import os

    from ainkit.pipelines import launch
    from ainkit.stages.train.plan import Assumptions, compute_budget

    root = Path(__file__).resolve().parent.parent
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    records = tmp_path / "ain_curated.jsonl"
    records.write_bytes(b"{}\n" * 3_600_000)  # the report's 3.6 M samples (only counted by the plan)
    proc = cli("train", "--config", str(root / "configs/train/ain_7b.yaml"), "--executor", "slurm", "--nodes", "8",
               "--gpus-per-node", "8", "--set", f"data={records}", "--dry-run", timeout=120, cwd=cwd,
               env={"PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"3,600,000 records in {records}" in out
    hours = compute_budget(Assumptions(gpus=64))["wall-clock hours"]
    minutes = math.ceil(hours * 60 * launch.TIME_MARGIN) + launch.STARTUP_MIN
    assert 5 * 60 < hours * 60 < minutes
    for needle in ("#SBATCH --nodes=8", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8", "#SBATCH --signal=USR2@120",
                   f"#SBATCH --time={minutes}\n", f"#SBATCH --cpus-per-task={launch.GPU_TASK_CPUS}\n",
                   f"#SBATCH --mem={8 * launch.GPU_TASK_MEM_GB}GB\n", f"plan {hours:.2f} h x {launch.TIME_MARGIN:g} margin",
                   "22.5% MFU (lmms-engine's padded Qwen2.5-VL-7B anchor",
                   f"--output={cwd / 'runs/train/submitit'}/", "learning_rate: 1.0e-05",
                   f"deepspeed: {root / 'configs/deepspeed/ds_z3.json'}", "per-GPU memory estimate", "total"):
        assert needle in out, needle
    assert not list(cwd.rglob("*"))  # nothing written, nothing submitted


def test_lazy_records_check_equals_the_encoding_and_rejects_by_line(encoder, tmp_path):
    """The check before training (no pixels decoded) counts exactly the tokens the encoding makes, for images of
    any size, and refuses what the encoding would refuse, by line; examples come back encoded on demand."""
    from PIL import Image

    sizes = [(32, 32), (757, 333), (1200, 40), (64, 900), (3000, 2000)]
    recs = []
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), (i * 40, 90, 200)).save(tmp_path / f"im{i}.png")
        recs.append({"id": f"r{i}", "messages": [{"role": "user", "content": f"<image>What is shown {i}?"},
                                                   {"role": "assistant", "content": "A coloured rectangle."}],
                     "images": [f"im{i}.png"]})
    recs.insert(2, {"id": "bad", "messages": [{"role": "user", "content": "<image>Q"}, {"role": "assistant", "content": "A"}],
                    "images": []})
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs[:4]) + "\n{torn\n" + "\n".join(json.dumps(r) for r in recs[4:]) + "\n")
    rejects = []
    ds = data.LazyRecords(path, encoder, rejects.append)
    assert len(ds) == 5
    assert [(r["line"], r["reasons"][0][:20]) for r in rejects] == [(3, "1 <image> placeholde"), (5, "malformed JSON (Expe")]
    encoded = [ds[i] for i in range(len(ds))]
    assert ds.tokens == sum(len(e["input_ids"]) for e in encoded)
    for e, rec in zip(encoded, [r for r in recs if r["id"] != "bad"]):
        direct = encoder.encode(rec, tmp_path)
        assert e["input_ids"] == direct["input_ids"] and e["labels"] == direct["labels"]
        assert e["pixel_values"].equal(direct["pixel_values"])
        assert encoder.encode(rec, tmp_path, pixels=False)["tokens"] == len(direct["input_ids"])
    path.write_text(path.read_text() + "\n")  # edited after the check: refused, not read at the wrong offsets
    fresh = data.LazyRecords(path, encoder, [].append)
    path.write_text(path.read_text() + json.dumps(recs[0]) + "\n")
    with pytest.raises(qwen2vl.RecordProblem, match="changed since it was checked"):
        fresh[0]


def _train_in(cwd, *args, timeout=300):
    """`ainkit train ARGS` run from `cwd` (the kit on PYTHONPATH), as a user in their own folder runs it."""
    import os

    root = Path(__file__).resolve().parent.parent
    return cli("train", *map(str, args), timeout=timeout, cwd=cwd, env={"PYTHONPATH": str(root)})


@pytest.mark.parametrize("case, sets, needles", [
    ("typo", ["data=typo.jsonl"], ["data=typo.jsonl", "no such file", "--set data="]),
    ("folder", ["data=records"], ["data=records", "is a folder", "--set data="]),
    ("empty", ["data=empty.jsonl"], ["data=empty.jsonl", "empty", "--set data="]),
    ("deepspeed", ["data=good.jsonl", "deepspeed=ds_missing.json"], ["deepspeed=ds_missing.json", "no such file",
                                                                      "--set deepspeed="]),
    ("deepspeed-not-json", ["data=good.jsonl", "deepspeed=notes.txt"], ["deepspeed=notes.txt", "not valid JSON"]),
    ("model", ["data=good.jsonl", "model=checkpoints/run1/checkpoint-500"], ["model=checkpoints/run1/checkpoint-500",
                                                                              "no such folder", "--set model="]),
    ("both", ["data=typo.jsonl", "deepspeed=ds_missing.json"], ["data=typo.jsonl", "deepspeed=ds_missing.json"]),
])
@pytest.mark.parametrize("launch", ["slurm-dry-run", "local"])
def test_missing_or_unusable_files_are_exit_2_before_anything_is_built_or_planned(tmp_path, case, sets, needles, launch):
    """A data file, DeepSpeed config or model folder that is not there is a user error (exit 2, naming the setting and
    the option) on the dry run as on a real launch: nothing planned, submitted, built or written."""
    cwd = tmp_path / "work"
    (cwd / "records").mkdir(parents=True)
    (cwd / "empty.jsonl").write_text("")
    (cwd / "notes.txt").write_text("zero_optimization: stage 3\n")
    (cwd / "good.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    before = sorted(cwd.rglob("*"))
    root = Path(__file__).resolve().parent.parent
    preset = root / "configs/train" / ("ain_7b.yaml" if launch == "slurm-dry-run" else "tiny.yaml")
    extra = ["--executor", "slurm", "--dry-run"] if launch == "slurm-dry-run" else ["--executor", "local", "--tasks", "2"]
    proc = _train_in(cwd, "--config", preset, *[a for s in sets for a in ("--set", s)], *extra)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert all(n in proc.stderr for n in needles), proc.stderr
    assert "Traceback" not in proc.stderr and "#SBATCH" not in proc.stdout and "submitted" not in proc.stdout
    assert sorted(cwd.rglob("*")) == before  # no run folder, no submitit folder, no model


def test_data_with_no_record_that_can_train_is_refused_before_the_model_loads(tmp_path):
    """Every record rejected: exit 2 with the count and where the reasons are, the rejects written, no training."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "bad.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n{torn\n")
    proc = _train_in(cwd, "--config", Path(__file__).resolve().parent.parent / "configs/train/tiny.yaml", "--executor",
                     "debug", "--output-dir", "run", "--set", "data=bad.jsonl", "--set", "max_steps=1", timeout=600)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "data=bad.jsonl: no record can train (2 rejected; reasons in run/rejects.jsonl)" in proc.stderr
    assert len((cwd / "run" / "rejects.jsonl").read_text().splitlines()) == 2
    assert not list((cwd / "run").glob("checkpoint-*")) and not (cwd / "run" / "train_summary.json").exists()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_export_accepts_exactly_the_images_the_trainer_decodes(encoder, tmp_path, fmt):
    """export's image check (also curate's) and the trainer's encoding agree on every cut of an image file: what
    export keeps, training decodes; a file cut to 60 bytes passes neither."""
    from ainkit.pipelines.export import image_problem

    whole = tmp_path / f"whole.{fmt.lower()}"
    Image.effect_noise((96, 64), 70).convert("RGB").save(whole, format=fmt)
    data_bytes = whole.read_bytes()
    sizes = sorted({60, 200, len(data_bytes) // 3, len(data_bytes) // 2, len(data_bytes) - 40, len(data_bytes) - 2,
                    len(data_bytes)})
    for size in sizes:
        path = tmp_path / f"cut{size}.{fmt.lower()}"
        path.write_bytes(data_bytes[:size])
        rec = {"messages": [{"role": "user", "content": "<image>?"}, {"role": "assistant", "content": "!"}],
               "images": [path.name]}
        try:
            encoder.encode(rec, tmp_path)
            trains = True
        except qwen2vl.RecordProblem:
            trains = False
        problem = image_problem(path, path.name)
        assert (problem == "") == trains, (size, len(data_bytes), problem, trains)
        if size == 60:
            assert problem and not trains


def test_liger_refusal_names_everything_missing():
    """liger=true without the package, triton or CUDA: one error naming each, and the way out (liger=false)."""
    from ainkit.ground.errors import UserError
    from ainkit.stages.train import liger

    present = lambda name: object()  # noqa: E731  (every package importable)
    assert liger.missing(cuda=True, find=present) == []
    liger.require(cuda=True, find=present)
    assert [m.split(" (")[0] for m in liger.missing(cuda=False, find=present)] == ["a CUDA device"]
    absent = liger.missing(cuda=False, find=lambda name: None)
    assert [m.split(" (")[0] for m in absent] == ["the liger-kernel package", "triton", "a CUDA device"]
    assert f"pip install liger-kernel=={liger.VERSION}" in absent[0]
    with pytest.raises(UserError, match=r"liger=true needs the liger-kernel package .*a CUDA device.*--set liger=false"):
        liger.require(cuda=False, find=lambda name: None)


def test_liger_on_a_machine_without_it_is_refused_before_anything_is_built(tmp_path):
    """`--set liger=true` here (no liger-kernel in the CPU install, no CUDA): exit 2 naming what is missing; no model
    built, nothing trained without the kernels it was asked for."""
    import importlib.util

    cwd = tmp_path / "work"
    cwd.mkdir()
    proc = _train_in(cwd, "--config", Path(__file__).resolve().parent.parent / "configs/train/tiny.yaml", "--executor",
                     "debug", "--output-dir", "run", "--set", "liger=true", "--set", "max_steps=1")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "liger=true needs" in proc.stderr and "Traceback" not in proc.stderr
    if importlib.util.find_spec("liger_kernel") is None:
        assert "pip install liger-kernel==" in proc.stderr and "--set liger=" in proc.stderr
        assert not (cwd / "run").exists()  # refused by check_inputs, before submitit writes its folder
    else:  # installed on a CPU machine: refused where the job starts, before the model is built
        assert "a CUDA device" in proc.stderr
    assert not (cwd / "run" / "tiny-model").exists() and not list(cwd.rglob("checkpoint-*"))


def test_a_true_false_setting_refuses_anything_else():
    from ainkit.stages.train.trainer import load_config

    assert load_config("configs/train/tiny.yaml", ["packing=yes", "liger=off"]).packing is True
    with pytest.raises(ValueError, match="packing='maybe': expected true or false"):
        load_config("configs/train/tiny.yaml", ["packing=maybe"])  # trained packed before: 'maybe' is truthy
