"""Poor translations made from good ones by documented corruptions (the Figure 15 experiment).

    from ainkit.reproduction.analyses import corrupt
    poor = corrupt.make_poor(good_records, seed=0)

Each corrupted record keeps the English side, replaces `ar`, and says how in `corruption`:

- ``mismatched``: the Arabic of another record (a shifted pairing);
- ``truncated``: only the first 40 % of the Arabic words (at least one word dropped);
- ``dropped_words``: 40 % of the Arabic words removed at random positions, order kept;
- ``untranslated``: the English sentence left as it is;
- ``wrong_gender``: the record's ``ar_wrong_gender`` (addressed to the wrong gender), where it has one.
"""
from __future__ import annotations

import random
from typing import Any

KINDS = ("mismatched", "truncated", "dropped_words", "untranslated", "wrong_gender")


def _words(text: str) -> list[str]:
    return text.split()


def corrupt_one(rec: dict[str, Any], kind: str, others: list[dict[str, Any]], rng: random.Random) -> str | None:
    """The corrupted Arabic for one record, or None when this corruption does not apply to it."""
    words = _words(rec["ar"])
    if kind == "mismatched":
        pool = [o["ar"] for o in others if o["ar"] != rec["ar"] and o.get("domain") != rec.get("domain")] or \
               [o["ar"] for o in others if o["ar"] != rec["ar"]]
        return rng.choice(pool) if pool else None
    if kind == "truncated":
        if len(words) < 3:
            return None
        return " ".join(words[:max(1, int(len(words) * 0.4))])
    if kind == "dropped_words":
        if len(words) < 4:
            return None
        drop = set(rng.sample(range(len(words)), k=max(1, int(round(len(words) * 0.4)))))
        return " ".join(w for i, w in enumerate(words) if i not in drop)
    if kind == "untranslated":
        return rec["en"]
    if kind == "wrong_gender":
        return rec.get("ar_wrong_gender")
    raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(KINDS)}")


def make_poor(good: list[dict[str, Any]], seed: int = 0, kinds: tuple[str, ...] = KINDS) -> list[dict[str, Any]]:
    """One poor pair per good pair: wrong-gender where available, else the other kinds in turn."""
    rng = random.Random(seed)
    cycle = [k for k in kinds if k != "wrong_gender"]
    poor, turn = [], 0
    for rec in good:
        choice = None
        if "wrong_gender" in kinds and rec.get("ar_wrong_gender"):
            choice = ("wrong_gender", rec["ar_wrong_gender"])
        while choice is None:
            kind = cycle[turn % len(cycle)]
            turn += 1
            text = corrupt_one(rec, kind, good, rng)
            if text is not None and text != rec["ar"]:
                choice = (kind, text)
        poor.append({"id": f"{rec['id']}-{choice[0]}", "domain": rec.get("domain"), "en": rec["en"], "ar": choice[1],
                     "corruption": choice[0], "source_id": rec["id"]})
    return poor
