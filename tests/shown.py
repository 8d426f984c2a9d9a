"""An executed notebook shows every figure it writes, once: used by every test that runs a notebook.

A figure's PNG carries the notebook that made it (plots.save puts it in the PNG's `Source`); the executed
copy must hold one `image/png` output per such file, byte for byte the file written to figures/.
Notebooks must run on the kernel's own (inline) backend for this, so the tests that run them drop the
MPLBACKEND conftest sets (`without_agg`).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from PIL import Image


def without_agg(env: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ (plus `env`) without MPLBACKEND: a real run has none, and Agg would reach the kernel."""
    merged = {**os.environ, **(env or {})}
    merged.pop("MPLBACKEND", None)
    return merged


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_every_figure_shown(root: Path, notebook: str) -> int:
    """Check the executed `notebook` under output root `root`; returns how many figures it wrote."""
    written = {}
    for png in sorted((Path(root) / "figures").glob("*.png")):
        with Image.open(png) as im:
            if im.info.get("Source") == notebook:
                written[_sha(png.read_bytes())] = png.name
    nb = json.loads((Path(root) / "reports" / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    shown = [base64.b64decode(o["data"]["image/png"]) for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert written, f"{notebook} wrote no figure"
    assert len(shown) == len(written), f"{notebook}: {len(shown)} image/png outputs for {len(written)} figures written"
    assert {_sha(s) for s in shown} == set(written), f"{notebook}: each output should be the very PNG written to figures/"
    return len(written)
