"""The order a rater sees a question's answers in: seeded per survey, rater and question, the same in JS and Python.

    from ainkit.pipelines.survey import order
    order.shown("3f9a...", "R001-7c2e", "q03", ["k1", "k2", "k3"])   # -> e.g. ["k3", "k1", "k2"]

The form computes the order in the browser (JS below) and records it in the response; the analysis
recomputes it here, so an order edited in a saved file is caught ("tampered order"). Both sides use
FNV-1a (32 bit) of "seed|rater|question" to seed mulberry32, then a Fisher-Yates shuffle of the
answer tokens sorted as text. Rater codes and question ids are ASCII (the form refuses others).
"""
from __future__ import annotations

from typing import Sequence

M32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """FNV-1a of the text's ASCII bytes, 32 bit."""
    h = 0x811C9DC5
    for b in text.encode("ascii"):
        h = ((h ^ b) * 0x01000193) & M32
    return h


def mulberry32(seed: int):
    """mulberry32: a function returning floats in [0, 1), bit for bit the JS version below."""
    state = seed & M32

    def nxt() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & M32
        t = ((state ^ (state >> 15)) * (state | 1)) & M32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32) ^ t
        return ((t ^ (t >> 14)) & M32) / 4294967296

    return nxt


def shown(seed: str, rater: str, question: str, tokens: Sequence[str]) -> list[str]:
    """The answer tokens in the order this rater is shown them for this question."""
    out = sorted(tokens)
    rand = mulberry32(fnv1a32(f"{seed}|{rater}|{question}"))
    for i in range(len(out) - 1, 0, -1):
        j = int(rand() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


JS = """
function fnv1a32(s){let h=0x811c9dc5;for(let i=0;i<s.length;i++){h^=s.charCodeAt(i);h=Math.imul(h,0x01000193)>>>0;}return h>>>0;}
function mulberry32(a){return function(){a=(a+0x6D2B79F5)>>>0;let t=Math.imul(a^(a>>>15),a|1);t=(t+Math.imul(t^(t>>>7),t|61))^t;return((t^(t>>>14))>>>0)/4294967296;};}
function shownOrder(seed,rater,question,tokens){const out=[...tokens].sort();const rand=mulberry32(fnv1a32(seed+'|'+rater+'|'+question));
  for(let i=out.length-1;i>0;i--){const j=Math.floor(rand()*(i+1));const t=out[i];out[i]=out[j];out[j]=t;}return out;}
"""
