"""ainkit.services.records: line-numbered rejects, nothing lost, input order kept, resume from the journal, shards."""
import json

import pytest

from ainkit.services.records import RecordError, Shard, read_records
from ainkit.services.stageio import StageIO


def write(path, lines):
    with open(path, "wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else (line + "\n").encode("utf-8"))


def run_stage(tmp_path, lines, fail_ids=(), stop_after=None, **kw):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    if lines is not None:
        write(src, lines)
    io = StageIO(src, dst, **kw)
    done = 0
    for rec in io.pending():
        if stop_after is not None and done == stop_after:
            io.close()  # simulate a crash: journals stay, no output written
            return io, None
        if rec.get("id") in fail_ids:
            io.reject(rec, ["asked to fail"])
        else:
            rec["seen"] = True
            io.emit(rec)
        done += 1
    return io, io.finish()


def test_bad_lines_rejected_with_line_numbers_and_nothing_lost(tmp_path):
    lines = ['{"id": "a", "x": 1}', "not json", b'{"id": "b", "x": "\xff"}\n', "[1, 2]", "", '{"id": "a", "x": 2}',
             '{"x": 3}', '{"id": "c", "x": 4}']
    io, summary = run_stage(tmp_path, lines, fail_ids={"c"})
    out = read_records(tmp_path / "out.jsonl")
    rejects = read_records(tmp_path / "out.rejects.jsonl")
    assert [r.get("id") for r in out] == ["a", None]  # the id-less record (line 7) gets id line:7 internally
    reasons = {r["line"]: r["reasons"][0] for r in rejects}
    assert reasons[2].startswith("malformed JSON") and reasons[3].startswith("not UTF-8")
    assert reasons[4] == "a JSON list, not an object" and reasons[6] == "duplicate id 'a'" and reasons[8] == "asked to fail"
    assert summary.kept + summary.rejected + summary.malformed == 7  # 7 non-blank lines, none lost
    assert not (tmp_path / "out.jsonl.journal").exists()


def test_resume_after_crash_skips_done_records(tmp_path):
    lines = [json.dumps({"id": f"r{i}"}) for i in range(10)]
    io, _ = run_stage(tmp_path, lines, stop_after=4)
    assert not (tmp_path / "out.jsonl").exists() and (tmp_path / "out.jsonl.journal").exists()
    # a torn last line from a kill mid-write is ignored
    with open(tmp_path / "out.jsonl.journal", "a") as fh:
        fh.write('{"id": "r4", "_journal')
    io2, summary = run_stage(tmp_path, None)
    assert summary.resumed == 4
    assert [r["id"] for r in read_records(tmp_path / "out.jsonl")] == [f"r{i}" for i in range(10)]
    assert summary.kept == 10


def test_shards_partition_the_input(tmp_path):
    lines = [json.dumps({"id": f"r{i}"}) for i in range(50)]
    write(tmp_path / "in.jsonl", lines)
    seen = []
    for i in range(3):
        io = StageIO(tmp_path / "in.jsonl", tmp_path / f"out{i}.jsonl", shard=f"{i}/3")
        for rec in io.pending():
            io.emit(rec)
        io.finish()
        seen += [r["id"] for r in read_records(tmp_path / f"out{i}.jsonl")]
    assert sorted(seen) == sorted(f"r{i}" for i in range(50))


@pytest.mark.parametrize("text", ["1", "3/2", "a/b", "-1/2"])
def test_bad_shard_spec(text):
    with pytest.raises(RecordError, match="--shard"):
        Shard.parse(text)


def test_missing_input_and_same_output(tmp_path):
    with pytest.raises(RecordError, match="no such file"):
        list(StageIO(tmp_path / "nope.jsonl", tmp_path / "o.jsonl").pending())
    (tmp_path / "x.jsonl").write_text("{}\n")
    with pytest.raises(RecordError, match="must differ"):
        StageIO(tmp_path / "x.jsonl", tmp_path / "x.jsonl")


def test_a_run_that_stopped_before_any_record_leaves_no_journal_to_refuse(tmp_path):
    write(tmp_path / "in.jsonl", ['{"id": "a"}'])
    io = StageIO(tmp_path / "in.jsonl", tmp_path / "out.jsonl", settings={"model": "m1"})
    io.close()  # e.g. the endpoint check failed before the first record
    assert not (tmp_path / "out.jsonl.journal").exists() and not (tmp_path / "out.jsonl.lock").exists()
    StageIO(tmp_path / "in.jsonl", tmp_path / "out.jsonl", settings={"model": "m2"}).finish()  # not refused
