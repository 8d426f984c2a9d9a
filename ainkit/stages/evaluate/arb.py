"""ARB final-answer accuracy: a vision model answers, an LLM judge grades each answer 1 or 0 as the authors ask it.

    ainkit evaluate --benchmark arb --model openai:NAME --judge openai:gpt-4o --data items.jsonl --output runs/arb
    ainkit evaluate --benchmark arb --model openai:NAME --judge openai:gpt-4o --data hub --allow-download --output runs/arb

Followed: github mbzuai-oryx/ARB at commit 39337609c7639f704681e909971b24295b61b238,
`evaluation/judge-llm-evaluation.py`: `compare_results` sends the judge (gpt-4o, max_tokens 10) the system prompt
SYSTEM_PROMPT and the user text JUDGE_TEMPLATE (both verbatim, whitespace included) with the question, the ground
truth and the model's answer (their user content is a list holding one text part; the kit sends the same text as
the plain string, which the chat API reads alike); the reply is the item's "Final Answer Score"; accuracy is the mean of the scores.
Where the kit decides what the script leaves open, stated:
- a reply that is not exactly 0 or 1 after stripping (the script stores it as it is, and its mean would fail) is
  counted as 0 and reported in `judge_unusable`; a failed judge request likewise;
- the script's ground-truth column is named "Ground Truth steps"; for final-answer accuracy the kit gives the
  item's `answer` (the dataset's final solution);
- the judge is asked at temperature 0 (the script sets none, so the API's default 1), so a re-run is reproducible;
- the prompt the authors gave the answering models is not published: the kit sends the image(s), then the question
  and the choices, one per line.
Not implemented: the reasoning-step rubric (10 factors, LLM judge), BLEU / ROUGE / BERTScore / LaBSE of the steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ainkit.services.records import RecordError, write_records

COMMIT = "39337609c7639f704681e909971b24295b61b238"
JUDGE_MODEL = "gpt-4o"  # the authors' judge
JUDGE_MAX_TOKENS = 10
SYSTEM_PROMPT = "\n                You are a helpful Assistant. Provide helpful response to the user's question.\n                "
_PAD = " " * 36
JUDGE_TEMPLATE = ("\n\n\n\n\n" + _PAD + "Evaluate the following answer based on Accuracy:\n" + _PAD + "Question: {question}\n"
                  + _PAD + "Ground Truth: {ground_truth}\n" + _PAD + "Model Prediction: {llm_response}\n" + _PAD
                  + "Match the meaning of the ground truth with the model prediction and if it matches give a 1. "
                  "Otherwise 0.\n" + _PAD + "Strictly return only the numeric score, without any additional commentary\n\n"
                  + " " * 41)
SIGNATURE = f"arb final-answer@{COMMIT[:7]}|judge:binary-0/1|unusable:0|temperature:0"


def judge_messages(question: str, ground_truth: str, response: str) -> list[dict[str, Any]]:
    """The authors' judge request for one answer."""
    text = JUDGE_TEMPLATE.format(question=question, ground_truth=ground_truth, llm_response=response)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]  # their one text part


def parse_score(content: str | None) -> bool | None:
    """'1' -> True, '0' -> False (after stripping); anything else -> None (unusable)."""
    s = (content or "").strip()
    return {"1": True, "0": False}.get(s)


def choices_list(choices: Any) -> list[str]:
    """The item's choices: a list, or the string of a Python list as the authors' CSV holds it; [] for none."""
    if isinstance(choices, list):
        return [str(c) for c in choices]
    if isinstance(choices, str) and choices.strip().startswith("["):
        import ast

        try:
            return [str(c) for c in ast.literal_eval(choices)]
        except (ValueError, SyntaxError):
            return [choices]
    return [str(choices)] if choices else []


def question_text(item: dict[str, Any]) -> str:
    """What the answering model is sent after the image(s): the question, then each choice on its own line."""
    return "\n".join([str(item["question"]), *choices_list(item.get("choices"))])


def validate(source: str | Path, located: list[tuple[str, dict[str, Any]]]) -> None:
    """Every item needs a 'question', an 'answer' and 'images'."""
    if not located:
        raise RecordError(f"{source}: no items")
    for where, it in located:
        if not isinstance(it.get("question"), str) or not isinstance(it.get("answer"), str) or not it.get("images"):
            raise RecordError(f"{source}: {where}: an ARB item needs a 'question', a string 'answer' and 'images'")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Final-answer accuracy per domain and overall (mean of the 0/1 scores, unusable as 0)."""
    per: dict[str, list[int]] = {}
    for r in rows:
        per.setdefault(r.get("domain") or "all", []).append(int(bool(r["correct"])))
    from ainkit.stages.evaluate import compare

    clusters = compare.clusters_of(rows)
    ci = {d: compare.accuracy_interval([bool(r["correct"]) for r in rows if (r.get("domain") or "all") == d],
                                       [c for r, c in zip(rows, clusters) if (r.get("domain") or "all") == d])
          for d in per}
    return {"signature": SIGNATURE, "accuracy": sum(map(sum, per.values())) / len(rows),
            "ci95": compare.accuracy_interval([bool(r["correct"]) for r in rows], clusters),
            "domains": {d: {"n": len(v), "accuracy": sum(v) / len(v), "ci95": ci[d]} for d, v in per.items()},
            "judge_unusable": sum(r["judge_score"] is None for r in rows)}


FIXTURE = [("red", "ما لون المربع في الصورة؟ What colour is the square?", ["أ. أحمر", "ب. أزرق"], "أ"),
           ("blue", "ما لون المربع في الصورة؟ What colour is the square?", ["أ. أحمر", "ب. أزرق"], "ب"),
           ("green", "ما لون الدائرة؟ What colour is it?", [], "أخضر")]


def write_fixture(folder: str | Path) -> Path:
    """A small offline set in the items format (written by the kit, not ARB data); returns FOLDER/items.jsonl."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i, (colour, question, choices, answer) in enumerate(FIXTURE):
        Image.new("RGB", (32, 32), colour).save(folder / "images" / f"{colour}.png")
        items.append({"dataset": "arb", "id": f"arb-{i}", "question": question, "choices": choices, "answer": answer,
                      "images": [f"images/{colour}.png"], "domain": "fixture",
                      "source": "ainkit fixture: written by the kit to exercise the path; not ARB data"})
    return write_records(folder / "items.jsonl", items)


def data_file(data: str, output: str | Path, allow_download: bool = False, limit: int | None = None) -> Path:
    """The item file `--data` names: 'fixture' (written into OUTPUT/fixture/), 'hub' (MBZUAI/ARB, with consent, into
    OUTPUT/items.jsonl), or a JSON Lines file as it is."""
    if data == "fixture":
        return write_fixture(Path(output) / "fixture")
    if data != "hub":
        return Path(data)
    from ainkit.stages.evaluate import hub

    rows = hub._load("MBZUAI/ARB", allow_download, split="train")
    items = [{"dataset": "arb", "id": f"arb-{i}", "question": str(row["question"]), "choices": row.get("choices"),
              "answer": str(row["answer"]), "images": paths, "domain": row.get("domain") or row.get("category"),
              "source": "MBZUAI/ARB"} for i, row, paths in hub.saved_rows(rows, Path(output) / "images", "arb", limit)]
    return write_records(Path(output) / "items.jsonl", items)


def run(model: str, judge_model: str, data: str | Path, output: str, limit: int | None = None, concurrency: int = 16,
        base_url: str | None = None) -> dict[str, Any]:
    """Ask `model` every item (answers cached), have `judge_model` grade each answer, write OUTPUT/predictions.jsonl
    and OUTPUT/results.json."""
    from ainkit.ground import atomic
    from ainkit.stages.evaluate import judge, runner

    located = runner.read_located(data)[:limit] if limit else runner.read_located(data)
    validate(data, located)
    runner.refuse_duplicates(data, located)
    items = [it for _, it in located]
    asked = runner.ask_items("arb", model, [{**it, "dataset": "arb", "question": question_text(it)} for it in items],
                             Path(data).parent, output, concurrency, base_url=base_url)
    answered = [r for _, r in runner.read_located(asked)]
    runner.require_answers(model, answered)
    answers = [r["prediction"] for r in answered]
    todo = list(range(len(answers)))
    scores = judge.ask(judge_model, [judge_messages(items[i]["question"], items[i]["answer"], answers[i]) for i in todo],
                       parse_score, JUDGE_MAX_TOKENS, concurrency)
    score = dict(zip(todo, scores))
    rows = [{**it, "prediction": answers[i], "judge_score": score.get(i), "correct": bool(score.get(i))}
            for i, it in enumerate(items)]
    if all(r["judge_score"] is None for r in rows):
        from ainkit.services.llm import LLMError

        raise LLMError(f"{judge_model}: none of its {len(rows)} replies was 0 or 1 (the judge did not follow the "
                       "authors' request): nothing is scored; try another judge model")
    results = {"benchmark": "arb", "model": model, "judge": judge_model, "data": str(data), "items": len(rows),
               "unanswered": sum(a is None for a in answers), **summarize(rows)}
    write_records(Path(output) / "predictions.jsonl", rows)
    atomic.write_json(Path(output) / "results.json", results)
    return results
