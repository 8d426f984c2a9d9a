"""The report's published numbers, as data files with the table or figure each comes from.

    ainkit paper list
    ainkit paper show table1

Every value is *published*: copied from the report, never computed. Tables load as
pandas DataFrames (`load`), figure shares and claims as dicts (`shares`, `claims`);
each carries its title and notes so whoever shows it can label it.

A few artefacts come from a second published source, the AIN repository's README at a
fixed commit; their entry names it (`source`: repo, file, commit) and the report artefact
they restate (`alternative_of`). `provenance(name)` says where any artefact comes from and
`alternatives(name)` lists the other sources of a report artefact.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pandas as pd

from ainkit.ground.paths import PAPER_DATA
from ainkit.stages.evaluate.camel_bench import DOMAINS as CAMEL_DOMAINS  # noqa: F401 - the report's domain order, one owner
from ainkit.stages.similarity import REPORT_ENCODERS as ENCODERS  # noqa: F401 - the report's five encoders, one owner

CAMEL_DOMAIN_NAMES = {
    "VQA": "General VQA",
    "OCR": "OCR & Document Understanding",
    "Video": "General Video & Multi-Image Understanding",
    "RS": "Remote Sensing Understanding",
    "CDT": "Chart, Diagram & Table Understanding",
    "Agro.": "Agricultural Image Understanding",
    "Cult.": "Cultural-Specific Understanding",
    "Med.": "Medical Image Understanding",
}


@lru_cache(maxsize=1)
def index() -> dict[str, Any]:
    """The artefact catalogue (artefacts.json)."""
    with open(PAPER_DATA / "artefacts.json", encoding="utf-8") as fh:
        return json.load(fh)


def artefacts() -> list[str]:
    """Names of every published artefact, in catalogue order."""
    return list(index()["artefacts"])


def meta(name: str) -> dict[str, Any]:
    """Catalogue entry of one artefact; KeyError names the known ones."""
    entries = index()["artefacts"]
    if name not in entries:
        raise KeyError(f"unknown artefact {name!r}; known: {', '.join(entries)}")
    return entries[name]


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    entry = meta(name)
    if "file" not in entry:
        raise ValueError(f"{name} is not a table (kind {entry.get('kind')!r}); use shares() or claims()")
    frame = pd.read_csv(PAPER_DATA / entry["file"], dtype={"ref": str}, keep_default_na=True)
    if entry.get("index"):
        frame = frame.set_index(entry["index"])
    frame.attrs.update(title=entry["title"], notes=entry.get("notes", []), unit=entry.get("unit"), source="published",
                       provenance=provenance(name))
    return frame


def provenance(name: str) -> str:
    """Where an artefact's numbers are printed: 'AIN report', or 'AIN README (mbzuai-oryx/AIN README.md @ 0fa7abb)'."""
    src = meta(name).get("source")
    if not src:
        return "AIN report"
    return f"AIN {src['file'].rsplit('.', 1)[0]} ({src['repo']} {src['file']} @ {src['commit'][:7]})"


def alternatives(name: str) -> list[str]:
    """Artefacts that restate `name` from another published source, in catalogue order."""
    meta(name)
    return [other for other, entry in index()["artefacts"].items() if entry.get("alternative_of") == name]


def load(name: str) -> pd.DataFrame:
    """A published table as a DataFrame (a fresh copy: callers may change it); `.attrs` holds title, notes and
    'source': 'published'."""
    return _read(name).copy(deep=True)


def shares(name: str) -> dict[str, float]:
    """Published percentages of a figure (figure7, figure8, figure9, figure16)."""
    entry = meta(name)
    if entry.get("kind") != "shares":
        raise ValueError(f"{name} holds no shares")
    return dict(entry["values"])


def claims() -> dict[str, dict[str, Any]]:
    """Headline claims: value, quoted text, where it is made and how it can be checked."""
    return dict(meta("claims")["values"])


def show(name: str) -> str:
    """A printable view of one artefact, labelled as published."""
    entry = meta(name)
    lines = [f"{entry['title']}  [published]", f"source: {provenance(name)}"]
    if entry.get("source", {}).get("url"):
        lines.append(f"url: {entry['source']['url']}")
    if entry.get("unit"):
        lines.append(f"unit: {entry['unit']}")
    if "file" in entry:
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
            lines.append(load(name).to_string(na_rep="(missing)"))
    elif entry.get("kind") == "claims":
        for key, claim in entry["values"].items():
            lines.append(f"- {key} = {claim['value']}  ({claim['where']}: \"{claim['text']}\")")
    else:
        for key, value in entry["values"].items():
            lines.append(f"{key:>40}  {value}")
    lines += [f"note: {n}" for n in entry.get("notes", [])]
    return "\n".join(lines)
