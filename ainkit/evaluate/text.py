"""Text helpers shared by the benchmark scorers: Arabic normalisation, digits, option letters, edit distance."""
from __future__ import annotations

import re
import unicodedata

# Option letters A-S as Arabic letters, in the order CAMEL-Bench's scorer and prompts use (its scripts/utils.py
# `arabic_letters`, commit 8b64eb0): abjad order up to ن, then ع ف ص ر س.
ARABIC_LETTERS = ["أ", "ب", "ج", "د", "ه", "و", "ز", "ح", "ط", "ي", "ك", "ل", "م", "ن", "ع", "ف", "ص", "ر", "س"]
LATIN_TO_ARABIC = {chr(ord("A") + i): a for i, a in enumerate(ARABIC_LETTERS)}
ARABIC_TO_LATIN = {a: l for l, a in LATIN_TO_ARABIC.items()}
WESTERN_TO_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
ANY_DIGIT_TO_WESTERN = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
BIDI_AND_TATWEEL = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u0640\ufeff]")
DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})


def normalize(text: str, keep_diacritics: bool = False) -> str:
    """NFKC, no bidi marks or tatweel, no diacritics (unless kept), one alef, lower-case, single spaces."""
    text = BIDI_AND_TATWEEL.sub("", unicodedata.normalize("NFKC", text or ""))
    if not keep_diacritics:
        text = DIACRITICS.sub("", text)
    return " ".join(text.translate(ALEF).lower().split())


def words(text: str) -> list[str]:
    """Normalised words without punctuation."""
    return re.findall(r"\w+", normalize(text))


NUMBER = re.compile(r"[-+]?\d+(?:[.,٫]\d+)?")


def numbers(text: str) -> list[float]:
    """Every number in the text, whatever its digits (Western, Arabic-Indic, Persian)."""
    out = []
    for m in NUMBER.findall((text or "").translate(ANY_DIGIT_TO_WESTERN)):
        try:
            out.append(float(m.replace(",", ".").replace("٫", ".")))
        except ValueError:
            pass
    return out


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
