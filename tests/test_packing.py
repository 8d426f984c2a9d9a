"""Packed batches (ainkit.stages.train.packing) are exact: on the tiny Qwen2-VL in float32 on CPU, a packed batch's loss
and gradients equal those of the same samples run one by one (sum of token losses / all answer tokens); a probe
sample's logits do not change when other samples share its row; the M-RoPE rule equals the model's get_rope_index;
rows are first-fit in data order, so a run resumed mid-epoch trains on the same rows and ends with the same weights."""
import json
import shutil

import pytest

from ainkit.stages.train.packing import pack, padding_share

PACK_CASES = [  # lengths, cutoff, window, rows
    ([5, 3, 4, 2, 6], 8, 64, [[0, 1], [2, 3], [4]]),
    ([6, 6, 2, 2, 2], 8, 64, [[0, 2], [1, 3], [4]]),       # first fit: the oldest open row with room
    ([6, 6, 2, 2, 2], 8, 1, [[0], [1, 2], [3, 4]]),        # one open row: next fit
    ([8, 1, 7], 8, 64, [[0], [1, 2]]),                     # a full row closes
]


@pytest.mark.parametrize("lengths,cutoff,window,rows", PACK_CASES)
def test_pack_is_first_fit_in_data_order(lengths, cutoff, window, rows):
    assert pack(lengths, cutoff, window) == rows
    assert pack(lengths, cutoff, window) == pack(list(lengths), cutoff, window)  # a pure function of the lengths


def test_pack_keeps_every_sample_once_under_the_cutoff_in_order():
    lengths = [(37 * i) % 500 + 20 for i in range(400)]
    rows = pack(lengths, 1024)
    assert sorted(i for r in rows for i in r) == list(range(400))
    assert all(sum(lengths[i] for i in r) <= 1024 and r == sorted(r) for r in rows)
    assert padding_share(lengths, rows, batch=4) < padding_share(lengths, [[i] for i in range(400)], batch=4)
    with pytest.raises(ValueError, match="cutoff"):
        pack([10, 2000], 1024)


def test_padding_share_golden():
    assert padding_share([3, 1, 2, 2], [[0], [1], [2], [3]], batch=2) == pytest.approx(1 - 8 / 10)
    assert padding_share([3, 1], [[0, 1]]) == 0.0


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

    from ainkit.services import tiny
    from ainkit.services.qwen2vl import Encoder
    from ainkit.stages.train.trainer import sample_records

    path = tiny.build(tmp_path_factory.mktemp("tiny") / "qwen2vl", seed=3)
    enc = Encoder(AutoTokenizer.from_pretrained(path), 1024, 16384, 512)
    examples = [enc.encode(r) for r in sample_records(9)]  # samples 0, 4 and 8 carry an image

    def model(attn):
        return Qwen2VLForConditionalGeneration.from_pretrained(path, attn_implementation=attn, dtype=torch.float32)
    return enc, examples, model


def test_mrope_positions_equal_the_models_get_rope_index(parts):
    from ainkit.stages.train.packing import mrope_positions

    enc, examples, model = parts
    m = model("sdpa")
    for e in examples[:5]:
        b = enc.collate([e])
        ref, _ = m.model.get_rope_index(b["input_ids"], b["mm_token_type_ids"], b.get("image_grid_thw"))
        assert mrope_positions(e["input_ids"], e.get("image_grid_thw", []), enc.ids["<|image_pad|>"], enc.merge).equal(ref[:, 0])


def answer_tokens(e) -> int:
    return sum(1 for x in e["labels"][1:] if x != -100)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradients_equal_one_by_one(parts, attn):
    from ainkit.stages.train.packing import PackedCollate

    enc, examples, model = parts
    m = model(attn)
    rows = pack([len(e["input_ids"]) for e in examples], 300)
    assert len(rows) < len(examples) and any(len(r) > 2 for r in rows)
    out = m(**PackedCollate(enc)([[examples[i] for i in r] for r in rows]))
    out.loss.backward()
    packed = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    total, loss = sum(answer_tokens(e) for e in examples), 0.0
    for e in examples:  # each alone, its mean token loss weighted by its share of all answer tokens
        b = enc.collate([e])
        part = m(**b).loss * answer_tokens(e) / total
        part.backward()
        loss += part.item()
    grads = {n: p.grad for n, p in m.named_parameters() if p.grad is not None}
    assert packed.keys() == grads.keys() and any("visual" in n for n in grads)
    diff = max((packed[n] - grads[n]).abs().max().item() for n in grads)
    print(f"[packing] {attn}: loss {out.loss.item():.6f} vs {loss:.6f} (|diff| {abs(out.loss.item() - loss):.1e}), "
          f"max |grad diff| {diff:.1e} over {len(grads)} tensors")
    assert out.loss.item() == pytest.approx(loss, abs=1e-5)
    assert diff < 1e-5


def test_a_probe_samples_logits_do_not_change_with_its_neighbours(parts):
    from ainkit.stages.train.packing import PackedCollate

    enc, examples, model = parts
    m = model("sdpa")
    probe, others = examples[4], [examples[0], examples[1], examples[8]]  # the probe and two neighbours have images
    alone = m(**enc.collate([probe])).logits[0]
    batch = PackedCollate(enc)([others[:2] + [probe] + others[2:]])
    at = sum(len(e["input_ids"]) for e in others[:2])
    shared = m(**batch).logits[0, at:at + len(probe["input_ids"])]
    assert (shared - alone).abs().max().item() < 1e-4
    batch["position_ids"] = batch["position_ids"][1:]  # control: without the text row the samples see each other
    leaked = m(**batch).logits[0, at:at + len(probe["input_ids"])]
    assert (leaked - alone).abs().max().item() > 1e-3


@pytest.mark.slow
def test_a_run_resumed_mid_epoch_trains_on_the_same_rows(tmp_path):
    from ainkit.stages.train.trainer import load_config, train

    cfg = load_config("configs/train/tiny.yaml", ["packing=true", "max_steps=4", "save_steps=2", "per_device_batch=2"],
                      output_dir=str(tmp_path / "run"))
    first = train(cfg)
    assert first["rows"] < first["examples"] and first["global_step"] == 4
    checksum = (tmp_path / "run" / "rank0.checksum").read_text()
    shutil.rmtree(tmp_path / "run" / "checkpoint-4")
    (tmp_path / "run" / "train_summary.json").unlink()
    again = train(cfg)
    assert again["resumed_from"].endswith("checkpoint-2") and again["global_step"] == 4
    assert again["losses"] == pytest.approx(first["losses"], abs=1e-6)  # steps 1-2 from the checkpoint, 3-4 retrained
    assert (tmp_path / "run" / "rank0.checksum").read_text() == checksum
    assert json.loads((tmp_path / "run" / "train_summary.json").read_text())["rows"] == first["rows"]


LIGER_UNDER_INTERPRETER = r"""
import json, sys, torch
from ainkit.services import tiny
from ainkit.services.qwen2vl import Encoder
from ainkit.stages.train import liger, trainer
from ainkit.stages.train.packing import PackedCollate
from transformers.models.qwen2_vl import modeling_qwen2_vl as mq

tok = tiny.sample_tokenizer()
cfg = trainer.load_config(None, [], bf16=False, cutoff_len=512)
torch.manual_seed(0)
model = trainer.load_model(cfg, tiny.config(tok), "sdpa").train()
enc = Encoder(tok, cfg.min_pixels, cfg.max_pixels, cfg.cutoff_len)
ex = [enc.encode(r) for r in trainer.sample_records(6)]
batches = {"padded": enc.collate(ex), "packed": PackedCollate(enc)([ex[:3], ex[3:]])}

def run(batch, n=None):
    model.zero_grad()
    out = model(**batch, **({} if n is None else {"num_items_in_batch": torch.tensor(n)}))
    out.loss.backward()
    return out.loss.item(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

cases = [("padded", None), ("packed", None), ("padded", 37)]
before = [run(batches[m], n) for m, n in cases]
counts = liger.apply(model)
for m in model.modules():  # Triton's interpreter cannot run Liger's RMSNorm and SwiGLU kernels: the model's own here
    if isinstance(m, (mq.Qwen2VLRMSNorm, mq.Qwen2MLP)):
        del m.forward
after = [run(batches[m], n) for m, n in cases]
print(json.dumps({"counts": counts, "rope": mq.apply_rotary_pos_emb.__module__, "cases": [
    {"loss": [a[0], b[0]], "grad": max((b[1][k] - a[1][k]).abs().max().item() for k in a[1])}
    for a, b in zip(before, after)]}))
"""


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("liger_kernel") is None,
                    reason="liger-kernel is not installed (an optional GPU extra; bench/gpu_check.py checks it on a GPU)")
def test_liger_rope_and_fused_loss_equal_the_models_own_under_triton_interpreter():
    """Where liger-kernel is installed: Liger's rope and fused linear cross-entropy kernels, run on CPU by Triton's
    interpreter (TRITON_INTERPRET=1), give the model's own loss and gradients, padded and packed, with and without
    num_items_in_batch. (Its RMSNorm and SwiGLU kernels fail in the interpreter; bench/gpu_check.py checks all four.)"""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", LIGER_UNDER_INTERPRETER], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["counts"] == {"rms_norm": 5, "swiglu": 2, "rope": 2, "fused_linear_cross_entropy": 1}
    assert r["rope"].startswith("liger_kernel")
    for case in r["cases"]:
        assert case["loss"][1] == pytest.approx(case["loss"][0], abs=5e-6) and case["grad"] < 1e-6
