"""Figures 4-5 for any models: every item with each model's answer and verdicts, as one self-contained page and a panel.

    ainkit gallery --predictions runs/a/predictions.jsonl runs/b/predictions.jsonl --output runs/gallery
    ainkit gallery --predictions $(ls ainkit/stages/evaluate/fixtures/camel_answers/*.jsonl) --output /tmp/gallery

Writes OUTPUT/gallery.html (images embedded as data URIs: no server, no network; Arabic right to left; filters by
data set, domain and "models disagree", which means their corrected-mode verdicts differ, or, where no model has
a verdict, their answers differ) and OUTPUT/fig05_side_by_side.png/.pdf, a panel of `--panel` items in the house
style. Each answer shows its verdict under both scoring modes (ainkit.stages.evaluate.camel_bench) and the LLM judge's
grade where the set is open-ended and a judge graded it.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ainkit.ground import atomic
from ainkit.services import plots
from ainkit.services.records import RecordError
from ainkit.pipelines.sidebyside import (FIXTURE_ITEMS, FolderOutputs, Key, ModelAnswers, answer_text, bidi_html, bilingual, domain_of,
                               image_data_uri, isolate, load_answers, load_items, verdicts)

PANEL_NAME = "fig05_side_by_side"
PANEL_DEFAULT = 4  # items in the panel when --panel is not given


@dataclass
class Entry:
    """One item with every model's answer and verdicts."""

    key: Key
    item: dict[str, Any] | None
    answers: dict[str, dict[str, Any]]   # model -> {text, corrected, original, judge}

    @property
    def disagree(self) -> bool:
        graded = {a["corrected"] for a in self.answers.values() if a["corrected"] is not None}
        if graded:
            return len(graded) > 1
        return len({a["text"].strip().casefold() for a in self.answers.values()}) > 1


def entries(items: dict[Key, dict[str, Any]], models: list[ModelAnswers]) -> list[Entry]:
    """Items in the items file's order, then answered keys it lacks; each with every model's answer (missing: None)."""
    keys = [k for k in items if any(k in m.rows for m in models)]
    keys += sorted({k for m in models for k in m.rows} - set(items))
    out = []
    for k in keys:
        answers = {}
        for m in models:
            row = m.rows.get(k)
            answers[m.name] = ({"text": answer_text(row.get("prediction")), **verdicts(row, items.get(k))} if row else
                               {"text": "(not answered by this model)", "corrected": None, "original": None, "judge": None})
        out.append(Entry(k, items.get(k), answers))
    return out


def _mark(v: bool | None) -> str:
    return "–" if v is None else ("✓" if v else "✗")


_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em}.filters{position:sticky;top:0;background:#f7f7f7;padding:.6em;border:1px solid #ddd;z-index:1}
.item{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.8em}.item header{color:#555;font-size:.9em}
.images img{max-height:180px;max-width:45%;margin:.3em;border:1px solid #eee}
.question,.ref{margin:.5em 0}.question{font-size:1.1em}.question,.answer{white-space:pre-line}[dir=rtl]{text-align:right}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #eee;padding:.3em .5em;vertical-align:top}
td.v{text-align:center;width:6em}.ok{color:#1b7837;font-weight:bold}.no{color:#b2182b;font-weight:bold}.na{color:#999}
.note{color:#555;font-size:.85em}
"""

_JS = """
function applyFilters(){
  const ds=document.getElementById('f-dataset').value, dom=document.getElementById('f-domain').value;
  const dis=document.getElementById('f-disagree').checked; let n=0;
  for(const el of document.querySelectorAll('section.item')){
    const show=(!ds||el.dataset.dataset===ds)&&(!dom||el.dataset.domain===dom)&&(!dis||el.dataset.disagree==='1');
    el.style.display=show?'':'none'; if(show)n++;
  }
  document.getElementById('shown').textContent=n+' of '+document.querySelectorAll('section.item').length+' items shown';
}
for(const id of ['f-dataset','f-domain','f-disagree'])document.getElementById(id).addEventListener('change',applyFilters);
applyFilters();
"""


def _cls(v: bool | None) -> str:
    return "na" if v is None else ("ok" if v else "no")


def render_html(rows: list[Entry], models: list[ModelAnswers], title: str = "Side-by-side answers · مقارنة الإجابات") -> str:
    """The gallery page: one section per item; everything inline (CSS, JS, images)."""
    e = html.escape
    datasets = sorted({r.key[0] for r in rows})
    domains = sorted({domain_of(r.key[0], r.item) for r in rows})
    opts = lambda vals: "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in vals)  # noqa: E731
    parts = [f'<!doctype html><html lang="en" dir="ltr"><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style>'
             '</head><body>', f"<h1>{bilingual(*reversed(title.split(' · ', 1)), english_first=True) if ' · ' in title else e(title)}</h1>",
             f'<p class="note">{len(rows)} items; models: ' + ", ".join(f"<b>{isolate(m.name)}</b> ({isolate(str(m.path), 'ltr')})" for m in models)
             + ". Verdicts: ✓ right, ✗ wrong, – not graded (open-ended set without a judge, or not answered). "
             "<i>corrected</i> and <i>original</i> are the kit's two CAMEL-Bench scoring modes; <i>judge</i> is the LLM judge's grade.</p>",
             f'<div class="filters">Data set <select id="f-dataset"><option value="">all</option>{opts(datasets)}</select> '
             f'Domain <select id="f-domain"><option value="">all</option>{opts(domains)}</select> '
             '<label><input type="checkbox" id="f-disagree"> models disagree</label> · <span id="shown"></span></div>']
    if rows and all(r.item is None for r in rows):
        parts.insert(3, '<p class="note"><b>No prediction matched an item of the items file</b> (items and answers are '
                        'matched by data set and id): questions, images and reference answers are unknown.</p>')
    for r in rows:
        item = r.item or {}
        dom = domain_of(r.key[0], r.item)
        parts.append(f'<section class="item" data-dataset="{e(r.key[0])}" data-domain="{e(dom)}" '
                     f'data-disagree="{int(r.disagree)}" id="{e(r.key[0])}-{e(r.key[1])}">')
        parts.append(f"<header>{e(r.key[0])} · {e(dom)} · id {e(r.key[1])}</header>")
        if r.item is None:
            parts.append('<p class="note">No item record for this key in the items file: question and images unknown.</p>')
        imgs = [f'<img src="{image_data_uri(p, item.get("_where", ""))}" alt="{e(Path(p).name)}">' for p in item.get("images", [])]
        if imgs:
            parts.append(f'<div class="images">{"".join(imgs)}</div>')
        if item.get("question"):
            parts.append(bidi_html(item["question"], "question"))
        ref = item.get("answer", next((m.rows[r.key].get("answer") for m in models if r.key in m.rows), None))
        if ref is not None:
            parts.append(f'<div class="ref">{bilingual("الإجابة المرجعية", "Reference answer", english_first=True)}: '
                         f'{bidi_html(str(ref), "answer", "span")}</div>')
        parts.append(f'<table><tr><th>model</th><th>{bilingual("الإجابة", "answer", english_first=True)}</th>'
                     '<th>corrected</th><th>original</th><th>judge</th></tr>')
        for name, a in r.answers.items():
            parts.append(f'<tr><td>{isolate(name)}</td><td>{bidi_html(a["text"], "answer")}</td>'
                         + "".join(f'<td class="v {_cls(a[k])}">{_mark(a[k])}</td>' for k in ("corrected", "original", "judge"))
                         + "</tr>")
        parts.append("</table></section>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)


def panel(rows: list[Entry], title: str = "Figure 5 style: answers side by side"):
    """A paper figure: one row per item (image, question, each model's answer with its corrected-mode verdict)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    n, k = len(rows), max(len(r.answers) for r in rows)
    fig = plt.figure(figsize=(9.0, (1.0 + 0.32 * k) * n + 0.4))
    grid = fig.add_gridspec(n, 2, width_ratios=[1, 4.2], hspace=0.35)
    for i, r in enumerate(rows):
        ax_img, ax_txt = fig.add_subplot(grid[i, 0]), fig.add_subplot(grid[i, 1])
        ax_img.axis("off")
        ax_txt.axis("off")
        images = (r.item or {}).get("images", [])
        if images:
            with Image.open(images[0]) as im:
                ax_img.imshow(im.convert("RGB"))
        else:
            ax_img.text(0.5, 0.5, "no image", ha="center", va="center", color="#777")
        q = (r.item or {}).get("question", f"{r.key[0]} {r.key[1]}").split("\n")[0]
        ax_txt.text(1.0, 1.0, plots.ar(q), ha="right", va="top", fontsize=9, weight="bold", transform=ax_txt.transAxes)
        ref = (r.item or {}).get("answer")
        ax_txt.text(0.0, 0.86, plots.ar(f"{r.key[0]} · reference: {ref}" if ref is not None else r.key[0]), ha="left", va="top",
                    fontsize=7, color="#555", transform=ax_txt.transAxes)
        step = 0.66 / max(k, 1)
        for j, (name, a) in enumerate(r.answers.items()):
            y = 0.66 - j * step
            v = a["judge"] if a["judge"] is not None else a["corrected"]
            ax_txt.text(0.0, y, name, ha="left", va="top", fontsize=8, color=plots.color(j), weight="bold", transform=ax_txt.transAxes)
            ax_txt.text(0.93, y, plots.ar(a["text"][:80]), ha="right", va="top", fontsize=8, transform=ax_txt.transAxes)
            ax_txt.text(1.0, y, _mark(v), ha="right", va="top", fontsize=10, transform=ax_txt.transAxes,
                        color={True: "#1b7837", False: "#b2182b"}.get(v, "#999999"))
    fig.suptitle(plots.ar(title), fontsize=11, weight="bold")
    return fig


def choose(rows: list[Entry], wanted: Sequence[str] | None, n: int = PANEL_DEFAULT) -> list[Entry]:
    """The panel's items: `wanted` ids (or dataset/id), else up to n where models disagree, else the first n."""
    if wanted:
        by_id = {}
        for r in rows:
            by_id.setdefault(r.key[1], r)
            by_id[f"{r.key[0]}/{r.key[1]}"] = r
        missing = [w for w in wanted if w not in by_id]
        if missing:
            raise RecordError(f"--panel: no item {', '.join(missing)}; known: {', '.join(r.key[1] for r in rows)}")
        return [by_id[w] for w in wanted]
    disagree = [r for r in rows if r.disagree]
    return (disagree or rows)[:n]


def build(predictions: Sequence[str], output: str | Path, items: str | Path | None = None,
          names: Sequence[str] | None = None, panel_items: Sequence[str] | None = None) -> dict[str, Any]:
    """Write OUTPUT/gallery.html and the panel figure; returns a summary (counts and paths)."""
    if len(predictions) < 1:
        raise RecordError("--predictions: give at least one predictions file")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise RecordError(f"{out}: exists and is not a folder")
    models = load_answers(predictions, names)
    item_map = load_items(items or FIXTURE_ITEMS)
    rows = entries(item_map, models)
    page = atomic.write_text(out / "gallery.html", render_html(rows, models))
    chosen = choose(rows, panel_items)
    fig = panel(chosen)
    plots.source_label(fig, "answers from " + ", ".join(m.name for m in models) + "; verdicts: corrected scoring (judge where graded)")
    figs = plots.save(fig, PANEL_NAME, "ainkit gallery", FolderOutputs(out.resolve()))
    images = sum(len((r.item or {}).get("images", [])) for r in rows)
    summary = {"items": len(rows), "models": [m.name for m in models], "images": images,
               "disagree": sum(r.disagree for r in rows), "panel": [f"{r.key[0]}/{r.key[1]}" for r in chosen],
               "html": str(page), "figures": [str(p) for p in figs], "items_file": str(items or FIXTURE_ITEMS),
               "items_in_file": len(item_map), "matched": sum(r.item is not None for r in rows),
               "unmatched": sum(r.item is None for r in rows)}
    atomic.write_json(out / "gallery.json", summary)
    return summary


def matching(summary: dict[str, Any]) -> str:
    """How the answers met the items file (dataset + id), in words: nothing matched, some did not, or all did."""
    where, n = summary["items_file"], summary["items_in_file"]
    if not summary["matched"]:
        return (f"no prediction matched an item of {where} ({n} items; matched by dataset and id): every entry is shown "
                "without its question, images or reference answer")
    parts = [f"{summary['matched']} of the {n} items of {where} answered"]
    if summary["unmatched"]:
        parts.append(f"{summary['unmatched']} answered keys match no item there (shown without question or images)")
    return ", ".join(parts)


def line(summary: dict[str, Any]) -> str:
    """The one-line summary the command prints."""
    return (f"[gallery] {summary['items']} items, {len(summary['models'])} models ({', '.join(summary['models'])}), "
            f"{summary['images']} images embedded, models disagree on {summary['disagree']}; {matching(summary)}; "
            f"{summary['html']}; panel {json.dumps(summary['panel'], ensure_ascii=False)} -> {summary['figures'][0]}")
