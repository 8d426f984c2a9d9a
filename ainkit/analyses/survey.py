"""The human-feedback survey of Section 1.3 (Figures 7-9), from its published percentages.

    from ainkit.analyses import survey
    survey.country_shares()     # the four named countries + 'other' (the 13 unnamed ones together)

Only shares the report prints are used; what it leaves out is computed as a remainder
and labelled as such, never split into invented per-country values.
"""
from __future__ import annotations

from ainkit import paper
from ainkit.results import Row

COUNTRY_AR = {"Saudi Arabia": "السعودية", "Egypt": "مصر", "UAE": "الإمارات", "Lebanon": "لبنان"}
OTHER = "Other countries (not named in the report)"
OTHER_AR = "دول أخرى"


def country_shares() -> dict[str, float]:
    """Figure 7: named countries' shares, then the remainder as 'other'."""
    named = paper.shares("figure7")
    other = round(100.0 - sum(named.values()), 2)
    if other < 0:
        raise ValueError(f"figure7 shares sum to {sum(named.values())} > 100")
    return {**named, OTHER: other}


def unnamed_country_count() -> int:
    """How many participating countries the report does not name."""
    return int(paper.meta("figure7")["countries_total"]) - len(paper.shares("figure7"))


def bilingual(label: str) -> str:
    """'English · العربية' for a Figure 7 label."""
    arabic = COUNTRY_AR.get(label) or (OTHER_AR if label == OTHER else "")
    return f"{label} · {arabic}" if arabic else label


def result_rows() -> list[Row]:
    """Rows of the results contract for Figures 7-9 (notebook 07)."""
    rows = []
    for fig, artefact in (("figure7", "Figure 7"), ("figure8", "Figure 8"), ("figure9", "Figure 9")):
        values = paper.shares(fig)
        for label, value in values.items():
            rows.append(Row(artefact, label, value, None, "published", "re-plotted from the report's percentage"))
        total = round(sum(values.values()), 2)
        if fig == "figure7":
            other = country_shares()[OTHER]
            rows.append(Row(artefact, f"{OTHER} ({unnamed_country_count()} countries)", None, other, "recomputed",
                            "100 minus the named shares; the report gives no per-country split"))
        else:
            rows.append(Row(artefact, "sum of the printed shares", 100.0, total, "recomputed",
                            "adds to 100" if abs(total - 100) < 0.05 else f"adds to {total}, not 100 (rounding in the report)"))
    return rows
