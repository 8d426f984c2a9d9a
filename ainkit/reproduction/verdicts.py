"""How one result row is judged against the report: its bucket (`judge`), its tolerance, the cause of an unavailable row.

    from ainkit.reproduction.verdicts import judge
    judge(Row("Table 4", "BLEU", 20.1, 20.14, "recomputed"))   # 'match'

REPRODUCTION.md and .html (ainkit.reproduction.report, report_html) lay out the judged rows.
"""
from __future__ import annotations

import re

from ainkit.reproduction.results import Row

# how a row is judged (`judge`); the scoreboard's columns, in order
BUCKETS = {"match": "recomputed, agrees with the report within tolerance",
           "differ": "recomputed, disagrees with the report (each one is under Findings)",
           "kit only": "recomputed, the report prints no number to compare",
           "substitute": "recomputed on a stand-in model or data set",
           "unavailable": "cannot be computed here (the cause is stated once, below)",
           "failed": "the kit's run failed (requests that failed, a model that could not run): no number from it",
           "re-listed": "the report's number, re-listed or re-plotted"}
# a row's own verdict, when its note or quantity states one, wins over the numeric tolerance
DISAGREES = re.compile(r"\[not supported\]|\bDIFFERS\b|\bdiffers\b|\bdisagree\b|\bNOT\b|\bINCONSISTENT\b|\bnot 100\b|"
                       r"\bnot a plain mean\b")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])")  # a number standing alone (not the 7 of 0fa7abb)
AGREES = re.compile(r"\[supported\]|^(agrees|matches)\b|\b(agrees|matches) (to|with|the)\b|\badds to 100\b")
STATED_TOLERANCE = re.compile(r"\b(?:agrees?|matches|match|within|compared) to (\d+(?:\.\d+)?)( decimals)?")
# a `published` row without a kit value whose note says why the kit could not compute it (older notebooks)
UNAVAILABLE = re.compile(r"not shipped|not installed|not available|unavailable|could not|cannot|downloads are off|not run\b",
                         re.IGNORECASE)


def tolerance(row: Row, decimals: int) -> float:
    """|kit - published| allowed: the row's own, else one stated in its note ('agrees to 0.01',
    'matches to 4 decimals'), else half a unit of the last decimal the report prints for the artefact."""
    if row.tolerance is not None:
        return row.tolerance
    stated = STATED_TOLERANCE.search(row.note or "")
    if stated:
        return 0.5 * 10 ** -int(stated.group(1)) if stated.group(2) else float(stated.group(1))
    return 0.5 * 10 ** -decimals + 1e-9


def judge(row: Row, decimals: int = 2) -> str:
    """The row's bucket (BUCKETS); `decimals`: those the report prints for the row's artefact."""
    if row.source == "failed":
        return "failed"
    if row.source == "substitute":
        return "substitute"
    if row.source == "unavailable" or (row.kit is None and (row.source == "recomputed" or UNAVAILABLE.search(row.note or ""))):
        return "unavailable"
    if row.source == "published":
        return "re-listed"
    if row.published is None:
        return "kit only"
    said = f"{row.quantity} {row.note}"
    if DISAGREES.search(said):
        return "differ"
    if AGREES.search(said):
        return "match"
    if row.difference is not None:
        return "match" if abs(row.difference) <= tolerance(row, decimals) else "differ"
    return "match" if str(row.kit).strip().lower() == str(row.published).strip().lower() else "differ"


def cause(row: Row) -> tuple[str, str]:
    """(subject, cause) of an unavailable row: 'LaBSE (hub id): not shipped ...' -> ('LaBSE', 'not shipped ...')."""
    note = (row.note or "missing").strip()
    head, sep, rest = note.partition(": ")
    name = head.split(" (")[0].strip()
    if sep and rest and name and name in row.quantity:
        return name, rest
    return row.quantity.split(" · ")[-1].split(":")[0].strip() or row.quantity, note
