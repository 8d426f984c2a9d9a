"""The Qwen2-VL chat format, shared by training and evaluation: chat records -> model inputs.

    from ainkit.services.qwen2vl import Encoder
    enc = Encoder(tokenizer, min_pixels=32 * 32, max_pixels=768 * 768)
    example = enc.encode(record, base_dir)          # or raises RecordProblem with the reason
    batch = enc.collate([example, ...])
    prompt = enc.prompt("question", ["a.png"])     # what the model is asked at evaluation (ainkit.stages.evaluate.local_vlm)

Records use LLaMA-Factory's multimodal ShareGPT shape (ainkit.services.chat): {"messages": [{"role": "user", "content":
"<image>What is ...?"}, {"role": "assistant", "content": "..."}], "images": ["a.jpg"]}. The
number of <image> placeholders must equal the number of images, and every image must open.
Each image becomes <|vision_start|> + N x <|image_pad|> + <|vision_end|>, N = its patch grid /
merge_size^2, exactly as Qwen2-VL's processor does. Labels are -100 everywhere except the
assistant turns' content and their closing <|im_end|>.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.services.chat import MAX_PIXELS, MIN_PIXELS, PLACEHOLDER

IGNORE = -100


class RecordProblem(ValueError):
    """A record that cannot become a training example; the message says why."""


def image_processor(min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, patch_size: int = 14, merge_size: int = 2,
                    temporal_patch_size: int = 2):
    """Qwen2-VL's image processor (the PIL backend, which needs no torchvision), with LLaMA-Factory's pixel bounds."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil as Proc,
        )
    except ImportError:  # pragma: no cover - older transformers
        from transformers import Qwen2VLImageProcessor as Proc
    return Proc(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=patch_size, merge_size=merge_size,
                temporal_patch_size=temporal_patch_size)


CHARS_PER_TOKEN_CAP = 16  # no tokenizer packs more characters into a token; a record over cutoff x 16 cannot fit


class Encoder:
    """Turns records into Qwen2-VL inputs (see the module docstring)."""

    def __init__(self, tokenizer, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, cutoff_len: int = 2048,
                 merge_size: int = 2):
        self.tok = tokenizer
        self.images = image_processor(min_pixels, max_pixels, merge_size=merge_size)
        self.merge = merge_size
        self.cutoff = cutoff_len
        self.ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|vision_start|>",
                                                                     "<|vision_end|>", "<|image_pad|>")}

    def _tokens(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def encode(self, rec: dict[str, Any], base: Path | None = None, pixels: bool = True) -> dict[str, Any]:
        """The record as model inputs, or RecordProblem with the reason.

        pixels=False checks the record without decoding an image: sizes come from the image headers and the
        image tokens from Qwen2-VL's own resize rule, so the token count (returned as {"tokens": n}) and every
        reason to refuse are those of the full encoding (tests/test_train.py holds the two together). That is
        what LazyRecords runs over a whole data set before training, in constant memory.
        """
        from PIL import Image

        msgs, paths = rec.get("messages"), rec.get("images") or []
        if not isinstance(msgs, list) or not msgs:
            raise RecordProblem("no 'messages' list")
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
            raise RecordProblem("no assistant turn: nothing to learn")
        chars = sum(len(m["content"]) for m in msgs if isinstance(m, dict) and isinstance(m.get("content"), str))
        if chars > self.cutoff * CHARS_PER_TOKEN_CAP:  # bounded cost: refused before tokenizing, it could never fit
            raise RecordProblem(f"{chars:,} characters of text: over {CHARS_PER_TOKEN_CAP} per token of the cutoff "
                                f"length {self.cutoff}, so it cannot fit")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise RecordProblem("'images' must be a list of paths")
        n_ph = sum(str(m.get("content", "")).count(PLACEHOLDER) for m in msgs if isinstance(m, dict))
        if n_ph != len(paths):
            raise RecordProblem(f"{n_ph} <image> placeholder(s) but {len(paths)} image(s)")
        pics, sizes = [], []
        for p in paths:
            path = Path(p) if base is None or Path(p).is_absolute() else Path(base) / p
            try:
                with Image.open(path) as im:
                    if pixels:
                        im.load()
                        pics.append(im.convert("RGB"))
                    else:
                        sizes.append(im.size)
            except (OSError, ValueError) as exc:
                raise RecordProblem(f"image {p}: cannot be read ({type(exc).__name__})") from None
        try:
            if pixels:
                pixel = self.images(images=pics, return_tensors="pt") if pics else None
                pads = [int(g.prod()) // self.merge ** 2 for g in pixel["image_grid_thw"]] if pixel is not None else []
            else:
                pads = [self.image_tokens(w, h) for w, h in sizes]
        except ValueError as exc:  # e.g. an aspect ratio over 200, which Qwen2-VL refuses
            raise RecordProblem(f"image cannot be resized for the model ({exc})") from None
        input_ids: list[int] = []
        labels: list[int] = []
        k = 0
        for m in msgs:
            role, content = m.get("role"), m.get("content")
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                raise RecordProblem(f"bad turn {m!r:.80}")
            head = [self.ids["<|im_start|>"]] + self._tokens(f"{role}\n")
            body: list[int] = []
            for i, piece in enumerate(content.split(PLACEHOLDER)):
                if i:
                    body += [self.ids["<|vision_start|>"]] + [self.ids["<|image_pad|>"]] * pads[k] + [self.ids["<|vision_end|>"]]
                    k += 1
                body += self._tokens(piece)
            tail = [self.ids["<|im_end|>"]] + self._tokens("\n")
            input_ids += head + body + tail
            if role == "assistant":
                labels += [IGNORE] * len(head) + body + [self.ids["<|im_end|>"]] + [IGNORE] * (len(tail) - 1)
            else:
                labels += [IGNORE] * (len(head) + len(body) + len(tail))
        if len(input_ids) > self.cutoff:
            raise RecordProblem(f"{len(input_ids)} tokens > cutoff length {self.cutoff}")
        if not pixels:
            return {"tokens": len(input_ids)}
        out = {"input_ids": input_ids, "labels": labels}
        if pixel is not None:
            out["pixel_values"], out["image_grid_thw"] = pixel["pixel_values"], pixel["image_grid_thw"]
        return out

    def prompt(self, content: str, images: list[str] | None = None, base: Path | None = None,
               system: str | None = None) -> dict[str, Any]:
        """A one-turn user prompt in the training format (after a `system` turn when given), ending where the
        assistant's answer starts (`<|im_start|>assistant\n`), as an example `collate` takes (labels all ignored):
        for generation and scoring."""
        turns = [{"role": "system", "content": system}] if system else []
        ex = self.encode({"messages": [*turns, {"role": "user", "content": content}, {"role": "assistant", "content": ""}],
                          "images": list(images or [])}, base)
        cut = len(ex["input_ids"]) - 1 - len(self._tokens("\n"))  # drop the empty answer's <|im_end|> and newline
        ex["input_ids"] = ex["input_ids"][:cut]
        ex["labels"] = [IGNORE] * cut
        return ex

    def image_tokens(self, width: int, height: int) -> int:
        """<|image_pad|> tokens for an image of this size: Qwen2-VL's resize rule (smart_resize) on the patch grid."""
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            smart_resize,
        )

        patch = self.images.patch_size
        h, w = smart_resize(height, width, factor=patch * self.merge, min_pixels=self.images.size.shortest_edge,
                            max_pixels=self.images.size.longest_edge)
        return (h // patch) * (w // patch) // self.merge ** 2

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Right-padded batch; images of the batch concatenated as Qwen2-VL expects; mm_token_type_ids for M-RoPE."""
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            n = len(e["input_ids"])
            ids[i, :n] = torch.tensor(e["input_ids"])
            labels[i, :n] = torch.tensor(e["labels"])
            mask[i, :n] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels,
                 "mm_token_type_ids": (ids == self.ids["<|image_pad|>"]).long()}
        with_images = [e for e in examples if "pixel_values" in e]
        if with_images:
            batch["pixel_values"] = torch.cat([e["pixel_values"] for e in with_images])
            batch["image_grid_thw"] = torch.cat([e["image_grid_thw"] for e in with_images])
        return batch
