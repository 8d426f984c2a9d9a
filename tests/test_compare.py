"""Notebook 01's measurements (ainkit.reproduction.analyses.compare): no time, throughput or quality from requests that failed."""
import pytest

from ainkit.services import llm
from ainkit.stages import translate
from ainkit.reproduction.analyses import compare
from ainkit.services.serve import free_port
from helpers import fault_server

SAMPLES = [{"id": f"s{i}", "en": f"Sentence number {i} about a red car.", "ar": "جملة عن سيارة حمراء."} for i in range(4)]


def client(port):
    return llm.Client(llm.Backend("t", f"http://127.0.0.1:{port}/v1", "fault-model"), cache=False, max_retries=1,
                      backoff=0.01)


def test_an_endpoint_that_is_down_gives_no_number():
    port = free_port()  # nothing listens there
    m = compare.measure(client(port), SAMPLES, translate.Settings("en-ar", "ar", max_tokens=16), concurrency=4)
    assert m.per_sample_s is None and m.total_s is None and m.throughput is None
    assert m.n_ok == 0 and m.failed == len(SAMPLES) and not m.usable
    assert "connection error: 1" in m.failure_note() and "not sent" in m.failure_note()  # one tried, the rest not sent
    rows = compare.result_rows([m], SAMPLES)
    kit = [r for r in rows if "kit" in r.quantity]
    assert [r.source for r in kit] == ["failed"] and "4 of 4 failed" in kit[0].note
    table = compare.comparison_table([m], SAMPLES)
    row = table.loc[("Arabic", "fault-model (kit)")]
    assert row["avg s/sample"] != row["avg s/sample"] and "failed" in row["failed"]  # NaN, and the reason
    assert compare.failures([m]) and "fault-model / ar prompt" in compare.failures([m])[0]


def test_partial_failures_time_only_the_successes():
    with fault_server(0.0) as port:
        samples = SAMPLES[:2] + [dict(SAMPLES[2], en="Sentence [fault:500x9] that always fails.")] + SAMPLES[3:]
        m = compare.measure(client(port), samples, translate.Settings("en-ar", "ar", max_tokens=16), concurrency=4)
    assert m.n_ok == 3 and m.failed == 1 and m.per_sample_s is not None and m.total_s is None
    assert m.throughput is None  # the throughput pass had a failure too: no rate from it
    rows = {r.quantity: r for r in compare.result_rows([m], samples)}
    assert rows["kit fault-model: failed requests"].source == "failed"
    assert "mean over the 3 requests that succeeded" in rows["kit fault-model: avg s/sample"].note
    assert not compare.failures([m])


def test_heldout_quality_counts_only_answers():
    with fault_server(0.0) as port:
        q = compare.heldout_quality(client(port), compare.load_heldout()[:3])
    assert q["answered"] == 3 and q["in Arabic (%)"] == 100.0 and q["back-translated"] == 3
    assert 0 <= q["chrF vs reference"] <= 100 and "back-translation chrF" in q
    down = compare.heldout_quality(client(free_port()), compare.load_heldout()[:2])
    assert down["answered"] == 0 and "error" in down
    assert [r.source for r in compare.heldout_rows([down])] == ["failed"]
