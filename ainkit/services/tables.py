"""Numbers and tables for people: one formatter for every table the kit writes in Markdown.

    from ainkit.services.tables import markdown_table, number
    number(12345.678)              # '12,345.68'
    markdown_table(frame)          # a pandas table as GitHub Markdown, decimals fixed per column

Used by the survey's analysis and by the reproduction's REPRODUCTION.md (ainkit.reproduction.results).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

Value = float | int | str | None


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


def markdown_table(frame) -> str:
    """A pandas table as a GitHub markdown table (index first, missing values as '–', decimals fixed per column)."""
    head, body = published_table({"data": frame.values.tolist(), "index": list(frame.index), "columns": list(frame.columns),
                                  "index_name": frame.index.name})
    return "\n".join(markdown_rows(head, body))
