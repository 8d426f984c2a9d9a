"""Image toxicity judge against a real fault-injecting vision server: fail-closed parsing, caching, rejects, statistics."""
import json
import re

import pytest
from PIL import Image

from ainkit.services import endpoint, llm
from ainkit.reproduction.analyses import screening
from ainkit.stages import toxicity
from ainkit.services.records import read_records
from helpers import cli, fault_server, stats
from shown import assert_every_figure_shown

COLOURS = {"green": (0, 200, 0), "red": (200, 0, 0), "orange": (250, 120, 0), "blue": (0, 0, 200), "yellow": (200, 200, 0),
           "cyan": (0, 200, 200), "magenta": (200, 0, 200), "grey": (100, 100, 100), "white": (255, 255, 255), "black": (0, 0, 0)}


@pytest.fixture(scope="module")
def server():
    with fault_server() as port:
        yield port


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "ainkit-cache"  # each test's shared cache (AINKIT_CACHE_DIR, set by conftest.py)


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "imgs"
    for i, (name, rgb) in enumerate(COLOURS.items()):
        folder = root / ("web" if i % 2 else "books")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (80 + i, 60), rgb).save(folder / f"{name}.png")
    Image.new("RGB", (70, 50), COLOURS["green"]).save(root / "books" / "green_copy.jpg")  # same look, other bytes
    (root / "web" / "notes.png").write_text("this is not an image")
    (root / "web" / "red_duplicate.png").write_bytes(next(root.rglob("red.png")).read_bytes())  # same bytes: judged once
    data = next(root.rglob("red.png")).read_bytes()
    (root / "web" / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "web" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')  # not a supported type
    (root / "readme.txt").write_text("about these images")
    return root


def judge(port, cache=True, vision=True, **kw):
    """A client of the fault server's vision judge (vision=None: probe it)."""
    backend = llm.Backend("judge", f"http://127.0.0.1:{port}/v1", "judge", api_key="sk-tox-test-123456", vision=vision)
    return llm.Client(backend, max_retries=2, backoff=0.05, cache=cache, **kw)


def judge_requests(port):
    return {k: v for k, v in stats(port)["requests"].items() if k.endswith(":judge")}


def probes(port):
    return sum(v for k, v in stats(port)["requests"].items() if k.endswith(":probe"))


def test_fail_closed_endpoint_failures_rejects_and_schema(server, images, tmp_path):
    out = tmp_path / "judged.jsonl"
    before = judge_requests(server)
    summary, counts = toxicity.run(images, out, judge(server), progress=False)
    judged = {r["id"].split("/")[-1]: r for r in read_records(out)}
    rating = {k: r["toxicity"]["rating"] for k, r in judged.items()}
    assert rating["green.png"] == rating["orange.png"] == rating["white.png"] == rating["green_copy.jpg"] == "Safe"
    assert rating["red.png"] == "Unsafe" and judged["red.png"]["toxicity"]["category"] == "O6: Weapons or Substance Abuse"
    unparsed = ("blue.png", "yellow.png", "cyan.png", "magenta.png", "grey.png")
    for bad in unparsed:
        assert rating[bad] == "Unparsed" and judged[bad]["keep"] is False, bad  # filtered out, never let through
    reasons = {k: judged[k]["toxicity"]["reason"] for k in unparsed}
    assert reasons["blue.png"] == "no JSON object in the answer" and reasons["magenta.png"] == "refusal"
    assert "missing field" in reasons["yellow.png"] and "unknown category" in reasons["cyan.png"]
    assert reasons["grey.png"] == "empty answer"
    assert all(judged[k]["toxicity"]["policy_version"] == toxicity.POLICY_VERSION for k in judged)
    assert judged["green.png"]["image"] == "books/green.png" and judged["green.png"]["source"] == "books"
    # no answer is no judgment: the always-500 image is an endpoint reject, not an Unparsed output record
    assert "black.png" not in judged
    rejects = {r["record"]["id"].split("/")[-1]: r for r in read_records(tmp_path / "judged.rejects.jsonl")}
    assert rejects["black.png"]["endpoint"] is True
    assert rejects["black.png"]["reasons"][0].startswith("request failed at the endpoint: HTTP 500")
    assert rejects["notes.png"]["reasons"] == ["not an image"] and "endpoint" not in rejects["notes.png"]
    assert rejects["truncated.png"]["reasons"][0].startswith("unreadable or truncated")
    # every file of the folder is accounted for: unsupported types are rejects with the reason, not skipped
    assert rejects["logo.svg"]["reasons"][0].startswith("unsupported image type .svg (supported: ")
    assert rejects["readme.txt"]["reasons"][0].startswith("unsupported image type .txt")
    files = [p for p in images.rglob("*") if p.is_file()]
    assert summary.read == len(files) == summary.kept + summary.rejected and summary.malformed == 0
    assert summary.endpoint_failed == 1 and summary.exit_code() == 3
    assert counts["Unparsed"] == 5 and counts["endpoint failed"] == 1
    first = judge_requests(server)
    assert first["vision:red:judge"] - before.get("vision:red:judge", 0) == 1 and rating["red_duplicate.png"] == "Unsafe"
    assert "schema errors" not in stats(server)["requests"]  # every request body matched the OpenAI image-part schema
    assert not list(tmp_path.glob("judged.jsonl.*"))  # no journal, lock or folder listing left behind


def test_decisions_are_paid_once_whatever_the_output(server, tmp_path, cache_dir):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for name in ("green", "red", "orange"):
        Image.new("RGB", (41, 33), COLOURS[name]).save(imgs / f"{name}.png")
    _, c1 = toxicity.run(imgs, tmp_path / "out1.jsonl", judge(server), progress=False)
    assert c1["from cache"] == 0 and c1["Safe"] == 2 and c1["Unsafe"] == 1
    before = stats(server)["requests"]
    summary, c2 = toxicity.run(imgs, tmp_path / "other" / "out2.jsonl", judge(server), progress=False)
    assert stats(server)["requests"] == before  # nothing sent: every decision came from the shared cache
    assert c2["from cache"] == 3 and summary.kept == 3
    assert [r["toxicity"]["rating"] for r in read_records(tmp_path / "other" / "out2.jsonl")] == ["Safe", "Safe", "Unsafe"]
    assert not list(tmp_path.glob("*.decisions.jsonl"))  # no per-output decision file any more
    # --no-cache: nothing is read from or written to the cache, so the images are judged again
    from ainkit.services import cache as cache_mod

    entries = cache_mod.open_cache(cache_dir).count(toxicity.CACHE_NAMESPACE)
    _, c3 = toxicity.run(imgs, tmp_path / "out3.jsonl", judge(server, cache=None), progress=False)
    after = judge_requests(server)
    assert c3["from cache"] == 0 and after["vision:green:judge"] == before["vision:green:judge"] + 1
    assert cache_mod.open_cache(cache_dir).count(toxicity.CACHE_NAMESPACE) == entries == 3


def test_relative_folder_and_jsonl_paths_work_from_any_cwd(server, tmp_path, monkeypatch):
    imgs = tmp_path / "images"
    imgs.mkdir()
    for name in ("green", "red"):
        Image.new("RGB", (30, 30), COLOURS[name]).save(imgs / f"{name}.png")
    monkeypatch.chdir(tmp_path)  # the folder ABOVE images/, with relative paths, as in the module docstring
    summary, counts = toxicity.run("images", "judged.jsonl", judge(server), progress=False)
    assert summary.kept == 2 and summary.rejected == 0, read_records("judged.rejects.jsonl")
    # an output inside the images folder: the stage's own files (output, rejects, journals, lock) are no records
    for _ in range(2):
        summary, _ = toxicity.run("images", "images/judged.jsonl", judge(server), rejects="images/bad.jsonl", progress=False)
        assert (summary.read, summary.kept) == (2, 2) and (imgs / "judged.jsonl").is_file()
    (imgs / "judged.jsonl").unlink()
    # JSON Lines: image paths relative to the file's folder, whatever the cwd
    data = tmp_path / "data"
    data.mkdir()
    (data / "list.jsonl").write_text('{"id": "a", "image": "../images/green.png"}\n{"id": "b", "image": "../images/red.png"}\n')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    summary, counts = toxicity.run("../data/list.jsonl", "out.jsonl", judge(server), progress=False)
    assert summary.kept == 2 and counts["Safe"] == counts["Unsafe"] == 1


def test_cli_from_the_folder_above_with_endpoint_failures(server, images, tmp_path):
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{server}/v1", "OPENAI_API_KEY": "sk-tox-test-123456"}
    proc = cli("toxicity", "--input", "imgs", "--output", "judged.jsonl", "--model", "judge", "--max-retries", "1",
               cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # some images failed at the endpoint (black: always 500)
    rejects = read_records(tmp_path / "judged.rejects.jsonl")
    assert not [r for r in rejects if "missing file" in r["reasons"][0]]
    assert len(read_records(tmp_path / "judged.jsonl")) + len(rejects) == len([p for p in images.rglob("*") if p.is_file()])
    assert "Unparsed 5" in proc.stdout and "sk-tox-test-123456" not in (tmp_path / "judged.rejects.jsonl").read_text()


def test_absurd_image_paths_are_one_line_rejects(server, tmp_path):
    recs = [{"id": "huge", "image": "x" * 1_000_000}, {"id": "component", "image": "y" * 300 + "/a.png"},
            {"id": "none"}, {"id": "number", "image": 7}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    summary, _ = toxicity.run(src, tmp_path / "out.jsonl", judge(server), progress=False)
    assert summary.read == summary.rejected == 4 and summary.exit_code() == 0
    reasons = {r["record"]["id"]: r["reasons"] for r in read_records(tmp_path / "out.rejects.jsonl")}
    assert re.match(r"image path of 1,000,\d{3} characters, over the limit of 4,096: ", reasons["huge"][0])
    assert reasons["component"][0].startswith("cannot read") and "name too long" in reasons["component"][0].lower()
    assert all(len(r) == 1 and len(r[0]) < 400 and "\n" not in r[0] for r in reasons.values())


def test_checks_lock_and_settings_before_any_request(server, images, tmp_path):
    from ainkit.services.records import RecordError
    from ainkit.services.stageio import StageIO

    sent = probes(server), judge_requests(server)
    (tmp_path / "isdir").mkdir()
    with pytest.raises(RecordError, match="is a folder"):
        toxicity.run(images, tmp_path / "isdir", judge(server, vision=None), progress=False)
    with pytest.raises(RecordError, match="no such folder or JSON Lines file"):
        toxicity.run(tmp_path / "missing", tmp_path / "o.jsonl", judge(server, vision=None), progress=False)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "g", "image": str(next(images.rglob("green.png")))}) + "\n")
    out = tmp_path / "o.jsonl"
    with StageIO(src, out):  # another process holds the output
        with pytest.raises(RecordError, match="another ainkit process"):
            toxicity.run(src, out, judge(server, vision=None), progress=False)
    # a journal left by a run with other settings: refused, naming the difference; resume=False starts over
    left = StageIO(src, out, settings={"stage": "toxicity", "policy_version": toxicity.POLICY_VERSION, "judge_model": "judge",
                                       "longest_side": 336, "json_mode": True, "image_field": "image"})
    left.emit(next(left.pending()))  # one record journalled, then killed
    left.close()
    with pytest.raises(RecordError, match=r"longest_side: journal 336, now 672"):
        toxicity.run(src, out, judge(server, vision=None), progress=False)
    assert (probes(server), judge_requests(server)) == sent  # not even the vision probe was sent
    summary, _ = toxicity.run(src, out, judge(server, vision=None), progress=False, resume=False)
    assert summary.kept == 1 and probes(server) == sent[0] + 1


def test_statistics_and_published_inconsistency(tmp_path):
    recs = [{"source": "a", "toxicity": {"rating": "Safe", "category": "NA: None applying"}},
            {"source": "a", "toxicity": {"rating": "Unsafe", "category": "O6: Weapons or Substance Abuse"}},
            {"source": "b", "toxicity": {"rating": "Unparsed", "category": None}},
            {"source": "b", "toxicity": {"rating": "Safe", "category": "NA: None applying"}}]
    st = toxicity.statistics(recs)
    assert st["share"] == {"Safe": 50.0, "Unsafe": 25.0, "Unparsed": 25.0}
    assert st["unsafe_by_category"] == {"O6: Weapons or Substance Abuse": 25.0}
    assert st["per_source"]["b"] == {"Safe": 1, "Unsafe": 0, "Unparsed": 1}
    c = screening.published_consistency()
    assert c["sum of unsafe categories"] == pytest.approx(5.44) and c["categories - stated unsafe"] == pytest.approx(1.07)


@pytest.mark.parametrize("answer, rating, reason", [
    ('{"rating": "Safe", "category": "NA: None applying", "rationale": "ok"}', "Safe", ""),
    ('{"rating": "unsafe", "category": "O8", "rationale": "x"}', "Unsafe", ""),
    ('{"rating": "Unsafe", "category": "NA: None applying", "rationale": "x"}', "Unparsed", "without a category"),
    ('{"rating": "Maybe", "category": "O1", "rationale": "x"}', "Unparsed", "unknown rating"),
    ('{"final-assessment": "Safe", "policy-category": "NA", "explanation": "old keys"}', "Unparsed", "missing field"),
    ('{"rating": "Safe", "category": "O1", "rationale": "x"', "Unparsed", "no JSON object"),
    ('[1, 2]', "Unparsed", "no JSON object"),
    (None, "Unparsed", "empty answer"),
])
def test_parse_fails_closed(answer, rating, reason):
    j = toxicity.parse(answer, "m")
    assert j.rating == rating and reason in j.reason and j.keep == (rating == "Safe")


def test_text_only_backends_are_refused(server, tmp_path):
    (tmp_path / "i.png").write_bytes(b"")
    proc = cli("toxicity", "--input", tmp_path, "--output", tmp_path / "o.jsonl",
               env={"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None}, timeout=60)
    assert proc.returncode == 2 and "embedded server is text-only" in proc.stderr
    embedded = llm.Backend("embedded", "http://127.0.0.1:1/v1", "smollm2-135m", embedded=True)
    with pytest.raises(llm.LLMError, match="cannot see images"):
        endpoint.require_vision(embedded, llm.Client(embedded))
    ok = llm.Backend("probe", f"http://127.0.0.1:{server}/v1", "judge")
    endpoint.require_vision(ok, llm.Client(ok))  # the probe sees red: accepted


def test_request_shape():
    img = toxicity.request_messages("data:image/jpeg;base64,AAAA")
    parts = img[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"] and parts[1]["image_url"]["url"].startswith("data:image/jpeg")
    assert "O9: Disasters or Emergencies" in parts[0]["text"] and '"rating"' in parts[0]["text"]


def test_notebook_04_judges_a_folder_with_a_vision_backend(server, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for name in ("green", "red", "blue"):
        Image.new("RGB", (50, 50), COLOURS[name]).save(imgs / f"{name}.png")
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{server}/v1", "OPENAI_API_KEY": "sk-tox-test-123456", "MPLBACKEND": None}
    proc = cli("reproduce", "--only", "04", "-p", "images_dir", imgs, "-p", "model", "judge", "--out", tmp_path / "out",
               env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figs = tmp_path / "out" / "figures"
    assert (figs / "fig16a_toxicity_share.png").is_file() and (figs / "fig16c_kit_judgments.png").is_file()
    rows = {r["quantity"]: r for r in json.loads((tmp_path / "out" / "reports" / "results" / "04_toxicity_statistics.json").read_text())["rows"]}
    assert rows["kit: Unparsed (%)"]["kit"] == pytest.approx(33.33)
    md = (tmp_path / "out" / "reports" / "REPRODUCTION.md").read_text()
    assert "INCONSISTENT" in md and "Unparsed (%) 33.33" in md
    assert_every_figure_shown(tmp_path / "out", "04_toxicity_statistics")


def test_shards_split_a_folder_and_together_judge_it_once(server, images, tmp_path):
    """--shard i/n (StageIO's stable id hash): each image is judged by exactly one shard; the rest counted as elsewhere."""
    whole, _ = toxicity.run(images, tmp_path / "all.jsonl", judge(server, cache=False), progress=False)
    ids = []
    for i in range(2):
        summary, _ = toxicity.run(images, tmp_path / f"s{i}.jsonl", judge(server, cache=False), progress=False, shard=f"{i}/2")
        ids += [r["id"] for r in read_records(tmp_path / f"s{i}.jsonl")]
        assert summary.other_shards > 0
    assert sorted(ids) == sorted(r["id"] for r in read_records(tmp_path / "all.jsonl"))
