"""Translation-quality metrics (report Table 9): BLEU-2, BLEU-4, METEOR, ROUGE-1 and ROUGE-L, Arabic-safe.

    ainkit metrics --input pairs.jsonl --output scored.jsonl --workers 2

Every score is on a 0-1 scale and every result carries a signature saying how it was
computed (library, version, tokenizer, smoothing, n-gram order), in sacrebleu's style.

- BLEU: sacrebleu's `BLEU(max_ngram_order=2|4)`; sentence level with effective order
  (short sentences are not zeroed for lacking 4-grams), corpus level without. Tokenizer
  `intl` by default: it splits Unicode punctuation, so the Arabic comma and question mark
  are tokens of their own (`13a` splits ASCII punctuation only).
- METEOR: nltk's `single_meteor_score` (lower-cased by nltk), with WordNet 3.0 from Debian
  arranged by the set-up (no nltk download); synonyms are English-only.
- ROUGE: rouge-score's `RougeScorer(["rouge1", "rougeL"], use_stemmer=False)`.

Tokenizers, per pair (TOKENIZATIONS; the record's `metrics_tok` says which was used):
- `standard`, a pair with no Arabic character: the tokenizers everyone else uses, so the scores
  compare with theirs (Hugging Face `evaluate`'s meteor and rouge): METEOR on nltk's word tokens
  (`nltk-word`: `NLTKWordTokenizer` on the sentences of nltk's Punkt with default parameters,
  i.e. `nltk.word_tokenize` without the downloaded English model; punctuation is kept as tokens;
  it differs from `word_tokenize` only where the English model knows an abbreviation, e.g.
  'Dr.'), ROUGE with rouge-score's default tokenizer (`rouge-default`: lower-cased [a-z0-9] runs).
- `arabic`, a pair where reference or hypothesis holds any Arabic-script character: both on the
  kit's word tokens (`ainkit-words`: letters and digits with the Arabic combining marks kept
  inside, punctuation dropped), because rouge-score's tokenizer deletes Arabic entirely.

Bounded cost: METEOR's alignment and ROUGE-L's LCS table grow with the product of the two
lengths (a 60 KB pair took 123 s and 2.9 GB; 1 MB was killed at 24 GB), so the stage rejects a
pair whose reference or hypothesis has more than `MAX_WORDS` (1,000; --max-words) words, with
the reason, before scoring it. The words are counted with a linear scan, each punctuation mark as
a word (nltk's tokens keep them).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Iterable, Sequence

from ainkit.ground.errors import UserError
from ainkit.ground.paths import CACHE

MAX_WORDS = 1000
VERSION = "metrics-2"  # 2: standard tokenizers (nltk-word, rouge-default) on pairs without Arabic
FIELDS = ["bleu2", "bleu4", "meteor", "rouge1_p", "rouge1_r", "rouge1_f", "rougeL_p", "rougeL_r", "rougeL_f"]
TOK_FIELD = "metrics_tok"  # per scored pair: the key of TOKENIZATIONS used for METEOR and ROUGE
# A word: letters/digits with the Arabic combining marks (harakat, superscript alef) kept inside it.
WORD = re.compile(r"[\w\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED]+", re.UNICODE)
# What the length bound counts: a word, or any single other visible character (a punctuation mark or symbol)
BOUND_TOKEN = re.compile(WORD.pattern + r"|[^\w\s\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED]", re.UNICODE)
# Any character of the Arabic script blocks (letters, marks, Arabic-Indic digits, Arabic punctuation)
ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u0870-\u08FF\uFB50-\uFDFF\uFE70-\uFEFC]")
# tokenization -> tokenizer name per metric (as the signatures spell it)
TOKENIZATIONS = {"standard": {"meteor": "nltk-word", "rouge": "rouge-default"},
                 "arabic": {"meteor": "ainkit-words", "rouge": "ainkit-words"}}
NLTK_DATA = CACHE / "nltk_data"


class MetricUnavailable(UserError, RuntimeError):
    """A metric's resources are missing here; the message says which and how to get them."""


def words(text: str) -> list[str]:
    """Lower-cased word tokens, Arabic-safe (punctuation dropped)."""
    return WORD.findall(text.lower())


class WordTokenizer:
    """rouge-score tokenizer protocol (`tokenize(text) -> list[str]`) with `words`."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


@lru_cache(maxsize=1)
def _nltk_tokenizers():
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def nltk_words(text: str) -> list[str]:
    """nltk's standard word tokens (punctuation kept), offline: `word_tokenize` with Punkt's default parameters."""
    sentences, tokenizer = _nltk_tokenizers()
    return [t for s in sentences.tokenize(text) for t in tokenizer.tokenize(s)]


def tokenization(reference: str, hypothesis: str) -> str:
    """'arabic' when either text holds an Arabic-script character, else 'standard' (a key of TOKENIZATIONS)."""
    return "arabic" if ARABIC.search(reference) or ARABIC.search(hypothesis) else "standard"


@dataclass(frozen=True)
class Config:
    """How the metrics are computed; `signature()` spells it out."""

    bleu_tokenize: str = "intl"

    def signatures(self, tokenized: str | dict[str, int] | None = None) -> dict[str, str]:
        """Signature of every score. `tokenized`: one key of TOKENIZATIONS (one pair), pair counts per key (a
        corpus: 'tok:nltk-word=12;ainkit-words=3'), or None (the rule: 'tok:nltk-word;ainkit-words-if-arabic')."""
        sb, nl, rs = (metadata.version(p) for p in ("sacrebleu", "nltk", "rouge-score"))
        bleu = f"nrefs:1|case:mixed|eff:{{eff}}|tok:{self.bleu_tokenize}|smooth:exp|version:{sb}"
        tok = {m: _tok_field(m, tokenized) for m in ("meteor", "rouge")}
        return {
            "bleu2": "BLEU-2|" + bleu.format(eff="yes"), "bleu4": "BLEU-4|" + bleu.format(eff="yes"),
            "corpus_bleu2": "BLEU-2|" + bleu.format(eff="no"), "corpus_bleu4": "BLEU-4|" + bleu.format(eff="no"),
            "meteor": f"METEOR|nltk:{nl}|alpha:0.9|beta:3|gamma:0.5|tok:{tok['meteor']}|case:lc|wordnet:3.0",
            "rouge1": f"ROUGE-1|rouge-score:{rs}|tok:{tok['rouge']}|case:lc|stem:no",
            "rougeL": f"ROUGE-L|rouge-score:{rs}|tok:{tok['rouge']}|case:lc|stem:no",
        }


def _tok_field(metric: str, tokenized: str | dict[str, int] | None) -> str:
    """The tok: field of a METEOR or ROUGE signature (see Config.signatures)."""
    if tokenized is None:
        return f"{TOKENIZATIONS['standard'][metric]};{TOKENIZATIONS['arabic'][metric]}-if-arabic"
    if isinstance(tokenized, str):
        return TOKENIZATIONS[tokenized][metric]
    return ";".join(f"{TOKENIZATIONS[k][metric]}={n}" for k, n in tokenized.items() if n)


def tokenization_counts(sentence_scores: Iterable[dict]) -> dict[str, int]:
    """How many scored pairs used each tokenization (a key of TOKENIZATIONS), for a corpus signature."""
    counts = dict.fromkeys(TOKENIZATIONS, 0)
    for s in sentence_scores:
        counts[s[TOK_FIELD]] += 1
    return counts


@lru_cache(maxsize=4)
def _bleu(order: int, tokenize: str, sentence: bool):
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=order, tokenize=tokenize, effective_order=sentence)


@lru_cache(maxsize=2)
def _rouge(tokenized: str):
    from rouge_score.rouge_scorer import RougeScorer

    if tokenized == "standard":
        return RougeScorer(["rouge1", "rougeL"], use_stemmer=False)  # rouge-score's default tokenizer
    return RougeScorer(["rouge1", "rougeL"], use_stemmer=False, tokenizer=WordTokenizer())


@lru_cache(maxsize=1)
def _wordnet():
    import nltk

    if str(NLTK_DATA) not in nltk.data.path:
        nltk.data.path.insert(0, str(NLTK_DATA))
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        raise MetricUnavailable(f"METEOR needs WordNet in {NLTK_DATA}/corpora/wordnet: run `make test` as root "
                                "(Debian wordnet-base wordnet-sense-index) or `python -m nltk.downloader wordnet`") from None
    return wordnet


METEOR_TOKENS = {"standard": nltk_words, "arabic": words}


def meteor(reference: str, hypothesis: str, tokenized: str | None = None) -> float:
    """nltk METEOR on nltk's word tokens, or on the kit's words when the pair holds Arabic (`tokenization`)."""
    from nltk.translate.meteor_score import single_meteor_score

    tok = METEOR_TOKENS[tokenized or tokenization(reference, hypothesis)]
    return float(single_meteor_score(tok(reference), tok(hypothesis), wordnet=_wordnet()))


def score(reference: str, hypothesis: str, config: Config = Config()) -> dict[str, float | str]:
    """All sentence-level metrics of one pair, 0-1, and under TOK_FIELD the tokenization METEOR and ROUGE used."""
    out: dict[str, float | str] = {
        f"bleu{n}": min(1.0, _bleu(n, config.bleu_tokenize, True).sentence_score(hypothesis, [reference]).score / 100)
        for n in (2, 4)}  # sacrebleu can give 100.00000000000004
    tokenized = tokenization(reference, hypothesis)
    out["meteor"] = meteor(reference, hypothesis, tokenized)
    r = _rouge(tokenized).score(reference, hypothesis)
    for key in ("rouge1", "rougeL"):
        out[f"{key}_p"], out[f"{key}_r"], out[f"{key}_f"] = r[key].precision, r[key].recall, r[key].fmeasure
    out[TOK_FIELD] = tokenized
    return out


def _score_chunk(args: tuple[list[tuple[str, str]], Config]) -> list[dict[str, float]]:
    pairs, config = args
    return [score(ref, hyp, config) for ref, hyp in pairs]


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent and die quietly on the SIGTERM with which it stops them (a forked
    worker would otherwise run the CLI's SIGTERM handler and print a traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_init() -> None:
    """A forked pool worker: Ctrl-C and SIGTERM as `_ignore_sigint` says, and WordNet's own file handles. The
    parent loaded WordNet, whose data files stay open and are read by seek + readline; forked workers would share
    those files' offsets, so one worker's seek moves another's read and METEOR meets a synset that is None
    ("'NoneType' object has no attribute 'lemmas'", seen in CI with 2 workers). Each worker opens its own."""
    _ignore_sigint()
    wn = _wordnet()
    wn._data_file_map = {}
    wn._key_count_file = wn._key_synset_file = None


def word_count_over(text: str, limit: int) -> int:
    """The number of words in `text` when it is over `limit`, else 0 (stops counting early). Each punctuation mark
    counts as a word: nltk's word tokens keep them, so 20,000 '!' would otherwise pass as no words at all."""
    n = 0
    for n, _ in enumerate(BOUND_TOKEN.finditer(text), start=1):
        if n > limit:
            return len(BOUND_TOKEN.findall(text))
    return 0


def score_many(pairs: Sequence[tuple[str, str]], config: Config = Config(), workers: int = 1, progress: bool = False,
               chunk: int = 256) -> list[dict[str, float]]:
    """Sentence-level metrics for (reference, hypothesis) pairs, in order, over `workers` processes."""
    from tqdm.auto import tqdm

    chunks = [list(pairs[i:i + chunk]) for i in range(0, len(pairs), chunk)]
    bar = tqdm(total=len(pairs), desc="metrics", unit="pair", disable=not progress, leave=False)
    out: list[dict[str, float]] = []
    if workers <= 1 or len(chunks) <= 1:
        for c in chunks:
            out += _score_chunk((c, config))
            bar.update(len(c))
    else:
        import multiprocessing as mp

        _wordnet()  # fail early, in the parent, if WordNet is missing
        with mp.get_context("fork").Pool(workers, initializer=_worker_init) as pool:
            for res in pool.imap(_score_chunk, [(c, config) for c in chunks]):
                out += res
                bar.update(len(res))
    bar.close()
    return out


def corpus(pairs: Sequence[tuple[str, str]], sentence_scores: Iterable[dict[str, float]] | None = None,
           config: Config = Config()) -> dict[str, float]:
    """Corpus-level scores: sacrebleu corpus BLEU; METEOR and ROUGE as means of the sentence scores."""
    refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
    scores = list(sentence_scores) if sentence_scores is not None else score_many(pairs, config)
    out = {f"bleu{n}": _bleu(n, config.bleu_tokenize, False).corpus_score(hyps, [refs]).score / 100 for n in (2, 4)}
    for key in FIELDS[2:]:
        out[key] = sum(s[key] for s in scores) / len(scores) if scores else math.nan
    return out


class CorpusStats:
    """`corpus()` computed in pieces, in constant memory: BLEU's n-gram match counts and the sentence-score sums
    are added up chunk by chunk, so 3.6 M pairs need no list of them. Equal to `corpus()` on the same pairs
    (tests/test_metrics.py); sacrebleu's per-segment statistics are its own (`_extract_corpus_statistics`,
    `_compute_score_from_stats`, sacrebleu 2.x, pinned)."""

    def __init__(self, config: Config = Config()):
        self.bleu = {n: _bleu(n, config.bleu_tokenize, False) for n in (2, 4)}
        self.counts: dict[int, list[float] | None] = {2: None, 4: None}
        self.sums = dict.fromkeys(FIELDS[2:], 0.0)
        self.n = 0

    def add(self, pairs: Sequence[tuple[str, str]], scores: Sequence[dict[str, float]]) -> None:
        if not pairs:
            return
        refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
        for n, metric in self.bleu.items():
            for row in metric._extract_corpus_statistics(hyps, [refs]):
                total = self.counts[n]
                self.counts[n] = list(row) if total is None else [a + b for a, b in zip(total, row)]
        for s in scores:
            for key in self.sums:
                self.sums[key] += s[key]
        self.n += len(pairs)

    def result(self) -> dict[str, float]:
        if not self.n:
            return {}
        out = {f"bleu{n}": self.bleu[n]._compute_score_from_stats(self.counts[n]).score / 100 for n in (2, 4)}
        return out | {key: total / self.n for key, total in self.sums.items()}


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


def score_records(records_in: str, records_out: str, reference_field: str = "reference", hypothesis_field: str = "hypothesis",
                  workers: int = 1, config: Config = Config(), rejects: str | None = None, shard: str | None = None,
                  chunk: int = 256, progress: bool = True, resume: bool = True, max_words: int = MAX_WORDS,
                  max_words_switch: str = "--max-words"):
    """The `ainkit metrics` stage: adds the FIELDS to each record; returns (Summary, corpus scores).

    One pool of `workers` processes lives for the whole run; records are scored `chunk` at a time and
    journalled as each chunk finishes, so a kill loses at most one chunk.
    """
    from tqdm.auto import tqdm

    from ainkit.services.records import read_lines, text_problems
    from ainkit.services.stageio import StageIO

    settings = {"stage": "metrics", "version": VERSION, "signatures": config.signatures(), "max_words": max_words,
                "reference_field": reference_field, "hypothesis_field": hypothesis_field}
    totals = CorpusStats(config)  # this run's pairs; after a resume, the whole output is read back for it

    def check(rec: dict) -> list[str]:
        problems = text_problems(rec, (reference_field, hypothesis_field), allow_empty=True)
        if not problems and not rec[reference_field].strip():
            problems.append(f"field {reference_field!r} is empty: nothing to score against")
        for f in (reference_field, hypothesis_field):
            if not problems and (n := word_count_over(rec[f], max_words)):
                problems.append(f"field {f!r} has {n:,} words, over the limit of {max_words:,} ({max_words_switch})")
        return problems  # an empty hypothesis is scored (0), not rejected

    with StageIO(records_in, records_out, rejects=rejects, shard=shard, resume=resume, settings=settings) as io:
        _wordnet()
        pool = None
        if workers > 1:
            import multiprocessing as mp

            pool = mp.get_context("fork").Pool(workers, initializer=_worker_init)
        try:
            bar = tqdm(desc="metrics", unit="pair", disable=not progress)
            for batch in io.batches(check, chunk):
                pairs = [(r[reference_field], r[hypothesis_field]) for r in batch]
                if pool is None:
                    scores = _score_chunk((pairs, config))
                else:
                    step = max(1, len(pairs) // workers)
                    scores = [s for part in pool.map(_score_chunk, [(pairs[i:i + step], config) for i in range(0, len(pairs), step)])
                              for s in part]
                for rec, s in zip(batch, scores):
                    rec.update(s)
                    io.emit(rec)
                totals.add(pairs, scores)
                bar.update(len(batch))
            bar.close()
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    if io.summary.resumed:  # records scored by the earlier run count too: read the finished output back, in pieces
        totals = CorpusStats(config)
        chunk_pairs, chunk_scores = [], []
        for line in read_lines(records_out):
            rec = line.record
            chunk_pairs.append((rec[reference_field], rec[hypothesis_field]))
            chunk_scores.append(rec)
            if len(chunk_pairs) >= chunk:
                totals.add(chunk_pairs, chunk_scores)
                chunk_pairs, chunk_scores = [], []
        totals.add(chunk_pairs, chunk_scores)
    return io.summary, totals.result()
