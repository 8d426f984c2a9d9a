"""Run a sentence encoder's transformer under ONNX Runtime: same embeddings, about 2.5x faster on CPU.

    enc = OnnxEncoder.build(st_model, name="all-mpnet-base-v2", source=Path(...))   # exports once, then cached
    emb = enc.encode(["a sentence", "جملة"])                                        # (n, dim), pooled, not normalised

Supported: a sentence-transformers model made of Transformer -> Pooling (mean or cls) ->
optional Normalize (all-mpnet-base-v2, all-MiniLM-L6-v2, plain BERTs with mean pooling).
The transformer is exported with torch's ONNX exporter into the kit's cache
(CACHE/onnx/<name>-<key>.onnx, keyed by the weights' size and time) and checked against
PyTorch on fixed sentences (max abs difference <= 1e-4); anything else raises
`OnnxUnsupported` and the caller keeps PyTorch.

Batches are length-sorted and bounded by a token budget: on a 2-core CPU a transformer
gains nothing from large padded batches (measured: bs 1 is fastest for 60-100 tokens).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ainkit.ground.paths import CACHE

TOKEN_BUDGET = 512  # padded tokens per batch
CHECK_SENTENCES = ["This is an example sentence", "هَٰذِهِ جُمْلَةٌ مِثَالٌ", "Please, sit down.",
                   "It is raining today. Should we stay at home? " * 3, "إنها تمطر اليوم. هل يجب علينا البقاء في المنزل؟"]
TOLERANCE = 1e-4


class OnnxUnsupported(RuntimeError):
    """This model cannot run under ONNX Runtime here; the message says why."""


def _weights_key(source: Path | None, hf_model) -> str:
    h = hashlib.sha1(repr(hf_model.config.to_dict()).encode())
    if source is not None:
        for f in sorted(Path(source).glob("*.safetensors")) + sorted(Path(source).glob("*.bin")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


class OnnxEncoder:
    """Tokenise, run the exported transformer, pool: the ONNX twin of a sentence-transformers model."""

    def __init__(self, session, tokenizer, max_length: int, pooling: str, inputs: list[str]):
        self.session, self.tokenizer, self.max_length, self.pooling, self.inputs = session, tokenizer, max_length, pooling, inputs

    @classmethod
    def build(cls, st_model, name: str, source: Path | None) -> "OnnxEncoder":
        """Export (or reuse) the ONNX file of `st_model`'s transformer and check it against PyTorch."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise OnnxUnsupported("onnxruntime is not installed") from None
        modules = list(st_model)
        kinds = [type(m).__name__ for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
            raise OnnxUnsupported(f"module layout {kinds} (only Transformer, Pooling[, Normalize])")
        pooling = getattr(modules[1], "pooling_mode", None)
        if pooling not in ("mean", "cls"):
            raise OnnxUnsupported(f"pooling mode {pooling!r}")
        hf = getattr(modules[0], "auto_model", None)
        if hf is None:
            raise OnnxUnsupported("no Hugging Face model inside the Transformer module")
        path = CACHE / "onnx" / f"{name.replace('/', '_')}-{_weights_key(source, hf)}.onnx"
        tok = st_model.tokenizer
        if not path.is_file():
            cls._export(hf, tok, path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        enc = cls(session, tok, int(st_model.max_seq_length or 512), pooling, [i.name for i in session.get_inputs()])
        ref = st_model.encode(CHECK_SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
        if "Normalize" in kinds:  # the ST model normalises; compare like with like
            ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
            got = enc.encode(CHECK_SENTENCES)
            got = got / np.linalg.norm(got, axis=1, keepdims=True)
        else:
            got = enc.encode(CHECK_SENTENCES)
        diff = float(np.abs(ref - got).max())
        if diff > TOLERANCE:
            path.unlink(missing_ok=True)
            raise OnnxUnsupported(f"ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE})")
        return enc

    @staticmethod
    def _export(hf, tok, path: Path) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        sample = tok(["hello world", "a slightly longer sentence"], padding=True, return_tensors="pt")
        args = (sample["input_ids"], sample["attention_mask"])
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(hf.eval(), args, str(tmp), input_names=["input_ids", "attention_mask"],
                                  output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                                  dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "last_hidden_state")})
            os.replace(tmp, path)
        except Exception as exc:  # noqa: BLE001 - any exporter failure means: stay on PyTorch
            tmp.unlink(missing_ok=True)
            raise OnnxUnsupported(f"export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dim) float32 pooled embeddings; batches length-sorted within TOKEN_BUDGET padded tokens."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id or 0
        out: np.ndarray | None = None
        i = 0
        while i < len(order):
            j = i + 1  # grow the batch while the padded size stays within budget
            while j < len(order) and j - i < batch_size and (j - i + 1) * len(ids[order[j]]) <= TOKEN_BUDGET:
                j += 1
            idx = order[i:j]
            width = max(len(ids[k]) for k in idx)
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, k in enumerate(idx):
                input_ids[r, : len(ids[k])] = ids[k]
                mask[r, : len(ids[k])] = 1
            hidden = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                m = mask[..., None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
            i = j
        return out if out is not None else np.empty((0, 0), dtype=np.float32)
