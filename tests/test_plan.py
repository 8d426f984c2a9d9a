"""The paper-scale plan: memory and compute follow from the stated assumptions (worked out by hand here)."""
import math

import pytest

from ainkit.stages.train.plan import Assumptions, compute_budget, memory_per_gpu


def test_memory_sums_and_scales_with_gpus():
    a = Assumptions()
    m = memory_per_gpu(a)
    parts = sum(v for k, v in m.items() if k not in ("total", "headroom of the GPU"))
    assert m["total"] == pytest.approx(parts) and m["headroom of the GPU"] == pytest.approx(80 - parts)
    trainable = a.params_total - a.params_vision
    assert m["Adam states (fp32 x3, sharded)"] == pytest.approx(12 * trainable / 64 / 1024 ** 3)
    one_node = memory_per_gpu(Assumptions(gpus=8))
    assert one_node["Adam states (fp32 x3, sharded)"] == pytest.approx(8 * m["Adam states (fp32 x3, sharded)"])


def test_compute_budget_by_hand():
    a = Assumptions(samples=1e6, image_tokens=700, text_tokens=300, params_total=7.675e9, params_vision=0.675e9, mfu=0.5,
                    peak_tflops=300, gpus=10)
    b = compute_budget(a)
    assert b["tokens"] == pytest.approx(1e9)
    assert b["training FLOPs"] == pytest.approx(6 * 7e9 * 1e9)
    assert b["GPU-hours"] == pytest.approx(6 * 7e9 * 1e9 / 150e12 / 3600)
    assert b["wall-clock hours"] == pytest.approx(b["GPU-hours"] / 10)


def test_packing_budget_both_mfu_conventions_by_hand():
    from ainkit.stages.train.plan import MFU_ANCHORS, packing_budget

    a = Assumptions(samples=1e6, image_tokens=700, text_tokens=300, params_total=7.675e9, params_vision=0.675e9,
                    peak_tflops=300, gpus=10, micro_batch=4)
    b = packing_budget(a, mfu_padded=0.2, mfu_packed=0.4)
    lm, vision = 6 * 7e9 * 1e9, 2 * 0.675e9 * 4 * 700 * 1e6
    assert b["padded"]["GPU-hours"] == pytest.approx(lm / 60e12 / 3600)
    assert b["packed"]["GPU-hours"] == pytest.approx(b["padded"]["GPU-hours"] / 2)
    assert b["packed"]["MFU, vision counted"] == pytest.approx(0.4 * (lm + vision) / lm)
    assert b["padded"]["padding share"] > 0.3 > 0.05 > b["packed"]["padding share"]
    assert b["padded"]["samples a row"] == 1 and b["packed"]["samples a row"] > 2
    assert packing_budget(Assumptions())["padded"]["MFU, vision not counted"] == pytest.approx(sum(MFU_ANCHORS["padded"]) / 2)


def test_mfu_comes_from_the_anchor_for_the_run_packed_or_not():
    """No MFU typed in: a padded run plans at lmms-engine's padded mid-point, a packed one at the packed mid-point;
    a given MFU is kept and said to be given. launch's SLURM time request follows the config's packing."""
    from ainkit.pipelines import launch
    from ainkit.stages.train.plan import MFU_ANCHORS, mfu_anchor
    from ainkit.stages.train.trainer import load_config

    padded, packed = Assumptions(), Assumptions(packing=True)
    assert padded.mfu == pytest.approx(sum(MFU_ANCHORS["padded"]) / 2) == pytest.approx(0.225)
    assert packed.mfu == pytest.approx(sum(MFU_ANCHORS["packed"]) / 2) == pytest.approx(0.35)
    assert "lmms-engine's padded" in padded.mfu_source and "vision FLOPs not counted" in packed.mfu_source
    assert (padded.mfu, padded.mfu_source) == mfu_anchor(False)
    given = Assumptions(mfu=0.5)
    assert (given.mfu, given.mfu_source) == (0.5, "given")
    assert compute_budget(padded)["GPU-hours"] == pytest.approx(compute_budget(packed)["GPU-hours"] * 0.35 / 0.225)
    hours = {p: launch.plan_hours(load_config("configs/train/ain_7b.yaml", [f"packing={p}", "data=sample"]))
             for p in (False, True)}
    assert hours[False][0] == pytest.approx(hours[True][0] * 0.35 / 0.225)
    assert "22.5% MFU (lmms-engine's padded" in hours[False][1] and "35.0% MFU (lmms-engine's packed" in hours[True][1]


def test_packed_runs_take_fewer_optimizer_steps_by_the_samples_a_row():
    from ainkit.stages.train.plan import Assumptions, compute_budget, packed_samples_per_row

    key = "optimizer steps (global batch = GPUs x micro x accumulation 2)"
    per_row = packed_samples_per_row(2048)
    assert 4.2 < per_row < 4.4  # the report-like mix at cutoff 2048 (bench/train_throughput.py prints 4.29)
    padded, packed = compute_budget(Assumptions()), compute_budget(Assumptions(packing=True))
    assert padded[key] == math.ceil(3.6e6 / (64 * 1 * 2))
    assert packed[key] == math.ceil(3.6e6 / per_row / (64 * 1 * 2))
    assert packed["tokens"] == padded["tokens"]  # the same work, in fewer, fuller rows
