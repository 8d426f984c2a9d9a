"""The in-process parts of modules the other tests reach only through a process, a server or a model, so that the
fast tier (make test-fast) covers every module of ainkit/ (tests/conftest.py checks it with --module-coverage).

    .venv/bin/python -m pytest tests/test_pieces.py
"""
import fcntl
import json
import os

import pytest

from ainkit.ground import bootstrap, cluster, setup_base, setup_llama
from ainkit.pipelines import export, gallery, launch
from ainkit.pipelines.sidebyside import FIXTURE_ANSWERS
from ainkit.pipelines.survey import analyze, build
from ainkit.reproduction.analyses import probes
from ainkit.services import batch, llm, mt
from ainkit.stages.evaluate import local_vlm
from ainkit.stages.train.trainer import load_config


# -- the set-up --------------------------------------------------------------------------------------------------

def test_apt_list_is_names_only():
    names = bootstrap.apt_packages()
    assert names and all(n and " " not in n and "#" not in n for n in names)


def test_setup_stamp_reads_empty_when_missing_or_torn(tmp_path, monkeypatch):
    monkeypatch.setattr(setup_base, "STAMP", tmp_path / "stamp.json")
    assert setup_base.read_stamp() == {}
    setup_base.write_stamp({"requirements": "abc"})
    assert setup_base.read_stamp() == {"requirements": "abc"}
    (tmp_path / "stamp.json").write_text("{torn")
    assert setup_base.read_stamp() == {}


def test_llama_build_is_running_while_its_lock_is_held(tmp_path, monkeypatch):
    """The build's state comes from its lock (held = running); a 'building' state with no holder reads 'stopped'."""
    for name in ("LLAMA_LOCK", "LLAMA_STATE", "LLAMA_LOG"):
        monkeypatch.setattr(setup_llama, name, tmp_path / name.lower())
    (tmp_path / "llama_state").write_text(json.dumps({"status": "building"}))
    assert setup_llama.llama_build()["running"] is False
    fd = os.open(tmp_path / "llama_lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another open file: the reader's shared lock is refused, as for another process
        state = setup_llama.llama_build()
        assert state["running"] is True and state["status"] == "building"
    finally:
        os.close(fd)
    assert setup_llama.llama_build()["status"] == "stopped"


# -- clusters and training plans ---------------------------------------------------------------------------------

def test_sbatch_script_asks_for_what_the_job_needs(tmp_path):
    script = cluster.sbatch_script(tmp_path, "python -m train", nodes=2, gpus_per_node=8, cpus_per_task=4, time_min=90)
    assert "#SBATCH --nodes=2" in script and "#SBATCH --gpus-per-node=8" in script and "#SBATCH --time=90" in script
    assert "--signal=USR2@120" in script and not any(tmp_path.iterdir())  # a dry run leaves nothing behind


def test_cpu_resources_come_from_the_arguments_then_the_config(tmp_path):
    cfg = load_config("configs/train/tiny.yaml", output_dir=str(tmp_path))
    res = launch.resources(cfg, time_min=15, cpus_per_task=3, tasks=2)
    assert res.time_min == 15 and res.cpus_per_task == 3


# -- stage and pipeline pieces -------------------------------------------------------------------------------------

def test_export_conversation_takes_pairs_and_counts_placeholders():
    turns, images, problems = export.conversation({"messages": [{"role": "user", "content": "<image>What is it?"},
                                                                {"role": "assistant", "content": "A cat."}],
                                                   "images": ["a.png"], "system": "Be brief."})
    assert [t["role"] for t in turns] == ["system", "user", "assistant"] and images == ["a.png"] and problems == []
    _, _, problems = export.conversation({"conversations": [{"from": "gpt", "value": "Hi"}], "images": "a.png"})
    assert any("user/assistant pairs" in p for p in problems) and any("0 <image> placeholder" in p for p in problems)


def test_gallery_says_how_the_answers_met_the_items():
    summary = {"items_file": "items.jsonl", "items_in_file": 10, "matched": 0, "unmatched": 3}
    assert gallery.matching(summary).startswith("no prediction matched an item of items.jsonl (10 items")
    assert gallery.matching({**summary, "matched": 7}) == ("7 of the 10 items of items.jsonl answered, 3 answered keys "
                                                           "match no item there (shown without question or images)")


def test_survey_with_no_response_gives_no_analysis(tmp_path):
    build.build([str(p) for p in FIXTURE_ANSWERS], tmp_path / "survey", raters=2, seed="fixedseed")
    (tmp_path / "responses").mkdir()
    result, collected, key = analyze.analyze(tmp_path / "responses", tmp_path / "survey" / "key.json", bootstrap=10)
    assert result is None and not collected.votes and len(key["raters"]) == 2


def test_figure14_label_and_arabic_variants():
    assert probes.split_label("Please, sit down - تفضل بالجلوس") == ("Please, sit down", "تفضل بالجلوس")
    assert probes.rtl_copy("هذه عبارة توضيحية!") == "!هذه عبارة توضيحية" and probes.rtl_copy("بلا نقطة") is None
    with pytest.raises(ValueError, match="without Arabic"):
        probes.split_label("English only")


def test_batch_refuses_to_run_without_the_answer_cache(tmp_path):
    client = llm.Client(llm.Backend("t", "http://127.0.0.1:9/v1", "m"), cache=None)
    with pytest.raises(llm.LLMError, match="cannot run with --no-cache"):
        batch.Batches(client, tmp_path / "out.jsonl")


def test_mt_model_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(mt.MTUnavailable, match="no such folder"):
        mt.locate(str(tmp_path / "missing"), allow_download=False)


def test_local_vlm_recognises_a_qwen2_vl_folder_by_its_config(tmp_path):
    assert local_vlm.is_qwen2_vl(tmp_path) is False
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    assert local_vlm.is_qwen2_vl(tmp_path) is True
    (tmp_path / "config.json").write_text("{not json")
    assert local_vlm.is_qwen2_vl(tmp_path) is False


def test_the_tiny_tokenizer_reads_english_and_arabic():
    """The kit's byte-level BPE (the tiny models' tokenizer): trained in a second, no model, no torch."""
    from ainkit.services import tiny

    tok = tiny.sample_tokenizer()
    for text in ("The cat sleeps on the mat.", "القطة تنام على الحصيرة."):
        ids = tok.encode(text, add_special_tokens=False)
        assert ids and tok.decode(ids) == text


@pytest.mark.slow  # Qwen2-VL's record encoder needs transformers' image utilities, which import torch
def test_training_records_are_checked_once_and_kept_by_offset(tmp_path):
    """LazyRecords with the real Qwen2-VL record encoder on the kit's tiny tokenizer: a malformed line and a record
    that cannot train are rejected with their line numbers; the rest are kept, their tokens counted."""
    from ainkit.services import qwen2vl, tiny
    from ainkit.stages.train.data import LazyRecords

    good = {"id": "a", "messages": [{"role": "user", "content": "What colour is the sky?"},
                                    {"role": "assistant", "content": "السماء زرقاء."}]}
    bad = {"id": "b", "messages": [{"role": "user", "content": "Nobody answers this."}]}  # nothing to learn
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(good) + "\n{broken\n" + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    rejected = []
    data = LazyRecords(path, qwen2vl.Encoder(tiny.sample_tokenizer()), rejected.append)
    assert len(data) == 1 and data.tokens > 0
    assert [r["line"] for r in rejected] == [2, 3] and "nothing to learn" in rejected[1]["reasons"][0]
    assert data[0]["input_ids"] is not None


# -- curate's planning pieces (the runs themselves are tests/test_curate.py's, through the command) ----------------

def test_curate_dry_run_plan_and_array_script(tmp_path):
    from ainkit.ground.paths import ROOT
    from ainkit.pipelines import curate
    from ainkit.pipelines.curate import jobs

    models = ["translate.model=openai:gpt-4o-mini", "back_translate.model=openai:gpt-4o-mini"]
    cfg = curate.load_config(ROOT / "configs" / "curate" / "tiny.yaml", models, shards=3)
    lines = curate.plan_lines(curate.plan(cfg, ROOT / "ainkit" / "data" / "curate" / "chats.jsonl"))
    assert lines[0].startswith("13 records (1 malformed lines) in 3 shard(s)")
    assert lines[1].startswith("translate: openai:gpt-4o-mini: 24 requests")  # a user and an assistant turn each
    script = jobs.sbatch_script(cfg, tmp_path)
    assert "#SBATCH --array=0-2%2" in script and not any(tmp_path.iterdir())


def test_curate_funnel_and_image_paths():
    from collections import Counter
    from types import SimpleNamespace

    from ainkit.pipelines.curate import clients, funnel, screening

    rejected = {step: {"rejected": 0, "reasons": Counter()} for step in funnel.STEPS}
    rejected[funnel.STEPS[0]] = {"rejected": 2, "reasons": Counter({"malformed": 2})}
    fun = funnel.funnel_of(10, 7, rejected, SimpleNamespace(kept=7, rejected=1), screened=False)
    assert fun["steps"][0] == {"step": funnel.STEPS[0], "in": 10, "rejected": 2, "out": 8, "reasons": {"malformed": 2}}
    assert fun["steps"][-1]["step"] == "export" and fun["exported"] == 7 and fun["images screened"] is False
    assert screening.image_paths({"image": "a.png"}) == ["a.png"]
    assert screening.image_paths({"images": ["a.png", 3, "b.png"]}) == ["a.png", "b.png"]
    assert clients.endpoint_of({"model": "openai:gpt-4o-mini"}) is not None
