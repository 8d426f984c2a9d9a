"""The scores a verification rule needs but a record lacks, computed on the way into verify.

    fill = rescore.MissingScores({"bleu2": 0.9, "similarity": 0.8}, encoder_name="use-multilingual")
    verify.run("in.jsonl", "kept.jsonl", rules=fill.rules, fill=fill)     # `ainkit verify --compute-missing`

BLEU / METEOR / ROUGE come from reference and hypothesis (ainkit.stages.metrics), similarity from the
English and Arabic fields with a sentence encoder (ainkit.stages.similarity), loaded by `prepare`, which
verify calls after its input and output checks (nothing loads before a bad path is refused). A record
whose texts are too long to score is answered with the reason, and verify rejects it as unscorable.
"""
from __future__ import annotations

from typing import Any

from ainkit.stages import metrics
from ainkit.stages.similarity import OFFLINE_MULTILINGUAL
from ainkit.stages.verify import METRIC_FIELDS


class MissingScores:
    """Callable on a record: fills in missing scores in place; returns why it cannot, else None."""

    def __init__(self, rules: dict[str, float], encoder_name: str = OFFLINE_MULTILINGUAL, reference_field: str = "reference",
                 hypothesis_field: str = "hypothesis", en_field: str = "en", ar_field: str = "ar") -> None:
        self.rules, self.encoder_name = rules, encoder_name
        self.reference_field, self.hypothesis_field = reference_field, hypothesis_field
        self.en_field, self.ar_field = en_field, ar_field
        self.encoder = None

    def prepare(self) -> None:
        """Load the sentence encoder when a similarity rule may need it."""
        if "similarity" in self.rules:
            from ainkit.stages.similarity import load

            self.encoder = load(self.encoder_name)

    def __call__(self, rec: dict[str, Any]) -> str | None:
        ref, hyp = self.reference_field, self.hypothesis_field
        if any(isinstance(rec.get(f), str) and metrics.word_count_over(rec[f], metrics.MAX_WORDS) for f in (ref, hyp)):
            return f"{ref}/{hyp} over {metrics.MAX_WORDS:,} words: too long to score"
        need_metrics = any(n in METRIC_FIELDS and not isinstance(rec.get(n), (int, float)) for n in self.rules)
        if need_metrics and isinstance(rec.get(ref), str) and isinstance(rec.get(hyp), str):
            rec.update(metrics.score(rec[ref], rec[hyp]))
        en, ar = rec.get(self.en_field), rec.get(self.ar_field)
        if "similarity" in self.rules and not isinstance(rec.get("similarity"), (int, float)) and self.encoder is not None \
                and isinstance(en, str) and isinstance(ar, str):
            from ainkit.stages.similarity import score_pairs

            rec["similarity"] = round(float(score_pairs(self.encoder, [en], [ar])[0]), 6)
            rec["similarity_encoder"] = self.encoder.name
        return None
