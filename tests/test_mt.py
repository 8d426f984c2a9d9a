"""The dedicated-MT backend (ainkit.services.mt) through `ainkit translate`, on a tiny random Marian built here offline."""
import json

import pytest

import tiny_marian
from helpers import cli
from ainkit.services import mt
from ainkit.services.records import read_records


NO_ENDPOINT = {"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}


@pytest.fixture(scope="module")
def marian(tmp_path_factory):
    return tiny_marian.build(tmp_path_factory.mktemp("marian") / "opus-mt-tiny-en-ar")


def translate(tmp_path, *extra, records=None):
    if records is not None:
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return cli("translate", "--input", tmp_path / "in.jsonl", "--output", tmp_path / "out.jsonl", *extra, env=NO_ENDPOINT,
               timeout=300)


def test_mt_backend_translates_records_through_the_stage(marian, tmp_path):
    records = [{"id": f"r{i}", "text": t} for i, t in enumerate(["The cat is on the table.", "A red bus waits at the light.",
                                                                  "How many birds are on the wire?"] * 3)]
    proc = translate(tmp_path, "--model", f"mt:{marian}", "--max-tokens", "12", records=records)
    assert proc.returncode == 0, proc.stderr  # a random model's output is rejected for its content; nothing failed
    assert "endpoint: mt" in proc.stdout and "marian" in proc.stdout
    kept = read_records(tmp_path / "out.jsonl")
    rejects = read_records(tmp_path / "out.rejects.jsonl") if (tmp_path / "out.rejects.jsonl").exists() else []
    assert len(kept) + len(rejects) == len(records)
    assert not any(r.get("endpoint") for r in rejects)  # nothing failed at the engine
    for r in kept:
        assert r["translation"]["model"] == str(marian) and isinstance(r["text_ar"], str)
    # answers are in the shared cache, keyed by the weights: a re-run elsewhere translates nothing again
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "in.jsonl").write_text((tmp_path / "in.jsonl").read_text())
    again = translate(tmp_path / "again", "--model", f"mt:{marian}", "--max-tokens", "12")
    assert f"{len(records)} done ({len(records)} from cache)" in again.stdout, again.stdout
    assert read_records(tmp_path / "again" / "out.jsonl") == kept
    assert [r["record"] for r in read_records(tmp_path / "again" / "out.rejects.jsonl")] == [r["record"] for r in rejects]
    assert any(r["record"].get("text_ar") for r in rejects) or kept  # the engine wrote something for every record


def test_same_translation_one_at_a_time_and_batched(marian):
    engine = mt.MTEngine(str(marian))
    texts = ["The cat is on the table.", "Two children play football on the beach.", "How many birds?"]
    batched = [t for t, *_ in engine.translate(texts, "en-ar", max_tokens=8)]
    alone = [engine.translate([t], "en-ar", max_tokens=8)[0][0] for t in texts]
    assert batched == alone  # padding in a batch does not change a translation


def test_missing_model_named_with_the_switch(tmp_path):
    proc = translate(tmp_path, "--model", "mt:Helsinki-NLP/opus-mt-xx-yy-not-cached", records=[{"id": 1, "text": "Hi"}])
    assert proc.returncode == 2
    assert "--allow-download" in proc.stderr and "Traceback" not in proc.stderr
    proc = translate(tmp_path, "--model", f"mt:{tmp_path / 'nowhere'}")
    assert proc.returncode == 2 and "no such folder" in proc.stderr


def test_rate_is_measured(marian):
    per_s, n = mt.MTEngine(str(marian)).rate(["The cat is on the table."] * 6, "en-ar", batch_size=3, max_tokens=6)
    assert n == 6 and per_s > 0


def curate(tmp_path, marian, *extra):
    from ainkit.ground.paths import ROOT

    return cli("curate", "--config", str(ROOT / "configs/curate/tiny.yaml"), "--input",
               str(ROOT / "ainkit/data/curate/chats.jsonl"), "--output", str(tmp_path / "run"), "--set",
               f"translate.model=mt:{marian}", "--set", f"back_translate.model=mt:{marian}", *extra, env=NO_ENDPOINT)


def test_curate_dry_run_prices_an_mt_model_in_cpu_hours(marian, tmp_path):
    proc = curate(tmp_path, marian, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    for step in ("translate", "back_translate"):
        line = next(l for l in proc.stdout.splitlines() if f"plan: {step}: CPU time:" in l)
        assert "strings/s measured here" in line and "CPU-hours" in line, line
        assert any(f"plan: {step}: mt:" in l and "no API cost" in l for l in proc.stdout.splitlines())
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_curate_runs_through_an_mt_model(marian, tmp_path):
    proc = curate(tmp_path, marian, "--shards", "1")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "translate: mt (mt:" in proc.stdout
    funnel = json.loads((tmp_path / "run" / "funnel.json").read_text())
    assert funnel  # every record is accounted for, kept or with its reasons (the tiny model's output is noise)
    missing = curate(tmp_path / "x", f"{tmp_path}/no-such-model")
    assert missing.returncode == 2 and "translate.model" in missing.stderr and "no such folder" in missing.stderr


def test_curate_reasons_name_curates_own_switches(tmp_path):
    """A reject reason names the switch of the command that was run (curate has --set, not --max-chars)."""
    from ainkit.pipelines import curate

    long = {"id": "a", "messages": [{"role": "user", "content": "x " * 15_000}, {"role": "assistant", "content": "ok"}]}
    reasons = curate.structure_problems(long, tmp_path, 20_000)
    assert any("--set translate.max_chars=N" in r for r in reasons) and not any("(--max-chars)" in r for r in reasons)
    assert not curate.structure_problems(long, tmp_path, 40_000)


def test_dry_run_warns_about_what_the_real_run_would_refuse(tmp_path):
    proc = curate(tmp_path, tmp_path / "no-such-model", "--dry-run")
    assert proc.returncode == 0, proc.stderr  # the plan is still useful: a warning, not a refusal
    assert "WARNING: the real run would stop here" in proc.stdout and "no such folder" in proc.stdout
