"""The report's image-toxicity screening (Figure 16, Section 2.2): its shares checked, the kit's judgments beside them.

    from ainkit.reproduction.analyses import screening
    rows = screening.result_rows()                                   # published shares and their sums
    rows = screening.result_rows(toxicity.statistics(judged), judged_by="gpt-4o", images_dir="imgs/")

The report says 95.63 % safe and 4.37 % unsafe, and gives four category shares that add to more
than the unsafe share; `published_consistency` computes the sums. Used by notebook 04.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.reproduction import paper
from ainkit.reproduction.results import Row


def published_consistency() -> dict[str, float]:
    """The report's Figure 16 numbers and their sums (they do not agree)."""
    s = paper.shares("figure16")
    cats = paper.meta("figure16")["categories"]
    return {"safe": s["safe"], "unsafe": s["unsafe"], "safe + unsafe": round(s["safe"] + s["unsafe"], 2),
            "sum of unsafe categories": round(sum(s[c] for c in cats), 2),
            "categories - stated unsafe": round(sum(s[c] for c in cats) - s["unsafe"], 2),
            "safe implied by categories": round(100 - sum(s[c] for c in cats), 2)}


def result_rows(kit_stats: dict[str, Any] | None = None, judged_by: str = "", images_dir: str = "") -> list[Row]:
    """Rows of the results contract for Figure 16: the published shares, their sums, and the kit's judgments
    (`kit_stats` from ainkit.stages.toxicity.statistics) when a folder was judged."""
    pub, cats, check = paper.shares("figure16"), paper.meta("figure16")["categories"], published_consistency()
    rows = [Row("Figure 16", "safe (%)", pub["safe"], None, "published", "Section 2.2 text; the caption says 'about 96%'"),
            Row("Figure 16", "unsafe (%)", pub["unsafe"], None, "published", "Section 2.2 text")]
    rows += [Row("Figure 16", f"unsafe: {c} (%)", pub[c], None, "published", "Figure 16 caption") for c in cats]
    rows.append(Row("Figure 16", "safe + unsafe (%)", 100.0, check["safe + unsafe"], "recomputed", "the stated split adds to 100"))
    rows.append(Row("Figure 16", "sum of the four unsafe categories vs stated unsafe share (%)", pub["unsafe"],
                    check["sum of unsafe categories"], "recomputed",
                    f"INCONSISTENT: the categories add to {check['sum of unsafe categories']}%, "
                    f"{check['categories - stated unsafe']} points more than the stated {pub['unsafe']}% unsafe; "
                    f"they would imply {check['safe implied by categories']}% safe"))
    if kit_stats:
        for k, v in kit_stats["share"].items():
            rows.append(Row("Figure 16", f"kit: {k} (%)", pub.get(k.lower()), round(v, 2), "substitute",
                            f"{kit_stats['images']} images from {images_dir} judged by {judged_by} (not the report's data)"))
    return rows


def sample_image(path: str | Path, notebook: str) -> Path:
    """Draw a harmless landscape (sky, grass, sun, a hill) to show the judge's request; the PNG names `notebook` as its source."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    im = Image.new("RGB", (640, 400), (135, 190, 235))
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 280, 640, 400], fill=(70, 150, 60))
    draw.ellipse([480, 40, 560, 120], fill=(250, 220, 60))
    draw.polygon([(120, 280), (200, 170), (280, 280)], fill=(150, 110, 80))
    meta = PngInfo()
    meta.add_text("Source", notebook)
    im.save(path, pnginfo=meta)
    return Path(path)
