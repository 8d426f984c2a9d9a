"""REPRODUCTION.html: the reproduction report as one self-contained page, each figure beside its table.

    from ainkit.reproduction import report, report_html, results
    html = report_html.render(report.build(*results.read_all(out)), out)   # document.write_reproduction does this

Figures are embedded as base64 PNG (no external file, script or style sheet: it reads offline).
The page is UTF-8; every table cell has dir="auto" and each Arabic run is wrapped in
<bdi dir="rtl" lang="ar">, so Arabic reads right-to-left inside English text. A figure goes beside
the artefact its name gives (fig14a_... -> Figure 14a, tab02_... -> Table 2), else beside the first
artefact of the notebook that made it (the PNG's Source field, ainkit.services.plots.save), else at the end.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from ainkit.reproduction import report as layout
from ainkit.services.tables import published_table
from ainkit.ground.paths import Outputs
from ainkit.services.images import data_uri

_AR = "\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF"  # Arabic letters, marks, punctuation
ARABIC = re.compile(rf"[{_AR}](?:[{_AR}\s.,!?«»]*[{_AR}])?[.!?]?")  # a run, with its sentence-final stop
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.differ td { background: #fde8e8; } tr.match td:nth-child(5) { color: #1a7f37; }
.artefact { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.tables { flex: 1 1 640px; min-width: 0; overflow-x: auto; } .figures { flex: 0 1 560px; }
.figures img { max-width: 100%; border: 1px solid #eee; margin-bottom: .5em; }
figcaption { font-size: 12px; color: #555; margin-bottom: 1em; }
"""


def text(value: str) -> str:
    """Escaped text with every Arabic run marked right-to-left."""
    out, last = [], 0
    for m in ARABIC.finditer(value):
        out += [html.escape(value[last:m.start()]), f'<bdi dir="rtl" lang="ar">{html.escape(m.group())}</bdi>']
        last = m.end()
    return "".join(out + [html.escape(value[last:])])


def _md_inline(value: str) -> str:
    """The little markdown the report's lines carry (**bold**, `code`, escaped pipes) as HTML."""
    value = text(value.replace("\\|", "|"))
    value = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", value)
    value = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", value)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", value)


def table(head: list[str], body: list[list[str]], right: set[int] = frozenset(), classes: list[str] | None = None) -> str:
    """An HTML table; cells read in their own direction (dir="auto")."""
    rows = ["<tr>" + "".join(f"<th>{_md_inline(h)}</th>" for h in head) + "</tr>"]
    for k, cells in enumerate(body):
        cls = f' class="{classes[k]}"' if classes else ""
        rows.append(f"<tr{cls}>" + "".join(f'<td dir="auto"{" class=n" if i in right else ""}>{_md_inline(c)}</td>'
                                            for i, c in enumerate(cells)) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def png_source(path: Path) -> str:
    """The notebook a PNG names in its Source field (ainkit.services.plots.save), or ''."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return str(im.text.get("Source", "")) if hasattr(im, "text") else ""
    except OSError:
        return ""


def artefact_of(name: str) -> str | None:
    """'fig14a_similarity_heatmap' -> 'Figure 14a'; 'tab02_arabicmmlu' -> 'Table 2'."""
    m = re.match(r"(fig|tab)(\d+)([a-z]?)_", name)
    if not m:
        return None
    return f"{'Figure' if m.group(1) == 'fig' else 'Table'} {int(m.group(2))}{m.group(3)}"


def place_figures(built, figures: list[Path]) -> dict[str, list[Path]]:
    """Artefact -> its figures ('' for those no artefact claims)."""
    names = [s.artefact for s in built.sections]
    placed: dict[str, list[Path]] = {}
    for fig in sorted(figures):
        guess = artefact_of(fig.stem) or ""
        base = guess.rstrip("abcdefgh")  # fig15a -> Figure 15 when there is no Figure 15a
        target = next((n for n in (guess, base) if n in names), None) or \
            next((n for n in names if guess and re.match(rf"{re.escape(guess)}(?!\d)", n)), None)  # fig14 -> Figure 14a
        if target is None:
            nb = png_source(fig)
            target = next((s.artefact for s in built.sections if nb and nb in s.notebooks), "")
        placed.setdefault(target, []).append(fig)
    return placed


def _figure(path: Path) -> str:
    return (f'<figure><img alt="{html.escape(path.stem)}" src="{data_uri(path.read_bytes(), "image/png")}">'
            f"<figcaption>{html.escape(path.name)}</figcaption></figure>")


def render(built, out: Outputs) -> str:
    """The whole page for an `ainkit.reproduction.report.Report`, with every PNG under out.figures embedded."""
    figures = sorted(out.figures.glob("*.png")) if out.figures.is_dir() else []
    placed = place_figures(built, figures)
    h = built.header
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>AIN reproduction report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>AIN reproduction report</h1>",
             f"<p>Built by <code>ainkit reproduce</code> from <code>reports/results/*.json</code>; nothing here is typed by hand. "
             f"{text('; '.join(f'{k}: {v}' for k, v in h.items()))}.</p>", "<h2>Scoreboard</h2>"]
    head, body = layout.scoreboard(built)
    parts.append(table(head, body, right=set(range(2, len(head)))))
    parts.append(f"<p>{_md_inline(layout.legend())}</p>")
    if built.causes:
        parts.append("<p><strong>Unavailable here</strong>, each cause once:</p><ul>" +
                     "".join(f"<li>{_md_inline(c)}</li>" for c in layout.cause_lines(built)) + "</ul>")
    parts.append(f"<h2>Findings ({len(built.findings)})</h2><ul>" +
                 ("".join(f"<li>{_md_inline(f)}</li>" for f in built.findings) or "<li>none</li>") + "</ul>")
    parts.append("<h2>Where these results come from</h2><ul>" +
                 "".join(f"<li>{_md_inline(p)}</li>" for p in built.provenance) + "</ul>")
    for s in built.sections:
        tables = []
        if s.table:
            head, body = published_table(s.table)
            tables.append("<p>Published (AIN report):</p>" + table(head, body, right=set(range(1, len(head)))))
        body, status, footnotes = s.lines(fold=False)
        tables.append(table(list(layout.TABLE_HEAD), body, right={1, 2, 3}, classes=status))
        tables += [f"<p><small>{_md_inline(f)}</small></p>" for f in footnotes]
        figs = "".join(_figure(p) for p in placed.get(s.artefact, []))
        parts.append(f"<section><h2>{text(s.artefact)}</h2><p>Notebook {', '.join(f'<code>{n}</code>' for n in s.notebooks)}</p>"
                     f'<div class="artefact"><div class="tables">{"".join(tables)}</div>'
                     f'<div class="figures">{figs}</div></div></section>')
    if placed.get(""):
        parts.append("<section><h2>Other figures</h2>" + "".join(_figure(p) for p in placed[""]) + "</section>")
    return "\n".join(parts + ["</body></html>"]) + "\n"
