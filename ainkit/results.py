"""The results contract: the rows each notebook emits, and REPRODUCTION.md built from them.

    from ainkit import results
    results.write("06_benchmark_results", rows, out)      # reports/results/06_benchmark_results.json
    results.write_reproduction(out)                          # reports/REPRODUCTION.md

A row says, for one quantity of one artefact, the published value, the kit's value and
where the kit's value comes from:

- ``recomputed``: computed by the kit (from data, a model, or the report's own tables);
- ``published``: re-plotted or re-listed from the report's numbers, nothing recomputed;
- ``substitute``: recomputed on a stand-in model or data set, named in ``note``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ainkit import atomic
from ainkit.paths import Outputs

SOURCES = ("recomputed", "published", "substitute")
Value = float | int | str | None


@dataclass
class Row:
    """One quantity of one artefact: published value beside the kit's."""

    artefact: str
    quantity: str
    published: Value = None
    kit: Value = None
    source: str = "recomputed"
    note: str = ""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"row {self.artefact}/{self.quantity}: source must be one of {SOURCES}, not {self.source!r}")
        if self.source == "substitute" and not self.note:
            raise ValueError(f"row {self.artefact}/{self.quantity}: a substitute row must name its stand-in in note")
        self.published = _clean(self.published)
        self.kit = _clean(self.kit)

    @property
    def difference(self) -> float | None:
        """kit - published when both are numbers, else None."""
        if _is_number(self.kit) and _is_number(self.published):
            return float(self.kit) - float(self.published)
        return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _clean(v: Any) -> Value:
    """numpy scalars to Python, NaN to None."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v).lower()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def write(notebook: str, rows: Iterable[Row], out: Outputs | None = None, tables: dict[str, Any] | None = None) -> Path:
    """Write one notebook's rows to reports/results/<notebook>.json (atomically).

    `tables` maps an artefact to a pandas table of the report's published values; REPRODUCTION.md
    shows it above that artefact's rows, labelled published.
    """
    out = (out or Outputs.resolve()).ensure()
    payload = {
        "notebook": notebook,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": [asdict(r) for r in rows],
        "published_tables": {a: json.loads(f.to_json(orient="split")) | {"index_name": f.index.name}
                             for a, f in (tables or {}).items()},
    }
    return atomic.write_json(out.results / f"{notebook}.json", payload)


def read_all(out: Outputs | None = None) -> tuple[list[tuple[str, Row]], dict[str, Any]]:
    """Every row of every results file as (notebook, row), notebooks in name order, and the published tables."""
    out = out or Outputs.resolve()
    found, tables = [], {}
    for path in sorted(out.results.glob("*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            rows = [Row(**r) for r in payload["rows"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a results file ({exc})") from exc
        found += [(payload["notebook"], r) for r in rows]
        tables.update(payload.get("published_tables", {}))
    return found, tables


def _fmt(v: Value) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _artefact_key(name: str) -> tuple:
    """Tables, then figures, then everything else; numbers in numeric order."""
    kind = 0 if name.startswith("Table") else 1 if name.startswith("Figure") else 2
    nums = [int(n) for n in re.findall(r"\d+", name)] or [0]
    return (kind, nums, name)


def _published_markdown(table: dict[str, Any]) -> list[str]:
    cols = [table.get("index_name") or ""] + [str(c) for c in table["columns"]]
    lines = ["Published values (AIN report):", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in zip(table["index"], table["data"]):
        lines.append("| " + " | ".join(_fmt(_clean(v)) for v in [idx, *row]) + " |")
    return lines + [""]


def render(entries: list[tuple[str, Row]], header: dict[str, Any] | None = None, tables: dict[str, Any] | None = None) -> str:
    """REPRODUCTION.md text: one table per artefact, published beside kit."""
    lines = ["# AIN reproduction report", ""]
    lines.append("Generated by `ainkit reproduce` from `reports/results/*.json`; nothing here is typed by hand.")
    lines.append("Source: `recomputed` = computed by the kit; `published` = the report's number, re-listed;")
    lines.append("`substitute` = recomputed on a stand-in named in the note. Difference = kit - published.")
    lines.append("")
    for key, value in (header or {}).items():
        lines.append(f"- {key}: {value}")
    counts = {s: sum(r.source == s for _, r in entries) for s in SOURCES}
    lines.append(f"- rows: {len(entries)} ({', '.join(f'{n} {s}' for s, n in counts.items())})")
    lines.append("")
    by_artefact: dict[str, list[tuple[str, Row]]] = {}
    for nb, row in entries:
        by_artefact.setdefault(row.artefact, []).append((nb, row))
    for artefact in sorted(by_artefact, key=_artefact_key):
        rows = by_artefact[artefact]
        notebooks = sorted({nb for nb, _ in rows})
        lines += [f"## {artefact}", "", f"From notebook(s): {', '.join(f'`{n}`' for n in notebooks)}", ""]
        if artefact in (tables or {}):
            lines += _published_markdown(tables[artefact])
            lines.append("Checks and values computed by the kit:")
            lines.append("")
        lines.append("| quantity | published | kit | difference | source | note |")
        lines.append("|---|---:|---:|---:|---|---|")
        for _, r in rows:
            diff = r.difference
            diff_s = "–" if diff is None else f"{diff:+.4f}" if abs(diff) < 1 else f"{diff:+.2f}"
            lines.append(f"| {_fmt(r.quantity)} | {_fmt(r.published)} | {_fmt(r.kit)} | {diff_s} | {r.source} | {_fmt(r.note)} |")
        lines.append("")
    return "\n".join(lines)


def write_reproduction(out: Outputs | None = None, header: dict[str, Any] | None = None) -> Path:
    """Build REPRODUCTION.md from every results file under `out`."""
    out = out or Outputs.resolve()
    entries, tables = read_all(out)
    return atomic.write_text(out.reproduction, render(entries, header, tables))



def markdown_table(frame) -> str:
    """A pandas table as a GitHub markdown table (index first, missing values as '–')."""
    cols = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([_fmt(_clean(idx))] + [_fmt(_clean(v)) for v in row]) + " |")
    return "\n".join(lines)


def write_table(frame, name: str, notebook: str, out: Outputs | None = None, note: str = "") -> list[Path]:
    """Write a pandas table to reports/tables/<name>.csv and .md; both name the notebook that made them."""
    out = (out or Outputs.resolve()).ensure()
    made_by = f"made by notebook {notebook}" + (f"; {note}" if note else "")
    return [atomic.write_text(out.tables / f"{name}.csv", f"# {made_by}\n" + frame.to_csv()),
            atomic.write_text(out.tables / f"{name}.md", f"<!-- {made_by} -->\n\n{markdown_table(frame)}\n")]
