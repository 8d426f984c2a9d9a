"""CAMEL-Bench scoring: every rule in both modes, the reference file's defect cases reproduced in `original`
and scored right in `corrected`; aggregation."""
import pytest

from ainkit.stages.evaluate import camel_bench as cb
from ainkit.stages.evaluate import text as T

# (data set, prediction, ground truth, original correct?, original error?, corrected correct?)
CASES = [
    # mcq_eval: first character, '(X)' unwrap, Latin A-S -> Arabic
    ("mmbench", "ب", "ب", True, False, True),
    ("mmbench", "(B) a cat", "ب", True, False, True),
    ("mmbench", "B", "ب", True, False, True),
    ("mmbench", "الإجابة هي ج", "أ", True, False, False),     # defect 3: a bare alef counts as أ
    ("mmbench", "الإجابة هي ج", "ج", False, False, True),
    ("mmbench", "b", "ب", False, False, True),                # defect 3: lower-case Latin not mapped
    ("mmbench", "( B )", "ب", False, False, True),            # defect 3: spaced brackets fail
    ("mmbench", "\u200fب", "ب", False, False, True),          # defect 3: leading RTL mark fails
    ("mmbench", "", "ب", False, True, False),                 # defect 3: IndexError, counted as an error
    ("mmbench", "O", "ع", True, False, True),                 # the benchmark's map: O -> ع (not abjad order)
    ("mmbench", "(B", "ب", False, False, True),               # unwrap only for exactly '(X)'
    ("mmbench", "هـ", "ه", True, False, True),
    ("chartqa", "12", "15", True, False, False),              # defect 3: first digit only
    ("chartqa", "The value is 15", "15", False, False, True),
    ("agrovqa", "Answer: D", "د", False, False, True),
    # mme / pope: containment
    ("pope", "كلاب", "لا", True, False, False),               # defect 4: 'لا' inside 'كلاب'
    ("pope", "لا، لا يوجد", "لا", True, False, True),
    ("mme", "نعم أو لا", "نعم", True, False, False),          # defect 4: hedged answers pass
    ("mme", "صح", "نعم", True, False, True),
    ("mme", " نعم", "نعم", True, False, True),
    # gqa: exact match
    ("gqa", "أحمر.", "أحمر", False, False, True),             # defect 6: trailing period
    ("gqa", "أَحْمَر", "أحمر", False, False, True),            # defect 6: diacritics
    # vizwiz: list literal; plain string iterated by character
    ("vizwiz", "car", "cat", True, False, False),             # defect 5: any shared letter passes
    ("vizwiz", "5", "5", False, True, True),                  # defect 5: numeric answer -> TypeError
    ("vizwiz", "a red bus", "['bus', 'red bus']", True, False, True),
    # countbench: Arabic-Indic digits, exact
    ("countbench", "3", "٣", True, False, True),
    ("countbench", "۳", "3", False, False, True),             # defect 6: Persian digits rejected
    ("countbench", "there are 3", "3", False, False, True),
    # diagramsMMMU
    ("diagramsMMMU", "120", "12", True, False, False),        # defect 6: containment
    ("diagramsMMMU", "B", "ب", False, False, True),           # defect 6: no Latin map
    ("diagramsMMMU", "", "ب", False, True, False),
    # scienceqa: index -> Arabic letter
    ("scienceqa", "ب", "1", True, False, True),
    ("scienceqa", "B) ...", "1", True, False, True),
    ("scienceqa", "ع", "14", True, False, True),
    # numbers as numbers in corrected mode (any digits, thousands and decimal separators); original unchanged
    ("gqa", "٣", "3", False, False, True),                     # Arabic-Indic digit, exact-match set
    ("gqa", "۳.", "3", False, False, True),                    # Persian digit, full stop
    ("vizwiz", "٢", "['2', 'two']", False, False, True),
    ("chartqa", "1,000", "1000", True, False, True),           # thousands separator, not a decimal point
    ("gqa", "1,000", "1000", False, False, True),
    ("chartqa", "١٬٢٠٠", "1200", False, False, True),          # Arabic thousands separator
    ("chartqa", "٣٫٥", "3.5", False, False, True),             # Arabic decimal separator
    ("chartqa", "3,5", "3.5", True, False, False),             # '3,5' names 3 and 5, not 3.5
    ("chartqa", "3 or 4", "3", True, False, False),            # two numbers named: not right
    ("countbench", "3 or 4", "3", False, False, False),
    ("countbench", "٣ أو ٤", "٣", False, False, False),
    ("vizwiz", "3 or 4", "['3']", True, False, False),
    ("diagramsMMMU", "3 or 4", "3", True, False, False),
    ("gqa", "3 or 4 cats", "3 cats", False, False, False),     # a number the answer does not name, in text
    ("gqa", "٣ قطط", "3 قطط", False, False, True),
]


@pytest.mark.parametrize("ds, pred, gt, orig, orig_err, corr", CASES)
def test_rules_both_modes(ds, pred, gt, orig, orig_err, corr):
    o = cb.score_item(ds, pred, gt, "original")
    c = cb.score_item(ds, pred, gt, "corrected")
    assert (o.correct, bool(o.error)) == (orig, orig_err), o
    assert c.correct == corr and not c.error


# (prediction, ground truth, right?): every corrected scorer that compares answers (not mme/pope: yes/no) reads numbers alike
NUMBER_CASES = [
    ("٣", "3", True), ("3", "٣", True), ("۳", "3", True), ("3", "۳", True), ("١٢", "12", True), ("3.0", "3", True),
    ("1,000", "1000", True), ("1000", "1,000", True), ("١٬٠٠٠", "1000", True), ("1000", "١٬٠٠٠", True),
    ("١٬٠٠٠٫٥", "1000.5", True), ("٣٫٥", "3.5", True), ("3.50", "٣٫٥", True), ("The answer is ١٢.", "12", True),
    ("\u200f١٢", "12", True), ("3,5", "3.5", False), ("3 or 4", "3", False), ("٣ أو ٤", "3", False), ("3-4", "3", False),
    ("4 or 3", "3", False), ("12", "15", False), ("1,000", "1", False), ("", "3", False), ("three", "3", False),
    ("-3", "3", False), ("3", "3", True), ("3 (3)", "3", True),
]
NUMBER_SETS = sorted(set(cb.CORRECTED) - {"mme", "pope"})


@pytest.mark.parametrize("ds", NUMBER_SETS)
def test_corrected_compares_numbers_as_numbers(ds):
    for pred, gt, want in NUMBER_CASES:
        gt_as_given = repr([gt]) if ds == "vizwiz" else gt  # vizwiz answers are list literals
        v = cb.score_item(ds, pred, gt_as_given, "corrected")
        assert (v.correct, v.error) == (want, ""), (ds, pred, gt)


def test_number_reading():
    assert T.numbers("١٬٠٠٠ و 1,000 و ۱۰۰۰ و 3,5 و 3-4 و -2 و ٣٫٥") == [1000, 1000, 1000, 3, 5, 3, 4, -2, 3.5]
    assert T.as_number("١٬٠٠٠") == 1000 and T.as_number("15%.") == 15 and T.as_number("3 apples") is None
    assert T.as_number("3 or 4") is None and T.as_number("three") is None
    assert T.canonical("١٬٠٠٠ قطة") == T.canonical("1000 قطة") == "1000 قطة"
    assert T.numbers("9" * 40 + "1") != T.numbers("9" * 40 + "2")  # exact, not floats


def test_ocr_byte_counted_cer_is_reproduced_and_corrected():
    gt = "كتاب جميل جدا في المكتبة"        # 24 characters
    pred = "كتاب جميل جدا في المكنبه"       # 2 characters wrong: true CER 0.083
    assert cb.cer(pred, gt) == pytest.approx(2 / 24)
    assert cb.fastcer_exact(pred, gt) > cb.cer(pred, gt)  # defect 1: bytes over characters
    # a 20% character error reads as about 40% in bytes: ocrisi (0.3) fails it in original, passes in corrected
    g = "مرحبا بكم في الصف"
    p = "مرحبا بكم فى الصق"
    assert cb.cer(p, g) <= 0.3 and cb.score_item("ocrisi", p, g, "corrected").correct
    # defect 2: an empty prediction is never correct here (exact distance, no cap, no run-to-run variation)
    assert not cb.score_item("khatt", "", gt, "original").correct and not cb.score_item("khatt", "", gt, "corrected").correct
    assert cb.score_item("khatt", "", "", "original").error  # division by zero in the original: an error, not dropped


def test_open_ended_sets_need_a_judge():
    v = cb.score_item("vqav2", "a cat", "cat", "corrected")
    assert not v.correct and "judge" in v.error
    assert cb.score_item("geochat", "two planes", "2 planes", "original", judge=lambda p, g: True).correct


def test_option_letter_extraction():
    for text, want in [("(C)", "ج"), ("c.", "ج"), ("الخيار: د", "د"), ("The answer is (b).", "ب"), ("هـ", "ه"), ("a cat", None)]:
        assert T.option_letter(text) == want, text
    assert T.numbers("٣٫٥ و 12") == [3.5, 12.0]


def test_aggregation_total_is_the_mean_of_domains():
    per = {"chartqa": (0.5, 745), "tablesvqa": (1.0, 81), "mmbench": (0.8, 1269), "pope": (0.6, 467), "khatt": (0.2, 1400)}
    agg = cb.aggregate(per)
    assert agg["domains"]["CDT"] == pytest.approx((0.5 + 1.0) / 2)  # plain mean of sub-domains (Charts, Tables)
    assert agg["domains"]["VQA"] == pytest.approx((0.8 + 0.6) / 2)
    assert agg["total"] == pytest.approx((0.75 + 0.7 + 0.2) / 3)
    q = cb.aggregate(per, weighting="question")
    assert q["domains"]["CDT"] == pytest.approx((0.5 * 745 + 1.0 * 81) / 826)
    assert set(cb.taxonomy()) == set(cb.DATASETS)
    with pytest.raises(ValueError, match="not in"):
        cb.aggregate({"imagenet": (1.0, 1)})


# fast_edit_distance 1.2.2's edit_distance(pred, gt, max_ed=1000), as the benchmark's fastcer calls it: outputs recorded
# from the library itself (pip install fast-edit-distance==1.2.2), next to the exact byte distance.
# (pred, gt, library, exact byte distance)
LIBRARY_GOLDEN = [
    ("كتاب جميل جدا في المكنبه", "كتاب جميل جدا في المكتبة", 4, 4),   # within the band: exact
    ("ab", "بب", 4, 4),                                                  # cap 2 characters, byte gap 2: still exact
    ("xyz", "ببب", 6, 6),
    ("تت", " ت", 3, 2),                                                  # the band's early stop fires below the cap
    ("تتتa aب", " ب  ببت", 8, 9),                                        # past the cap (7 characters): cap + 1
    ("تaتa", "ب تbbبت", 8, 8),                                           # past the cap, no early stop: the exact distance
    (" ", "تتبa", 40, 7),                                                # the result cell is a band boundary: 10 x cap
    ("a\x00b", "a\x00c", 0, 1),                                          # C strings: both end at the NUL
    ("😀😀a", "ab", 4, 9),                                               # shorter in characters, longer in bytes
    ("ت" * 3386, "ب" * 3386, 1001, 3386),                                # past max_ed=1000: 1001
    ("ت" * 500, "ب" * 500, 500, 500),
    ("ت" * 500 + "x", "ب" * 500 + "y", 501, 501),
]


@pytest.mark.parametrize("pred, gt, library, exact", LIBRARY_GOLDEN)
def test_original_edit_distance_is_the_librarys(pred, gt, library, exact):
    assert cb.original_edit_distance(pred, gt) == library
    assert cb.edit_distance(pred.encode(), gt.encode()) == exact or b"\0" in pred.encode()


def test_run_dependent_band_miss_uses_the_exact_distance():
    # byte gap 10 past a cap of 5 characters, no row to stop on: the library reads past its table (0, or garbage)
    assert cb.original_edit_distance("", "ببببب") is None
    assert cb.fastcer_original("", "ببببب") == pytest.approx(10 / 5)
    v = cb.score_item("khatt", "", "ببببب", "original")
    assert not v.correct and v.defect == "ocr-band"


def _wrong_page(n: int, seed: int = 0) -> tuple[str, str]:
    """An Arabic page of n characters and a transcription of it with every letter wrong (spaces kept)."""
    import random

    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    rnd = random.Random(seed)
    page = "".join(rnd.choice(letters) if i % 6 else " " for i in range(1, n + 1)).strip()
    wrong = "".join(c if c == " " else rnd.choice(letters.replace(c, "")) for c in page)
    return wrong, page


def test_the_cap_lets_a_wrong_page_pass_in_original_only():
    pred, gt = _wrong_page(3386)
    assert len(gt) == 3386 and all(p != g for p, g in zip(pred, gt) if g != " ")
    assert cb.original_edit_distance(pred, gt) == 1001
    assert cb.fastcer_original(pred, gt) == pytest.approx(1001 / 3386)  # 0.296
    assert cb.fastcer_exact(pred, gt) > 0.8
    original, corrected = cb.score_item("ocrisi", pred, gt, "original"), cb.score_item("ocrisi", pred, gt, "corrected")
    assert original.correct and original.defect == "ocr-cap" and not original.error
    assert not corrected.correct and cb.cer(pred, gt) > 0.75  # every letter wrong, the spaces (1 in 6) right
    assert not cb.score_item("ocrisi", *_wrong_page(3336), "original").correct  # 1001 / 3336 = 0.30006
    assert cb.score_item("ocrisi", *_wrong_page(3337), "original").correct      # 1001 / 3337 = 0.29997
    assert cb.score_item("evarest", *_wrong_page(2002), "original").correct      # the reference notes' 2,002 characters
    assert "ocr-cap" in cb.DEFECTS and "ocr-band" in cb.DEFECTS


def test_length_short_cut_is_exact_under_the_cap():
    """A length gap decides a row only where the library's distance is at least min(gap, cap + 1): same verdicts."""
    import random

    rnd = random.Random(11)
    alphabets = ["ab c", "ابت ", "abاب ١2", "aé€ب😀"]
    for _ in range(400):
        a, b = rnd.choice(alphabets), rnd.choice(alphabets)
        gt = "".join(rnd.choice(a) for _ in range(rnd.choice([rnd.randint(1, 30), rnd.randint(1000, 1400)])))
        pred = "".join(rnd.choice(b) for _ in range(max(0, len(gt) + rnd.randint(-len(gt), 400))))
        if not pred and not gt:
            continue
        full = cb.fastcer_original(pred, gt)
        for limit in (0.2, 0.3, 0.4, 0.5):
            assert (cb.fastcer_original(pred, gt, limit) <= limit) == (full <= limit), (pred[:20], gt[:20], limit)
    # a wrong page 1,200 characters too long: the gap alone (2,400 bytes) would fail it, the cap (1001) passes it
    pred, gt = _wrong_page(3386)
    longer = pred + "ب" * 1200
    assert cb.fastcer_original(longer, gt, 0.3) == cb.fastcer_original(longer, gt) == pytest.approx(1001 / 4586)


def test_against_the_library_when_installed():
    fed = pytest.importorskip("fast_edit_distance")
    import random

    rnd = random.Random(5)
    for _ in range(2000):
        a = rnd.choice(["ab c", "ابت ", "abاب ١2", "aé€ب😀", "a\0ب"])
        gt = "".join(rnd.choice(a) for _ in range(rnd.randint(0, 40)))
        pred = "".join(rnd.choice(a) for _ in range(rnd.randint(0, 40)))
        mine = cb.original_edit_distance(pred, gt)
        if mine is not None and (pred or gt):
            assert mine == fed.edit_distance(pred, gt, max_ed=1000), (pred, gt)
