"""Perceptual hashes of images (64-bit DCT pHash) and their Hamming-distance matching, blocked for large sets.

    from ainkit.services import phash
    h = phash.of_file("photo.jpg")                 # ImageHash(sha256, bits, flat); ImageError when unreadable
    for i, j, d in phash.near(train_bits, bench_bits, max_distance=10): ...

The hash is the DCT pHash as Neal Krawetz describes it ("Looks Like It", hackerfactor.com, 2011): grey levels,
shrunk to 32x32, a 2-D DCT-II, the top-left 8x8 block of low frequencies, one bit a coefficient: above the block's
median or not. imagehash (JohannesBuchner/imagehash, BSD-2) implements the same idea; its phash at 5b69679
(imagehash/__init__.py) took a 1-D DCT along rows only and compared to the mean; this module takes the 2-D DCT
and the median, as the description and imagehash's later releases do. Written here (scipy's DCT), not imported.

A flat image (a plain colour, a near-uniform scan) has no low-frequency structure: its 63 AC coefficients are
rounding noise, so its hash says nothing and two different plain images can hash alike. Such images are marked
`flat` (grey-level standard deviation of the 32x32 thumbnail under FLAT_STD) and are matched only by their bytes,
never as near duplicates.

Matching (`near`) is brute force over 64-bit integers: XOR and a population count (numpy.bitwise_count), in blocks
of BLOCK_PAIRS pairs so memory stays at 38 MB whatever the sizes; bench/leakage_scale.py measures its cost.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

SIDE = 32        # the thumbnail's side, pixels
LOW = 8          # the low-frequency block's side: LOW * LOW = 64 bits
FLAT_STD = 2.0   # grey levels (0-255): a thumbnail whose standard deviation is lower is flat (hash meaningless)
CROP = 0.05      # share of each side the index's crops take off (`crops`)
BLOCK_PAIRS = 1 << 22  # pairs compared at once in `near`: 4 M x 9 bytes (XOR and distance) = 38 MB
DRAFT = 4 * SIDE  # a JPEG is decoded at the smallest scale (1/2 to 1/8) that keeps both sides at least this long


@dataclass(frozen=True)
class ImageHash:
    """One image: the sha256 of its bytes (exact duplicates), its 64-bit pHash, and whether it is flat."""

    sha256: str
    bits: int
    flat: bool


def of_image(im) -> tuple[int, bool]:
    """(64-bit pHash as an int, flat?) of a Pillow image."""
    from PIL import Image
    from scipy.fft import dctn

    grey = np.asarray(im.convert("L").resize((SIDE, SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = dctn(grey, type=2, norm="ortho")[:LOW, :LOW].ravel()  # (64,) low frequencies, DC first
    bits = low > np.median(low)
    value = int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])
    return value, bool(grey.std() < FLAT_STD)


def decoded(data: bytes):
    """The image in grey levels, every pixel decoded (a truncated file is refused), a JPEG at the smallest scale
    keeping DRAFT pixels a side (the 32x32 thumbnail is the same); ImageError when the bytes are not a whole,
    reasonably sized image (ainkit.services.images.whole)."""
    from ainkit.services.images import whole

    return whole(data, mode="L", draft=DRAFT)


def of_bytes(data: bytes) -> ImageHash:
    """The hash of image bytes (`decoded`); ImageError when they are not an image."""
    bits, flat = of_image(decoded(data))
    return ImageHash(hashlib.sha256(data).hexdigest(), bits, flat)


def of_file(path: str | os.PathLike) -> ImageHash:
    """The hash of an image file (read with ainkit.services.images' checks); ImageError with a one-line reason."""
    from ainkit.services import images

    return of_bytes(images.read(path))


def crops(im, share: float = CROP) -> list[int]:
    """pHashes of the image and of its 9 crops by `share` of each side, placed on a 3x3 grid (left/top offset 0,
    half, all of the cut): a copy cropped by up to that much, anywhere, lies within a few bits of one of them (the
    hash alone moves by up to 20 bits under a 5 % corner crop)."""
    w, h = im.size
    dx, dy = int(w * share), int(h * share)
    if not dx or not dy:
        return [of_image(im)[0]]
    boxes = [(left, top, w - dx + left, h - dy + top) for left in (0, dx // 2, dx) for top in (0, dy // 2, dy)]
    return [of_image(im)[0]] + [of_image(im.crop(b))[0] for b in boxes]


def as_array(values: list[int]) -> np.ndarray:
    """Hashes (Python ints) as a uint64 array."""
    return np.array(values, dtype=np.uint64).reshape(-1)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Hamming distances (uint8) of two uint64 hash arrays."""
    return np.bitwise_count(a[:, None] ^ b[None, :])


def near(a: np.ndarray, b: np.ndarray, max_distance: int, block: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(i, j, distance) of every pair a[i], b[j] within `max_distance` bits; a in blocks of `block` rows (default:
    BLOCK_PAIRS // len(b)), each compared into preallocated buffers."""
    if not 0 <= max_distance <= 64:
        raise ValueError(f"max_distance {max_distance}: expected 0 to 64 bits")
    if not len(a) or not len(b):
        return
    block = block or max(1, BLOCK_PAIRS // len(b))
    xor = np.empty((min(block, len(a)), len(b)), dtype=np.uint64)
    dist = np.empty(xor.shape, dtype=np.uint8)
    for start in range(0, len(a), block):
        rows = a[start:start + block]
        x, d = xor[:len(rows)], dist[:len(rows)]
        np.bitwise_xor(rows[:, None], b[None, :], out=x)
        np.bitwise_count(x, out=d)
        for i, j in zip(*np.nonzero(d <= max_distance)):
            yield start + int(i), int(j), int(d[i, j])
