"""Full-parameter fine-tuning of Qwen2-VL with the Hugging Face Trainer (DeepSpeed ZeRO-3 on GPUs, gloo on CPU).

    ainkit train --config configs/train/tiny.yaml --executor local --tasks 2     # CPU trial, 2 gloo ranks
    ainkit train --config configs/train/ain_7b.yaml --executor slurm             # the report's 8 x 8 run

Configuration in layers: the dataclass defaults, a preset (configs/train/*.yaml), then
`--set key=value`; the merged configuration and the git commit are written beside the run.
Attention: flash_attention_2 when flash-attn imports on a CUDA machine, else sdpa (logged).
`packing=true` fills each row with several samples up to cutoff_len (ainkit.stages.train.packing: per-sample
M-RoPE positions, no attention across samples, the same loss as padded); per_device_batch then counts rows.
`liger=true` puts Liger's Triton kernels on the language model (ainkit.stages.train.liger; needs liger-kernel and a
CUDA device, refused at start without them, never trained without them silently).
Checkpoints every `save_steps` hold model, optimizer, scheduler and RNG state; a re-run (or a
requeued job) resumes from the last one with the same data order and stops at max_steps. A re-run
of a run whose last checkpoint already reached its last step (max_steps, or the steps its epochs
make, as the Trainer counts them) trains and writes nothing: it says so and returns the earlier
summary with "already_done": true.
Before anything is built, planned or submitted (`check_inputs`, also run by ainkit.pipelines.launch): the data
file, the DeepSpeed config and a local model folder must exist and be readable (exit 2 naming the
setting); the data is then checked record by record before the model is built, and a data set with
no record that can train is refused.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ainkit.ground import atomic, redact
from ainkit.ground.errors import UserError
from ainkit.ground.paths import ROOT
from ainkit.ground.provenance import git_commit
from ainkit.services.chat import MAX_PIXELS, MIN_PIXELS


@dataclass
class TrainConfig:
    model: str = "tiny"
    data: str = "sample"
    output_dir: str = "runs/train"
    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 1e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    per_device_batch: int = 1
    gradient_accumulation: int = 2
    cutoff_len: int = 2048
    bf16: bool = True
    gradient_checkpointing: bool = True
    freeze_vision_tower: bool = True
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    deepspeed: str | None = None
    attention: str = "auto"
    packing: bool = False  # several samples a row up to cutoff_len, none seeing another (ainkit.stages.train.packing)
    liger: bool = False    # Liger's Triton kernels (RMSNorm, SwiGLU, rope, fused cross-entropy): GPU only (ainkit.stages.train.liger)
    save_steps: int = 500
    logging_steps: int = 10
    seed: int = 42
    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int | None = None      # per task (one per GPU); None: ainkit.pipelines.launch's default (8 a GPU rank, 2 a CPU rank)
    mem_gb_per_task: float | None = None  # host GB per task; None: ainkit.pipelines.launch's default (48 a GPU rank, the cluster's for CPU)


BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def load_config(preset: str | None = None, overrides: list[str] | None = None, **kw: Any) -> TrainConfig:
    """Defaults <- preset YAML <- 'key=value' overrides (ainkit.services.config) <- keyword arguments. A relative
    `deepspeed` path not found in the current folder is taken from the kit's own folder (the presets name
    configs/deepspeed/*.json)."""
    from ainkit.services.config import layered

    names = {f.name: f for f in fields(TrainConfig)}
    values = layered({f.name: f.default for f in fields(TrainConfig)}, preset, overrides,
                     presets="configs/train/tiny.yaml, configs/train/ain_7b.yaml", example="max_steps=12")
    unknown = set(kw) - set(names)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}")
    values.update({k: v for k, v in kw.items() if v is not None})
    for key, value in values.items():  # YAML reads 2e-5 as a string: cast to the declared type
        kind = str(names[key].type)
        try:
            if kind == "float" and value is not None:
                values[key] = float(value)
            elif kind == "int" and value is not None:
                values[key] = int(value)
            elif kind == "bool" and not isinstance(value, bool):
                values[key] = BOOLEANS[str(value).strip().lower()]
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"{key}={value!r}: expected {'true or false' if kind == 'bool' else kind}") from None
    ds = values.get("deepspeed")  # a preset's configs/deepspeed/... is the kit's file, wherever the command runs
    if isinstance(ds, str) and not os.path.isabs(ds) and not Path(ds).exists() and (ROOT / ds).is_file():
        values["deepspeed"] = str(ROOT / ds)
    return TrainConfig(**values)


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # "Qwen/Qwen2-VL-7B-Instruct": fetched from the hub, not a local folder


def check_inputs(cfg: TrainConfig) -> None:
    """Refuse (UserError, exit 2) a run whose files are missing or unusable, before a model is built or a job planned:
    the data file, the DeepSpeed config, a local model folder, an output folder that is a file, and liger=true without
    liger-kernel installed."""
    problems = []

    def readable_file(key: str, value: str, what: str) -> Path | None:
        path = Path(value).expanduser()
        shown = f"{key}={value} ({path.absolute()})"
        if path.is_dir():
            problems.append((key, f"{shown}: is a folder, expected {what}"))
        elif not path.is_file():
            problems.append((key, f"{shown}: no such file; expected {what}"))
        elif not os.access(path, os.R_OK):
            problems.append((key, f"{shown}: not readable"))
        else:
            return path
        return None

    if cfg.data != "sample":
        path = readable_file("data", cfg.data, "the JSON Lines records `ainkit export` writes (OUTPUT/ain_curated.jsonl)")
        if path is not None and path.stat().st_size == 0:
            problems.append(("data", f"data={cfg.data}: the file is empty (no record to train on)"))
    if cfg.deepspeed:
        path = readable_file("deepspeed", cfg.deepspeed, "a DeepSpeed JSON config (e.g. configs/deepspeed/ds_z3.json)")
        if path is not None:
            try:
                if not isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
                    problems.append(("deepspeed", f"deepspeed={cfg.deepspeed}: not a JSON object"))
            except (ValueError, OSError) as exc:
                problems.append(("deepspeed", f"deepspeed={cfg.deepspeed}: not valid JSON ({exc})"))
    if cfg.model != "tiny":
        path = Path(cfg.model).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                problems.append(("model", f"model={cfg.model}: a local path without config.json; expected a model folder "
                                "(save_pretrained) or a hub id such as Qwen/Qwen2-VL-7B-Instruct"))
        elif not HUB_ID.fullmatch(cfg.model) or cfg.model.startswith((".", "~")):
            problems.append(("model", f"model={cfg.model} ({path.absolute()}): no such folder, and not a hub id such as "
                            "Qwen/Qwen2-VL-7B-Instruct"))
    if cfg.liger:  # the packages here (a SLURM job runs this same interpreter); CUDA is checked where the job starts
        from ainkit.stages.train import liger

        problems += [("liger", f"liger=true needs {m}") for m in liger.missing(cuda=True)]
    out = Path(cfg.output_dir).expanduser()
    if out.exists() and not out.is_dir():
        problems.append(("output_dir", f"output_dir={cfg.output_dir}: is a file; expected the run folder"))
    if problems:
        keys = dict.fromkeys(k for k, _ in problems)
        raise UserError("; ".join(m for _, m in problems) + " (give " + ", ".join(
            "--output-dir DIR" if k == "output_dir" else f"--set {k}=..." for k in keys) + ", or fix the preset)")


def attention_implementation(requested: str = "auto") -> str:
    """flash_attention_2 where flash-attn imports on CUDA, else sdpa."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def sample_records(n: int = 64) -> list[dict[str, Any]]:
    """Chat records for the CPU trial: the kit's bilingual samples as text turns, every fourth with a drawn image."""
    from PIL import Image

    from ainkit.ground.paths import CACHE
    from ainkit.services.records import load_samples

    img_dir = CACHE / "train_sample_images"
    img_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, s in enumerate(load_samples()[:n]):
        rec = {"id": s["id"], "messages": [{"role": "user", "content": f"Translate into Arabic: {s['en']}"},
                                           {"role": "assistant", "content": s["ar"]}]}
        if i % 4 == 0:
            path = img_dir / f"{s['id']}.png"
            if not path.exists():
                Image.new("RGB", (56 + 8 * (i % 3), 56), ((37 * i) % 255, (91 * i) % 255, (53 * i) % 255)).save(path)
            rec["messages"][0]["content"] = "<image>\n" + rec["messages"][0]["content"]
            rec["images"] = [str(path)]
        out.append(rec)
    return out


def load_model(cfg: TrainConfig, source: Any, attn: str):
    """The model as training wants it: from a path, or a Qwen2VLConfig (random weights, built on the training device);
    the vision tower frozen when cfg.freeze_vision_tower.

    Weights are bf16 only under DeepSpeed, which keeps fp32 master weights for the optimizer. Without it they stay
    fp32 and cfg.bf16 means bf16 autocast: AdamW on bf16 weights has no master copy, and at lr 1e-5 an update is
    below bf16's rounding step for any weight above about 2.6e-3 (most weights would never change).
    """
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if (cfg.bf16 and cuda and cfg.deepspeed) else torch.float32
    if isinstance(source, (str, Path)):
        model = Qwen2VLForConditionalGeneration.from_pretrained(source, attn_implementation=attn, dtype=dtype)
    else:
        with torch.device("cuda" if cuda else "cpu"):  # initialised where it trains: seconds, not minutes, for 2 B
            model = Qwen2VLForConditionalGeneration._from_config(source, attn_implementation=attn, dtype=dtype)
    if cfg.freeze_vision_tower:
        visual = getattr(model, "visual", None) or getattr(getattr(model, "model", None), "visual", None)
        if visual is not None:
            visual.requires_grad_(False)
    return model


def patch_liger(cfg: TrainConfig, model) -> dict[str, int] | None:
    """Liger's kernels on `model` when cfg.liger (refused, naming what is missing, without liger-kernel or CUDA)."""
    if not cfg.liger:
        return None
    import torch

    from ainkit.stages.train import liger

    liger.require(torch.cuda.is_available())
    return liger.apply(model, deepspeed=bool(cfg.deepspeed))


def build_trainer(cfg: TrainConfig, model, examples: list[dict[str, Any]], collate, world: int = 1, callbacks=None,
                  tokenizer=None, **arg_overrides: Any):
    """The Hugging Face Trainer as `train` runs it; `arg_overrides` (TrainingArguments fields) only for checks such as
    bench/gpu_check.py, which must not write checkpoints. The tokenizer is saved with every checkpoint, so a
    checkpoint can be evaluated on its own (ainkit.stages.evaluate.local_vlm)."""
    import torch
    from transformers import Trainer, TrainingArguments

    cuda = torch.cuda.is_available()
    args = TrainingArguments(**{
        "output_dir": str(Path(cfg.output_dir)), "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps,
        "learning_rate": cfg.learning_rate, "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": float(cfg.warmup_ratio), "weight_decay": cfg.weight_decay,  # a float < 1 is a ratio
        "per_device_train_batch_size": cfg.per_device_batch, "gradient_accumulation_steps": cfg.gradient_accumulation,
        "bf16": cfg.bf16 and cuda, "gradient_checkpointing": cfg.gradient_checkpointing,
        "deepspeed": cfg.deepspeed if cuda else None, "save_steps": cfg.save_steps, "save_total_limit": 2,
        "logging_steps": cfg.logging_steps, "seed": cfg.seed, "data_seed": cfg.seed, "report_to": [],
        "remove_unused_columns": False, "dataloader_num_workers": 0, "use_cpu": not cuda,
        "ddp_backend": ("nccl" if cuda else "gloo") if world > 1 else None, "disable_tqdm": True, **arg_overrides})
    # the tokenizer (processing_class) is saved with every checkpoint, so a checkpoint evaluates on its own
    return Trainer(model=model, args=args, train_dataset=examples, data_collator=collate, callbacks=callbacks,
                   processing_class=tokenizer)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) one training job in this process; every rank calls it. Returns the log summary."""
    import torch
    import torch.distributed as dist
    from transformers import AutoTokenizer

    from ainkit.services import tiny
    from ainkit.services.qwen2vl import Encoder, RecordProblem
    from ainkit.stages.train.data import LazyRecords

    check_inputs(cfg)
    cuda = torch.cuda.is_available()
    if cfg.liger:
        from ainkit.stages.train import liger

        liger.require(cuda)
    out = Path(cfg.output_dir)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    model_path = cfg.model
    if cfg.model == "tiny":
        model_path = str(out / "tiny-model")
        if rank == 0 and not (Path(model_path) / "config.json").exists():
            tiny.build(model_path, seed=cfg.seed)
    if world > 1:
        dist.barrier()
    attn = attention_implementation(cfg.attention)
    tok = AutoTokenizer.from_pretrained(model_path)  # the data is checked before the model is built
    enc = Encoder(tok, cfg.min_pixels, cfg.max_pixels, cfg.cutoff_len)
    # rejects stream to a temp file (rank 0), which becomes rejects.jsonl only when this run trains
    staged = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out, prefix=".rejects-", suffix=".jsonl",
                                         delete=False) if rank == 0 else None
    rejected = [0]

    def reject(entry: dict[str, Any]) -> None:
        rejected[0] += 1
        if staged is not None:
            staged.write(redact.scrub(json.dumps(entry, ensure_ascii=False)) + "\n")

    try:
        if cfg.data == "sample":  # the CPU trial's 64 records: small enough to hold
            examples: Any = []
            for rec in sample_records():
                try:
                    examples.append(enc.encode(rec))
                except RecordProblem as exc:
                    reject({"id": rec.get("id"), "reasons": [str(exc)]})
            lengths: Any = [len(e["input_ids"]) for e in examples]
            tokens = sum(lengths)
        else:  # checked now, encoded when the Trainer asks: memory flat in the number of records
            examples = LazyRecords(cfg.data, enc, reject)
            tokens, lengths = examples.tokens, examples.lengths
    except BaseException:
        if staged is not None:
            staged.close()
            os.unlink(staged.name)
        raise
    if staged is not None:
        staged.close()
    if not len(examples):
        if staged is not None:
            os.replace(staged.name, out / "rejects.jsonl")
        raise UserError(f"data={cfg.data}: no record can train ({rejected[0]} rejected"
                        + (f"; reasons in {out / 'rejects.jsonl'})" if rank == 0 else ")"))
    last, partial = checkpoints(out)
    # the weights of the checkpoint resumed from: transformers 5's Trainer reads a checkpoint's legacy key names
    # (visual.*, model.layers.*) without from_pretrained's mapping and loads none of them (its "missing keys" warning);
    # under DeepSpeed the engine restores them from global_step*/ instead
    resume_weights = last is not None and not (cfg.deepspeed and torch.cuda.is_available())
    model = load_model(cfg, last if resume_weights else model_path, attn)
    kernels = patch_liger(cfg, model)
    samples, collate = len(examples), enc.collate
    if cfg.packing:
        from ainkit.stages.train.packing import Packed, PackedCollate

        examples, collate = Packed(examples, lengths, cfg.cutoff_len), PackedCollate(enc)
    trainer = build_trainer(cfg, model, examples, collate, world, tokenizer=tok)
    max_steps = trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]  # as the Trainer counts
    done = finished_summary(out, last, max_steps, world_size=world, attention=attn)
    if done is not None:
        if staged is not None:
            os.unlink(staged.name)
        if rank == 0:
            print(f"[train] {out} already finished at step {done['global_step']} (max_steps {max_steps}); nothing to do", flush=True)
        return done
    if rank == 0:
        for path in partial:  # killed while saving: the Trainer rewrites it when it gets there again
            print(f"[train] {path.name} is incomplete (no trainer_state.json: the run stopped while saving it); removed", flush=True)
            shutil.rmtree(path)
        atomic.write_text(out / "config.yaml", yaml.safe_dump({**asdict(cfg), "git_commit": git_commit(), "world_size": world}))
        os.replace(staged.name, out / "rejects.jsonl")
        print(f"[train] {samples} examples" + (f" in {len(examples)} packed rows" if cfg.packing else "")
              + f", {rejected[0]} rejected; attention {attn}; world size {world}; "
              + (f"Liger kernels {kernels}; " if kernels else "") + 
              f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters", flush=True)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    seconds = time.time() - t0
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))  # equal on every rank after DDP steps
    atomic.write_text(out / f"rank{rank}.checksum", f"{checksum!r}\n")
    summary = {"resumed_from": last, "global_step": trainer.state.global_step, "train_loss": result.training_loss,
               "seconds": round(seconds, 2), "world_size": world, "attention": attn,
               "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
               "steps": [h["step"] for h in trainer.state.log_history if "loss" in h],
               "tokens_per_epoch": tokens, "examples": samples, "rows": len(examples), "rejected": rejected[0]}
    if rank == 0:
        atomic.write_json(out / "train_summary.json", summary)
    return summary


def checkpoints(out: Path) -> tuple[str | None, list[Path]]:
    """(the newest complete checkpoint or None, the incomplete ones newer than it).

    The Trainer writes trainer_state.json last, so a checkpoint without it was cut off while saving
    (a preemption or a kill): resuming from it fails, and transformers' get_last_checkpoint would pick it.
    """
    found = sorted((int(m.group(1)), p) for p in (out.glob("checkpoint-*") if out.is_dir() else [])
                   if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    partial = []
    for _, path in reversed(found):
        if (path / "trainer_state.json").is_file():
            return str(path), partial
        partial.append(path)
    return None, partial


def finished_summary(out: Path, last: str | None, max_steps: int, **now: Any) -> dict[str, Any] | None:
    """The earlier run's summary, with "already_done": True, when checkpoint `last` is at or past `max_steps`; else None.

    Without a train_summary.json of that step (a kill after the last checkpoint), the checkpoint's own log
    stands in: train_loss is the mean of its logged losses, and `now` (world_size, attention) fills the rest.
    """
    if last is None:
        return None
    state = json.loads((Path(last) / "trainer_state.json").read_text(encoding="utf-8"))
    if state["global_step"] < max_steps:
        return None
    path = out / "train_summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if summary.get("global_step") != state["global_step"]:
        logged = [h for h in state["log_history"] if "loss" in h]
        summary = {"resumed_from": None, "global_step": state["global_step"],
                   "train_loss": sum(h["loss"] for h in logged) / max(1, len(logged)), "seconds": 0.0, **now,
                   "losses": [h["loss"] for h in logged], "steps": [h["step"] for h in logged]}
    return {**summary, "already_done": True}
