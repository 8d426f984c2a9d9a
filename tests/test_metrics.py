"""ainkit.stages.metrics against direct calls of sacrebleu, nltk and rouge-score; Arabic scored correctly; the verify funnel."""
import json

import pytest

from nltk.translate.meteor_score import single_meteor_score
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU

from ainkit.pipelines.rescore import MissingScores
from ainkit.stages import metrics, verify
from ainkit.ground.errors import UserError
from ainkit.services.records import read_records
from helpers import cli

CASES = {
    "identical": ("The cat sat on the mat.", "The cat sat on the mat."),
    "disjoint": ("The cat sat on the mat.", "Quantum engines hum loudly."),
    "partial": ("A child is riding a bicycle along the beach.", "A kid rides a bike along the beach."),
    "empty_hypothesis": ("Two boats are sailing near the harbor.", ""),
    "arabic": ("هذه جملة، مثال؟", "هذه جملة مثال"),
    "mixed": ("The word كتاب means book.", "كتاب means a book."),
}


def nltk_tokens(text):
    """nltk.word_tokenize as it runs without the downloaded Punkt model: Punkt's default parameters, then NLTKWordTokenizer."""
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return [t for s in PunktSentenceTokenizer().tokenize(text) for t in NLTKWordTokenizer().tokenize(s)]


@pytest.mark.parametrize("case", CASES)
def test_every_metric_equals_the_library(case):
    ref, hyp = CASES[case]
    got = metrics.score(ref, hyp)
    for n in (2, 4):
        direct = BLEU(max_ngram_order=n, tokenize="intl", effective_order=True).sentence_score(hyp, [ref]).score / 100
        assert got[f"bleu{n}"] == pytest.approx(direct, abs=1e-9)
    metrics._wordnet()
    arabic = case in ("arabic", "mixed")
    assert got[metrics.TOK_FIELD] == ("arabic" if arabic else "standard")
    tok = metrics.words if arabic else nltk_tokens
    assert got["meteor"] == pytest.approx(single_meteor_score(tok(ref), tok(hyp)), abs=1e-9)
    scorer = RougeScorer(["rouge1", "rougeL"], tokenizer=metrics.WordTokenizer()) if arabic else RougeScorer(["rouge1", "rougeL"])
    direct = scorer.score(ref, hyp)
    for key in ("rouge1", "rougeL"):
        assert got[f"{key}_p"] == pytest.approx(direct[key].precision, abs=1e-9)
        assert got[f"{key}_r"] == pytest.approx(direct[key].recall, abs=1e-9)
        assert got[f"{key}_f"] == pytest.approx(direct[key].fmeasure, abs=1e-9)
    assert all(0 <= got[k] <= 1 for k in metrics.FIELDS)


# English pairs with punctuation: (reference, hypothesis, METEOR, ROUGE-1 F, ROUGE-L F) as nltk 3.10.4's meteor_score on
# nltk word tokens and rouge-score 0.1.2 with its default tokenizer give them (Hugging Face `evaluate`'s way); in the
# comment, the METEOR of metrics-1, which dropped punctuation before scoring.
ENGLISH_GOLDEN = [
    ("Please, sit down.", "Please sit down", 0.532407, 1.000000, 1.000000),  # metrics-1: 0.9815
    ("It is raining today. Should we stay at home?", "It's raining today; should we stay home?", 0.688073, 0.823529, 0.823529),  # 0.7556
    ("The cat sat on the mat.", "The cat sat on the mat", 0.867552, 1.000000, 1.000000),  # 0.9977
    ('"Yes," she said, "I\'ll come."', "She said yes, she will come.", 0.341111, 0.666667, 0.500000),  # 0.5260
    ("This is an example sentence!", "This is an example sentence.", 0.830000, 1.000000, 1.000000),  # 0.9960
    ("Prices rose 3.5% in 2023 (a record).", "Prices rose by 3.5 percent in 2023, a record.", 0.638494, 0.888889, 0.888889),  # 0.9499
    ("Wait... what? No!", "Wait, what? No.", 0.625000, 1.000000, 1.000000),  # 0.9815
    ("The children's books are on the shelf.", "The childrens books are on the shelf", 0.786178, 0.800000, 0.800000),  # 0.8757
]


@pytest.mark.parametrize("ref, hyp, meteor, rouge1_f, rougeL_f", ENGLISH_GOLDEN)
def test_english_scores_equal_everyone_elses(ref, hyp, meteor, rouge1_f, rougeL_f):
    from nltk.translate.meteor_score import meteor_score

    got = metrics.score(ref, hyp)
    assert got[metrics.TOK_FIELD] == "standard"
    assert got["meteor"] == pytest.approx(meteor, abs=1e-6)
    assert got["meteor"] == meteor_score([nltk_tokens(ref)], nltk_tokens(hyp), wordnet=metrics._wordnet())
    assert (got["rouge1_f"], got["rougeL_f"]) == pytest.approx((rouge1_f, rougeL_f), abs=1e-6)
    direct = RougeScorer(["rouge1", "rougeL"]).score(ref, hyp)  # rouge-score's default tokenizer
    assert (got["rouge1_f"], got["rougeL_f"]) == (direct["rouge1"].fmeasure, direct["rougeL"].fmeasure)


def test_single_sentences_use_nltk_word_tokenizer_as_is():
    from nltk.tokenize import NLTKWordTokenizer, TreebankWordTokenizer

    for text in ("Please, sit down.", '"Yes," she said, "I\'ll come."', "Prices rose 3.5% in 2023 (a record)."):
        assert metrics.nltk_words(text) == NLTKWordTokenizer().tokenize(text) == TreebankWordTokenizer().tokenize(text)
    assert metrics.nltk_words("It rains. We stay.") == ["It", "rains", ".", "We", "stay", "."]  # split into sentences first


@pytest.mark.parametrize("ref, hyp", [("هذه جملة، مثال؟", "هذه جملة، مثال؟"), ("Please, sit down", "تفضل، اجلس"),
                                      ("٣ كتب", "٣ كتب"), ("The word كتاب.", "The word كتاب.")])
def test_arabic_anywhere_uses_the_kit_words(ref, hyp):
    got = metrics.score(ref, hyp)
    assert got[metrics.TOK_FIELD] == "arabic"
    if ref == hyp:
        assert got["meteor"] == pytest.approx(single_meteor_score(metrics.words(ref), metrics.words(hyp)), abs=1e-12)
        assert got["rouge1_f"] == got["rougeL_f"] == pytest.approx(1.0)


def test_punctuation_counts_towards_the_length_bound():
    assert metrics.word_count_over("!" * 2000, 1000) == 2000  # nltk would make 2,000 tokens of it
    assert metrics.word_count_over("Please, sit down.", 5) == 0 and metrics.word_count_over("Please, sit down.", 4) == 5


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
    assert "wordnet:3.0" in sig["meteor"] and "|tok:nltk-word;ainkit-words-if-arabic|" in sig["meteor"]
    assert "|tok:rouge-default;ainkit-words-if-arabic|" in sig["rougeL"]
    assert "|tok:nltk-word|" in metrics.Config().signatures("standard")["meteor"]
    assert "|tok:ainkit-words|" in metrics.Config().signatures("arabic")["rouge1"]
    scores = metrics.score_many([CASES["partial"], CASES["arabic"], CASES["identical"]])
    counts = metrics.tokenization_counts(scores)
    assert counts == {"standard": 2, "arabic": 1}
    assert "|tok:nltk-word=2;ainkit-words=1|" in metrics.Config().signatures(counts)["meteor"]
    assert "|tok:rouge-default=2;ainkit-words=1|" in metrics.Config().signatures(counts)["rougeL"]


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
    rules = {"bleu2": 0.9, "meteor": 0.5}
    funnel = verify.run(str(src), str(tmp_path / "k.jsonl"), rules=rules, fill=MissingScores(rules))
    assert funnel.kept == 1 and read_records(tmp_path / "k.jsonl")[0]["bleu2"] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["similarity", "similarity=high", "=0.8"])
def test_bad_threshold(bad):
    with pytest.raises(UserError, match="--threshold"):
        verify.parse_thresholds([bad])


def test_unknown_threshold_name_is_refused_with_a_suggestion():
    with pytest.raises(UserError, match="did you mean 'similarity'"):
        verify.parse_thresholds(["simlarity=0.8"])


def test_cli_metrics(tmp_path):

    src = tmp_path / "p.jsonl"
    src.write_text("\n".join([json.dumps({"id": 1, "reference": "هذه جملة مثال", "hypothesis": "هذه جملة مثال"}, ensure_ascii=False),
                              json.dumps({"id": 2, "reference": "the cat"}), "nope"]) + "\n")
    proc = cli("metrics", "--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--workers", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1 kept, 1 rejected, 1 malformed" in proc.stdout and "BLEU-4|nrefs:1" in proc.stdout
    [rec] = read_records(tmp_path / "o.jsonl")
    assert rec["bleu4"] == pytest.approx(1.0) and rec["rougeL_f"] == pytest.approx(1.0) and rec["metrics_tok"] == "arabic"


def test_a_metrics_1_journal_is_not_resumed(tmp_path):
    """metrics-2 changed English scores: a journal written by metrics-1 is refused, naming the version, not mixed in."""
    from ainkit.services.records import RecordError

    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"id": 1, "reference": "Please, sit down.", "hypothesis": "Please sit down"}) + "\n")
    old = {"stage": "metrics", "version": "metrics-1", "max_words": 1000, "reference_field": "reference",
           "hypothesis_field": "hypothesis", "shard": "0/1"}
    (tmp_path / "o.jsonl.journal").write_text(json.dumps({"_settings": old}) + "\n" + json.dumps({"id": 1, "meteor": 0.98}) + "\n")
    with pytest.raises(RecordError, match="version"):
        metrics.score_records(str(src), str(tmp_path / "o.jsonl"), progress=False)
    metrics.score_records(str(src), str(tmp_path / "o.jsonl"), progress=False, resume=False)
    [rec] = read_records(tmp_path / "o.jsonl")
    assert metrics.VERSION == "metrics-2" and rec["metrics_tok"] == "standard" and rec["meteor"] == pytest.approx(0.532407, abs=1e-6)


def test_corpus_in_pieces_and_after_a_resume(tmp_path, monkeypatch):
    """CorpusStats (constant memory) equals corpus() on the same pairs; a resumed run's corpus scores cover the
    pairs the earlier run scored too, not only its own."""
    pairs = [(f"the cat {i} sat on the mat today", f"a cat {i} sat on {'the' if i % 3 else 'a'} mat") for i in range(40)]
    whole = metrics.corpus(pairs)
    stats = metrics.CorpusStats()
    scores = metrics.score_many(pairs)
    for i in range(0, 40, 7):
        stats.add(pairs[i:i + 7], scores[i:i + 7])
    assert stats.result() == pytest.approx(whole, abs=1e-12)

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "reference": r, "hypothesis": h}) + "\n" for i, (r, h) in enumerate(pairs)))
    out = tmp_path / "o.jsonl"
    assert metrics.score_records(str(src), str(out), progress=False, chunk=8)[1] == pytest.approx(whole, abs=1e-12)
    out.unlink()
    real, calls = metrics._score_chunk, []

    def dies_on_the_third(args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(metrics, "_score_chunk", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        metrics.score_records(str(src), str(out), progress=False, chunk=8)
    monkeypatch.setattr(metrics, "_score_chunk", real)
    summary, resumed = metrics.score_records(str(src), str(out), progress=False, chunk=8)
    assert summary.resumed == 16 and summary.kept == 40
    assert resumed == pytest.approx(whole, abs=1e-12)


def test_forked_workers_do_not_share_wordnet_files():
    """The parent has read WordNet (its data files are open) before the pool forks: workers sharing those files'
    offsets read wrong lines (a None synset in METEOR). Varied English words make every worker seek."""
    import random

    vocab = ("house dog run bank light spring fair bear watch play ring match rock park bark pitch seal tire "
             "bow lead wind tear close present object record desert minute content subject project row").split()
    rng = random.Random(7)
    pairs = [(" ".join(rng.choices(vocab, k=12)), " ".join(rng.choices(vocab, k=12))) for _ in range(1200)]
    metrics.meteor("the bank of the river", "a river bank")  # WordNet loaded and its files opened in this process
    assert metrics.score_many(pairs, workers=4, chunk=25) == metrics.score_many(pairs, workers=1)
