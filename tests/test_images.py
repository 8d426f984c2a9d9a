"""ainkit.services.images: the one image -> request part builder (sizes, checks, one-line reasons)."""
import base64
import hashlib
import io

import pytest
from PIL import Image

from ainkit.services import images


def decoded(url: str) -> Image.Image:
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True)))


def save(path, size=(100, 50), rgb=(0, 200, 0), fmt=None):
    Image.new("RGB", size, rgb).save(path, format=fmt)
    return path


@pytest.mark.parametrize("size, longest_side, upscale, expected", [
    ((1000, 500), 672, False, (672, 336)),   # shrunk to the longest side
    ((300, 600), 672, False, (300, 600)),    # never grown by default (the toxicity judge)
    ((300, 600), 420, True, (210, 420)),     # grown to exactly the side (CAMEL-Bench's 420 px)
    ((840, 420), 420, True, (420, 210)),
])
def test_load_resizes_and_hashes_the_file(tmp_path, size, longest_side, upscale, expected):
    path = save(tmp_path / "a.png", size)
    sha, url = images.load(path, longest_side, upscale=upscale)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    with decoded(url) as im:
        assert im.size == expected and im.mode == "RGB"


def test_part_is_the_openai_image_part(tmp_path):
    _, url = images.load(save(tmp_path / "a.webp", fmt="WEBP"), 64)
    assert images.part(url) == {"type": "image_url", "image_url": {"url": url}}


def test_transparent_and_palette_images_are_sent_as_rgb_jpeg(tmp_path):
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(tmp_path / "a.png")
    Image.new("P", (40, 40)).save(tmp_path / "b.gif")
    for name in ("a.png", "b.gif"):
        with decoded(images.load(tmp_path / name)[1]) as im:
            assert im.mode == "RGB"


def bad_inputs(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image")
    data = save(tmp_path / "full.png", (200, 200)).read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "folder.png").mkdir()
    return {
        "missing": (str(tmp_path / "nope.png"), "missing file"),
        "not an image": (str(tmp_path / "notes.png"), "not an image"),
        "truncated": (str(tmp_path / "truncated.png"), "unreadable or truncated image"),
        "folder": (str(tmp_path / "folder.png"), "not a file"),
        "1 MB path": ("x" * 1_000_000, "image path of 1,000,000 characters"),
        "long component": (str(tmp_path / ("y" * 300) / "a.png"), "cannot read"),  # ENAMETOOLONG from the OS
        "NUL byte": ("a\x00b.png", "image path contains a NUL byte"),
        "newline": (str(tmp_path / "a\nb.png"), "missing file"),
    }


@pytest.mark.parametrize("case", ["missing", "not an image", "truncated", "folder", "1 MB path", "long component",
                                  "NUL byte", "newline"])
def test_unusable_images_raise_a_one_line_reason(tmp_path, case):
    path, reason = bad_inputs(tmp_path)[case]
    with pytest.raises(images.ImageError) as err:
        images.load(path)
    msg = str(err.value)
    assert msg.startswith(reason) and msg.isprintable() and len(msg) < 400, msg


def test_size_limits(tmp_path, monkeypatch):
    path = save(tmp_path / "a.png", (100, 100))
    monkeypatch.setattr(images, "MAX_PIXELS", 5_000)
    with pytest.raises(images.ImageError, match=r"too large: 100x100 pixels"):
        images.load(path)
    monkeypatch.setattr(images, "MAX_BYTES", 10)
    with pytest.raises(images.ImageError, match=r"too large: .* MB"):
        images.load(path)


@pytest.mark.parametrize("name, problem", [
    ("a.PNG", ""), ("b.jpeg", ""), ("c.tiff", ""),
    ("d.svg", "unsupported image type .svg (supported: .bmp"),
    ("notes.txt", "unsupported image type .txt"),
    ("README", "unsupported image type (no suffix)"),
])
def test_suffix_problem(name, problem):
    found = images.suffix_problem(name)
    assert found.startswith(problem) and bool(found) == bool(problem)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_check_decodes_every_pixel_so_a_file_cut_short_is_refused(tmp_path, fmt):
    """images.check (export's and curate's check) reads past the header: 60 bytes of an image, or most of it, fail."""
    whole = tmp_path / f"whole.{fmt.lower()}"
    Image.effect_noise((160, 120), 70).convert("RGB").save(whole, format=fmt)
    assert images.check(whole) == ""
    data = whole.read_bytes()
    for size in (60, len(data) // 2, len(data) - 40):
        part = tmp_path / f"cut{size}.{fmt.lower()}"
        part.write_bytes(data[:size])
        why = images.check(part)
        assert why.startswith(("unreadable or truncated image", "not an image")), (size, why)


def test_check_has_the_one_size_limit(tmp_path, monkeypatch):
    path = save(tmp_path / "a.png", (100, 100))
    monkeypatch.setattr(images, "MAX_BYTES", path.stat().st_size - 1)
    assert images.check(path).startswith("too large")
    monkeypatch.setattr(images, "MAX_BYTES", path.stat().st_size)
    assert images.check(path) == ""
