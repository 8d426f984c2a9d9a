"""Tiny models made offline, for tests and CPU trials: nothing is downloaded.

    from ainkit.services.tiny import build_tiny_causal_lm
    path = build_tiny_causal_lm("/tmp/tiny-lm", corpus=["some text", "نص عربي"])

A byte-level BPE tokenizer is trained locally on the given corpus, and a randomly initialised
Qwen2 causal LM a few hundred thousand parameters in size is built from a config; both are
saved with `save_pretrained`, so `AutoModelForCausalLM.from_pretrained(path)` loads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on `corpus`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus) + [" A", " B", " C", " D", " E"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def build_tiny_causal_lm(path: str | Path, corpus: Iterable[str], seed: int = 0) -> Path:
    """Save a tiny random Qwen2 causal LM and its locally trained tokenizer to `path`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    tok = build_tokenizer(corpus)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(cfg)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
