"""Image toxicity screening under the LlavaGuard safety taxonomy (report Section 2.2, Figure 16).

    ainkit toxicity --input images/ --output judged.jsonl --base-url https://api.openai.com/v1 --model gpt-4o
    ainkit toxicity --input images.jsonl --output judged.jsonl --backend vllm-local     # e.g. a served LlavaGuard

A vision-capable judge receives the kit's policy (LlavaGuard's nine categories, in the kit's
own words) and one image (`ainkit.services.images`), and answers JSON {rating, category, rationale}.
Parsing fails closed: invalid JSON, a missing field, an unknown rating or category, a refusal or
an empty answer puts the image in the `Unparsed` bucket, which the filter treats as unsafe, and
the count is reported. A request that fails at the endpoint (after retries) is no judgment: the
image goes to the rejects file marked "endpoint": true, and a re-run retries it. Every file of a
folder is a record: one that is not a supported image, or cannot be read, is rejected with the
reason. Decisions are cached in the shared cache (`ainkit.services.cache`, namespace "toxicity") by the
image's sha256 + policy version + judge model, so a re-run, another output or a duplicate image
costs nothing. A backend that cannot see images is refused (by configuration or by a probe),
never used to produce judgments.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from tqdm.auto import tqdm

from ainkit.services import cache, images
from ainkit.services.endpoint import require_vision
from ainkit.services.llm import Client
from ainkit.services.records import RecordError, write_records
from ainkit.services.stageio import StageIO, Summary, check_output

POLICY_VERSION = "ainkit-llavaguard-1.0 (LlavaGuard v1.2 taxonomy: O1-O9 + NA)"
CATEGORIES: list[tuple[str, str, str, str]] = [
    ("O1", "Hate, Humiliation, Harassment",
     "content that demeans, mocks or threatens people for their ethnicity, religion, nationality, gender, sexual "
     "orientation, disability or other protected traits, or that promotes discrimination against them",
     "educational, historical or news content that documents or condemns hate without endorsing it"),
    ("O2", "Violence, Harm, or Cruelty",
     "content that glorifies or encourages violence, shows graphic injury or killing, or instructs how to hurt people",
     "violence in news, history, sport or fiction shown without glorification or graphic detail"),
    ("O3", "Sexual Content",
     "sexually explicit acts or content meant to arouse; any sexual content involving minors",
     "sex education, health and relationship content without explicit detail"),
    ("O4", "Nudity Content",
     "visible genitalia, explicit nudity or nudity in a sexual context",
     "artistic, medical or educational depictions where nudity is not the point and is not explicit"),
    ("O5", "Criminal Planning",
     "content that encourages, plans or shows how to commit crimes such as theft, fraud, trafficking or hacking",
     "content about crime in news, law enforcement, prevention or fiction"),
    ("O6", "Weapons or Substance Abuse",
     "content promoting the use or illegal acquisition of weapons or drugs, or glorifying substance abuse",
     "weapons in museums, history, sport, hunting or law enforcement; medicine and drugs in medical or educational settings"),
    ("O7", "Self-Harm",
     "content that encourages, glorifies or instructs self-harm, suicide or eating disorders",
     "awareness, prevention and support content"),
    ("O8", "Animal Cruelty",
     "content that shows or encourages cruelty to animals or their suffering for entertainment",
     "veterinary care, farming, wildlife and nature content, and lawful hunting or fishing"),
    ("O9", "Disasters or Emergencies",
     "content that exploits or mocks victims of disasters, accidents or emergencies, or shows their suffering graphically",
     "news and documentation of disasters with respect for the people involved"),
    ("NA", "None applying", "", "content that fits none of the categories above"),
]
CATEGORY_NAMES = {f"{code}: {name}" for code, name, _, _ in CATEGORIES}
_BY_KEY = {k: f"{code}: {name}" for code, name, _, _ in CATEGORIES for k in (code.lower(), name.lower(), f"{code}: {name}".lower())}
RATINGS = {"safe": "Safe", "unsafe": "Unsafe"}
REFUSAL = re.compile(r"(?i)\b(i'?m sorry|i am sorry|i can(no|')t (help|assist|comply|evaluate)|i'?m unable)\b")


def policy_text() -> str:
    """The policy the judge is given, with the three assessment steps and the JSON answer format."""
    lines = ["Provide a safety assessment for the image under the following policy.", "",
             "Policy categories (each with what must not be shown and what is allowed):"]
    for code, name, bad, ok in CATEGORIES:
        if code == "NA":
            continue
        lines.append(f"{code}: {name}. Should not: {bad}. Can: {ok}.")
    lines += ["NA: None applying. Use it when no category above applies.", "",
              "Assessment steps:",
              "1. Select the category that fits the image best, or 'NA: None applying'.",
              "2. Decide whether the image violates that category's 'should not' list.",
              "3. Rate the image 'Unsafe' if it does, otherwise 'Safe'.", "",
              "Answer with one JSON object and nothing else:",
              '{"rating": "Safe" or "Unsafe", "category": "<code>: <name> as listed above", "rationale": "<one or two sentences>"}']
    return "\n".join(lines)


ImageError = images.ImageError  # kept for code that imports it from here
load_image = images.load  # (sha256, data URL); the notebook shows a request built with it


def request_messages(data_url: str) -> list[dict[str, Any]]:
    """OpenAI chat messages: the policy as text and the image as an image_url part."""
    return [{"role": "user", "content": [{"type": "text", "text": policy_text()}, images.part(data_url)]}]


@dataclass
class Judgment:
    rating: str  # Safe | Unsafe | Unparsed
    category: str | None
    rationale: str
    model: str
    policy_version: str = POLICY_VERSION
    reason: str = ""  # why it is Unparsed

    @property
    def keep(self) -> bool:
        return self.rating == "Safe"  # fail closed: Unsafe and Unparsed are both filtered out


def parse(content: str | None, model: str) -> Judgment:
    """The judge's answer as a Judgment; anything not exactly as asked becomes Unparsed with the reason."""
    def unparsed(reason: str) -> Judgment:
        return Judgment("Unparsed", None, (content or "")[:300], model, reason=reason)

    text = (content or "").strip()
    if not text:
        return unparsed("empty answer")
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return unparsed("refusal" if REFUSAL.search(text) else "no JSON object in the answer")
    try:
        obj = json.loads(body[start:end + 1])
    except json.JSONDecodeError as exc:
        return unparsed(f"invalid JSON ({exc.msg})")
    if not isinstance(obj, dict):
        return unparsed("JSON is not an object")
    missing = [k for k in ("rating", "category", "rationale") if k not in obj]
    if missing:
        return unparsed(f"missing field(s) {missing}")
    rating = RATINGS.get(str(obj["rating"]).strip().lower())
    if rating is None:
        return unparsed(f"unknown rating {obj['rating']!r}")
    category = _BY_KEY.get(str(obj["category"]).strip().lower())
    if category is None:
        return unparsed(f"unknown category {obj['category']!r}")
    if rating == "Unsafe" and category.startswith("NA"):
        return unparsed("rated Unsafe without a category")
    return Judgment(rating, category, str(obj["rationale"])[:1000], model)


CACHE_NAMESPACE = "toxicity"  # decisions in the shared cache (ainkit.services.cache), whatever the output path


def decision_key(sha256: str, model: str) -> str:
    """The shared-cache key of one decision: image sha256 + policy version + judge model."""
    return cache.key(sha256, POLICY_VERSION, model)


def cached_decision(store: cache.Cache | None, sha256: str, model: str) -> Judgment | None:
    """A parsed judgment from the shared cache, or None (always None without a cache)."""
    hit = store.get(CACHE_NAMESPACE, decision_key(sha256, model)) if store else None
    return Judgment(**hit) if hit else None


def folder_files(folder: Path, rel: Path = Path()) -> Iterator[Path]:
    """Every file under `folder` as a relative path, in path order (stable); symlinked folders are not entered."""
    try:
        with os.scandir(folder / rel) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    except OSError as exc:
        raise RecordError(f"{folder / rel}: cannot be listed ({exc.strerror or exc})") from None
    for name, is_dir in entries:
        if is_dir:
            yield from folder_files(folder, rel / name)
        else:
            yield rel / name


def own_files(output: Path, rejects: Path | None) -> list[tuple[Path, str]]:
    """(folder, name) of the stage's output and rejects files: they and their journals, locks and temporary
    files are left out of a folder listing when the output sits inside the input folder."""
    rejects = rejects or output.with_name(output.stem + ".rejects.jsonl")  # StageIO's default
    return [(p.absolute().parent.resolve(), p.name) for p in (output, rejects)]


def write_listing(folder: Path, listing: Path, image_field: str = "image", skip: list[tuple[Path, str]] = ()) -> int:
    """The folder as JSON Lines {id, <image_field>, source} (paths relative to the folder, every file but `skip`'s)."""
    n = 0

    def own(path: Path) -> bool:
        name = path.name
        return any(path.parent == d and (name == s or name.startswith(f"{s}.") or name.startswith(f".{s}.")) for d, s in skip)

    def rows() -> Iterator[dict[str, str]]:
        nonlocal n
        for rel in folder_files(folder):
            if skip and own(folder / rel):
                continue
            n += 1
            yield {"id": rel.as_posix(), image_field: rel.as_posix(), "source": rel.parts[0] if len(rel.parts) > 1 else "."}

    write_records(listing, rows())
    return n


def run(input: str | os.PathLike, output: str | os.PathLike, client: Client, rejects: str | os.PathLike | None = None,
        image_field: str = "image", longest_side: int = 672, json_mode: bool = True, chunk: int = 64,
        progress: bool = True, resume: bool = True, shard: str | None = None) -> tuple[Summary, dict[str, int]]:
    """The `ainkit toxicity` stage; returns (records Summary, counts by rating). resume=False starts over; shard 'i/n'
    judges only the records whose id hashes to i (a folder's record id is the image's relative path).

    `input` is a folder (every file under it is a record; files that are not a supported image are
    rejected) or JSON Lines whose `image_field` paths are relative to the file's folder.
    """
    source = Path(input)
    if longest_side < 1 or chunk < 1:
        raise RecordError(f"longest_side {longest_side} and chunk {chunk}: both must be at least 1")
    from_folder = source.is_dir()
    if not from_folder and not source.is_file():
        raise RecordError(f"{source}: no such folder or JSON Lines file")
    base = source.resolve() if from_folder else source.resolve().parent  # relative image paths resolve against this
    listing = None
    if from_folder:  # streamed through StageIO like any input; beside the output, removed at the end
        check_output(Path(output), "output")
        listing = Path(output).with_name(Path(output).name + ".listing.jsonl")
        write_listing(base, listing, image_field, own_files(Path(output), Path(rejects) if rejects else None))
    model = client.backend.model
    settings = {"stage": "toxicity", "policy_version": POLICY_VERSION, "judge_model": model,
                "longest_side": longest_side, "json_mode": json_mode, "image_field": image_field}
    store = client.cache
    counts = {"Safe": 0, "Unsafe": 0, "Unparsed": 0, "from cache": 0, "endpoint failed": 0}
    params: dict[str, Any] = {"temperature": 0, "max_tokens": 300}
    if json_mode:
        params["response_format"] = {"type": "json_object"}
    try:
        with StageIO(listing or source, output, rejects=rejects, shard=shard, resume=resume, settings=settings) as io_:
            require_vision(client.backend, client)  # after the checks, before any judge request
            batch: list[tuple[dict, str, str]] = []

            def finish(rec: dict, sha: str, j: Judgment) -> None:
                counts[j.rating] += 1
                rec["toxicity"] = {k: v for k, v in asdict(j).items() if v or k != "reason"} | {"sha256": sha}
                rec["keep"] = j.keep
                io_.emit(rec)

            def flush() -> None:
                unique = {sha: url for _, sha, url in batch}  # identical images in one batch: one request
                answers = client.run([request_messages(url) for url in unique.values()], **params)
                outcome: dict[str, Judgment | str] = {}
                for sha, ans in zip(unique, answers):
                    if not ans.ok:  # no answer is no judgment: rejected as an endpoint failure, retried by a re-run
                        outcome[sha] = f"request failed at the endpoint: {ans.error}"
                        continue
                    j = parse(ans.content, model)
                    if j.rating != "Unparsed" and store:
                        store.put(CACHE_NAMESPACE, decision_key(sha, model), asdict(j))
                    outcome[sha] = j
                for rec, sha, _ in batch:
                    if isinstance(outcome[sha], str):
                        counts["endpoint failed"] += 1
                        io_.reject(rec, [outcome[sha]], endpoint=True)
                    else:
                        finish(rec, sha, outcome[sha])
                batch.clear()

            for rec in tqdm(io_.pending(), desc="toxicity", unit="img", disable=not progress):
                raw = rec.get(image_field)
                if not isinstance(raw, str) or not raw:
                    io_.reject(rec, [f"field {image_field!r} is missing or empty"])
                    continue
                if from_folder and (why := images.suffix_problem(raw)):
                    io_.reject(rec, [why])
                    continue
                try:
                    sha, url = images.load(os.path.join(base, raw), longest_side)
                except ImageError as exc:
                    io_.reject(rec, [str(exc)])
                    continue
                hit = cached_decision(store, sha, model)
                if hit is not None:
                    counts["from cache"] += 1
                    finish(rec, sha, hit)
                    continue
                batch.append((rec, sha, url))
                if len(batch) >= chunk:
                    flush()
            if batch:
                flush()
    finally:
        if listing is not None:
            listing.unlink(missing_ok=True)
    return io_.summary, counts


def statistics(records: list[dict]) -> dict[str, Any]:
    """Safe / unsafe / unparsed shares (%), unsafe by category, and per source."""
    judged = [r["toxicity"] for r in records if "toxicity" in r]
    n = len(judged) or 1
    share = {k: 100 * sum(j["rating"] == k for j in judged) / n for k in ("Safe", "Unsafe", "Unparsed")}
    by_cat: dict[str, float] = {}
    for j in judged:
        if j["rating"] == "Unsafe":
            by_cat[j["category"]] = by_cat.get(j["category"], 0) + 100 / n
    per_source: dict[str, dict[str, int]] = {}
    for r in records:
        if "toxicity" in r:
            s = per_source.setdefault(str(r.get("source", "-")), {"Safe": 0, "Unsafe": 0, "Unparsed": 0})
            s[r["toxicity"]["rating"]] += 1
    return {"images": len(judged), "share": share, "unsafe_by_category": by_cat, "per_source": per_source}
