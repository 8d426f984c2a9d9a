"""Text helpers shared by the benchmark scorers: Arabic normalisation, digits, option letters, edit distance
(exact, and the banded one of the `fast_edit_distance` library that CAMEL-Bench's OCR scorer calls)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

# Option letters A-S as Arabic letters, in the order CAMEL-Bench's scorer and prompts use (its scripts/utils.py
# `arabic_letters`, commit 8b64eb0): abjad order up to ن, then ع ف ص ر س.
ARABIC_LETTERS = ["أ", "ب", "ج", "د", "ه", "و", "ز", "ح", "ط", "ي", "ك", "ل", "م", "ن", "ع", "ف", "ص", "ر", "س"]
LATIN_TO_ARABIC = {chr(ord("A") + i): a for i, a in enumerate(ARABIC_LETTERS)}
ARABIC_TO_LATIN = {a: l for l, a in LATIN_TO_ARABIC.items()}
WESTERN_TO_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
BIDI_AND_TATWEEL = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u0640\ufeff]")
DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})


def normalize(text: str, keep_diacritics: bool = False) -> str:
    """NFKC, no bidi marks or tatweel, no diacritics (unless kept), one alef, lower-case, single spaces."""
    text = BIDI_AND_TATWEEL.sub("", unicodedata.normalize("NFKC", text or ""))
    if not keep_diacritics:
        text = DIACRITICS.sub("", text)
    return " ".join(text.translate(ALEF).lower().split())


def fold_numerals(text: str) -> str:
    """Every decimal digit (Arabic-Indic, Persian, full-width, ...) as 0-9; Arabic separators as ASCII: the decimal
    separator ٫ as '.', the thousands separator ٬ as ',', the minus sign as '-'."""
    text = DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), text or "")
    return text.translate(SEPARATORS)


DIGIT = re.compile(r"[^\D0-9]")  # any decimal digit that is not 0-9 (\d matches every script's digits)
SEPARATORS = str.maketrans({"\u066b": ".", "\u066c": ",", "\u2212": "-"})
# A number in folded text: an optional sign (not after a word: '3-4' is two numbers), digits with a ',' thousands separator
# only in groups of three ('1,000' is a thousand; '3,5' is 3 and 5), an optional '.' decimal part. Digits never start
# inside another number ('1.2.3' is 1.2 and no more).
NUMBER = re.compile(r"(?:(?<![\w.])[-+])?(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")


LETTER_ANYWHERE = re.compile(r"[^\W\d_]")


def _value(match: str) -> Decimal:
    d = Decimal(match.replace(",", ""))  # exact, whatever its length (no float rounding)
    return abs(d) if d.is_zero() else d  # -0 and 0 are one number


def _written(d: Decimal) -> str:
    """One spelling per value: '1000', '3.5', '-2' (no exponent, no trailing zeros)."""
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def numbers(text: str) -> list[Decimal]:
    """Every number in the text, in order, whatever its digits (Western, Arabic-Indic, Persian) and separators (, ٬ ٫ .)."""
    return [_value(m) for m in NUMBER.findall(fold_numerals(normalize(text)))]


def as_number(text: str) -> Decimal | None:
    """The number a text is, when it is one number and nothing else but signs and punctuation ('15', '١٬٠٠٠', '15%.',
    '$3.5'); else None ('3 apples', '3-4', 'three')."""
    if LETTER_ANYWHERE.search(text or ""):  # a letter: not a bare number (and a long text costs one short scan)
        return None
    folded = fold_numerals(normalize(text))
    found = list(NUMBER.finditer(folded))
    if len(found) != 1 or re.search(r"[^\W_]", folded[:found[0].start()] + folded[found[0].end():]):
        return None
    return _value(found[0].group())


def canonical(text: str) -> str:
    """normalize() with every number written one way ('١٬٠٠٠' and '1,000.0' -> '1000'): what corrected scoring compares."""
    return NUMBER.sub(lambda m: _written(_value(m.group())), fold_numerals(normalize(text)))


def words(text: str) -> list[str]:
    """Words of the canonical text without punctuation; a number is one word ('1,000' -> '1000', '-3.5')."""
    return re.findall(r"(?<![\w.])-\d+(?:\.\d+)?|\d+(?:\.\d+)?|\w+", canonical(text))


def levenshtein(a, b) -> int:
    """Exact edit distance between two sequences (characters, or bytes when given bytes)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_distance(a, b) -> int:
    """Exact Levenshtein distance of two strings or byte strings, bit-parallel (Myers): O(len(a) * len(b) / 64) steps."""
    if len(a) > len(b):
        a, b = b, a
    m = len(a)
    if m == 0:
        return len(b)
    peq: dict = {}  # symbol -> bit mask of its positions in the shorter string
    for i, c in enumerate(a):
        peq[c] = peq.get(c, 0) | 1 << i
    full, top = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = full, 0, m  # vertical +1 / -1 deltas of the current DP column; score: its last cell
    for c in b:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = (ph << 1 | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


ORIGINAL_MAX_ED = 1000  # CAMEL-Bench scripts/utils.py fastcer: edit_distance(pred, gt, max_ed=1000)


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass(frozen=True)
class Band:
    """The table `fast_edit_distance` 1.2.2 sets up for two strings (src/edit_distance_c.c, its names)."""

    b1: bytes  # UTF-8 of the string shorter in characters, up to any NUL (C strings end there); `m` bytes
    b2: bytes  # the longer one; `n` bytes
    cap: int  # max_ed, capped at the longer string's length in characters
    n_col: int  # band width + 2 boundary columns (>= cap + 2)
    start: int  # column of the main diagonal
    end: int  # column of the cell returned, in the last row

    @property
    def m(self) -> int:
        return len(self.b1)

    @property
    def n(self) -> int:
        return len(self.b2)

    @property
    def in_table(self) -> bool:
        """Whether the returned cell lies inside the (m + 1) x n_col table (past it: heap memory, run-dependent)."""
        return 0 <= self.m * self.n_col + self.end < (self.m + 1) * self.n_col


def band(pred: str, gt: str, max_ed: int = ORIGINAL_MAX_ED) -> Band:
    """The library's band for `edit_distance(pred, gt, max_ed)`: strings ordered by character length, bytes compared."""
    w1, w2 = (gt, pred) if len(pred) > len(gt) else (pred, gt)
    b1, b2 = (w.encode("utf-8").split(b"\0", 1)[0] for w in (w1, w2))
    cap, m, n = min(max_ed, len(w2)), len(b1), len(b2)
    n_col = _cdiv(cap - n + m, 2) * 2 + n - m + 3
    return Band(b1, b2, cap, n_col, _cdiv(n_col + 1 + m - n, 2) - 1, _cdiv(n_col + 1 + n - m, 2) - 1)


def original_edit_distance(pred: str, gt: str, max_ed: int = ORIGINAL_MAX_ED) -> int | None:
    """`fast_edit_distance.edit_distance(pred, gt, max_ed)` (1.2.2) as CAMEL-Bench ran it; None where the library's
    answer is run-dependent (it reads past its table).

    A banded DP on the UTF-8 bytes: the band's width follows the byte-length gap, cells outside the string count as
    matches, and it returns cap + 1 at the first row whose every cell exceeds cap - |offset from the diagonal|.
    Cost: one numpy row of n_col cells per byte of the shorter string, unless the exact distance proves the result.
    """
    bd = band(pred, gt, max_ed)
    b1, b2, cap, n_col, start, end, m, n = bd.b1, bd.b2, bd.cap, bd.n_col, bd.start, bd.end, bd.m, bd.n
    if b1 == b2:
        return 0
    if cap == 0:
        return 1
    infi = cap * 10
    if bd.in_table and end - start == n - m and 1 <= end <= n_col - 2:  # the result cell is the true end, in the band
        d = edit_distance(b1, b2)
        if 2 * d <= cap and start - 1 >= d and n_col - 2 - start >= d:
            return d  # an optimal path stays in the band and under every row's stop line: the DP gives d
    target_row, target_col = divmod(m * n_col + end, n_col)
    idx = np.arange(n_col, dtype=np.int64)
    # rows held as q[c] = dp[c] - c, so that dp[c] = min(dp[c-1] + 1, best[c]) is a running minimum
    prev = np.abs(idx - start) - idx
    prev[0], prev[-1] = infi, infi - (n_col - 1)
    stop = cap - np.abs(idx - start) - idx  # the early stop: every dp[c] > cap - |c - start|
    keep = prev + idx if target_row == 0 else None
    # the bytes of b2 the band reads: j = r - 1 + c - start runs from 1 - start to m + n_col - 3 - start; 256 = outside
    # b2, which the library counts as a match
    lo = 1 - start
    window = np.full(m + n_col - 3, 256, dtype=np.int16)
    a, b = max(0, lo), min(n, m + n_col - 2 - start)
    if a < b:
        window[a - lo:b - lo] = np.frombuffer(b2[a:b], dtype=np.uint8)
    mismatch = {byte: ((window != byte) & (window != 256)).astype(np.int8) for byte in set(b1)}
    cur = np.empty_like(prev)
    cur[-1] = infi - (n_col - 1)
    acc = np.empty(n_col - 1, dtype=np.int64)
    acc[0] = infi
    for r in range(1, m + 1):
        np.add(prev[1:-1], mismatch[b1[r - 1]][r - 1:r + n_col - 3], out=acc[1:])
        np.minimum(acc[1:], prev[2:] + 2, out=acc[1:])
        np.minimum.accumulate(acc, out=cur[:-1])
        if (cur > stop).all():
            return cap + 1
        if r == target_row:
            keep = cur + idx
        prev, cur = cur, prev
    return int(keep[target_col]) if bd.in_table else None


LEAD_IN = re.compile(r"(?:answer(?: is)?|the answer is|option|choice|الإجابة(?: الصحيحة)?(?: هي)?|الاجابة(?: الصحيحة)?(?: هي)?|"
                     r"الجواب(?: الصحيح)?(?: هو)?|الخيار)\s*[:：]?\s*", re.IGNORECASE)
LETTER = "[A-Sa-s]|[أابجدهوزحطيكلمنعفصرس]|هـ"


def option_letter(pred: str) -> str | None:
    """The option a free-form answer picks, as an Arabic letter: '(B)', 'b)', 'B.', 'الإجابة هي ج', ' ( ب ) ...'."""
    text = BIDI_AND_TATWEEL.sub("", unicodedata.normalize("NFKC", pred or "")).strip()
    text = text.replace("هـ", "ه")
    patterns = [rf"^\(\s*({LETTER})\s*(?:\)|$|(?![\w]))", rf"^({LETTER})\s*(?:[).:：\-]|$)", rf"{LEAD_IN.pattern}\(?\s*({LETTER})(?![\w])",
                rf"\(\s*({LETTER})\s*\)"]
    for pat in patterns:
        m = re.search(pat, text, re.IGNORECASE)
        if m:
            letter = m.group(m.lastindex)
            letter = LATIN_TO_ARABIC.get(letter.upper(), letter)
            return "أ" if letter in ("ا", "أ") else letter
    return None
