"""The results contract: the rows each notebook emits, and REPRODUCTION.md / .html built from them.

    from ainkit.reproduction import results
    results.write("06_benchmark_results", rows, out)      # reports/results/06_benchmark_results.json
    document.write_reproduction(out)                         # reports/REPRODUCTION.md and .html (ainkit.reproduction.document)

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
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ainkit.ground import atomic
from ainkit.ground.paths import Outputs
from ainkit.services.tables import Value, _clean, _is_number, markdown_table

SOURCES = ("recomputed", "published", "substitute", "unavailable", "failed")

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


def write_table(frame, name: str, notebook: str, out: Outputs | None = None, note: str = "") -> list[Path]:
    """Write a pandas table to reports/tables/<name>.csv and .md; both name the notebook that made them."""
    out = (out or Outputs.resolve()).ensure()
    made_by = f"made by notebook {notebook}" + (f"; {note}" if note else "")
    return [atomic.write_text(out.tables / f"{name}.csv", f"# {made_by}\n" + frame.to_csv()),
            atomic.write_text(out.tables / f"{name}.md", f"<!-- {made_by} -->\n\n{markdown_table(frame)}\n")]
