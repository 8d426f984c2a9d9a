"""`ainkit leakage`: perceptual hashes, the planted set's precision and recall, the report, curate's drop list."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ainkit.commands.cli import main
from ainkit.pipelines import curate, leakage, leakage_planted
from ainkit.services import phash
from ainkit.services.images import ImageError

ROOT = Path(__file__).resolve().parent.parent
CHATS = ROOT / "ainkit" / "data" / "curate" / "chats.jsonl"
TINY = ROOT / "configs" / "curate" / "tiny.yaml"
MMLU = ROOT / "ainkit" / "stages" / "evaluate" / "fixtures" / "arabic_mmlu_fixture.csv"
IMAGES = ("image-exact", "image-near")
QUESTIONS = ("question-exact", "question-encoder")


def test_near_equals_a_python_loop():
    """Blocked XOR + popcount finds the same pairs as int.bit_count over every pair, block edges included."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, 300, dtype=np.uint64) ^ rng.integers(0, 2, 300, dtype=np.uint64) << np.uint64(63)
    b = np.concatenate([a[:40] ^ np.uint64(0b1011), rng.integers(0, 2**63, 200, dtype=np.uint64)])
    want = {(i, j, (int(x) ^ int(y)).bit_count()) for i, x in enumerate(a) for j, y in enumerate(b)
            if (int(x) ^ int(y)).bit_count() <= 20}
    assert set(phash.near(a, b, 20, block=7)) == want
    assert {(i, i, 3) for i in range(40)} <= want
    with pytest.raises(ValueError, match="0 to 64"):
        list(phash.near(a, b, 65))


def test_copies_stay_near_and_flat_images_are_marked():
    """A drawn image's re-encoded, resized and cropped copies are within IMAGE_DISTANCE of one of its crops' hashes;
    a plain colour is flat (its hash says nothing)."""
    rng = np.random.default_rng(1)
    im = leakage_planted.scene(7)
    index = phash.as_array(phash.crops(im))
    for how in leakage_planted.COPIES:
        bits, flat = phash.of_image(leakage_planted.copy_of(im, how, rng))
        assert not flat and int(np.bitwise_count(index ^ np.uint64(bits)).min()) <= leakage.IMAGE_DISTANCE, how
    other, _ = phash.of_image(leakage_planted.scene(8))
    assert int(np.bitwise_count(index ^ np.uint64(other)).min()) > leakage.IMAGE_DISTANCE
    assert phash.of_image(Image.new("RGB", (40, 30), "red"))[1]


def test_a_real_photo_and_its_crops():
    """matplotlib's sample photo: 30 random 5 % crops (re-encoded and halved too) stay within IMAGE_DISTANCE, with
    the distances printed; the hash without the crops in the index would not."""
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        im.load()
    rng = np.random.default_rng(3)
    index = phash.as_array(phash.crops(im))
    copies = [phash.of_image(leakage_planted.copy_of(im, how, rng))[0] for how in ("crop", "all") for _ in range(15)]
    d = [int(np.bitwise_count(index ^ np.uint64(c)).min()) for c in copies]
    alone = [int(np.bitwise_count(index[:1] ^ np.uint64(c)).min()) for c in copies]
    print("photo copies, bits:", sorted(d), "against the uncropped hash alone:", sorted(alone))
    assert max(d) <= leakage.IMAGE_DISTANCE < max(alone)


@pytest.mark.parametrize("text, want", [
    ("What colour is the square?", "what colour is the square"),
    ("ما جَمْعُ كَلِمَةِ «كتاب»؟", "ما جمع كلمة كتاب"),
    ("في عام ٢٠٢٠  ـــ كم؟", "في عام 2020 كم"),
])
def test_normalise(text, want):
    assert leakage.normalise(text) == want


def test_train_texts_are_the_user_turns_in_both_languages():
    rec = {"messages": [{"role": "system", "content": "You are helpful."},
                        {"role": "user", "content": "<image>ما هذا؟"}, {"role": "assistant", "content": "قطة."}],
           "source_messages": [{"role": "user", "content": "<image>What is this?"},
                               {"role": "assistant", "content": "A cat."}],
           "conversations": [{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": "Two."}],
           "question": "ما هذا؟"}
    assert leakage.train_texts(rec) == ["ما هذا؟", "What is this?", "How many?"]


def _planted(tmp_path: Path, images: int = 12) -> tuple[Path, list[dict]]:
    folder = tmp_path / "planted"
    return folder, leakage_planted.write(folder, images=images, distractors=30)


def test_planted_images_found_without_an_encoder(tmp_path):
    """Every planted image copy (JPEG, half size, 5 % crop, all three; an exact copy of a plain image) is found and
    nothing else: precision and recall computed from the check's own output."""
    folder, truth = _planted(tmp_path)
    report = leakage.check(folder / "train.jsonl", [("planted", folder / "bench.jsonl"), ("mmlu", MMLU)],
                           tmp_path / "out")
    leaks = leakage.read_leaks(tmp_path / "out" / "leaks.jsonl")
    images = leakage.precision_recall(leaks, truth, IMAGES, "planted")
    exact = leakage.precision_recall(leaks, truth, ("question-exact",), "planted")
    print("planted images:", images, "exact questions:", exact)
    assert images["planted"] == 12 * len(leakage_planted.COPIES) + 1
    assert images["recall"] == 1.0 and images["precision"] == 1.0
    assert exact["true_positives"] == 1 and exact["precision"] == 1.0  # the copied question, diacritics added
    b = report["benchmarks"]["planted"]
    assert b["leaks"]["image-exact"] == 1 and b["leaks"]["image-near"] == 12 * len(leakage_planted.COPIES)
    mmlu = report["benchmarks"]["mmlu"]  # the fixture asks the same question ("ما جمع كلمة (كتاب)؟"): found too
    assert mmlu["leaks"] == {**dict.fromkeys(leakage.KINDS, 0), "question-exact": 1}
    assert mmlu["examples"]["question-exact"][0]["bench_id"] == "fixture-002"
    assert report["bench_flat_images"] == 2 and report["settings"]["encoder"].startswith("none")
    drop = {d["id"]: d["reasons"] for d in map(json.loads, (tmp_path / "out" / "drop.jsonl").read_text().splitlines())}
    assert set(drop) == {lk["id"] for lk in leaks}
    assert any("image-near (planted item b0, distance" in r for r in drop["t-img-0-crop"])
    lines = leakage.summary_lines(report)
    assert lines[0].startswith("planted: ") and "near 48" in lines[0] and len(lines) == 3


def test_prompt_templates_are_not_matched(tmp_path):
    """A question most items of a benchmark share (KITAB's one prompt) is its template, not a leak."""
    prompt = "Extract the text in the image exactly as written."
    bench = tmp_path / "b.jsonl"
    bench.write_text("".join(json.dumps({"id": f"k{i}", "question": prompt, "images": []}) + "\n" for i in range(8)))
    train = tmp_path / "t.jsonl"
    train.write_text(json.dumps({"id": "r1", "messages": [{"role": "user", "content": "<image>" + prompt}]}) + "\n")
    report = leakage.check(train, [("kitab", bench)], tmp_path / "out")
    assert report["records_to_drop"] == 0 and report["bench_templates_skipped"] == [leakage.normalise(prompt)]


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "question": "fine question here"}\n{"id": \n', "b.jsonl: line 2: malformed JSON"),
    ('{"id": "a", "images": "x.png"}\n', "line 1: 'images' is not a list"),
    ('{"id": "a", "answer": "x"}\n', "line 1: no 'question' and no 'images'"),
])
def test_bad_benchmark_named_with_its_line(tmp_path, content, message):
    """A benchmark file the check cannot read stops it, naming the file and the line."""
    (tmp_path / "b.jsonl").write_text(content)
    with pytest.raises(leakage.LeakageError, match=message):
        leakage.read_benchmark("b", tmp_path / "b.jsonl")


def test_bad_csv_named(tmp_path):
    (tmp_path / "m.csv").write_text("ID,Question\nx1,\"What is the plural of book?\"\nx2,\n")
    with pytest.raises(leakage.LeakageError, match=r"m.csv: line 3: empty Question"):
        leakage.read_benchmark("m", tmp_path / "m.csv")
    (tmp_path / "m.csv").write_bytes(b"ID,Question\nx1,\xff\xfe bad\n")
    with pytest.raises(leakage.LeakageError, match="not a UTF-8 CSV"):
        leakage.read_benchmark("m", tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("ID,Text\nx1,a\n")
    with pytest.raises(leakage.LeakageError, match="no 'Question' column"):
        leakage.read_benchmark("m", tmp_path / "m.csv")


def test_command_with_truth_and_a_missing_image(tmp_path, capsys):
    """The command in-process: an unreadable training image and a torn line are counted and named, not fatal;
    --truth scores the run."""
    folder, _ = _planted(tmp_path, images=4)
    with open(folder / "train.jsonl", "a") as fh:
        fh.write(json.dumps({"id": "gone", "messages": [{"role": "user", "content": "<image>hi"}],
                             "images": ["images/none.png"]}) + "\n{torn\n")
    code = main(["leakage", "--train", str(folder / "train.jsonl"), "--benchmarks", f"planted={folder / 'bench.jsonl'}",
                 "--encoder", "none", "--truth", str(folder / "truth.jsonl"), "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "planted images (planted): precision 1.0 recall 1.0" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["train"]["unreadable_images"] == 1 and "gone" in report["train"]["unreadable_examples"][0]
    assert report["train"]["malformed_lines"] == 1 and "malformed JSON" in report["train"]["malformed_examples"][0]
    assert "1 malformed lines not checked: line " in out
    assert json.loads((tmp_path / "out" / "planted.json").read_text())["images"]["planted"] == 4 * 4 + 1
    assert main(["leakage", "--train", str(folder / "train.jsonl"), "--output", str(tmp_path / "o2")]) == 2


def test_curate_leaves_out_the_drop_list(tmp_path):
    """curate's structure step rejects the records a drop list names, with its reasons; the rest go on."""
    from ainkit.services.records import read_lines

    dropped = [ln.record["id"] for ln in read_lines(CHATS) if ln.record and "id" in ln.record][:2]
    drop = tmp_path / "drop.jsonl"
    drop.write_text("".join(json.dumps({"id": i, "line": 1, "reasons": ["benchmark leak: image-near (camel item x, "
                                                                         "distance 4 bits)"]}) + "\n" for i in dropped))
    cfg = curate.load_config(TINY, [f"leakage.drop={drop}"], shards=1)
    run = curate.prepare(cfg, CHATS, tmp_path / "run")
    run.shard_dir(0).mkdir(parents=True)
    curate.steps.step_input(run, 0)
    summary = curate.steps.step_structure(run, 0)
    rejects = {r["record"]["id"]: r for r in map(json.loads, run.rejects(0, "structure").read_text().splitlines())}
    assert set(dropped) <= set(rejects) and summary["rejected"] >= 2
    assert rejects[dropped[0]]["reasons"][0].startswith("benchmark leak: image-near")
    assert curate.reason_key(rejects[dropped[0]]["reasons"][0]) == "benchmark leak: image-near"
    with pytest.raises(curate.CurateError, match="leakage.drop .*not a file"):
        curate.load_config(TINY, [f"leakage.drop={tmp_path / 'none.jsonl'}"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    run = curate.prepare(curate.load_config(TINY, [f"leakage.drop={bad}"], shards=1), CHATS, tmp_path / "run2")
    run.shard_dir(0).mkdir(parents=True)
    curate.steps.step_input(run, 0)
    with pytest.raises(leakage.LeakageError, match="bad.jsonl: line 1: expected"):
        curate.steps.step_structure(run, 0)


def test_planted_translated_questions_found_by_the_encoder(tmp_path):
    """use-multilingual finds every planted English translation of a benchmark's Arabic question; the near misses
    (the same question about another country or shape) cost precision: both computed and printed."""
    from ainkit.stages import similarity

    folder, truth = _planted(tmp_path, images=4)
    encoder = similarity.load(leakage.ENCODER)
    leakage.check(folder / "train.jsonl", [("planted", folder / "bench.jsonl")], tmp_path / "out", encoder=encoder,
                  encoder_name=leakage.ENCODER)
    leaks = leakage.read_leaks(tmp_path / "out" / "leaks.jsonl")
    questions = leakage.precision_recall(leaks, truth, QUESTIONS, "planted")
    print("planted questions:", questions)
    assert questions["planted"] == len(leakage_planted.PAIRS) + 1
    assert questions["recall"] >= 0.95 and questions["precision"] >= 0.7
    false = {i for i, _ in questions["false"]}
    assert all(i.startswith("t-qd-") and int(i[5:]) < leakage_planted.NEAR_MISSES for i in false), false


def test_a_vqa_question_about_another_image_is_reported_not_dropped(tmp_path):
    """A benchmark item with an image: the same question about another image is counted, not dropped; with the
    item's image too, the record is dropped for both."""
    leakage_planted.scene(1).save(tmp_path / "item.png")
    leakage_planted.scene(2).save(tmp_path / "other.png")
    question = "What colour is the car parked next to the tree?"
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "v1", "question": question, "images": ["item.png"]}) + "\n")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"id": rid, "images": [img], "messages": [
        {"role": "user", "content": "<image>" + question}]}) + "\n" for rid, img in (("r-other", "other.png"),
                                                                                     ("r-same", "item.png"))))
    report = leakage.check(tmp_path / "t.jsonl", [("vqa", tmp_path / "b.jsonl")], tmp_path / "out")
    b = report["benchmarks"]["vqa"]
    assert b["leaks"]["question-exact"] == 2 and b["leaks"]["image-exact"] == 1
    assert b["question_only_of_image_items"] == 1 and b["train_records_leaking"] == 1
    drop = [json.loads(line) for line in (tmp_path / "out" / "drop.jsonl").read_text().splitlines()]
    assert [d["id"] for d in drop] == ["r-same"] and len(drop[0]["reasons"]) == 2


def test_a_truncated_image_is_refused_with_its_reason(tmp_path):
    buf = tmp_path / "a.jpg"
    leakage_planted.scene(3).save(buf, quality=90)
    data = buf.read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        phash.of_bytes(data[:len(data) // 2])
    with pytest.raises(ImageError, match="not an image"):
        phash.of_bytes(b"plain text")
    assert phash.of_bytes(data).bits == phash.of_file(buf).bits


def test_shards_together_find_what_one_run_finds(tmp_path):
    """--shard i/n: each shard checks its records (by id hash); the shards' drop lists together are the whole one."""
    folder, _ = _planted(tmp_path, images=4)
    bench = [("planted", folder / "bench.jsonl")]
    whole = leakage.check(folder / "train.jsonl", bench, tmp_path / "all")
    parts = [leakage.check(folder / "train.jsonl", bench, tmp_path / f"s{i}", shard=f"{i}/3") for i in range(3)]
    ids = [{json.loads(line)["id"] for line in (tmp_path / d / "drop.jsonl").read_text().splitlines()}
           for d in ("s0", "s1", "s2")]
    whole_ids = {json.loads(line)["id"] for line in (tmp_path / "all" / "drop.jsonl").read_text().splitlines()}
    assert set().union(*ids) == whole_ids
    assert not (ids[0] & ids[1]) and sum(p["train"]["records"] for p in parts) == whole["train"]["records"]
    with pytest.raises(Exception, match="--shard '3/3'"):
        leakage.preflight(folder / "train.jsonl", bench, tmp_path / "x", "3/3")


def test_nothing_read_is_not_a_pass_and_folders_are_named(tmp_path):
    from ainkit.pipelines import leakage

    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "b1", "question": "ما عاصمة الأردن؟", "dataset": "x"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(leakage.LeakageError, match="no training record read \\(1 malformed line"):
        leakage.check(bad, [("b", bench)], tmp_path / "out")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(leakage.LeakageError, match="no training record read"):
        leakage.check(empty, [("b", bench)], tmp_path / "out2")
    with pytest.raises(leakage.LeakageError, match="is a folder"):
        leakage.preflight(tmp_path, [("b", bench)], tmp_path / "out3")
    with pytest.raises(leakage.LeakageError, match="is a folder"):
        leakage.preflight(bad, [("b", tmp_path)], tmp_path / "out3")


def test_a_csv_row_is_named_by_the_line_it_starts_on(tmp_path):
    from ainkit.pipelines import leakage

    (tmp_path / "m.csv").write_text('ID,Question\nx1,"a question\nover two lines"\nx2,\n')
    with pytest.raises(leakage.LeakageError, match=r"m.csv: line 4: empty Question"):
        leakage.read_benchmark("m", tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text('ID,Question\nx1,"a question\nover two lines"\nx2,second\n')
    assert [it.line for it in leakage.read_benchmark("m", tmp_path / "m.csv")] == [2, 4]
