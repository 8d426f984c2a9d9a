"""A Qwen2-VL checkpoint on this machine (what `ainkit train` writes) as the model under evaluation.

    ainkit evaluate --benchmark arabic-mmlu --model hf:runs/train/checkpoint-24 --data fixture --output runs/eval
    ainkit evaluate --benchmark camel-bench --model hf:runs/train/checkpoint-24 --data fixture --output runs/cb

Prompts use the training format (ainkit.services.qwen2vl.Encoder: `<|im_start|>user ... <|im_end|>` then
`<|im_start|>assistant\\n`, images as their pad tokens with the checkpoint's pixel bounds), so the model is
asked the way it learned. A checkpoint that is not a run of `ainkit train` (no config.yaml beside it: a released
model such as MBZUAI/AIN) is asked after the system turn its own chat template adds by default (Qwen2-VL's:
"You are a helpful assistant."), as vLLM or transformers' chat template would ask it. ArabicMMLU: arg-max of the next-token logits over the option letters after that
prompt. CAMEL-Bench: greedy generation with the item's images (at most `max_images`), up to `max_new_tokens`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ainkit.ground.errors import UserError
from ainkit.services.chat import MAX_PIXELS, MIN_PIXELS


FAMILY = ("qwen2_vl", "qwen2_5_vl")  # config.json model_type of the checkpoints this module asks (AIN is qwen2_vl)


def is_qwen2_vl(path: str | Path) -> bool:
    """True when `path` is a Hugging Face folder holding a Qwen2-VL-family model (config.json's model_type qwen2_vl,
    as `ainkit train` writes and MBZUAI/AIN is, or qwen2_5_vl): the same chat tokens and image processing."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        return str(json.loads(config.read_text(encoding="utf-8")).get("model_type", "")) in FAMILY
    except (OSError, ValueError):
        return False


def kit_run(path: Path) -> bool:
    """True for a checkpoint of `ainkit train` (its run's config.yaml in the folder or beside it)."""
    return any((folder / "config.yaml").is_file() for folder in (path, path.parent))


def default_system(tokenizer) -> str | None:
    """The system turn the tokenizer's chat template adds to a conversation that has none (None if it adds none)."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    head = "<|im_start|>system\n"
    if not text.startswith(head) or "<|im_end|>" not in text:
        return None
    return text[len(head):text.index("<|im_end|>")]


def pixel_bounds(path: Path) -> tuple[int, int]:
    """The pixel bounds the model was trained with: its run's config.yaml (beside a checkpoint of `ainkit train`),
    else the checkpoint's preprocessor_config.json (a released model such as MBZUAI/AIN), else the defaults (the
    trainer's too)."""
    import yaml

    for folder in (path, path.parent):
        cfg = folder / "config.yaml"
        if cfg.is_file():
            data = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
            if "min_pixels" in data and "max_pixels" in data:
                return int(data["min_pixels"]), int(data["max_pixels"])
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        data = json.loads(pre.read_text(encoding="utf-8"))
        size = data.get("size") or {}
        low, high = data.get("min_pixels", size.get("shortest_edge")), data.get("max_pixels", size.get("longest_edge"))
        if low and high:
            return int(low), int(high)
    return MIN_PIXELS, MAX_PIXELS


class QwenVL:
    """The checkpoint, its tokenizer and the kit's encoder; CPU or the first GPU."""

    def __init__(self, path: str | Path):
        import torch
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        from ainkit.services.qwen2vl import Encoder

        self.path = Path(path)
        if not (self.path / "tokenizer_config.json").is_file() and not (self.path / "tokenizer.json").is_file():
            raise UserError(f"{self.path}: no tokenizer saved with this checkpoint (checkpoints of ainkit before "
                            "2026-11-30 lack it); copy tokenizer.json, tokenizer_config.json and chat_template.jinja "
                            "from the model the run started from")
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModelForImageTextToText.from_pretrained(self.path, local_files_only=True).to(self.device).eval()
        self.enc = Encoder(self.tok, *pixel_bounds(self.path), cutoff_len=1 << 20)
        self.system = None if kit_run(self.path) else default_system(self.tok)

    def _batch(self, content: str, images: list[str] | None = None, base: Path | None = None) -> dict[str, Any]:
        batch = self.enc.collate([self.enc.prompt(content, images, base, self.system)])
        batch.pop("labels")
        return {k: v.to(self.device) for k, v in batch.items()}

    def letter_scores(self, content: str, letters: list[str]) -> list[float]:
        """Next-token logits of each letter (its first token, as the model would write it) after the prompt."""
        ids = [self.tok.encode(letter, add_special_tokens=False)[0] for letter in letters]
        with self.torch.no_grad():
            logits = self.model(**self._batch(content)).logits[0, -1]
        return [float(logits[i]) for i in ids]

    def generate(self, content: str, images: list[str], base: Path | None, max_new_tokens: int = 64) -> str:
        batch = self._batch(content, images, base)
        with self.torch.no_grad():
            out = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        return self.tok.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True).strip()
