"""Properties of `ainkit curate` over generated chat records (issue 20, "Done when"): ShareGPT and OpenAI formats,
system turns and system columns, `<image>` placeholders, duplicate ids, malformed lines, missing and corrupt images.
For every generated input: kept + rejected = read; every reject carries its own input line's record (or text); the
kept records export and load in the trainer's data loader (ainkit.stages.train.data.LazyRecords); and every output is the
same bytes for 1, 2 and 3 shards. Real parts: the fault server's OpenAI-compatible HTTP endpoint on 127.0.0.1, the
USE encoder, the metrics, Pillow, the tiny tokenizer."""
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ainkit.pipelines import curate
from helpers import fault_server

TINY = Path(__file__).resolve().parent.parent / "configs" / "curate" / "tiny.yaml"
SETS = ["translate.model=openai:fake", "back_translate.model=openai:fake", "verify.thresholds={similarity: -1, bleu4: 0}"]
OUTPUTS = ("kept.jsonl", "rejects.jsonl", "funnel.json", "export/ain_curated.jsonl")  # the swift file: absolute paths
WORDS = ["what", "colour", "is", "the", "square", "box", "red", "green", "a", "picture", "shows", "two", "cats", "yes"]
IMAGES = ["ok.png", "ok2.png", "missing.png", "corrupt.png"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The fake endpoint, a folder of images (two good, one corrupt, one absent) and the trainer's encoder."""
    from ainkit.services import tiny
    from ainkit.stages.train import data

    with fault_server(0.0) as port:
        images = tmp_path_factory.mktemp("images")
        Image.new("RGB", (20, 16), (10, 200, 10)).save(images / "ok.png")
        Image.new("RGB", (16, 24), (200, 10, 10)).save(images / "ok2.png")
        (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24)
        old = os.environ.get("OPENAI_BASE_URL")
        os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        os.environ.setdefault("OPENAI_API_KEY", "sk-property-test")
        try:
            yield images, data.Encoder(tiny.sample_tokenizer(), max_pixels=64 * 64)
        finally:
            os.environ.pop("OPENAI_BASE_URL") if old is None else os.environ.__setitem__("OPENAI_BASE_URL", old)


sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)


@st.composite
def record_line(draw):
    """One input line: a chat record in either format (possibly broken on purpose), or a malformed line."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(['{"id": "m", "messages": [', "not json at all", "[1, 2]"]))
    fmt = draw(st.sampled_from(["messages", "conversations"]))
    role, text = ("role", "content") if fmt == "messages" else ("from", "value")
    user, assistant = ("user", "assistant") if fmt == "messages" else ("human", "gpt")
    images = draw(st.lists(st.sampled_from(IMAGES), max_size=2))
    placeholders = len(images) + draw(st.sampled_from([0, 0, 0, 1, -1]))  # sometimes a count that does not match
    turns = []
    for k in range(draw(st.integers(1, 2))):
        ph = "<image>\n" * max(0, placeholders) if k == 0 else ""
        turns += [{role: user, text: ph + draw(sentence) + "?"}, {role: assistant, text: draw(sentence) + "."}]
    if draw(st.booleans()) and draw(st.booleans()):
        turns.reverse()  # assistant first
    system = draw(st.sampled_from([None, None, "column", "turn"]))
    if system == "turn":
        turns.insert(0, {role: "system", text: "Answer " + draw(sentence) + "."})
    rec = {}
    if draw(st.integers(0, 4)):
        rec["id"] = draw(st.sampled_from(["a", "b", "c", "d", "e", 7]))  # few ids: duplicates are common
    rec[fmt] = turns
    if system == "column":
        rec["system"] = "Answer " + draw(sentence) + "."
    if images:
        rec["images"] = images
    return json.dumps(rec, ensure_ascii=False)


def run_curate(src: Path, out: Path, images: Path, shards: int, cache: Path) -> dict:
    cfg = curate.load_config(TINY, SETS, shards=shards)
    return curate.run(cfg, src, out, images=images, cache_dir=str(cache))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(lines=st.lists(record_line(), min_size=3, max_size=9))
def test_curate_accounts_for_every_line_and_is_the_same_for_any_shard_count(world, tmp_path_factory, lines):
    from ainkit.stages.train.data import LazyRecords

    images, encoder = world
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "in.jsonl"
    src.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    outs = [tmp / f"n{n}" for n in (1, 2, 3)]
    for n, out in zip((1, 2, 3), outs):
        run_curate(src, out, images, n, tmp / "cache")
    out = outs[0]
    kept, rejects = read_jsonl(out / "kept.jsonl"), read_jsonl(out / "rejects.jsonl")
    assert len(kept) + len(rejects) == len(lines)  # kept + rejected = read
    by_line = {r["line"]: r for r in rejects}
    assert len(by_line) == len(rejects)
    for number, text in enumerate(lines, 1):
        r = by_line.get(number)
        if r is None:
            continue
        try:
            own = json.loads(text)
        except ValueError:
            own = None
        if isinstance(own, dict):
            assert r["record"] == own, (number, r)  # its own line's record, never another copy's
        else:
            assert r["stage"] == "input" and r["raw"] == text
    kept_lines = [n for n in range(1, len(lines) + 1) if n not in by_line]
    assert [json.loads(lines[n - 1]).get("id", f"line:{n}") for n in kept_lines] == [r["id"] for r in kept]
    for r in kept:  # no English system prompt beside an Arabic chat
        chat = r.get("messages") or r.get("conversations")
        assert "system" not in r and all(not t.get("content", t.get("value", "")).startswith("Answer ") for t in chat)
    exported = read_jsonl(out / "export" / "ain_curated.jsonl")
    assert len(exported) == len(kept)
    problems = []
    loaded = LazyRecords(out / "export" / "ain_curated.jsonl", encoder, problems.append)
    assert problems == [] and len(loaded) == len(kept)
    for i in range(len(loaded)):
        assert len(loaded[i]["input_ids"]) > 0
    for name in OUTPUTS:
        assert (outs[1] / name).read_bytes() == (out / name).read_bytes() == (outs[2] / name).read_bytes(), name


def test_a_run_made_before_the_leakage_setting_resumes_without_restart(tmp_path):
    import json as _json

    from ainkit.pipelines.curate import rundir
    from ainkit.pipelines.curate.config import CurateError, load_config

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    config = load_config("configs/curate/tiny.yaml")
    rundir.prepare(config, src, tmp_path / "run")
    meta = _json.loads((tmp_path / "run" / "run.json").read_text())
    del meta["settings"]["leakage"]  # as a run prepared before the setting existed wrote it
    (tmp_path / "run" / "run.json").write_text(_json.dumps(meta))
    rundir.prepare(config, src, tmp_path / "run")  # resumes: the new setting is at its do-nothing default
    drop = tmp_path / "drop.jsonl"
    drop.write_text("")
    (tmp_path / "run" / "run.json").write_text(_json.dumps(meta))
    with pytest.raises(CurateError, match="settings.leakage: was None"):
        rundir.prepare(load_config("configs/curate/tiny.yaml", [f"leakage.drop={drop}"]), src, tmp_path / "run")
