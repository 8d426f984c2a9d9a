"""The result rows, tables and figures notebooks 01, 03, 04 and 05 get from one call each into ainkit.reproduction.analyses."""
import json
import math

import numpy as np
import pytest

from ainkit.stages import metrics, verify
from ainkit.reproduction import paper
from ainkit.reproduction.analyses import compare, quality, screening, selection, training
from ainkit.stages.train.plan import Assumptions, compute_budget, memory_per_gpu


def by_quantity(rows):
    return {r.quantity: r for r in rows}


# ---------------------------------------------------------------- 01: Tables 4-5

@pytest.fixture
def measured():
    """Three kit samples, two measurements of one model (one empty answer, flagged)."""
    samples = selection.load_samples()[:3]
    ms = [compare.Measurement("tiny", lang, outputs=[s["ar"] for s in samples[:2]] + [None], issues=[[], [], ["empty"]],
                              total_s=3.0, per_sample_s=1.0, concurrency=4, throughput=2.5, n_ok=3)
          for lang in ("ar", "en")]
    return samples, ms


def test_comparison_table_puts_the_kit_beside_the_report(measured):
    samples, ms = measured
    table = compare.comparison_table(ms, samples, ratings={("tiny", "ar"): (0.5, 2)})
    published = paper.load("table4_5")
    assert len(table) == len(published) + 2
    kit = table.loc[("Arabic", "tiny (kit)")]
    assert kit["avg s/sample"] == 1.0 and kit["accuracy (%)"] == 50.0 and kit["samples/s at concurrency 4"] == 2.5
    assert kit["proxy: clean (%)"] == pytest.approx(200 / 3) and math.isnan(kit["proxy: similarity"])  # no encoder given
    assert math.isnan(table.loc[("English", "tiny (kit)"), "accuracy (%)"])  # not rated
    assert table.loc[("Arabic", "GPT-4o-mini (published)"), "avg s/sample"] == 3.52
    assert len(compare.time_figure(table).axes[0].patches) == len(table)


def test_comparison_rows(measured):
    samples, ms = measured
    rows = compare.result_rows(ms, samples, ratings={("tiny", "ar"): (0.5, 2)})
    assert len([r for r in rows if r.source != "substitute"]) == 3 * len(paper.load("table4_5"))
    kit = [r for r in rows if r.quantity.startswith("kit tiny")]
    assert {r.artefact for r in kit} == {"Table 4", "Table 5"} and all(r.source == "substitute" for r in kit)
    ar = by_quantity(r for r in kit if r.artefact == "Table 4")
    assert ar["kit tiny: accuracy (%)"].kit == 50.0 and "2 ratings" in ar["kit tiny: accuracy (%)"].note
    assert ar["kit tiny: samples/s at concurrency 4"].kit == 2.5
    assert ar["kit tiny: proxy clean share"].kit == pytest.approx(0.667) and "PROXY" in ar["kit tiny: proxy chrF"].note
    assert "kit tiny: proxy similarity" not in ar
    assert "kit tiny: accuracy (%)" not in by_quantity(r for r in kit if r.artefact == "Table 5")
    gpt4 = by_quantity(rows)["GPT-4: samples timed (total / average)"]
    assert gpt4.source == "recomputed" and gpt4.kit == 25.0


# ---------------------------------------------------------------- 03: Table 9 and Figure 13

def scores(value: float, n: int = 4, label: str = "reference back-translations") -> quality.Scores:
    sentence = [{k: value for k in metrics.FIELDS} for _ in range(n)]
    return quality.Scores(label, sentence, {k: value for k in metrics.FIELDS}, {k: value for k in metrics.FIELDS},
                          metrics.Config().signatures())


def test_score_identical_back_translations():
    s = quality.score([("The cat sleeps on the mat.", "The cat sleeps on the mat.")] * 2)
    assert s.n == 2 and s.corpus["bleu4"] == pytest.approx(1.0) and s.mean["rougeL_f"] == pytest.approx(1.0)
    assert s.signature("rouge1_p").startswith("ROUGE-1|") and s.signature("bleu2", corpus=True).startswith("BLEU-2|")
    assert "eff:no" in s.signature("bleu2", corpus=True) and "eff:yes" in s.signature("bleu2")


def test_table9_layout():
    table = quality.table9(scores(0.5))
    assert list(table.index) == ["BLEU-2 score", "BLEU-4 score", "METEOR score", "ROUGE-1 precision", "ROUGE-1 recall",
                                 "ROUGE-1 f1", "ROUGE-L precision", "ROUGE-L recall", "ROUGE-L f1"]
    assert (table["kit corpus (%)"] == 50.0).all()
    assert table.loc["BLEU-2 score", "published (%)"] == paper.load("table9").loc["BLEU-2", "score_pct"]
    assert table.loc["ROUGE-L f1", "signature"].startswith("ROUGE-L|")


def test_funnel_without_an_encoder_drops_the_similarity_rule():
    records = [{"id": str(i), "reference": "a b c", "ar": "أ ب ت"} for i in range(3)]
    high = {k: 0.9 for k in metrics.FIELDS}
    sentence = [high, high, {**high, "bleu4": 0.1}]
    run = quality.funnel(records, sentence)
    assert run.encoder is None and "similarity" not in run.rules and set(run.rules) < set(verify.DEFAULT_RULES)
    assert (run.funnel.records_in, run.funnel.kept, run.funnel.dropped_at) == (3, 2, {"bleu4": 1})
    assert len(quality.funnel_figure(run).axes[0].patches) == len(run.rules) + 1


def test_threshold_sweep():
    good, poor = [0.9] * 98 + [0.5, 0.7], [0.1] * 50 + [0.85] * 50
    s = quality.threshold_sweep(good, poor, 0.02, "enc")
    assert s.summary["good excluded at 0.8 (%)"] == 2.0 and s.summary["poor excluded at 0.8 (%)"] == 50.0
    assert s.threshold == pytest.approx(np.quantile(good, 0.02)) and "threshold excluding 2% of good pairs" in s.summary
    assert s.curves["good pairs excluded"][0] == 0.0 and s.curves["poor pairs excluded"][-1] == 100.0 and len(s.grid) == 101
    assert len(quality.sweep_figure(s).axes[0].lines) == 4  # two curves, two thresholds
    with pytest.raises(ValueError):
        quality.threshold_sweep([], [0.1], 0.02, "enc")


def test_quality_rows():
    run = quality.funnel([{"id": "1", "reference": "a", "ar": "أ"}], [{k: 0.9 for k in metrics.FIELDS}])
    sweep = quality.threshold_sweep([0.9, 0.7], [0.1, 0.2], 0.02, "enc")
    rows = quality.result_rows(scores(0.5), run, [scores(0.25, n=3, label="tiny-llm")], sweep)
    t9 = [r for r in rows if r.artefact == "Table 9"]
    assert len(t9) == 9 + 2 + 9  # every cell as a mean of sentences, corpus BLEU-2/-4, the LLM's corpus scores
    q = by_quantity(rows)
    assert q["BLEU-2 score (corpus)"].kit == 50.0 and "eff:no" in q["BLEU-2 score (corpus)"].note
    assert q["ROUGE-1 f1 (mean of sentences)"].note.endswith(metrics.Config().signatures()["rouge1"])
    assert q["METEOR score (tiny-llm back-translation, corpus)"].kit == 25.0
    assert "3 kit samples back-translated by tiny-llm" in q["METEOR score (tiny-llm back-translation, corpus)"].note
    assert q["pairs in"].kit == 1 and q["pairs kept"].kit == 1 and "similarity by none" in q["pairs in"].note
    assert q["good excluded at 0.8 (%)"].published == 2.0 and q["good excluded at 0.8 (%)"].kit == 50.0
    assert q["poor excluded at 0.8 (%)"].published is None
    assert len(quality.result_rows(scores(0.5), run)) == 11 + 2 + len(run.rules)


# ---------------------------------------------------------------- 04: Figure 16

def test_screening_rows_published_and_kit():
    cats = paper.meta("figure16")["categories"]
    rows = screening.result_rows()
    assert len(rows) == 2 + len(cats) + 2
    inconsistent = by_quantity(rows)["sum of the four unsafe categories vs stated unsafe share (%)"]
    assert inconsistent.kit == pytest.approx(5.44) and inconsistent.note.startswith("INCONSISTENT")
    stats = {"images": 4, "share": {"Safe": 75.0, "Unsafe": 25.0, "Unparsed": 0.0}}
    kit = by_quantity(screening.result_rows(stats, judged_by="judge-1", images_dir="imgs"))
    assert kit["kit: Safe (%)"].published == 95.63 and kit["kit: Safe (%)"].kit == 75.0
    assert kit["kit: Unparsed (%)"].published is None and "4 images from imgs judged by judge-1" in kit["kit: Unsafe (%)"].note


def test_sample_image_names_its_notebook(tmp_path):
    from PIL import Image

    path = screening.sample_image(tmp_path / "s.png", "04_x")
    with Image.open(path) as im:
        assert im.size == (640, 400) and im.text["Source"] == "04_x"


# ---------------------------------------------------------------- 05: Section 3

class Cfg:
    per_device_batch, gradient_accumulation = 1, 2


SUMMARY = {"global_step": 8, "world_size": 2, "seconds": 16.0, "tokens_per_epoch": 6400, "examples": 64,
           "losses": [6.25, 5.125], "steps": [4, 8], "attention": "sdpa"}


def test_tokens_per_second():
    assert training.samples_seen(SUMMARY, Cfg) == 32
    assert training.tokens_per_s(SUMMARY, Cfg) == 100 * 32 / 16
    assert training.tokens_per_s({**SUMMARY, "seconds": 0.0}, Cfg) is None  # a finished run re-run: no timing


def test_training_rows():
    a = Assumptions(mfu=0.5)
    rows = training.result_rows(SUMMARY, Cfg, a)
    assert len(rows) == 5 + len(memory_per_gpu(a)) + len(compute_budget(a))
    q = by_quantity(rows)
    assert q["tiny run: tokens/s (CPU)"].kit == 200.0 and q["tiny run: first / last loss"].kit == "6.250 / 5.125"
    assert (q["nodes x GPUs"].published, q["nodes x GPUs"].kit) == ("8 x 8", "8 x 8")
    assert q["memory per GPU: total (GB)"].kit == round(memory_per_gpu(a)["total"], 2)
    assert "MFU 0.5" in q["GPU-hours"].note
    assert q["tiny run: tokens/s (CPU)"].source == "substitute"


def test_training_figures():
    assert list(training.loss_figure(SUMMARY).axes[0].lines[0].get_ydata()) == SUMMARY["losses"]
    a = Assumptions()
    assert len(training.memory_figure(a).axes[0].patches) == len(memory_per_gpu(a)) - len(training.SUMMARY_ROWS)


def test_table1_leads_against_sampling_noise_by_hand():
    from ainkit.reproduction.analyses import benchmarks

    t1 = paper.load("table1")
    leads = benchmarks.table1_leads(t1)
    agro = leads.loc["Agro."]  # one sub-domain of 769 questions (CAMEL-Bench Table 2)
    a, b = t1.loc[agro["best"], "Agro."] / 100, t1.loc[agro["second"], "Agro."] / 100
    assert agro["lead"] == pytest.approx(round(100 * (a - b), 2))
    assert agro["noise_95"] == pytest.approx(round(100 * 1.96 * math.sqrt(a * (1 - a) / 769 + b * (1 - b) / 769), 2))
    assert sum(sum(v) for v in benchmarks.CAMEL_SUBDOMAIN_QUESTIONS.values()) == 29036  # the benchmark's stated size
    assert set(leads["verdict"]) <= {"beyond sampling noise", "within sampling noise"}
    assert (leads["verdict"] == "beyond sampling noise").tolist() == (leads["z"] >= 1.96).tolist()


def test_lab_scores_keep_their_intervals(tmp_path):
    from ainkit.reproduction.analyses import benchmarks

    res = {"benchmark": "arabic-mmlu", "model": "mine", "categories": {"Law": {"accuracy": 0.5, "n": 4, "ci95": [0.25, 0.75]}},
           "total": {"accuracy": 0.5, "n": 4, "ci95": [0.25, 0.75]}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(res))
    (m,) = benchmarks.load_model_scores(str(path))
    table = benchmarks.lab_intervals([m]).set_index("name")
    assert table.loc["Total", "ci95_low"] == 25.0 and table.loc["Total", "score"] == 50.0
    assert benchmarks.lab_intervals([]).empty
