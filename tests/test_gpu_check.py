"""bench/gpu_check.py: the --cpu-smoke run end to end (padded and packed in one call, the time budget), and its FLOP
formula against torch's own FLOP counter."""
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


def test_cpu_smoke_runs_padded_and_packed_in_one_call(tmp_path):
    """One call trains padded and packed (Liger too where it can run, else says why), each run's figures consistent,
    on records of a real length spread; the last lines are the packed / padded ratio and the result path."""
    from ainkit.stages.train import liger

    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--steps", "2", "--profile", "--output", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"result: {out}" and lines[-2].startswith("ratio: packed / padded tokens/s ")
    assert "baseline: padded, micro-batch 1, Liger off" in lines[-2]
    r = json.loads(out.read_text(encoding="utf-8"))
    c = r["config"]
    assert r["mode"] == "cpu-smoke" and r["dtype"] == "float32" and r["attention"] == "sdpa"
    assert (c["bf16"], c["deepspeed"], c["gradient_checkpointing"], c["freeze_vision_tower"]) == (False, None, True, True)
    assert r["liger"]["missing"] == liger.missing(cuda=False) and "a CUDA device" in r["liger"]["missing"][-1]
    assert "Liger: not run here; it needs" in proc.stdout and r["skipped"] == []
    assert [(x["mode"], x["liger"]) for x in r["runs"]] == [("padded", False), ("packed", False)]
    d = r["data"]
    assert d["max_tokens"] <= c["cutoff_len"] and d["min_tokens"] < d["median_tokens"] < d["max_tokens"] / 1.5  # a spread
    padded, packed = r["runs"]
    for x in r["runs"]:
        assert x["timed_steps"] == 2 and x["warmup_steps"] == 1 and x["seconds"] > 0 and x["kernels"] is None
        assert x["tokens_per_s"] == pytest.approx(x["tokens"] / x["seconds"]) and x["tokens_per_s"] > 0
        assert 0 < x["tokens"] <= x["slots"] and x["padding_share"] == pytest.approx(1 - x["tokens"] / x["slots"])
        assert x["achieved_tflops"] > 0 and 0 < x["mfu"] < 1
        assert x["mfu"] == pytest.approx(x["achieved_tflops"] / r["peak_tflops"])
        assert 0 < x["mfu_without_vision"] < x["mfu"]  # the vision tower's FLOPs counted in one, not the other
        assert x["losses"] and all(math.isfinite(v) for v in x["losses"] + [x["probe_loss"]])
        assert x["params"]["trainable"] == x["params"]["total"] - x["params"]["vision"]
    assert padded["rows"] == padded["samples"] == d["records"] > packed["rows"]  # several samples a packed row
    assert packed["row_fill"] > 0.8 > 0.6 > padded["row_fill"]  # the report-like mix fills a third of a cutoff row
    assert r["packed_over_padded"] == pytest.approx(packed["tokens_per_s"] / padded["tokens_per_s"])
    assert packed["memory"]["peak_gb"] > 0 and packed["memory"]["measured_parts_gb"]["weights"] > 0
    plan = r["plan"]["per_gpu_gb"]
    assert plan["total"] > 0 and r["plan_over_measured"] == pytest.approx(plan["total"] / packed["memory"]["peak_gb"])
    assert r["plan"]["assumptions"]["gpus"] == 1 and r["plan"]["assumptions"]["seq_len"] == c["cutoff_len"]
    assert r["profile"] and "aten::" in r["profile"]


def test_time_budget_skips_the_runs_it_cannot_fit(tmp_path):
    """--time-budget: once the time spent plus the longest run would pass it, the rest are skipped and said so."""
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--steps", "1", "--time-budget", "1",
                           "--output", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text(encoding="utf-8"))
    assert [x["mode"] for x in r["runs"]] == ["padded"] and [x["mode"] for x in r["skipped"]] == ["packed"]
    assert "skipped packed: " in proc.stdout and "> --time-budget 1 s" in proc.stdout
    assert r["packed_over_padded"] is None and "ratio: packed / padded tokens/s not measured" in proc.stdout


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
    batch = enc.collate(bench.spread_examples(tmp_path, enc, 2, 0, scale=cfg.cutoff_len / 2048))
    count, _ = bench.flop_counter(model, vision_trains=not frozen)
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    rows, width = batch["input_ids"].shape  # torch's counter counts the padded slots too: the formula at the padded width
    formula, tokens = count([width] * rows, batch["image_grid_thw"])
    assert tokens == batch["input_ids"].numel()
    assert formula == pytest.approx(counter.get_total_flops(), rel=0.02)
