"""The results contract: the rows each notebook emits, and REPRODUCTION.md / .html built from them.

    from ainkit.reproduction import results
    results.write("06_benchmark_results", rows, out)      # reports/results/06_benchmark_results.json
    results.write_reproduction(out)                          # reports/REPRODUCTION.md and REPRODUCTION.html

A row says, for one quantity of one artefact, the published value, the kit's value and
where the kit's value comes from:

- ``recomputed``: computed by the kit (from data, a model, or the report's own tables);
- ``published``: re-plotted or re-listed from the report's numbers, nothing recomputed;
- ``substitute``: recomputed on a stand-in model or data set, named in ``note``;
- ``unavailable``: the kit would compute it but cannot here; ``note`` says why.

A row may state the ``tolerance`` of its check. How rows are judged and laid out is ainkit.reproduction.report
(markdown) and ainkit.reproduction.report_html (the page); numbers are formatted for people by `number`, and
every markdown table of the kit is drawn by `markdown_rows`.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ainkit.ground import atomic
from ainkit.ground.paths import Outputs

SOURCES = ("recomputed", "published", "substitute", "unavailable", "failed")
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
    tolerance: float | None = None  # |kit - published| allowed for a match (default: see `tolerance`)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"row {self.artefact}/{self.quantity}: source must be one of {SOURCES}, not {self.source!r}")
        if self.source == "substitute" and not self.note:
            raise ValueError(f"row {self.artefact}/{self.quantity}: a substitute row must name its stand-in in note")
        if self.source in ("unavailable", "failed") and not self.note:
            raise ValueError(f"row {self.artefact}/{self.quantity}: an unavailable row must say why in note")
        self.published = _clean(self.published)
        self.kit = _clean(self.kit)

    @property
    def difference(self) -> float | None:
        """kit - published when both are numbers, else None."""
        if _is_number(self.kit) and _is_number(self.published):
            if isinstance(self.kit, int) and isinstance(self.published, int):
                return self.kit - self.published
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


# ---------------------------------------------------------------- numbers for people

MAX_DECIMALS = 4


def decimals_needed(v: Value) -> int:
    """Decimals a number shows without losing anything up to MAX_DECIMALS (0.28 -> 2, 3.0 -> 0)."""
    if not isinstance(v, float) or not math.isfinite(v):
        return 0
    text = f"{v:.{MAX_DECIMALS}f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def decimals_for(values: Iterable[Value]) -> int:
    """One number of decimals for a column: the most any of its numbers needs."""
    return max((decimals_needed(v) for v in values), default=0)


def number(v: Value, decimals: int = 2, signed: bool = False) -> str:
    """A value for people: '–' for none, 3.70 B, 1.69e20, 12,345.6, fixed `decimals`, no '-0.00'."""
    if v is None:
        return "–"
    if not _is_number(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    sign = "+" if signed else ""
    a = abs(v)
    if a >= 1e15:
        mantissa, exponent = f"{v:{sign}.2e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if a >= 1e6:
        scaled, unit = (v / 1e9, "B") if a >= 1e9 else (v / 1e6, "M")
        return f"{scaled:{sign}.2f} {unit}"
    if isinstance(v, int):
        return f"{v:{sign},d}" if v else "0"
    text = f"{v:{sign},.{decimals}f}"
    if float(text.replace(",", "")) == 0:  # -0.00 and +0.00 are 0
        text = f"{0:.{decimals}f}"
    return text


# ---------------------------------------------------------------- markdown

def markdown_rows(head: list[str], body: list[list[str]], right: Iterable[int] = ()) -> list[str]:
    """A GitHub markdown table (the one renderer of the kit); `right`: columns aligned right."""
    right = set(right)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def published_table(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Head and body of the report's own table (published_tables of a results file), decimals fixed per column."""
    columns = list(zip(*table["data"])) if table["data"] else []
    places = [decimals_for(_clean(v) for v in col) for col in columns]
    body = [[number(_clean(idx))] + [number(_clean(v), places[i]) for i, v in enumerate(row)]
            for idx, row in zip(table["index"], table["data"])]
    return [str(table.get("index_name") or "")] + [str(c) for c in table["columns"]], body


def write_reproduction(out: Outputs | None = None, header: dict[str, Any] | None = None,
                       runs: list[dict[str, Any]] | None = None) -> Path:
    """Build REPRODUCTION.md and REPRODUCTION.html (ainkit.reproduction.report) from every results file and figure under `out`."""
    from ainkit.reproduction import report, report_html

    out = out or Outputs.resolve()
    entries, tables = read_all(out)
    built = report.build(entries, header, tables, runs)
    atomic.write_text(out.reproduction.with_suffix(".html"), report_html.render(built, out))
    return atomic.write_text(out.reproduction, report.render_markdown(built))


def markdown_table(frame) -> str:
    """A pandas table as a GitHub markdown table (index first, missing values as '–', decimals fixed per column)."""
    head, body = published_table({"data": frame.values.tolist(), "index": list(frame.index), "columns": list(frame.columns),
                                  "index_name": frame.index.name})
    return "\n".join(markdown_rows(head, body))


def write_table(frame, name: str, notebook: str, out: Outputs | None = None, note: str = "") -> list[Path]:
    """Write a pandas table to reports/tables/<name>.csv and .md; both name the notebook that made them."""
    out = (out or Outputs.resolve()).ensure()
    made_by = f"made by notebook {notebook}" + (f"; {note}" if note else "")
    return [atomic.write_text(out.tables / f"{name}.csv", f"# {made_by}\n" + frame.to_csv()),
            atomic.write_text(out.tables / f"{name}.md", f"<!-- {made_by} -->\n\n{markdown_table(frame)}\n")]
