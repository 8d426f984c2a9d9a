"""ArabicMMLU formulations: the authors' prompt as lm-evaluation-harness renders it, lighteval's, the kit's (golden
strings transcribed from each project's code at the commits cited in ainkit/stages/evaluate/arabic_mmlu.py), the
published Level codes, and the log-likelihood scoring of a real (tiny) causal LM."""
import argparse
import json

import pytest

from ainkit.stages.evaluate import arabic_mmlu

HEADER = ",".join(arabic_mmlu.COLUMNS)


def _item(**kw):
    base = {"id": "t-1", "subject": "History", "category": "History", "level": "High", "country": "Jordan",
            "question": "متى؟", "context": "", "options": ["one", "two", "three"], "answer": "B"}
    return {**base, **kw}


# lm-eval @ 4e7e0d4 lm_eval/tasks/arabicmmlu/utils.py doc_to_text: PROMPT.format(main_meta_data, question, options)
# with PROMPT = "This is a {}. Select the correct answer!\n\nQuestion: {}\n{}\n\nAnswer:", main_meta_data =
# f"{Subject} question{level}{country}", level " for " + level_en[Level], country " in " + Country, question
# f"{Context}\n\n{Question}" when there is a context, options "A. opt" joined by "\n".
AUTHORS_CASES = [
    (_item(), "This is a History question for high school in Jordan. Select the correct answer!\n\n"
              "Question: متى؟\nA. one\nB. two\nC. three\n\nAnswer:"),
    (_item(level="", country="", subject="Driving Test", options=["صح", "خطأ"]),
     "This is a Driving Test question. Select the correct answer!\n\nQuestion: متى؟\nA. صح\nB. خطأ\n\nAnswer:"),
    (_item(level="Univ", country="", context="نص\nمن سطرين", options=list("vwxyz")),
     "This is a History question for university. Select the correct answer!\n\n"
     "Question: نص\nمن سطرين\n\nمتى؟\nA. v\nB. w\nC. x\nD. y\nE. z\n\nAnswer:"),
    (_item(level="Prof", country="UAE", subject="Law"),
     "This is a Law question for professional in UAE. Select the correct answer!\n\n"
     "Question: متى؟\nA. one\nB. two\nC. three\n\nAnswer:"),
    (_item(level="Primary"), "This is a History question for primary school in Jordan. Select the correct answer!\n\n"
                             "Question: متى؟\nA. one\nB. two\nC. three\n\nAnswer:"),
    (_item(level="Middle", country=""), "This is a History question for middle school. Select the correct answer!\n\n"
                                        "Question: متى؟\nA. one\nB. two\nC. three\n\nAnswer:"),
]


@pytest.mark.parametrize("item,expected", AUTHORS_CASES)
def test_authors_prompt_is_lm_eval_doc_to_text(item, expected):
    assert arabic_mmlu.prompt(item) == expected == arabic_mmlu.prompt(item, "authors")
    # the authors' own script (util_prompt.py @ 8d5b148, prepare_data_en, lora_weights "x"): PROMPT + '\n\nAnswer: '
    assert arabic_mmlu.prompt(item, "authors-script") == expected + " "
    assert arabic_mmlu.formulation("authors-script").continuations(item) == ["A", "B", "C", "D", "E"][:len(item["options"])]


# lighteval @ 3fd1526 src/lighteval/tasks/multilingual/tasks/arabic.py arabic_mmlu_pfn: instruction + Question + "\n",
# then "{key}. {choice}\n" per option with keys أ ب ج د هـ, then "الإجابة:"; Context is not used.
LIGHTEVAL_CASES = [
    (_item(context="سياق لا يظهر"), "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة:\n\n"
                                    "متى؟\nأ. one\nب. two\nج. three\nالإجابة:"),
    (_item(options=list("vwxyz")), "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة:\n\n"
                                   "متى؟\nأ. v\nب. w\nج. x\nد. y\nهـ. z\nالإجابة:"),
]


@pytest.mark.parametrize("item,expected", LIGHTEVAL_CASES)
def test_lighteval_prompt_is_arabic_mmlu_pfn_query(item, expected):
    assert arabic_mmlu.prompt(item, "lighteval") == expected


def test_kit_prompt_and_the_choices_each_formulation_scores():
    assert arabic_mmlu.prompt(_item(context="سياق"), "kit") == (
        "The following is a multiple choice question. Answer with the letter of the correct option only.\n\n"
        "سياق\n\nمتى؟\nA. one\nB. two\nC. three\nAnswer:")
    five = _item(options=list("vwxyz"))
    assert arabic_mmlu.formulation("authors").continuations(five) == [" A", " B", " C", " D", " E"]
    assert arabic_mmlu.formulation("lighteval").continuations(_item()) == ["أ", "ب", "ج"]
    assert arabic_mmlu.formulation("lighteval").char_norm and not arabic_mmlu.formulation("authors").char_norm
    with pytest.raises(ValueError, match="formulation 'harness' unknown: use one of authors, authors-script, kit, lighteval"):
        arabic_mmlu.prompt(_item(), "harness")


def test_answers_are_cached_per_formulation():
    it = _item()
    hashes = {arabic_mmlu.prompt_hash(it, n) for n in arabic_mmlu.FORMULATIONS}
    assert len(hashes) == 4 and arabic_mmlu.prompt_hash(it) == arabic_mmlu.prompt_hash(it, "authors")
    assert arabic_mmlu.prompt_hash(_item(level="Univ")) != arabic_mmlu.prompt_hash(it)


def test_fixture_uses_the_published_level_codes_and_renders_in_every_formulation():
    items = arabic_mmlu.load()
    assert len(items) == 44 and {i["level"] for i in items} <= set(arabic_mmlu.LEVELS) | {""}
    assert {len(i["options"]) for i in items} == {2, 3, 4, 5} and sum(bool(i["context"]) for i in items) >= 3
    for it in items:
        for name in arabic_mmlu.FORMULATIONS:
            assert arabic_mmlu.prompt(it, name).endswith(("Answer:", "Answer: ", "الإجابة:"))


def _csv(tmp_path, level="High", options=("one", "two", "three", "", "")):
    row = f'h-1,src,EG,Humanities,History,{level},"سؤال؟",,A,{",".join(options)},0'
    path = tmp_path / "items.csv"
    path.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("level,hint", [("University", "; write 'Univ'"), ("High School", "; write 'High'"), ("Year 9", "")])
def test_unknown_level_names_the_row(tmp_path, level, hint):
    with pytest.raises(ValueError) as err:
        arabic_mmlu.load(_csv(tmp_path, level))
    assert str(err.value) == (f"{tmp_path / 'items.csv'}: line 2: Level {level!r} is not a published ArabicMMLU level "
                              f"code (Primary, Middle, High, Univ, Prof, or empty){hint}")


def test_option_after_an_empty_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"items.csv: line 2: an option follows an empty one \(Option 2 is empty\)"):
        arabic_mmlu.load(_csv(tmp_path, options=("one", "", "three", "", "")))
    assert arabic_mmlu.load(_csv(tmp_path, level=""))[0]["level"] == ""


def test_command_option_names_the_formulations():
    from ainkit.commands import evaluate

    p = evaluate.add_arguments(argparse.ArgumentParser())
    assert p.parse_args(["--benchmark", "arabic-mmlu"]).mmlu_prompt == "authors"
    assert p.parse_args(["--mmlu-prompt", "lighteval"]).mmlu_prompt == "lighteval"
    assert sorted(a.choices for a in p._actions if a.dest == "mmlu_prompt")[0] == list(arabic_mmlu.FORMULATIONS)
    with pytest.raises(SystemExit):
        p.parse_args(["--mmlu-prompt", "harness"])


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from ainkit.services.tiny import build_causal_lm

    corpus = [arabic_mmlu.prompt(i, n) for i in arabic_mmlu.load() for n in arabic_mmlu.FORMULATIONS]
    return build_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", corpus)


def test_loglikelihood_is_lm_eval_arithmetic(tiny_lm):
    """Each choice's score is the sum of log-softmax scores of the tokens the joint encoding adds, read from one
    forward pass over the prompt and all but the last of them; lighteval's divides by the choice's characters."""
    import torch

    chooser = arabic_mmlu.LogLikelihoodChooser(str(tiny_lm), "authors")
    item = arabic_mmlu.load()[0]
    text = arabic_mmlu.prompt(item)
    letter, scores = chooser.choose(item)
    ctx = chooser.tok.encode(text)
    for cont, score in zip(chooser.form.continuations(item), scores):
        ids = chooser.tok.encode(text + cont)[len(ctx):]
        with torch.no_grad():
            logp = torch.log_softmax(chooser.model(torch.tensor([ctx + ids[:-1]])).logits[0], dim=-1)
        assert score == float(sum(logp[len(ctx) - 1 + j, t] for j, t in enumerate(ids)))
    assert letter == "ABCDE"[scores.index(max(scores))]
    # a trailing space on the prompt moves into the continuation, as lm-eval's _encode_pair does
    assert chooser.encode_pair(text + " ", "A") == chooser.encode_pair(text, " A")
    five = next(i for i in arabic_mmlu.load() if len(i["options"]) == 5)
    lev = arabic_mmlu.LogLikelihoodChooser(str(tiny_lm), "lighteval")
    raw = lev.loglikelihoods(arabic_mmlu.prompt(five, "lighteval"), lev.form.continuations(five))
    assert lev.choose(five)[1] == [raw[0], raw[1], raw[2], raw[3], raw[4] / 2]  # هـ is two characters
    # the authors' script: the next-token logits of each bare letter's last token after "Answer: "
    script = arabic_mmlu.LogLikelihoodChooser(str(tiny_lm), "authors-script")
    with torch.no_grad():
        last = script.model(torch.tensor([script.tok.encode(text + " ")])).logits[0, -1]
    expected = [float(last[script.tok.encode(c)[-1]]) for c in "ABCD"]
    assert script.choose(item) == ("ABCD"[expected.index(max(expected))], expected)


def test_run_records_the_formulation_and_caches_per_formulation(tiny_lm, tmp_path):
    from ainkit.stages.evaluate import runner

    first = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(tmp_path / "a"), limit=5, formulation="lighteval")
    again = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(tmp_path / "b"), limit=5, formulation="lighteval")
    other = runner.run_arabic_mmlu(f"hf:{tiny_lm}", "fixture", str(tmp_path / "c"), limit=5, formulation="kit")
    assert (first["asked_now"], again["asked_now"], other["asked_now"]) == (5, 0, 5)
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["formulation"] == "lighteval" and "norm:char" in res["formulation_signature"]
    preds = [json.loads(line) for line in (tmp_path / "a" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["prediction"] in "ABCDE" for p in preds)
