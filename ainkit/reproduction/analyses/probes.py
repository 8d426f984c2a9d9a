"""The report's probe pairs (Tables 6-8) and its Figure 14 heatmap: which text each value was computed on.

    from ainkit.stages import similarity
    from ainkit.reproduction.analyses import probes
    enc = similarity.load("all-mpnet-base-v2")
    found = probes.identify_figure14_texts(enc)     # per heatmap row: the candidate text that reproduces it

The heatmap's row labels differ from the tables in places (the caption says diacritics
are "not showing in the chart"), and the tables carry typos the heatmap does not
('يحبب' / 'يحب' for 'يجب', a tatweel in 'ممـطر'). For each row the kit scores the
candidate texts and keeps the first whose score rounds to the published value: the table
text as printed, the table text with those typos fixed, the label as printed in the
figure, and of each the form a right-to-left copy produces (sentence-final punctuation,
which a bidi display shows at the left end of an Arabic sentence, copied as if it were
at the logical start: 'هذه عبارة توضيحية!' -> '!هذه عبارة توضيحية'; this reproduces 1.5).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ainkit.reproduction import paper
from ainkit.reproduction.results import Row

ARABIC = re.compile(r"[\u0600-\u06FF]")
TYPO_FIXES = [("يحبب علينا", "يجب علينا"), ("يحب علينا", "يجب علينا"), ("\u0640", "")]  # tatweel removed
FINAL_PUNCTUATION = re.compile(r"^(.*?)\s*([!?.،؛؟]+)$", re.S)


def rtl_copy(arabic: str) -> str | None:
    """The Arabic as a right-to-left copy gives it (final punctuation moved to the logical start), or None if unchanged."""
    m = FINAL_PUNCTUATION.match(arabic.strip())
    return f"{m.group(2)}{m.group(1)}" if m else None


def fix_typos(arabic: str) -> str:
    """The table's Arabic with the typos the heatmap does not have corrected."""
    for old, new in TYPO_FIXES:
        arabic = arabic.replace(old, new)
    return arabic


def split_label(label: str) -> tuple[str, str]:
    """'English - Arabic' as printed in a heatmap row -> (English, Arabic)."""
    m = ARABIC.search(label)
    if not m:
        raise ValueError(f"heatmap label without Arabic: {label!r}")
    return label[:m.start()].strip().rstrip("-_ ").strip(), label[m.start():].strip()


def candidates(ref: str) -> list[tuple[str, str, str]]:
    """(kind, English, Arabic) candidate texts for one Figure 14 row, in order of preference."""
    pairs, fig = paper.load("probe_pairs"), paper.load("figure14")
    en, ar = pairs.loc[ref, "english"], pairs.loc[ref, "arabic"]
    label_en, label_ar = split_label(fig.loc[ref, "label_as_printed"])
    out = [("table", en, ar)]
    if fix_typos(ar) != ar:
        out.append(("table, typos fixed", en, fix_typos(ar)))
    out.append(("figure label", label_en, label_ar))
    return out + [(f"{kind}, right-to-left copy", e, rtl_copy(a)) for kind, e, a in out if rtl_copy(a)]


@dataclass
class RowText:
    """The text chosen for one heatmap row and how well it reproduces the published value."""

    panel: str
    ref: str
    kind: str
    english: str
    arabic: str
    published: float
    kit: float
    table_text_kit: float
    matches: bool


def identify_figure14_texts(encoder, column: str | None = None, batch_size: int = 32) -> list[RowText]:
    """For each Figure 14 row, the first candidate text whose score matches the published `column` to 4 decimals."""
    from ainkit.stages.similarity import score_pairs

    column = column or encoder.name
    fig = paper.load("figure14")
    cands = {ref: candidates(ref) for ref in fig.index}
    flat = [c for ref in fig.index for c in cands[ref]]
    scores = iter(score_pairs(encoder, [c[1] for c in flat], [c[2] for c in flat], batch_size))
    found = []
    for ref, row in fig.iterrows():
        scored = [(kind, en, ar, float(next(scores))) for kind, en, ar in cands[ref]]
        published = float(row[column])
        match = next((s for s in scored if round(s[3], 4) == round(published, 4)), None)
        kind, en, ar, kit = match or scored[0]
        found.append(RowText(row["panel"], ref, kind, en, ar, published, kit, scored[0][3], match is not None))
    return found


def texts_by_ref(found: list[RowText] | None) -> dict[str, tuple[str, str, str]]:
    """ref -> (kind, English, Arabic) to score every encoder on; the table text when nothing was identified."""
    table = {ref: ("table", *_table(ref)) for ref in paper.load("figure14").index}
    return {**table, **{f.ref: (f.kind, f.english, f.arabic) for f in found or [] if f.matches}}


def _table(ref: str) -> tuple[str, str]:
    pairs = paper.load("probe_pairs")
    return pairs.loc[ref, "english"], pairs.loc[ref, "arabic"]


def figure14_matrix(encoders: dict, texts: dict[str, tuple[str, str, str]], columns: list[str],
                    batch_size: int = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, computed?) for every row x column: computed with a loaded encoder, else the published value."""
    from ainkit.stages.similarity import score_pairs

    fig = paper.load("figure14")
    values = pd.DataFrame(index=fig.index, columns=columns, dtype=float)
    computed = pd.DataFrame(False, index=fig.index, columns=columns)
    refs = list(fig.index)
    for col in columns:
        enc = encoders.get(col)
        if enc is not None:
            values[col] = score_pairs(enc, [texts[r][1] for r in refs], [texts[r][2] for r in refs], batch_size)
            computed[col] = True
        elif col in fig.columns:
            values[col] = fig[col].astype(float)
    return values, computed


def figure14_rows(values: pd.DataFrame, computed: pd.DataFrame, texts: dict, reasons: dict[str, str],
                  identified: list[RowText] | None, identify_with: str | None) -> list[Row]:
    """Results rows: every Figure 14 cell, published vs kit, plus the match counts."""
    fig = paper.load("figure14")
    rows = []
    for col in [c for c in values.columns if c in paper.ENCODERS]:
        for ref in fig.index:
            art = f"Figure 14{fig.loc[ref, 'panel']}"
            pub = float(fig.loc[ref, col])
            if computed.loc[ref, col]:
                kit = round(float(values.loc[ref, col]), 4)
                same = kit == round(pub, 4)
                rows.append(Row(art, f"{ref} · {col}", pub, kit, "recomputed",
                                f"{'matches' if same else 'DIFFERS'} to 4 decimals; text: {texts[ref][0]}"))
            else:
                rows.append(Row(art, f"{ref} · {col}", pub, None, "published", reasons.get(col, "encoder not run")))
    extra = [c for c in values.columns if c not in paper.ENCODERS]
    for col in extra:
        for ref in fig.index:
            if computed.loc[ref, col]:
                rows.append(Row(f"Figure 14{fig.loc[ref, 'panel']}", f"{ref} · {col} (kit extra column)", None,
                                round(float(values.loc[ref, col]), 4), "recomputed", f"not in the report; text: {texts[ref][0]}"))
    if identified:
        n = len(identified)
        on_id = sum(f.matches for f in identified)
        on_table = sum(round(f.table_text_kit, 4) == round(f.published, 4) for f in identified)
        rows.append(Row("Figure 14", f"{identify_with} cells matching to 4 decimals, identified text", n, on_id, "recomputed",
                        "published = cells in the column; kit = cells reproduced when each row is scored on the candidate "
                        "text that matches (table / table with typos fixed / figure label)"))
        rows.append(Row("Figure 14", f"{identify_with} cells matching to 4 decimals, table text as printed", n, on_table,
                        "recomputed", "every row scored on the Tables 6-8 text exactly as printed"))
        for f in identified:
            rows.append(Row("Figure 14", f"{f.ref}: text the published value was computed on", None,
                            f.kind if f.matches else "not found", "recomputed",
                            f"{f.english} | {f.arabic}" if f.matches else
                            f"no candidate reproduces {f.published:.4f}; table text gives {f.table_text_kit:.4f}"))
    return rows
