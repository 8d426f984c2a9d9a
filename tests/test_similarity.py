"""ainkit.stages.similarity with real encoders: golden all-mpnet values, offline refusal, the CLI's rejects, deduplication."""
import json

import helpers
import numpy as np
import pytest

from ainkit.reproduction import paper
from ainkit.stages import similarity
from ainkit.reproduction.analyses import probes
from ainkit.services.records import read_records



@pytest.fixture(scope="module")
def mpnet():
    """all-mpnet-base-v2, loaded once for the module (loading it at import made every collection pay for it)."""
    enc, why = similarity.try_load("all-mpnet-base-v2")
    if enc is None:
        pytest.skip(f"all-mpnet-base-v2 not set up: {why}")
    return enc


def mpnet_set_up() -> str:
    """'' when all-mpnet-base-v2 can be loaded here, else why not (found without loading it)."""
    try:
        similarity.locate("all-mpnet-base-v2")
        return ""
    except similarity.EncoderUnavailable as exc:
        return str(exc)


@pytest.mark.parametrize("ref", ["1.1", "1.2", "1.3", "2.3", "2.6", "2.7"])
def test_golden_all_mpnet_on_table_text(mpnet, ref):
    pairs, fig = paper.load("probe_pairs"), paper.load("figure14")
    [sim] = similarity.score_pairs(mpnet, [pairs.loc[ref, "english"]], [pairs.loc[ref, "arabic"]])
    assert sim == pytest.approx(fig.loc[ref, "all-mpnet-base-v2"], abs=1e-4)


def test_figure14_text_identification(mpnet):
    found = {f.ref: f for f in probes.identify_figure14_texts(mpnet)}
    assert found["2.1"].kind == "figure label" and found["2.1"].matches
    assert found["3.3"].kind == "table, typos fixed" and found["3.3"].matches
    assert found["1.5"].kind == "table, right-to-left copy" and found["1.5"].arabic == "!هذه عبارة توضيحية"
    assert not found["2.8"].matches  # 0.0904: reproduced by no candidate the kit knows
    assert sum(f.matches for f in found.values()) == 13


def test_each_unique_sentence_is_encoded_once(mpnet):
    calls = []
    original = mpnet._encode
    mpnet._encode = lambda batch, bs: (calls.extend(batch), original(batch, bs))[1]
    try:
        sims = similarity.score_pairs(mpnet, ["a cat", "a cat", "a dog"], ["قطة", "قطة", "كلب"], batch_size=2)
    finally:
        mpnet._encode = original
    assert sorted(calls) == sorted(["a cat", "a dog", "قطة", "كلب"])
    assert sims[0] == sims[1] and -1 <= sims.min() <= sims.max() <= 1


def test_multilingual_encoder_separates_translation_from_mismatch():
    use, why = similarity.try_load("use-multilingual")
    if use is None:
        pytest.skip(why)
    good, bad = similarity.score_pairs(use, ["The weather is nice today."] * 2, ["الطقس جميل اليوم.", "أين محطة القطار؟"])
    assert good > bad + 0.2
    emb = use.encode(["one", "two words"])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_report_encoder_unavailable_offline_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("AINKIT_ALLOW_DOWNLOAD", raising=False)
    enc, why = similarity.try_load("sentence-transformers/LaBSE")
    if enc is not None:
        pytest.skip("LaBSE is in this machine's Hugging Face cache")
    assert "LaBSE" in why and "downloads are off" in why and "\n" not in why


def test_unknown_encoder():
    with pytest.raises(similarity.EncoderUnavailable, match="unknown encoder"):
        similarity.spec("word2vec")
    assert similarity.spec("sentence-transformers/all-mpnet-base-v2").name == "all-mpnet-base-v2"


def cli(*args):
    return helpers.cli("similarity", *args)


@pytest.mark.skipif(bool(mpnet_set_up()), reason=f"all-mpnet-base-v2 not set up: {mpnet_set_up()}")
def test_cli_rejects_bad_input_by_line_and_keeps_the_rest(tmp_path):
    src = tmp_path / "pairs.jsonl"
    with open(src, "wb") as fh:
        fh.write(json.dumps({"id": "ok1", "en": "This is an example sentence", "ar": "هذه جملة مثال"}, ensure_ascii=False).encode() + b"\n")
        fh.write(b'{"id": "nofield", "en": "hello"}\n')
        fh.write(json.dumps({"id": "empty", "en": "  ", "ar": "مرحبا"}).encode() + b"\n")
        fh.write(b'{"id": "latin1", "en": "caf\xe9", "ar": "x"}\n')
        fh.write(b'{"id": "broken", "en": \n')
        fh.write(json.dumps({"id": "ok2", "en": "Please, sit down", "ar": "هذه عبارة توضيحية"}, ensure_ascii=False).encode() + b"\n")
    proc = cli("--input", str(src), "--output", str(tmp_path / "out.jsonl"), "--encoder", "all-mpnet-base-v2")
    assert proc.returncode == 0, proc.stderr
    assert "2 kept" in proc.stdout and "2 rejected" in proc.stdout and "2 malformed" in proc.stdout
    out = read_records(tmp_path / "out.jsonl")
    assert [r["id"] for r in out] == ["ok1", "ok2"]
    assert out[0]["similarity"] == pytest.approx(0.1530, abs=1e-4) and out[1]["similarity"] == pytest.approx(0.1587, abs=1e-4)
    assert out[0]["similarity_encoder"] == "all-mpnet-base-v2"
    rejects = {r["line"]: r["reasons"] for r in read_records(tmp_path / "out.rejects.jsonl")}
    assert rejects[2] == ["field 'ar' is missing"] and rejects[3] == ["field 'en' is empty"]
    assert rejects[4][0].startswith("not UTF-8") and rejects[5][0].startswith("malformed JSON")


def test_cli_unavailable_encoder_exits_with_message(tmp_path, monkeypatch):
    (tmp_path / "p.jsonl").write_text('{"id": 1, "en": "a", "ar": "ب"}\n')
    if similarity.try_load("LaBSE")[0] is not None:
        pytest.skip("LaBSE is in this machine's Hugging Face cache")
    proc = cli("--input", str(tmp_path / "p.jsonl"), "--output", str(tmp_path / "o.jsonl"), "--encoder", "LaBSE")
    assert proc.returncode == 2 and "downloads are off" in proc.stderr


def test_plain_bert_mean_pooling_path_matches_the_sentence_transformer():
    """MiniLM is a BERT whose sentence-transformers head is masked mean pooling: both paths must agree."""
    st, why = similarity.try_load("all-MiniLM-L6-v2")
    if st is None:
        pytest.skip(why)
    plain = similarity.Encoder(similarity.EncoderSpec("plain", None, "mean-pool"), st.path, "test")
    en, ar = ["A child is riding a bicycle.", "Two boats"], ["طفل يركب دراجة.", "قاربان"]
    assert np.allclose(similarity.score_pairs(plain, en, ar), similarity.score_pairs(st, en, ar), atol=1e-5)


def test_onnx_runtime_reproduces_pytorch(mpnet):
    torch_enc = similarity.load("all-mpnet-base-v2", runtime="torch")
    assert torch_enc.runtime == "torch"
    if mpnet.runtime != "onnxruntime":
        pytest.skip(mpnet.runtime_note)
    pairs = paper.load("probe_pairs")
    a = similarity.score_pairs(mpnet, list(pairs.english), list(pairs.arabic))
    b = similarity.score_pairs(torch_enc, list(pairs.english), list(pairs.arabic))
    assert np.abs(a - b).max() < 1e-5


def _varied_pairs(n):
    """Pairs of many lengths (so batches pad differently), English and Arabic, some sharing a sentence."""
    words = ["the", "red", "box", "sits", "on", "a", "wooden", "table", "near", "window", "car", "blue"]
    ar = ["الصندوق", "الأحمر", "على", "طاولة", "خشبية", "قرب", "النافذة", "سيارة", "زرقاء"]
    out = []
    for i in range(n):
        k = 1 + (i * 7) % 23
        en = " ".join(words[(i + j) % len(words)] for j in range(k)) + f" {i}."
        a = " ".join(ar[(i * 3 + j) % len(ar)] for j in range(1 + (i * 5) % 17))
        out.append({"id": f"p{i}", "en": en, "ar": a if i % 9 else "هذه عبارة توضيحية"})
    return out


@pytest.mark.parametrize("splits", [[("0/1", 32), ("0/1", 1)], [("0/1", 32), ("0/3", 5), ("1/3", 5), ("2/3", 5)],
                                    [("0/1", 7), ("0/2", 64), ("1/2", 64)]])
def test_scores_do_not_depend_on_batch_composition_or_shards(tmp_path, splits):
    """A record's similarity is the same number (to the last stored digit) whatever chunk size or shard split put
    it beside other records: kept.jsonl is the same bytes for any shard count (issue 20, item 6)."""
    use, why = similarity.try_load("use-multilingual")
    if use is None:
        pytest.skip(why)
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _varied_pairs(60)), encoding="utf-8")
    runs, summaries = [], []
    for n, (shard, chunk) in enumerate(splits):
        out = tmp_path / f"out{n}.jsonl"
        summaries.append(similarity.score_records(str(src), str(out), "use-multilingual", shard=shard, chunk=chunk,
                                                  progress=False))
        runs.append({r["id"]: r["similarity"] for r in read_records(out)})
    # the first split is the whole file; the rest are joined
    whole, parts = runs[0], {k: v for r in runs[1:] for k, v in r.items()}
    assert len(whole) == 60 and parts == whole
    assert all(s.extra["signature"] == "batch:per-record|round:6" for s in summaries)


def test_download_refusal_names_the_switch_of_the_command(monkeypatch, tmp_path):
    """The refusal names the switch the caller gives (curate's --set key), not another command's flag."""
    monkeypatch.delenv("AINKIT_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(similarity.EncoderUnavailable) as exc:
        similarity.locate("LaBSE", None, "--set similarity.allow_download=true")
    assert "--set similarity.allow_download=true" in str(exc.value) and "--allow-download " not in str(exc.value)
    with pytest.raises(similarity.EncoderUnavailable, match="use --allow-download"):
        similarity.locate("LaBSE")
