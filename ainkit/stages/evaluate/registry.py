"""The benchmarks `ainkit evaluate` knows: size, answer keys, licence, gating, and which of their metrics the kit has.

    ainkit evaluate --list

One entry per benchmark, looked up by name (`BENCHMARKS`); a benchmark whose metrics the kit does not implement
yet is listed with them named as not implemented, never scored by a stand-in. Sizes, licences and hub ids are
as their authors publish them (papers, dataset cards, repositories; see ../shared/reference/arabic-eval-landscape.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Benchmark:
    name: str
    what: str
    size: str
    keys: str  # public / withheld / gated
    licence: str
    gating: str
    source: str  # hub ids and the authors' code
    implemented: tuple[str, ...] = ()  # metrics the kit computes as the authors define them
    missing: tuple[str, ...] = field(default=())  # the authors' metrics the kit does not compute (yet)
    runnable: bool = False  # `ainkit evaluate --benchmark NAME` scores it

    def row(self) -> dict[str, str]:
        """The --list row."""
        return {"benchmark": self.name, "size": self.size, "keys": self.keys, "licence": self.licence,
                "gating": self.gating, "metrics": ", ".join(self.implemented) or "-",
                "not implemented": ", ".join(self.missing) or "-", "runs": "yes" if self.runnable else "no",
                "what": self.what, "source": self.source}


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("camel-bench", "Arabic multimodal, 8 domains, 38 sub-domains (the report's Table 1)", "29,036 questions",
              "withheld (hub copy has empty answers; the authors score submissions)", "MIT (code)", "open",
              "ahmedheakl/arabic_<set>; github mbzuai-oryx/Camel-Bench scripts/utils.py",
              ("original scorers", "corrected scorers", "GPT judge for open-ended sets (with --judge)"), (), True),
    Benchmark("arabic-mmlu", "text, 40 tasks, school exams (the report's Table 2)", "14,575 questions", "public",
              "CC-BY-NC-4.0", "open", "MBZUAI/ArabicMMLU; github mbzuai-nlp/ArabicMMLU util_prompt.py",
              ("accuracy (letter choice) in the authors' formulation, as lm-evaluation-harness's arabicmmlu asks it "
               "(default; --mmlu-prompt kit / lighteval / authors-script for the others), with 95 % intervals",), (), True),
    Benchmark("kitab-bench", "Arabic OCR and document understanding, 9 domains, 36 sub-domains", "8,809 samples",
              "public (per-task sets)", "MIT (code)", "open", "ahmedheakl/arocrbench_<set>; github mbzuai-oryx/KITAB-Bench",
              ("text recognition (13 ocr-eval sets): CER, WER, CHrF, ED",),
              ("BLEU, METEOR (ocr-eval)", "TEDS (tables)", "SCRM / ChartEx (charts)", "MARS (PDF to markdown)",
               "diagrams", "layout (mAP)", "lines"), True),
    Benchmark("jeem", "captioning + VQA in 4 dialects (Jordan, Emirates, Egypt, Morocco)",
              "2,178 images, 10,890 QA", "public, gated", "MIT", "gated: accept the terms on the hub (toloka/JEEM)",
              "toloka/JEEM (no evaluation code published; metrics as pycocoevalcap / sacrebleu / rouge-score define "
              "them; items in the kit's format: the gated hub schema was not readable here)",
              ("CIDEr (pycocoevalcap 1.2), BLEU-4 (sacrebleu), ROUGE-L F1, per task and dialect, with 95 % intervals",),
              ("BERTScore (needs a multilingual BERT; none offline)", "GPT-4 judge (prompt not published)"), True),
    Benchmark("arb", "step-by-step multimodal reasoning in Arabic, 11 domains", "1,356 samples, 5,119 steps", "public",
              "Apache-2.0 (code)", "hub login (MBZUAI/ARB)", "MBZUAI/ARB; github mbzuai-oryx/ARB "
              "evaluation/judge-llm-evaluation.py", ("final-answer accuracy (the authors' binary LLM judge, with --judge)",),
              ("reasoning-step rubric (LLM judge)", "BLEU / ROUGE / BERTScore / LaBSE of the steps"), True),
]}


def table() -> list[dict[str, str]]:
    """The --list rows, in registry order."""
    return [b.row() for b in BENCHMARKS.values()]


def render(rows: list[dict[str, str]] | None = None) -> str:
    """The --list text: one block per benchmark."""
    out = []
    for r in rows or table():
        out.append(f"{r['benchmark']}: {r['what']}")
        for k in ("size", "keys", "licence", "gating", "metrics", "not implemented", "runs", "source"):
            out.append(f"    {k + ':':17}{r[k]}")
    return "\n".join(out)
