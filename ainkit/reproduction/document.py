"""REPRODUCTION.md and REPRODUCTION.html, written from every results file and figure under an output folder.

    from ainkit.reproduction import document
    document.write_reproduction(out)        # what `ainkit reproduce` does after the notebooks

The rows come from ainkit.reproduction.results (the contract), are judged and laid out by
ainkit.reproduction.report (markdown) and drawn by ainkit.reproduction.report_html (the page).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.ground import atomic
from ainkit.ground.paths import Outputs
from ainkit.reproduction import report, report_html
from ainkit.reproduction.results import read_all


def write_reproduction(out: Outputs | None = None, header: dict[str, Any] | None = None,
                       runs: list[dict[str, Any]] | None = None) -> Path:
    """Build REPRODUCTION.md and REPRODUCTION.html (ainkit.reproduction.report) from every results file and figure under `out`."""
    out = out or Outputs.resolve()
    entries, tables = read_all(out)
    built = report.build(entries, header, tables, runs)
    atomic.write_text(out.reproduction.with_suffix(".html"), report_html.render(built, out))
    return atomic.write_text(out.reproduction, report.render_markdown(built))
