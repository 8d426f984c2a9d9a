"""CAMEL-Bench scoring: every rule in both modes, the reference file's defect cases reproduced in `original`
and scored right in `corrected`; aggregation."""
import pytest

from ainkit.evaluate import camel_bench as cb
from ainkit.evaluate import text as T

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
]


@pytest.mark.parametrize("ds, pred, gt, orig, orig_err, corr", CASES)
def test_rules_both_modes(ds, pred, gt, orig, orig_err, corr):
    o = cb.score_item(ds, pred, gt, "original")
    c = cb.score_item(ds, pred, gt, "corrected")
    assert (o.correct, bool(o.error)) == (orig, orig_err), o
    assert c.correct == corr and not c.error


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
