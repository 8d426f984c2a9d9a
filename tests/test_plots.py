"""ainkit.services.plots: every chart kind renders, saves PNG + PDF named by the notebook, and Arabic needs no missing glyph;
the module leaves the matplotlib backend to its caller (tests/shown.py checks that executed notebooks show their figures)."""
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from ainkit.services import plots
from ainkit.ground.paths import PACKAGE


def _no_glyph_warnings(caught):
    return [w for w in caught if "Glyph" in str(w.message) and "missing" in str(w.message)]


def test_matplotlib_lays_out_arabic_itself():
    assert plots.NATIVE_RTL, "matplotlib >= 3.11 is required for Arabic layout"
    assert plots.ar("مرحبا بكم") == "مرحبا بكم"  # no reshaping on top: it would reverse the text


@pytest.mark.parametrize("kind", ["radar", "heatmap", "bars", "pie", "table"])
def test_every_kind_saves_png_and_pdf(kind, out):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "radar":
            fig = plots.radar({"A": [1, 2, 3], "ب": [3, 2, 1]}, ["x", "y", "الفصحى"], title="radar · رادار", highlight="A")
        elif kind == "heatmap":
            fig = plots.heatmap(np.array([[0.1, np.nan], [0.9, 0.5]]), ["هذه جملة مثال", "b"], ["M1", "M2"])
        elif kind == "bars":
            fig = plots.grouped_bars(["مصر", "UAE"], {"s1": [1.0, np.nan], "s2": [2.0, 3.0]}, horizontal=True)
        elif kind == "pie":
            fig = plots.pie({"السعودية": 30, "other": 70}, hatch=["other"])
        else:
            fig = plots.styled_table([["1.00", "2.00"]], ["c1", "c2"], ["row"], [["best", "second"]], title="t")
        plots.source_label(fig)
        png, pdf = plots.save(fig, f"fig99_test_{kind}", "99_test", out)
        fig.canvas.draw()
    assert not _no_glyph_warnings(caught)
    assert png.name == f"fig99_test_{kind}.png" and pdf.suffix == ".pdf"
    with Image.open(png) as im:
        assert im.info.get("Source") == "99_test"
        assert im.info.get("dpi", (0,))[0] == pytest.approx(plots.DPI, abs=1)
    assert pdf.read_bytes().startswith(b"%PDF") and b"99_test" in pdf.read_bytes()


def _ink(text):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(3, 1))
    fig.text(0.1, 0.3, plots.ar(text), fontsize=40)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128  # dark pixels: (rows, cols)
    plt.close(fig)
    return img


def _height(img, c0, c1):
    rows = np.flatnonzero(img[:, c0:c1].any(axis=1))
    return rows[-1] - rows[0] + 1 if len(rows) else 0


def test_arabic_is_joined_and_right_to_left():
    """'با' (ba, then alif): right to left puts the tall alif on the LEFT, joined to a short initial ba."""
    word, ba, alif = _ink("با"), _ink("ب"), _ink("ا")
    cols = np.flatnonzero(word.any(axis=0))
    width = cols[-1] - cols[0] + 1
    k = max(1, width // 5)
    left, right = _height(word, cols[0], cols[0] + k), _height(word, cols[-1] - k + 1, cols[-1] + 1)
    assert left > 1.5 * right, "alif should stand at the left end: text was not laid out right to left"
    assert (np.diff(cols) <= 1).all(), "letters should be joined (no blank column between them)"
    isolated = np.flatnonzero(ba.any(axis=0)).size + np.flatnonzero(alif.any(axis=0)).size
    assert width < isolated, "initial ba is narrower than the isolated form: the text was shaped"


def test_rank_marks_ties_and_missing():
    assert plots.rank_marks([1, 3, 3, 2, np.nan]) == ["", "best", "best", "second", ""]
    assert plots.rank_marks([1, 2], higher_is_better=False) == ["best", "second"]


def test_bad_names_and_shapes_are_refused(out):
    fig = plots.pie({"a": 1})
    with pytest.raises(ValueError, match="figNN_"):
        plots.save(fig, "chart", "nb", out)
    with pytest.raises(ValueError, match="3 axes"):
        plots.radar({"A": [1, 2]}, ["x", "y", "z"])
    with pytest.raises(ValueError, match="does not fit"):
        plots.heatmap(np.zeros((2, 2)), ["a"], ["b", "c"])


def test_import_sets_no_backend():
    """The caller's backend survives `import ainkit.services.plots` (the runner, the tests and Jupyter choose their own)."""
    code = "import matplotlib, ainkit.services.plots; print(matplotlib.get_backend())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "svg"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "svg"
    use = re.compile(r"^\s*(matplotlib|mpl)\.use\(", re.MULTILINE)
    calls = [p.name for p in PACKAGE.rglob("*.py") if use.search(p.read_text(encoding="utf-8"))]
    assert not calls, f"matplotlib.use() called in {calls}: leave the backend to the caller"


def test_save_outside_a_kernel_only_writes(out, capsys):
    assert not plots.in_kernel()
    plots.save(plots.pie({"a": 1}), "fig99_quiet", "99_test", out)
    assert capsys.readouterr().out == ""
