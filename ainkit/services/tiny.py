"""Tiny, randomly initialised models with a locally trained tokenizer, for tests and CPU trials: nothing is downloaded.

    python -m ainkit.services.tiny /tmp/tiny-qwen2vl               # a Qwen2-VL: the whole training path on a laptop
    from ainkit.services.tiny import build_causal_lm
    path = build_causal_lm("/tmp/tiny-lm", corpus=["some text", "نص عربي"])   # a Qwen2 causal LM (evaluation tests)

The tokenizer is a byte-level BPE trained on the given corpus (for the Qwen2-VL: the kit's
bilingual sample set), with Qwen2-VL's special tokens and a Qwen2-VL-style chat template; the
image processor is Qwen2-VL's (PIL backend, no torchvision). A few hundred thousand parameters:
the numbers they learn mean nothing, the code path is the real one. Both are saved with
`save_pretrained`, so transformers' `from_pretrained(path)` loads them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_tokenizer(corpus: list[str], vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus + ["user assistant system"], trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHAT_TEMPLATE)
    fast.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    return fast


# The tiny shapes; bench/gpu_check.py passes the 2 B model's instead.
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 2048, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}}
VISION = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
          "temporal_patch_size": 2, "in_channels": 3}


def config(tok, text: dict | None = None, vision: dict | None = None):
    """A Qwen2VLConfig of the given shapes (default: tiny) whose special-token ids are the tokenizer's;
    vocab_size defaults to the tokenizer's and may be set larger in `text` (ids beyond it are simply never seen)."""
    from transformers import Qwen2VLConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    return Qwen2VLConfig(
        text_config={"vocab_size": len(tok), "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
                     "bos_token_id": None, **(TEXT if text is None else text)},
        vision_config=VISION if vision is None else vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])


def sample_tokenizer():
    """The byte-level BPE trained on the kit's bilingual sample set (English and Arabic)."""
    from ainkit.services.records import load_samples

    samples = load_samples()
    return build_tokenizer([s["en"] for s in samples] + [s["ar"] for s in samples])


def build(path: str | Path, seed: int = 0) -> Path:
    """Write tokenizer, image-processor settings and a random tiny Qwen2VLForConditionalGeneration to `path`."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    path = Path(path)
    tok = sample_tokenizer()
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config(tok))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "ainkit_image_processor.json").write_text(json.dumps({"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}))
    return path


def build_causal_lm(path: str | Path, corpus: list[str], seed: int = 0) -> Path:
    """Save a tiny random Qwen2 causal LM and its tokenizer, trained on `corpus` (and the option letters), to `path`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    tok = build_tokenizer(list(corpus) + [" A", " B", " C", " D", " E"])
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "tiny-qwen2vl"))
