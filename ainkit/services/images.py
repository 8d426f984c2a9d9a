"""The kit's one way to turn an image file into an OpenAI chat request part (toxicity judge, CAMEL-Bench, vision probe).

    from ainkit.services import images
    sha, url = images.load("photo.png", longest_side=672)     # ImageError (one-line reason) when it cannot be sent
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe it."}, images.part(url)]}]

Every image is sent the same way: decoded with Pillow (checked for size, pixel count and
truncation first), converted to RGB, shrunk so its longest side is at most `longest_side`
pixels (grown to exactly that with `upscale=True`, as CAMEL-Bench sends its 420 px images),
and encoded as a JPEG (quality 90) `data:` URL. The sha256 is of the file's bytes, so it names
the image whatever the resize (the toxicity decision cache keys on it).

`check(path)` is the kit's one test that an image can be used, by export, curate and the gallery alike: the
same read (MAX_BYTES) and the same whole decode (every pixel, converted to RGB, as the trainer
does), so an image a header read accepts but that is cut short is refused here, with its reason,
not when training meets it.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import Any

from ainkit.ground.errors import UserError

SUPPORTED_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
MAX_BYTES = 25 * 1024 * 1024  # larger files are refused before they are read
MAX_PIXELS = 60_000_000  # width x height; larger images are refused before they are decoded
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux; a longer path string is a broken record, not a file
JPEG_QUALITY = 90


class ImageError(UserError, ValueError):
    """An image that cannot be sent; the message is a one-line reason (it goes to the rejects file)."""


def _shown(path: str) -> str:
    """A path fit for a one-line message: at most 200 characters, control characters escaped."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in path[:201])
    return text if len(path) <= 200 else text[:200] + f"... ({len(path):,} characters)"


def suffix_problem(path: str | os.PathLike) -> str:
    """Why a file's name says it is not a supported image ('' when it is one)."""
    suffix = Path(path).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return ""
    return f"unsupported image type {suffix or '(no suffix)'} (supported: {', '.join(SUPPORTED_SUFFIXES)})"


def read(path: str | os.PathLike) -> bytes:
    """The file's bytes; ImageError when the path is absurd, missing, not a file, too large or unreadable."""
    text = os.fspath(path)
    if len(text) > MAX_PATH_CHARS:
        raise ImageError(f"image path of {len(text):,} characters, over the limit of {MAX_PATH_CHARS:,}: {_shown(text)}")
    if "\x00" in text:
        raise ImageError(f"image path contains a NUL byte: {_shown(text)}")
    try:
        st = os.stat(text)
        if not os.path.isfile(text):
            raise ImageError(f"not a file: {_shown(text)}")
        if st.st_size > MAX_BYTES:
            raise ImageError(f"too large: {st.st_size / 1e6:.1f} MB > {MAX_BYTES / 1e6:.0f} MB: {_shown(text)}")
        with open(text, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ImageError(f"missing file {_shown(text)}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {_shown(text)} ({exc.strerror or exc})") from None


def encode(im, longest_side: int | None = None, upscale: bool = False) -> str:
    """A Pillow image as a JPEG data URL, its longest side made at most (or, with upscale, exactly) `longest_side`."""
    from PIL import Image

    im = im.convert("RGB")
    if longest_side:
        w, h = im.size
        scale = longest_side / max(w, h)
        if scale < 1 or (upscale and scale > 1):
            im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return data_uri(buf.getvalue(), "image/jpeg")


def data_uri(data: bytes, mime: str) -> str:
    """Bytes as a `data:` URI: how requests and pages carry an image (the gallery, REPRODUCTION.html)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def whole(data: bytes, mode: str = "RGB", draft: int | None = None):
    """The image decoded whole (every pixel read) and converted to `mode` (RGB: as the trainer and the judge meet
    it); `draft`: a JPEG decoded at the smallest scale that keeps `draft` pixels a side (its decoder scales in the
    DCT domain, so a thumbnail is read about 10x faster), without the separate verify pass. ImageError when the
    bytes are not a whole, reasonably sized image."""
    from PIL import Image, UnidentifiedImageError

    def sized(im):
        if im.width * im.height > MAX_PIXELS:
            raise ImageError(f"too large: {im.width}x{im.height} pixels > {MAX_PIXELS:,}")
        return im

    try:
        if draft is None:
            with Image.open(io.BytesIO(data)) as probe:
                sized(probe).verify()
        with Image.open(io.BytesIO(data)) as im:
            if draft is not None:
                sized(im).draft(mode, (draft, draft))
            im.load()
            return im.convert(mode)
    except UnidentifiedImageError:
        raise ImageError("not an image") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"too large: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"unreadable or truncated image: {' '.join(str(exc).split())[:200]}") from None


def decode(data: bytes, longest_side: int | None = None, upscale: bool = False) -> str:
    """Image bytes as a JPEG data URL (see `encode`); ImageError when they are not a whole, reasonably sized image."""
    return encode(whole(data), longest_side, upscale)


def check(path: str | os.PathLike) -> str:
    """Why an image cannot be used ('' when it can): read as `read` does, then decoded whole as `whole` does."""
    try:
        whole(read(path))
    except ImageError as exc:
        return str(exc)
    return ""


def load(path: str | os.PathLike, longest_side: int = 672, upscale: bool = False) -> tuple[str, str]:
    """(sha256 of the file's bytes, JPEG data URL of the resized image); ImageError with a one-line reason."""
    data = read(path)
    return hashlib.sha256(data).hexdigest(), decode(data, longest_side, upscale)


def part(data_url: str) -> dict[str, Any]:
    """The OpenAI chat content part that carries an image."""
    return {"type": "image_url", "image_url": {"url": data_url}}
