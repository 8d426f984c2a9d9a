"""Liger kernels (Triton, GPU only) on Qwen2-VL's language model: RMSNorm, SwiGLU, rope, fused linear cross-entropy.

    pip install liger-kernel==0.8.5        # optional GPU extra, like flash-attn (it pulls triton)
    ainkit train --config configs/train/ain_7b.yaml --set liger=true
    python3 bench/gpu_check.py             # on a GPU: loss and tokens/s with Liger off and on

Source: liger-kernel 0.8.5 (PyPI; LinkedIn, BSD-2-Clause), liger_kernel/transformers/monkey_patch.py,
`apply_liger_kernel_to_qwen2_vl`: on a model instance it binds LigerRMSNorm.forward to the text model's
RMSNorms, LigerSwiGLUMLP.forward to its MLPs, replaces the rope function and the forward (fused linear
cross-entropy: the logits are never materialised); the vision tower's LayerNorms are patched too.
The kit cannot call that function with its pinned transformers 5.24.0:
- it fails on import: liger_kernel/transformers/model/qwen2_vl.py imports LigerQwen2VLCausalLMOutputWithPast,
  which output_classes.py defines only when transformers has Qwen2VLCausalLMOutputWithPast (5.x returns
  MultimodalCausalLMOutputWithPast);
- its rope patch sets modeling_qwen2_vl.apply_multimodal_rotary_pos_emb, which transformers 5 no longer has:
  the rotary embedding recomposes the M-RoPE sections into cos/sin (Qwen2VLRotaryEmbedding.forward) and the
  attention calls the plain apply_rotary_pos_emb, so that patch would change nothing, silently.
So `apply` does the same on the instance with Liger's own modules and functions: LigerRMSNorm.forward on
every Qwen2VLRMSNorm of the language model (casting mode "llama", as Liger's patch), LigerSwiGLUMLP.forward on
every Qwen2MLP (silu only), liger_rotary_pos_emb (Liger's Llama rope, which takes the recomposed cos/sin of
shape (batch, seq, head_dim), so per-row packed positions keep working) in place of the module's
apply_rotary_pos_emb (module-wide, as Liger's own patch: every Qwen2-VL in this process), and a forward that
computes the training loss with liger_fused_linear_cross_entropy (sum over answer tokens / num_items_in_batch,
as transformers' ForCausalLMLoss; without labels the model's own forward runs). The vision tower is frozen and
not patched (its LayerNorms run forward only). Under ZeRO-3 the output matrix, used outside lm_head's forward,
is registered as an external parameter of the model (deepspeed.zero.register_external_parameter).

CPU: Liger's kernels are Triton GPU kernels. On this kit's CPU install every one raises "0 active drivers"
(triton 3.9.0, liger-kernel 0.8.5, tried in a separate venv); under Triton's interpreter (TRITON_INTERPRET=1,
a debugging mode) the cross-entropy kernels gave the reference loss but RMSNorm and SwiGLU failed
("'float' object has no attribute 'to'"). So liger=true needs a CUDA device, and `require` refuses it
before anything is built when the package, triton or CUDA is missing: the run never trains without the
kernels it was asked for. Where liger-kernel is installed, tests/test_packing.py runs the rope and fused-loss
kernels under the interpreter against the model's own loss and gradients (padded and packed); loss equality
of all four and tokens/s, Liger on vs off, are measured by bench/gpu_check.py on a GPU. Not measured: ZeRO-3.
"""
from __future__ import annotations

import importlib.util
from types import MethodType
from typing import Any

from ainkit.ground.errors import UserError

VERSION = "0.8.5"  # the liger-kernel release this module was written against and read
INSTALL = f"pip install liger-kernel=={VERSION}"


def missing(cuda: bool, find=importlib.util.find_spec) -> list[str]:
    """What liger=true lacks here: the liger_kernel package, triton, a CUDA device (empty when all are present)."""
    out = []
    if find("liger_kernel") is None:
        out.append(f"the liger-kernel package ({INSTALL}; an optional GPU extra, not in requirements.txt)")
    if find("triton") is None:
        out.append("triton (liger-kernel's dependency; installed with it)")
    if not cuda:
        out.append("a CUDA device (Liger's kernels are Triton GPU kernels; none of them runs on this CPU)")
    return out


def require(cuda: bool, find=importlib.util.find_spec) -> None:
    """Refuse liger=true (UserError, exit 2) naming everything missing, before a model is built."""
    lacking = missing(cuda, find)
    if lacking:
        raise UserError("liger=true needs " + "; ".join(lacking) + " (or run with --set liger=false)")


def fused_loss(hidden, weight, labels, num_items_in_batch=None, ignore_index: int = -100):
    """transformers' causal-LM loss (token t predicts label t+1, mean over counted tokens, or sum / num_items_in_batch)
    without the logits: Liger's fused linear cross-entropy over (tokens, hidden) x (vocab, hidden)^T, in chunks."""
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    h = hidden[:, :-1, :].reshape(-1, hidden.shape[-1])
    y = labels[:, 1:].reshape(-1).to(h.device)
    loss = liger_fused_linear_cross_entropy(h, weight, y, ignore_index=ignore_index,
                                            reduction="mean" if num_items_in_batch is None else "sum")
    if isinstance(loss, tuple):
        loss = loss[0]
    return loss if num_items_in_batch is None else loss / num_items_in_batch


def _forward(self, labels=None, logits_to_keep=0, **kwargs: Any):
    """Qwen2VLForConditionalGeneration.forward with the training loss fused (no logits returned when labels are given)."""
    from transformers.modeling_outputs import MultimodalCausalLMOutputWithPast

    if labels is None:
        return type(self).forward(self, logits_to_keep=logits_to_keep, **kwargs)
    out = self.model(**kwargs)
    loss = fused_loss(out.last_hidden_state, self.lm_head.weight, labels, kwargs.get("num_items_in_batch"))
    return MultimodalCausalLMOutputWithPast(loss=loss, logits=None, cache=out.cache, hidden_states=out.hidden_states,
                                            attentions=out.attentions, image_outputs=out.image_outputs,
                                            video_outputs=out.video_outputs)


def apply(model, deepspeed: bool = False) -> dict[str, int]:
    """Patch a Qwen2VLForConditionalGeneration in place (`deepspeed`: it will train under DeepSpeed); returns how many
    modules each kernel took."""
    from liger_kernel.transformers.rms_norm import LigerRMSNorm
    from liger_kernel.transformers.rope import liger_rotary_pos_emb
    from liger_kernel.transformers.swiglu import LigerSwiGLUMLP
    from transformers.models.qwen2_vl import modeling_qwen2_vl as mq

    text = model.model.language_model
    if text.config.hidden_act not in ("silu", "swish"):
        raise UserError(f"liger=true: Liger's SwiGLU needs a silu MLP, the model's is {text.config.hidden_act}")
    counts = {"rms_norm": 0, "swiglu": 0, "rope": 0, "fused_linear_cross_entropy": 0}
    for module in text.modules():
        if isinstance(module, mq.Qwen2VLRMSNorm):
            module.offset, module.casting_mode, module.in_place, module.row_mode = 0.0, "llama", True, None
            module.forward = MethodType(LigerRMSNorm.forward, module)
            counts["rms_norm"] += 1
        elif isinstance(module, mq.Qwen2MLP):
            module.forward = MethodType(LigerSwiGLUMLP.forward, module)
            counts["swiglu"] += 1
    if not hasattr(mq, "apply_rotary_pos_emb"):
        raise UserError("liger=true: this transformers' Qwen2-VL has no apply_rotary_pos_emb to replace "
                        f"(ainkit.stages.train.liger was written for transformers 5.24 and liger-kernel {VERSION})")
    mq.apply_rotary_pos_emb = liger_rotary_pos_emb
    counts["rope"] = sum(isinstance(m, mq.Qwen2VLAttention) for m in text.modules())
    model.forward = MethodType(_forward, model)
    counts["fused_linear_cross_entropy"] = 1
    if deepspeed:  # ZeRO-3 gathers a parameter only inside its own module's forward; the fused loss reads lm_head's outside
        from deepspeed.zero import register_external_parameter

        register_external_parameter(model, model.lm_head.weight)
    return counts
