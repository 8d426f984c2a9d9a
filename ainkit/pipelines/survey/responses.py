"""Survey responses read back and checked against the key: votes de-blinded, every problem named by file and rater.

    from ainkit.pipelines.survey import responses
    got = responses.read("runs/survey/responses", key)     # got.votes, got.raters, got.problems

Nothing is dropped silently. A problem either sets the whole file aside (unreadable, not a response, another
survey, unknown rater, a tampered order, choice or position, no question answered at all: then it is no rater,
a later duplicate of the same rater's submission) or
leaves the rest of the file in use (an unanswered question, a missing or unknown country or MSA answer,
a question the survey does not have); each is listed with the file, the rater and the question.
Duplicates: when one rater code submitted more than once, the latest `submitted_at` (then file name) is used.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ainkit.services.records import RecordError
from ainkit.pipelines.survey import demographics, form, order
from ainkit.pipelines.survey.build import KEY_KIND

SET_ASIDE = "file set aside"
KEPT = "rest of the file used"
NOT_GIVEN = "not given"


@dataclass
class Problem:
    file: str
    rater: str
    question: str
    problem: str
    action: str


@dataclass
class Vote:
    rater: str
    question: str
    model: str
    position: int           # 1-based position of the chosen answer as shown
    shown: list[str]        # models in the order shown
    domain: str
    file: str


@dataclass
class Rater:
    code: str
    country: str
    msa: str
    submitted_at: str
    file: str
    comment: str = ""


@dataclass
class Collected:
    files: list[str] = field(default_factory=list)
    votes: list[Vote] = field(default_factory=list)
    raters: dict[str, Rater] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)


def response_files(where: str | Path) -> list[Path]:
    """*.json files of a folder (not recursive), or the one file given."""
    where = Path(where)
    if where.is_file():
        return [where]
    if not where.is_dir():
        raise RecordError(f"{where}: no such folder of responses")
    return sorted(p for p in where.iterdir() if p.suffix.lower() == ".json" and p.is_file())


def _check(path: Path, resp: Any, key: dict[str, Any], questions: dict[str, dict[str, Any]]) -> tuple[list[Problem], bool]:
    """Problems of one parsed response and whether they set it aside."""
    f = path.name
    if not isinstance(resp, dict) or resp.get("kind") != form.RESPONSE_KIND:
        kind = resp.get("kind") if isinstance(resp, dict) else type(resp).__name__
        return [Problem(f, "", "", f"not a survey response (kind {kind!r})", SET_ASIDE)], True
    rater = resp.get("rater")
    r = rater if isinstance(rater, str) else repr(rater)
    if resp.get("survey") != key["survey"]:
        return [Problem(f, r, "", f"response to another survey ({resp.get('survey')!r}, this key is {key['survey']!r})", SET_ASIDE)], True
    if not isinstance(rater, str) or rater not in set(key["raters"]):
        return [Problem(f, r, "", "unknown rater: the code is not one the survey issued (key.json 'raters')", SET_ASIDE)], True
    answers = resp.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        return [Problem(f, r, "", "malformed: 'answers' is not a list of objects", SET_ASIDE)], True
    problems, aside = [], False
    if resp.get("order_seed") not in (None, key["seed"]):
        problems.append(Problem(f, r, "", "tampered order: the order seed is not the survey's", SET_ASIDE))
        aside = True
    seen: set[str] = set()
    for a in answers:
        qid = a.get("question")
        if not isinstance(qid, str) or qid not in questions:
            problems.append(Problem(f, r, str(qid), "answer to a question the survey does not have (ignored)", KEPT))
            continue
        if qid in seen:
            problems.append(Problem(f, r, qid, "question answered twice in one file", SET_ASIDE))
            aside = True
            continue
        seen.add(qid)
        tokens = list(questions[qid]["slots"])
        if a.get("choice") is None:
            continue
        expected = order.shown(key["seed"], rater, qid, tokens)
        if a.get("order") != expected:
            problems.append(Problem(f, r, qid, f"tampered order: recorded {a.get('order')}, the form shows this rater {expected}", SET_ASIDE))
            aside = True
        elif a.get("choice") not in tokens:
            problems.append(Problem(f, r, qid, f"tampered choice: {a.get('choice')!r} is none of the question's answers", SET_ASIDE))
            aside = True
        elif position(a.get("position")) is None:
            problems.append(Problem(f, r, qid, f"malformed position: {a.get('position')!r} is not a whole number from 1 (the "
                                               "form records the place the answer was shown: 1, 2, ...)", SET_ASIDE))
            aside = True
        elif position(a["position"]) != expected.index(a["choice"]) + 1:
            problems.append(Problem(f, r, qid, f"tampered position: recorded {position(a['position'])}, the choice was shown at "
                                               f"{expected.index(a['choice']) + 1}", SET_ASIDE))
            aside = True
    answered = {a["question"] for a in answers if isinstance(a.get("question"), str) and a["question"] in questions
                and a.get("choice") is not None}
    if not answered and not aside:  # every choice null (or no answers): not a rater; one line, not one per question
        return [Problem(f, r, "", "no question answered (every choice is null): not counted as a rater", SET_ASIDE)], True
    for qid in questions:
        if qid not in answered:
            problems.append(Problem(f, r, qid, "unanswered question (the rater's other answers are used)", KEPT))
    demo = resp.get("demographics") if isinstance(resp.get("demographics"), dict) else {}
    if demo.get("country") not in demographics.COUNTRIES:
        problems.append(Problem(f, r, "", f"country {demo.get('country')!r} missing or unknown (counted as '{NOT_GIVEN}')", KEPT))
    if demo.get("msa") not in demographics.MSA_OPTIONS_EN:
        problems.append(Problem(f, r, "", f"MSA/dialect answer {demo.get('msa')!r} missing or unknown (counted as '{NOT_GIVEN}')", KEPT))
    return problems, aside


def position(value: Any) -> int | None:
    """A recorded position as a number from 1: 2, or text or a float that is one ("2", "٢", 2.0); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdecimal():  # any script's digits ("٢"); not "²", "two" or "-1"
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else None


def _when(resp: dict[str, Any]) -> str:
    text = str(resp.get("submitted_at") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return ""


def read(where: str | Path, key: dict[str, Any]) -> Collected:
    """Every response file under `where`, checked against `key`; votes de-blinded to model names."""
    questions = {q["id"]: q for q in key["questions"]}
    got = Collected()
    valid: dict[str, list[tuple[str, str, Path, dict[str, Any]]]] = {}
    for path in response_files(where):
        try:
            resp = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            got.files.append(path.name)
            got.problems.append(Problem(path.name, "", "", f"unreadable: {exc}", SET_ASIDE))
            got.set_aside.append(path.name)
            continue
        if isinstance(resp, dict) and resp.get("kind") == KEY_KIND:
            continue  # the key itself, kept beside the responses: not a response
        got.files.append(path.name)
        problems, aside = _check(path, resp, key, questions)
        got.problems += problems
        if aside:
            got.set_aside.append(path.name)
        else:
            valid.setdefault(resp["rater"], []).append((_when(resp), path.name, path, resp))
    for rater, subs in valid.items():
        subs.sort(key=lambda s: (s[0], s[1]))
        *earlier, (when, name, path, resp) = subs
        for _, other, _, _ in earlier:
            got.problems.append(Problem(other, rater, "", f"duplicate submission: rater {rater} also submitted {name}; the latest "
                                                          f"({name}) is used", SET_ASIDE))
            got.set_aside.append(other)
        demo = resp.get("demographics") if isinstance(resp.get("demographics"), dict) else {}
        country = demo.get("country") if demo.get("country") in demographics.COUNTRIES else NOT_GIVEN
        msa = demo.get("msa") if demo.get("msa") in demographics.MSA_OPTIONS_EN else NOT_GIVEN
        got.raters[rater] = Rater(rater, country, msa, when, name, str(resp.get("comment") or ""))
        for a in resp["answers"]:
            q = questions.get(a["question"]) if isinstance(a.get("question"), str) else None
            if q is None or a.get("choice") is None:
                continue
            got.votes.append(Vote(rater, q["id"], q["slots"][a["choice"]], position(a["position"]),
                                  [q["slots"][t] for t in a["order"]], q.get("domain", "unknown"), name))
    return got
