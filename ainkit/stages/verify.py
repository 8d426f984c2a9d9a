"""The verification funnel of report Figure 13: keep a translated pair only when every score clears its threshold.

    ainkit verify --input scored.jsonl --output kept.jsonl --rejects rejected.jsonl \
        --threshold similarity=0.8 --threshold bleu4=0.6 --threshold meteor=0.8 --threshold rouge1_f=0.8

Report defaults (Figure 13): LaBSE similarity 0.8, BLEU 0.6, METEOR 0.8, ROUGE 0.8. The report
does not say which BLEU or ROUGE variant the 0.6 and 0.8 apply to; the kit uses BLEU-4 and
ROUGE-1 F1 (the first of each pair in Table 9) and lets you choose. A record failing any rule
is rejected with every rule it failed; a rule whose score is missing fails as "missing"
unless the scores are computed on request (`--compute-missing`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ainkit.ground import atomic
from ainkit.ground.errors import UserError

DEFAULT_RULES: dict[str, float] = {"similarity": 0.8, "bleu4": 0.6, "meteor": 0.8, "rouge1_f": 0.8}
METRIC_FIELDS = {"bleu2", "bleu4", "meteor", "rouge1_p", "rouge1_r", "rouge1_f", "rougeL_p", "rougeL_r", "rougeL_f"}


RULE_NAMES = ["similarity", *sorted(METRIC_FIELDS)]


def parse_thresholds(items: list[str] | None) -> dict[str, float]:
    """['similarity=0.8', ...] -> rules; none given means the report's defaults; unknown names are refused."""
    import difflib

    if not items:
        return dict(DEFAULT_RULES)
    rules = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--threshold {item!r}: expected NAME=NUMBER, e.g. similarity=0.8")
        if name not in RULE_NAMES:
            close = difflib.get_close_matches(name, RULE_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(f"--threshold {item!r}: unknown score {name!r}; {hint}known: {', '.join(RULE_NAMES)}")
        try:
            rules[name] = float(value)
        except ValueError:
            raise UserError(f"--threshold {item!r}: expected NAME=NUMBER, e.g. similarity=0.8") from None
        if math.isnan(rules[name]):
            raise UserError(f"--threshold {item!r}: the threshold is not a number")
    return rules


def failures(record: dict[str, Any], rules: dict[str, float]) -> list[str]:
    """Every rule the record fails, as readable reasons."""
    out = []
    for name, threshold in rules.items():
        value = record.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            out.append(f"{name} missing")
        elif value < threshold:
            out.append(f"{name} {value:.4f} < {threshold}")
    return out


@dataclass
class Funnel:
    """Records in, dropped at each rule (first failed rule, in rule order), failing each rule, kept."""

    rules: dict[str, float]
    records_in: int = 0
    malformed: int = 0
    unscorable: int = 0  # --compute-missing: too long to score (ainkit.pipelines.rescore)
    kept: int = 0
    dropped_at: dict[str, int] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)

    def add(self, reasons: list[str]) -> None:
        self.records_in += 1
        if not reasons:
            self.kept += 1
            return
        names = [r.split(" ")[0] for r in reasons]
        first = next(n for n in self.rules if n in names)
        self.dropped_at[first] = self.dropped_at.get(first, 0) + 1
        for n in names:
            self.failing[n] = self.failing.get(n, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"rules": self.rules, "records_in": self.records_in, "malformed": self.malformed, "unscorable": self.unscorable,
                "dropped_at": {n: self.dropped_at.get(n, 0) for n in self.rules},
                "failing": {n: self.failing.get(n, 0) for n in self.rules}, "kept": self.kept}

    def stages(self) -> list[tuple[str, int]]:
        """(label, records remaining) after each rule, for a funnel chart."""
        left, out = self.records_in - self.unscorable, [("in", self.records_in)]
        for n, t in self.rules.items():
            left -= self.dropped_at.get(n, 0)
            out.append((f"{n} >= {t}", left))
        return out

    def line(self) -> str:
        drops = ", ".join(f"{n}: -{self.dropped_at.get(n, 0)}" for n in self.rules)
        extra = f", {self.unscorable} too long to score" if self.unscorable else ""
        return f"[verify] {self.records_in} in, {drops}, {self.kept} kept, {self.malformed} malformed{extra}"


def run(input: str, output: str, rejects: str | None = None, rules: dict[str, float] | None = None,
        summary_path: str | None = None, fill: Callable[[dict[str, Any]], str | None] | None = None,
        shard: str | None = None) -> Funnel:
    """The `ainkit verify` stage; writes kept, rejects (every failed rule) and the funnel summary JSON.

    `fill` (e.g. ainkit.pipelines.rescore.MissingScores, for --compute-missing) fills in a record's missing
    scores before the rules are applied and returns why it cannot, which rejects the record as unscorable;
    its `prepare()`, if it has one, runs after the input and output checks."""
    from ainkit.services.stageio import StageIO, check_output

    rules = rules or dict(DEFAULT_RULES)
    unknown = [n for n in rules if n not in RULE_NAMES]
    if unknown:
        raise UserError(f"unknown rule(s) {unknown}; known: {', '.join(RULE_NAMES)}")
    funnel = Funnel(rules)
    path = Path(summary_path) if summary_path else Path(output).with_name(Path(output).stem + ".funnel.json")
    with StageIO(input, output, rejects=rejects, shard=shard, resume=False) as io:
        check_output(path, "funnel summary")
        if fill is not None and hasattr(fill, "prepare"):
            fill.prepare()
        for rec in io.pending():
            unscorable = fill(rec) if fill is not None else None
            if unscorable:
                funnel.records_in += 1
                funnel.unscorable += 1
                io.reject(rec, [unscorable])
                continue
            reasons = failures(rec, rules)
            funnel.add(reasons)
            if reasons:
                io.reject(rec, reasons)
            else:
                io.emit(rec)
    funnel.malformed = io.summary.malformed
    atomic.write_json(path, funnel.as_dict())
    return funnel
