"""bench/gpu_check.py: the --cpu-smoke run end to end, and its FLOP formula against torch's own FLOP counter."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpu_smoke_writes_sane_result(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--steps", "2", "--profile", "--output", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"result: {out}" and lines[-2].startswith("ratio: MFU ") and "baseline: 0.35" in lines[-2]
    r = json.loads(out.read_text(encoding="utf-8"))
    c = r["config"]
    assert r["mode"] == "cpu-smoke" and r["dtype"] == "float32" and r["attention"] == "sdpa"
    assert (c["bf16"], c["deepspeed"], c["gradient_checkpointing"], c["freeze_vision_tower"]) == (False, None, True, True)
    assert r["timed_steps"] == 2 and r["warmup_steps"] == 1 and r["seconds"] > 0
    sequences = r["timed_steps"] * c["per_device_batch"] * c["gradient_accumulation"]
    assert sequences * c["cutoff_len"] / 2 < r["tokens"] <= sequences * c["cutoff_len"]  # filled close to the cutoff
    assert r["tokens_per_s"] == pytest.approx(r["tokens"] / r["seconds"]) and r["tokens_per_s"] > 0
    assert r["achieved_tflops"] > 0 and r["peak_tflops"] > 0 and 0 < r["mfu"] < 1
    assert r["mfu"] == pytest.approx(r["achieved_tflops"] / r["peak_tflops"])
    assert 0 < r["mfu_without_vision"] < r["mfu"]  # the vision tower's FLOPs counted in one, not the other
    assert r["memory"]["peak_gb"] > 0 and r["memory"]["measured_parts_gb"]["weights"] > 0
    plan = r["plan"]["per_gpu_gb"]
    assert plan["total"] > 0 and r["plan_over_measured"] == pytest.approx(plan["total"] / r["memory"]["peak_gb"])
    assert r["plan"]["assumptions"]["gpus"] == 1 and r["plan"]["assumptions"]["seq_len"] == c["cutoff_len"]
    assert r["params"]["trainable"] == r["params"]["total"] - r["params"]["vision"]
    assert r["losses"] and all(math.isfinite(x) for x in r["losses"])
    assert r["profile"] and "aten::" in r["profile"]


@pytest.mark.parametrize("frozen", [True, False])
def test_flop_formula_matches_torch_flop_counter(tmp_path, frozen):
    """The formula MFU rests on, against torch.utils.flop_counter on one forward+backward (eager attention, which it counts)."""
    from torch.utils.flop_counter import FlopCounterMode

    from ainkit.services import tiny
    from ainkit.stages.train import trainer
    from ainkit.services.qwen2vl import Encoder

    bench = load_bench()
    tok = tiny.sample_tokenizer()
    text = {**tiny.TEXT, "hidden_size": 128, "intermediate_size": 256, "vocab_size": 2048, "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 6, 6]}}
    vision = {**tiny.VISION, "embed_dim": 64, "hidden_size": 128}
    cfg = trainer.load_config(None, [], freeze_vision_tower=frozen, cutoff_len=384, bf16=False)
    model = trainer.load_model(cfg, tiny.config(tok, text, vision), "eager")
    enc = Encoder(tok, cfg.min_pixels, cfg.max_pixels, cfg.cutoff_len)
    batch = enc.collate(bench.synthetic_examples(tmp_path, enc, 2, 224, 0))
    count, _ = bench.flop_counter(model, vision_trains=not frozen)
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    formula, tokens = count(batch["attention_mask"], batch["image_grid_thw"])
    assert tokens == int(batch["attention_mask"].sum())
    assert formula == pytest.approx(counter.get_total_flops(), rel=0.02)
