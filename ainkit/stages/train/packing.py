"""Packed multimodal batches for Qwen2-VL: several samples in one row, each still seeing only itself.

    ainkit train --config configs/train/tiny.yaml --set packing=true
    from ainkit.stages.train.packing import pack, Packed, PackedCollate
    bins = pack([len(e["input_ids"]) for e in examples], cutoff=2048)   # lists of example indices, in data order
    batch = PackedCollate(encoder)([[examples[i] for i in b] for b in bins[:2]])

Rows are filled first-fit in data order (a sample goes to the oldest open row it fits in; at most
`window` rows are open, the oldest is closed when one more is needed), so the rows are a pure
function of the records' token counts and their order: a resumed run rebuilds the same rows, and
the Trainer's seeded sampler then shuffles rows, not samples. A batch carries no 2-D attention mask
and position_ids of shape (4, B, L): row 0 counts 0, 1, 2, ... from each sample's start (the text
positions), rows 1-3 are that sample's own M-RoPE positions (temporal, height, width), computed by
Qwen2-VL's rule (`mrope_positions`, held equal to the model's get_rope_index in tests/test_packing.py).
transformers (5.x) reads a restart of row 0 as a sample boundary: with sdpa or eager it builds a
block-diagonal causal mask (masking_utils.find_packed_sequence_indices), with flash_attention_2 the
same positions become the varlen kernel's cu_seqlens (GPU only; not exercised on CPU). Labels keep
each sample's answer tokens only, and each sample's first label is ignored, so no token is trained
to predict the next sample. Images stay with their sample: pixel_values and image_grid_thw are
concatenated in sample order, which is the order of the image tokens in the flattened batch.
The loss is then the sum of token losses over all answer tokens / their count, exactly as for the
same samples padded or run one by one (tests/test_packing.py, float32 on CPU).
"""
from __future__ import annotations

from typing import Any

from ainkit.services.qwen2vl import IGNORE


def pack(lengths: list[int], cutoff: int, window: int = 64) -> list[list[int]]:
    """Indices grouped into rows of at most `cutoff` tokens: first-fit in data order over the `window` open rows."""
    rows: list[list[int]] = []
    room: list[int] = []  # tokens left in each row
    open_rows: list[int] = []  # indices into rows, oldest first
    for i, n in enumerate(lengths):
        if n > cutoff:
            raise ValueError(f"sample {i}: {n} tokens > cutoff {cutoff}")
        at = next((r for r in open_rows if room[r] >= n), None)
        if at is None:
            if len(open_rows) >= window:
                open_rows.pop(0)
            rows.append([])
            room.append(cutoff)
            at = len(rows) - 1
            open_rows.append(at)
        rows[at].append(i)
        room[at] -= n
        if room[at] == 0:
            open_rows.remove(at)
    return rows


def padding_share(lengths: list[int], rows: list[list[int]], batch: int = 1) -> float:
    """Share of pad tokens when `rows` (lists of indices) go `batch` at a time, each batch padded to its longest row."""
    sizes = [sum(lengths[i] for i in row) for row in rows]
    slots = sum(max(sizes[k:k + batch]) * len(sizes[k:k + batch]) for k in range(0, len(sizes), batch))
    return 1 - sum(sizes) / slots if slots else 0.0


class Packed:
    """A data set of packed rows over `base` (any indexable data set): item i is the list of examples of row i."""

    def __init__(self, base, lengths: list[int], cutoff: int, window: int = 64):
        self.base, self.rows = base, pack(lengths, cutoff, window)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [self.base[j] for j in self.rows[i]]


def mrope_positions(input_ids, grids, image_token_id: int, merge: int):
    """(3, n) M-RoPE positions of one sample by Qwen2-VL's rule: text counts on, an image of grid (t, h, w) takes a
    (t, h/merge, w/merge) block offset by the position so far, which then moves on by max(h, w) / merge."""
    import torch

    ids = torch.as_tensor(input_ids)
    parts, pos, k, i, n = [], 0, 0, 0, len(ids)
    is_image = (ids == image_token_id).tolist()
    while i < n:
        j = i
        while j < n and is_image[j] == is_image[i]:
            j += 1
        if not is_image[i]:
            parts.append(torch.arange(pos, pos + j - i).expand(3, -1))
            pos += j - i
        else:
            t, h, w = (int(x) for x in grids[k])
            h, w = h // merge, w // merge
            grid = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
            parts.append(torch.stack(grid).reshape(3, -1) + pos)
            if t * h * w != j - i:
                raise ValueError(f"image {k}: {j - i} image tokens for a grid of {t * h * w}")
            pos += max(h, w)
            k += 1
        i = j
    return torch.cat(parts, dim=1)


class PackedCollate:
    """Rows of examples (Encoder.encode's dicts) -> one Qwen2-VL batch, right-padded to the longest row."""

    def __init__(self, encoder):
        self.enc = encoder

    def __call__(self, rows: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """input_ids, labels, position_ids (4, B, L), use_cache False, and the rows' images in sample order."""
        import torch

        enc, width = self.enc, max(sum(len(e["input_ids"]) for e in row) for row in rows)
        pad = enc.tok.pad_token_id if enc.tok.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        pos = torch.zeros((4, len(rows), width), dtype=torch.long)
        images = []
        for r, row in enumerate(rows):
            at = 0
            for e in row:
                n = len(e["input_ids"])
                ids[r, at:at + n] = torch.tensor(e["input_ids"])
                labels[r, at + 1:at + n] = torch.tensor(e["labels"][1:])  # the first token predicts nothing of its own
                pos[0, r, at:at + n] = torch.arange(n)
                pos[1:, r, at:at + n] = mrope_positions(e["input_ids"], e.get("image_grid_thw", []),
                                                        enc.ids["<|image_pad|>"], enc.merge)
                images += [e] if "pixel_values" in e else []
                at += n
            pos[:, r, at:] = torch.arange(width - at)  # the padding is a block of its own
        batch = {"input_ids": ids, "labels": labels, "position_ids": pos, "use_cache": False}
        if images:
            batch["pixel_values"] = torch.cat([e["pixel_values"] for e in images])
            batch["image_grid_thw"] = torch.cat([e["image_grid_thw"] for e in images])
        return batch
