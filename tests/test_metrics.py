"""ainkit.metrics against direct calls of sacrebleu, nltk and rouge-score; Arabic scored correctly; the verify funnel."""
import json

import pytest

from nltk.translate.meteor_score import single_meteor_score
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU

from ainkit import metrics, verify
from ainkit.errors import UserError
from ainkit.records import read_records

CASES = {
    "identical": ("The cat sat on the mat.", "The cat sat on the mat."),
    "disjoint": ("The cat sat on the mat.", "Quantum engines hum loudly."),
    "partial": ("A child is riding a bicycle along the beach.", "A kid rides a bike along the beach."),
    "empty_hypothesis": ("Two boats are sailing near the harbor.", ""),
    "arabic": ("هذه جملة، مثال؟", "هذه جملة مثال"),
    "mixed": ("The word كتاب means book.", "كتاب means a book."),
}


@pytest.mark.parametrize("case", CASES)
def test_every_metric_equals_the_library(case):
    ref, hyp = CASES[case]
    got = metrics.score(ref, hyp)
    for n in (2, 4):
        direct = BLEU(max_ngram_order=n, tokenize="intl", effective_order=True).sentence_score(hyp, [ref]).score / 100
        assert got[f"bleu{n}"] == pytest.approx(direct, abs=1e-9)
    metrics._wordnet()
    assert got["meteor"] == pytest.approx(single_meteor_score(metrics.words(ref), metrics.words(hyp)), abs=1e-9)
    direct = RougeScorer(["rouge1", "rougeL"], tokenizer=metrics.WordTokenizer()).score(ref, hyp)
    for key in ("rouge1", "rougeL"):
        assert got[f"{key}_p"] == pytest.approx(direct[key].precision, abs=1e-9)
        assert got[f"{key}_r"] == pytest.approx(direct[key].recall, abs=1e-9)
        assert got[f"{key}_f"] == pytest.approx(direct[key].fmeasure, abs=1e-9)
    assert all(0 <= v <= 1 for v in got.values())


@pytest.mark.parametrize("text", ["هذه جملة، مثال؟", "هَٰذِهِ جُمْلَةٌ مِثَالٌ", "إنها تمطر اليوم. هل يجب علينا البقاء في المنزل؟"])
def test_identical_arabic_scores_one(text):
    got = metrics.score(text, text)
    for key in ("bleu2", "bleu4", "rouge1_f", "rougeL_f"):
        assert got[key] == pytest.approx(1.0, abs=1e-9), key


def test_why_the_kit_tokenizes_itself():
    assert RougeScorer(["rouge1"]).score("هذه جملة مثال", "هذه جملة مثال")["rouge1"].fmeasure == 0.0  # default deletes Arabic
    assert metrics.words("هَٰذِهِ جُمْلَةٌ، مثال؟") == ["هَٰذِهِ", "جُمْلَةٌ", "مثال"]  # diacritics stay inside words
    ref, hyp = "مرحبا، كيف الحال؟", "مرحبا كيف الحال"
    intl = metrics.score(ref, hyp)["bleu2"]
    thirteen = metrics.score(ref, hyp, metrics.Config(bleu_tokenize="13a"))["bleu2"]
    assert intl > thirteen  # intl splits the Arabic comma and question mark off the words


def test_corpus_and_signatures():
    pairs = [CASES["partial"], CASES["identical"]]
    c = metrics.corpus(pairs)
    direct = BLEU(max_ngram_order=4, tokenize="intl").corpus_score([h for _, h in pairs], [[r for r, _ in pairs]]).score / 100
    assert c["bleu4"] == pytest.approx(direct, abs=1e-9)
    sig = metrics.Config().signatures()
    assert sig["bleu2"].startswith("BLEU-2|nrefs:1|case:mixed|eff:yes|tok:intl|smooth:exp|version:")
    assert "wordnet:3.0" in sig["meteor"] and "tok:ainkit-words" in sig["rougeL"]


def test_parallel_equals_serial():
    pairs = [CASES[c] for c in CASES] * 60
    assert metrics.score_many(pairs, workers=2, chunk=50) == metrics.score_many(pairs, workers=1)


def test_verify_keeps_rejects_and_loses_nothing(tmp_path):
    src = tmp_path / "scored.jsonl"
    good = {"id": "good", "similarity": 0.9, "bleu4": 0.7, "meteor": 0.85, "rouge1_f": 0.9}
    lines = [json.dumps(good),
             json.dumps({"id": "low", "similarity": 0.5, "bleu4": 0.2, "meteor": 0.85, "rouge1_f": 0.9}),
             json.dumps({"id": "missing", "similarity": 0.95}),
             "{broken",
             json.dumps({"id": "edge", "similarity": 0.8, "bleu4": 0.6, "meteor": 0.8, "rouge1_f": 0.8})]
    src.write_text("\n".join(lines) + "\n")
    funnel = verify.run(str(src), str(tmp_path / "kept.jsonl"), str(tmp_path / "rej.jsonl"))
    kept = read_records(tmp_path / "kept.jsonl")
    rejected = read_records(tmp_path / "rej.jsonl")
    assert [r["id"] for r in kept] == ["good", "edge"]  # a score equal to the threshold passes
    by_line = {r["line"]: r["reasons"] for r in rejected}
    assert by_line[2] == ["similarity 0.5000 < 0.8", "bleu4 0.2000 < 0.6"]
    assert by_line[3] == ["bleu4 missing", "meteor missing", "rouge1_f missing"]
    assert by_line[4][0].startswith("malformed JSON")
    assert len(kept) + len(rejected) == 5 and funnel.malformed == 1
    summary = json.loads((tmp_path / "kept.funnel.json").read_text())
    assert summary["dropped_at"] == {"similarity": 1, "bleu4": 1, "meteor": 0, "rouge1_f": 0} and summary["kept"] == 2


def test_verify_computes_missing_metrics_on_request(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "reference": "The cat sat.", "hypothesis": "The cat sat."}) + "\n")
    funnel = verify.run(str(src), str(tmp_path / "k.jsonl"), rules={"bleu2": 0.9, "meteor": 0.5}, compute=True)
    assert funnel.kept == 1 and read_records(tmp_path / "k.jsonl")[0]["bleu2"] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["similarity", "similarity=high", "=0.8"])
def test_bad_threshold(bad):
    with pytest.raises(UserError, match="--threshold"):
        verify.parse_thresholds([bad])


def test_unknown_threshold_name_is_refused_with_a_suggestion():
    with pytest.raises(UserError, match="did you mean 'similarity'"):
        verify.parse_thresholds(["simlarity=0.8"])


def test_cli_metrics(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "p.jsonl"
    src.write_text("\n".join([json.dumps({"id": 1, "reference": "هذه جملة مثال", "hypothesis": "هذه جملة مثال"}, ensure_ascii=False),
                              json.dumps({"id": 2, "reference": "the cat"}), "nope"]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "ainkit.cli", "metrics", "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                           "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1 kept, 1 rejected, 1 malformed" in proc.stdout and "BLEU-4|nrefs:1" in proc.stdout
    [rec] = read_records(tmp_path / "o.jsonl")
    assert rec["bleu4"] == pytest.approx(1.0) and rec["rougeL_f"] == pytest.approx(1.0)
