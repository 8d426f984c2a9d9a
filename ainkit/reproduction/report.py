"""REPRODUCTION.md laid out from the judged rows (each row judged by ainkit.reproduction.verdicts).

    from ainkit.reproduction import report, results
    built = report.build(*results.read_all(out))     # document.write_reproduction does this
    print(report.render_markdown(built))

Reading order: a scoreboard per artefact (each row in one of BUCKETS, by `judge`), the cause of
everything unavailable stated once, the findings (each recomputed row that disagrees with the
report, with its evidence), where the results come from (run now, or reused from which run), then
one table per artefact, in which rows sharing a status and a note are folded into one line
(REPRODUCTION.html, ainkit.reproduction.report_html, shows every row).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ainkit.reproduction.results import Row
from ainkit.services.tables import Value, _clean, _is_number, decimals_for, decimals_needed, markdown_rows, number
from ainkit.reproduction.verdicts import BUCKETS, DISAGREES, NUMBER, cause, judge

def artefact_key(name: str) -> tuple:
    """Tables, then figures, then everything else; numbers in numeric order."""
    kind = 0 if name.startswith("Table") else 1 if name.startswith("Figure") else 2
    nums = [int(n) for n in re.findall(r"\d+", name)] or [0]
    return (kind, nums, name)


TABLE_HEAD = ("quantity", "published", "kit", "difference", "judged", "note")
FOLD_AT = 2  # rows of one status and one note that REPRODUCTION.md folds into one line (the HTML shows each)


def _split(rows: list[Row]) -> list[tuple[str, str]] | None:
    """(subject, measure) of each quantity: 'subject: measure', or 'ref · subject' (a cell of a figure); None if mixed."""
    out = []
    for r in rows:
        ref, dot, col = r.quantity.partition(" · ")
        subject, colon, measure = r.quantity.partition(": ")
        if dot:
            out.append((col, ref))
        elif colon:
            out.append((subject, measure))
        else:
            return None
    return out


def _inline(rows: list[Row], which: str, decimals: int) -> str:
    """The `which` ('kit' or 'published') values of folded rows in one cell: 'Accounting 6.76 · Biology -0.28'
    (one shared measure or subject), else by subject: 'mpnet: AUC 0.38, gap -0.20 · use: ...'; words get a
    colon ('1.1: table'); a kit value beside a published one says both: '90.81 (report 87.80)'."""
    split = _split(rows)
    column = split is not None and len({m for _, m in split}) == 1  # one measure: fixed decimals, else each its own

    def pair(label: str, r: Row) -> str:
        v = getattr(r, which)
        places = decimals if column else min(decimals, decimals_needed(v))
        shown = f"{label} {number(v, places)}" if v is None or _is_number(v) else f"{label}: {number(v)}"
        beside = which == "kit" and r.published is not None and r.published != v
        return shown + (f" (report {number(r.published, places)})" if beside else "")

    if split is None:
        return " · ".join(pair(r.quantity, r) for r in rows)
    if column:
        return " · ".join(pair(a, r) for (a, _), r in zip(split, rows))
    if len({a for a, _ in split}) == 1:
        return " · ".join(pair(m, r) for (_, m), r in zip(split, rows))
    by_subject: dict[str, list[str]] = {}
    for (a, m), r in zip(split, rows):
        by_subject.setdefault(a, []).append(pair(m, r))
    return " · ".join(f"{a}: {', '.join(v)}" for a, v in by_subject.items())


def _label(rows: list[Row]) -> tuple[str, list[str]]:
    """What folded rows share ('Total (mean of 8 domains) (12)') and what tells them apart (the other half)."""
    split = _split(rows) or []
    subjects, measures = list(dict.fromkeys(a for a, _ in split)), list(dict.fromkeys(m for _, m in split))
    if split and (len(measures) == 1 or len(measures) == 2 < len(rows)):
        return f"{' / '.join(measures)} ({len(rows)})", subjects
    if split and len(subjects) == 1:
        return f"{subjects[0]} ({len(rows)})", measures
    return f"{len(rows)} values", []


@dataclass
class Section:
    """One artefact: its rows judged; unavailable rows folded by subject, each naming its cause."""

    artefact: str
    notebooks: list[str]
    decimals: int
    counts: dict[str, int]
    published_numbers: int
    judged: list[tuple[Row, str]] = field(default_factory=list)  # every row but the unavailable ones, with its bucket
    unavailable: list[list[str]] = field(default_factory=list)  # one table line per (subject, cause)
    table: dict[str, Any] | None = None

    def _groups(self, fold: bool) -> list[tuple[str, list[Row]]]:
        """(bucket, rows) in order; folding: rows of one bucket (not 'differ') and one note, then rows left alone
        that share a measure, FOLD_AT or more, make one group."""
        groups: dict[Any, tuple[str, list[Row]]] = {}
        for r, j in self.judged:
            groups.setdefault((j, NUMBER.sub("#", r.note)) if fold and j != "differ" else id(r), (j, []))[1].append(r)
        if fold:
            by_measure: dict[tuple[str, str], list[Any]] = {}
            for k, (j, g) in groups.items():
                if len(g) == 1 and j != "differ" and _split(g):
                    by_measure.setdefault((j, _split(g)[0][1]), []).append(k)
            for keys in (ks for ks in by_measure.values() if len(ks) >= FOLD_AT):
                groups[keys[0]][1].extend(r for k in keys[1:] for r in groups.pop(k)[1])
        return list(groups.values())

    def lines(self, fold: bool) -> tuple[list[list[str]], list[str], list[str]]:
        """Table lines (TABLE_HEAD), the bucket of each, and footnotes for notes shown on more than one line."""
        d = self.decimals
        groups = self._groups(fold)
        shown = [n for j, g in groups for n in ([r.note for r in g] if not _folds(j, g) else
                                                [g[0].note] if len({r.note for r in g}) == 1 else [])]
        repeated = [n for n in dict.fromkeys(shown) if n and shown.count(n) > 1]

        def note(n: str) -> str:
            return f"[{repeated.index(n) + 1}]" if n in repeated else number(n)

        body, status = [], []
        for j, group in groups:
            source = [r.source if r.source != "recomputed" else j for r in group]
            if not _folds(j, group):
                for r, src in zip(group, source):
                    diff = r.difference
                    body.append([number(r.quantity), number(r.published, d), number(r.kit, d),
                                 "–" if diff is None else number(diff, d, signed=True), src, note(r.note)])
                    status.append(j)
                continue
            trimmed = _trimmed([g.quantity for g in group])
            shared = group[0].quantity[len(trimmed[0]):]  # ', AIN README (...)': said once, in the label
            group = [replace(g, quantity=t) for g, t in zip(group, trimmed)]
            label, names = _label(group)
            label += shared
            if j == "match" and not all(_is_number(g.kit) for g in group):
                line = [label, "as kit", _inline(group, "kit", d), "–"]
            elif j == "match":
                diffs = [abs(g.difference) for g in group if g.difference is not None]
                line = [f"{label}: {', '.join(names)}" if names else label, _range([g.published for g in group], d),
                        _range([g.kit for g in group], d), f"≤ {number(max(diffs), d)}" if diffs else "–"]
            elif j == "re-listed":
                line = [label, _inline(group, "published", d), "–", "–"]
            else:
                line = [label, "–" if all(g.published is None for g in group) else "in kit column",
                        _inline(group, "kit", d), "–"]
            notes = {g.note for g in group}
            template = {NUMBER.sub("#", n) for n in notes}
            body.append(line + [f"{source[0]} ×{len(group)}", note(group[0].note) if len(notes) == 1 else
                                f"{template.pop()} (numbers per row: REPRODUCTION.html)" if len(template) == 1 else
                                "a note per row: REPRODUCTION.html"])
            status.append(j)
        return body + self.unavailable, status + ["unavailable"] * len(self.unavailable), \
            [f"[{k + 1}] {number(n)}" for k, n in enumerate(repeated)]


def _folds(bucket: str, group: list[Row]) -> bool:
    """Whether a group becomes one line: FOLD_AT rows, twice that for substitutes each beside a published number."""
    paired = bucket == "substitute" and all(_is_number(r.published) for r in group)
    return len(group) >= FOLD_AT * (2 if paired else 1)


def _range(values: list[Value], decimals: int) -> str:
    """'26.94 to 63.77' for numbers; the single value, or '–'."""
    nums = [v for v in values if _is_number(v)]
    if not nums:
        return "–" if all(v is None for v in values) else number(values[0])
    lo, hi = min(nums), max(nums)
    return number(lo, decimals) if lo == hi else f"{number(lo, decimals)} to {number(hi, decimals)}"


@dataclass
class Report:
    """Everything REPRODUCTION.md and .html show, in the order they show it."""

    header: dict[str, Any]
    sections: list[Section]
    causes: list[tuple[str, list[str], dict[str, int]]]  # cause, subjects, rows per artefact
    findings: list[str]
    provenance: list[str]


def _provenance(runs: list[dict[str, Any]] | None, notebooks: Iterable[str]) -> list[str]:
    """One line per notebook with results: run now, reused from an earlier run, or kept from one."""
    by_name = {r["name"]: r for r in runs or []}
    lines = []
    for nb in sorted(set(notebooks) | set(by_name)):
        r = by_name.get(nb)
        if r is None:
            lines.append(f"`{nb}`: results file of unknown origin (not in the manifest)")
            continue
        made = r.get("made_by") or {}
        when = f"the run of {made.get('started') or 'an unknown time'} (commit {str(made.get('commit') or 'unknown')[:10]})"
        took = f"{float(r.get('seconds') or 0):.1f} s"
        text = {"ok": f"run now ({took})", "failed": "FAILED in this run; no results",
                "reused": f"reused from {when}, inputs unchanged ({took} then)",
                "kept": f"{r.get('reason') or 'not run now'}; results kept from {when}"}.get(r.get("status"), r.get("status", "?"))
        lines.append(f"`{nb}`: {text}")
    return lines


def _findings(artefact: str, rows: list[Row], decimals: int) -> list[str]:
    """One line per disagreeing row with its evidence; FOLD_AT or more rows whose notes differ only in their
    numbers make one line, the shared note stated once and each row's numbers after its name."""
    by_note: dict[str, list[Row]] = {}
    for r in rows:
        by_note.setdefault(NUMBER.sub("#", r.note), []).append(r)
    lines = []
    for template, group in by_note.items():
        if len(group) >= FOLD_AT and len({r.note for r in group}) > 1:
            names = _trimmed([r.quantity for r in group])
            lines.append(f"**{artefact}** · {len(group)} rows: {template} — " +
                         "; ".join(f"{n} ({', '.join(NUMBER.findall(r.note))})" for n, r in zip(names, group)))
            continue
        for r in group:
            diff = r.difference
            gap = "" if diff is None else f" ({number(diff, decimals, signed=True)})"
            kit = "" if r.kit is None else f", kit {number(r.kit, decimals)}{gap}"
            lines.append(f"**{artefact}** · {r.quantity}: report {number(r.published, decimals)}{kit}"
                         + (f" — {r.note}" if r.note else ""))
    return lines


def _trimmed(names: list[str]) -> list[str]:
    """The names without the ending they share, cut at a separator ('GPT-4o: VQA, report vs X' -> 'GPT-4o: VQA')."""
    common = os.path.commonprefix([n[::-1] for n in names])[::-1]
    m = re.search(r"[,;]\s", common)
    cut = len(common) - m.start() if m and len(names) > 1 else 0
    if common[len(common) - cut:].count("(") != common[len(common) - cut:].count(")"):
        cut = 0  # not inside parentheses: '(..., corpus)
    return [n[:len(n) - cut] or n for n in names]


def build(entries: list[tuple[str, Row]], header: dict[str, Any] | None = None, tables: dict[str, Any] | None = None,
          runs: list[dict[str, Any]] | None = None) -> Report:
    """Judge every row and lay the report out (see the module docstring)."""
    tables = tables or {}
    by_artefact: dict[str, list[tuple[str, Row]]] = {}
    for nb, row in entries:
        by_artefact.setdefault(row.artefact, []).append((nb, row))
    causes: dict[str, tuple[list[str], dict[str, int]]] = {}
    sections, findings = [], []
    for artefact in sorted(by_artefact, key=artefact_key):
        rows = [r for _, r in by_artefact[artefact]]
        published = [r.published for r in rows if _is_number(r.published)]
        distinct = {(re.sub(r"\s*\(.*?\)", "", r.quantity), r.published) for r in rows if _is_number(r.published)}
        table = tables.get(artefact)
        cells = [v for line in (table or {}).get("data", []) for v in line if _is_number(_clean(v))]
        precision = decimals_for(published or [r.kit for r in rows if _is_number(r.kit)])  # the report's printed decimals
        kit_places = decimals_for([r.kit for r in rows if _is_number(r.kit)])
        decimals = max(precision, min(kit_places, 2)) if published else kit_places  # 3.64 beside 3.4 shows as 3.64
        judged = [(r, judge(r, precision)) for r in rows]
        sec = Section(artefact, sorted({nb for nb, _ in by_artefact[artefact]}), decimals,
                      {b: sum(j == b for _, j in judged) for b in BUCKETS}, len(cells) if table else len(distinct), table=table)
        folded: dict[tuple[str, str], list[Row]] = {}
        for r, j in judged:
            if j == "unavailable":
                folded.setdefault(cause(r), []).append(r)
            else:
                sec.judged.append((r, j))
        findings += _findings(artefact, [r for r, j in judged if j == "differ" or
                                         (j == "re-listed" and DISAGREES.search(f"{r.quantity} {r.note}"))], decimals)
        for (subject, why), group in folded.items():
            i = list(causes).index(why) + 1 if why in causes else len(causes) + 1
            subjects, where = causes.setdefault(why, ([], {}))
            if subject not in subjects:
                subjects.append(subject)
            where[artefact] = where.get(artefact, 0) + len(group)
            what = group[0].quantity if len(group) == 1 else f"{subject}: {len(group)} cells"
            sec.unavailable.append([number(what), _range([g.published for g in group], decimals), "–", "–", "unavailable",
                                    f"cause [U{i}]"])
        sections.append(sec)
    return Report(header or {}, sections, [(c, s, w) for c, (s, w) in causes.items()], findings,
                  _provenance(runs, {nb for nb, _ in entries}))


# ---------------------------------------------------------------- markdown

def scoreboard(report: Report) -> tuple[list[str], list[list[str]]]:
    """Head and body of the scoreboard: one line per artefact and a total."""
    head = ["artefact", "notebook", "published numbers", *BUCKETS]
    body, total = [], {b: 0 for b in ["published numbers", *BUCKETS]}
    for s in report.sections:
        total["published numbers"] += s.published_numbers
        for b in BUCKETS:
            total[b] += s.counts[b]
        body.append([s.artefact, ", ".join(n[:2] for n in s.notebooks), str(s.published_numbers)] +
                    [str(s.counts[b]) if s.counts[b] else "·" for b in BUCKETS])
    body.append(["**all**", "", *(f"**{total[k]}**" for k in total)])
    return head, body


def cause_lines(report: Report) -> list[str]:
    """Each cause of unavailable rows once, with what it affects."""
    return [f"[U{i}] {', '.join(subjects)}: {text} — affects {', '.join(f'{a} ({n})' for a, n in where.items())}"
            for i, (text, subjects, where) in enumerate(report.causes, 1)]


def legend() -> str:
    """What the scoreboard's columns count, and the tolerance rule."""
    return ("*published numbers*: the report's numbers the kit holds for the artefact (the cells of the report's table "
            "where a notebook attaches it, else the distinct published values of its rows); "
            + "; ".join(f"*{b}*: {d}" for b, d in BUCKETS.items()) + ". A row is judged by its own check where it states "
            "one ('agrees to 0.01', '[supported]'), else |kit − published| ≤ half a unit of the last decimal the report "
            "prints for that artefact.")


def render(entries: list[tuple[str, Row]], header: dict[str, Any] | None = None, tables: dict[str, Any] | None = None,
           runs: list[dict[str, Any]] | None = None) -> str:
    """REPRODUCTION.md text: scoreboard, causes, findings, provenance, then one table per artefact."""
    return render_markdown(build(entries, header, tables, runs))


def render_markdown(report: Report) -> str:
    """The markdown of a built report."""
    h = report.header
    lines = ["# AIN reproduction report", "",
             "Built by `ainkit reproduce` from `reports/results/*.json`; nothing here is typed by hand. " +
             "; ".join(f"{k}: {v}" for k, v in h.items()) + ".", "", "## Scoreboard", ""]
    head, body = scoreboard(report)
    lines += markdown_rows(head, body, right=range(2, len(head)))
    lines += ["", legend()]
    if report.causes:
        lines += ["", "**Unavailable here**, each cause once:", ""] + [f"- {c}" for c in cause_lines(report)]
    lines += ["", f"## Findings ({len(report.findings)})", "",
              "Each place where the report disagrees with itself, with another published source, or with what the kit "
              "recomputes from it; the evidence follows each.", ""]
    lines += [f"- {f}" for f in report.findings] or ["- none"]
    lines += ["", "## Where these results come from", ""] + [f"- {p}" for p in report.provenance]
    lines += ["", f"The tables: rows of one status and one note are folded into one line ({FOLD_AT} or more); "
              "REPRODUCTION.html shows every row, the report's own tables, and each figure beside its table."]
    for s in report.sections:
        table = f" · the report's table ({len(s.table['index'])} rows): REPRODUCTION.html" if s.table else ""
        lines += ["", f"## {s.artefact} · {', '.join(f'`{n}`' for n in s.notebooks)}{table}"]
        body, _, footnotes = s.lines(fold=True)
        lines += markdown_rows(list(TABLE_HEAD), body, right=(1, 2, 3))
        if footnotes:
            lines += [""] + [f"{f}  " for f in footnotes]
    return "\n".join(lines) + "\n"


