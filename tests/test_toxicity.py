"""Image toxicity judge against a real fault-injecting vision server: fail-closed parsing, caching, rejects, statistics."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from ainkit import llm, toxicity
from ainkit.records import read_records
from test_llm import start_server, stats

COLOURS = {"green": (0, 200, 0), "red": (200, 0, 0), "orange": (250, 120, 0), "blue": (0, 0, 200), "yellow": (200, 200, 0),
           "cyan": (0, 200, 200), "magenta": (200, 0, 200), "grey": (100, 100, 100), "white": (255, 255, 255), "black": (0, 0, 0)}


@pytest.fixture(scope="module")
def server():
    proc, port = start_server()
    yield port
    proc.terminate()
    proc.wait(timeout=10)


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
    return root


def run_cli(port, *args):
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-tox-test-123456"}
    return subprocess.run([sys.executable, "-m", "ainkit.cli", "toxicity", "--model", "judge", "--max-retries", "2", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_fail_closed_cache_rejects_and_schema(server, images, tmp_path):
    out = tmp_path / "judged.jsonl"
    proc = run_cli(server, "--input", str(images), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    judged = {r["id"].split("/")[-1]: r for r in read_records(out)}
    rating = {k: r["toxicity"]["rating"] for k, r in judged.items()}
    assert rating["green.png"] == rating["orange.png"] == rating["white.png"] == rating["green_copy.jpg"] == "Safe"
    assert rating["red.png"] == "Unsafe" and judged["red.png"]["toxicity"]["category"] == "O6: Weapons or Substance Abuse"
    for bad in ("blue.png", "yellow.png", "cyan.png", "magenta.png", "grey.png", "black.png"):
        assert rating[bad] == "Unparsed" and judged[bad]["keep"] is False, bad  # filtered out, never let through
    reasons = {k: judged[k]["toxicity"]["reason"] for k in ("blue.png", "yellow.png", "cyan.png", "magenta.png", "grey.png", "black.png")}
    assert reasons["blue.png"] == "no JSON object in the answer" and reasons["magenta.png"] == "refusal"
    assert "missing field" in reasons["yellow.png"] and "unknown category" in reasons["cyan.png"]
    assert reasons["grey.png"] == "empty answer" and reasons["black.png"].startswith("request failed: HTTP 500")
    assert all(judged[k]["toxicity"]["policy_version"] == toxicity.POLICY_VERSION for k in judged)
    rejects = {r["record"]["id"].split("/")[-1]: r["reasons"][0] for r in read_records(tmp_path / "judged.rejects.jsonl")}
    assert rejects["notes.png"] == "not an image" and rejects["truncated.png"].startswith("unreadable or truncated")
    assert "Unparsed 6" in proc.stdout
    first = stats(server)["requests"]
    assert first["vision:red:judge"] == 1 and rating["red_duplicate.png"] == "Unsafe"  # the duplicate cost nothing
    assert "schema errors" not in first  # every request body matched the OpenAI image-part schema
    # second run: every parsed image comes from the cache; only the unparsed ones are asked again
    proc2 = run_cli(server, "--input", str(images), "--output", str(tmp_path / "again.jsonl"), "--cache", f"{out}.decisions.jsonl")
    assert proc2.returncode == 0, proc2.stderr
    second = stats(server)["requests"]
    for colour in ("green", "red", "orange", "white"):
        assert second[f"vision:{colour}:judge"] == first[f"vision:{colour}:judge"], colour
    assert "6 from the decision cache" in proc2.stdout  # green, green_copy, orange, white, red, red_duplicate


def test_statistics_and_published_inconsistency(tmp_path):
    recs = [{"source": "a", "toxicity": {"rating": "Safe", "category": "NA: None applying"}},
            {"source": "a", "toxicity": {"rating": "Unsafe", "category": "O6: Weapons or Substance Abuse"}},
            {"source": "b", "toxicity": {"rating": "Unparsed", "category": None}},
            {"source": "b", "toxicity": {"rating": "Safe", "category": "NA: None applying"}}]
    st = toxicity.statistics(recs)
    assert st["share"] == {"Safe": 50.0, "Unsafe": 25.0, "Unparsed": 25.0}
    assert st["unsafe_by_category"] == {"O6: Weapons or Substance Abuse": 25.0}
    assert st["per_source"]["b"] == {"Safe": 1, "Unsafe": 0, "Unparsed": 1}
    c = toxicity.published_consistency()
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
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "ainkit.cli", "toxicity", "--input", str(tmp_path), "--output",
                           str(tmp_path / "o.jsonl")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "embedded server is text-only" in proc.stderr
    embedded = llm.Backend("embedded", "http://127.0.0.1:1/v1", "smollm2-135m", embedded=True)
    with pytest.raises(llm.LLMError, match="cannot see images"):
        toxicity.require_vision(embedded, llm.Client(embedded))
    ok = llm.Backend("probe", f"http://127.0.0.1:{server}/v1", "judge")
    toxicity.require_vision(ok, llm.Client(ok))  # the probe sees red: accepted


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
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{server}/v1", "OPENAI_API_KEY": "sk-tox-test-123456"}
    proc = subprocess.run([sys.executable, "-m", "ainkit.cli", "reproduce", "--only", "04", "-p", "images_dir", str(imgs),
                           "-p", "model", "judge", "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figs = tmp_path / "out" / "figures"
    assert (figs / "fig16a_toxicity_share.png").is_file() and (figs / "fig16c_kit_judgments.png").is_file()
    md = (tmp_path / "out" / "reports" / "REPRODUCTION.md").read_text()
    assert "INCONSISTENT" in md and "| kit: Unparsed (%) | – | 33.33 |" in md
