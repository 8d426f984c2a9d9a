"""Image toxicity screening under the LlavaGuard safety taxonomy (report Section 2.2, Figure 16).

    ainkit toxicity --input images/ --output judged.jsonl --base-url https://api.openai.com/v1 --model gpt-4o
    ainkit toxicity --input images.jsonl --output judged.jsonl --backend vllm-local     # e.g. a served LlavaGuard

A vision-capable judge receives the kit's policy (LlavaGuard's nine categories, in the kit's
own words) and one image, and answers JSON {rating, category, rationale}. Parsing fails
closed: invalid JSON, a missing field, an unknown rating or category, a refusal or an empty
answer puts the image in the `Unparsed` bucket, which the filter treats as unsafe, and the
count is reported. Decisions are cached by the image's sha256 + policy version + judge model,
so a re-run or a duplicate image costs nothing. A backend that cannot see images is refused
(by configuration or by a probe), never used to produce judgments.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ainkit.llm import Backend, Client, LLMError

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
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 60_000_000


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


class ImageError(ValueError):
    """An image that cannot be judged; the message says why."""


def load_image(path: str | os.PathLike, longest_side: int = 672) -> tuple[str, str]:
    """(sha256 of the file, JPEG data URL resized to `longest_side`); ImageError when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"missing file {path}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImageError(f"too large: {size / 1e6:.1f} MB > {MAX_BYTES / 1e6:.0f} MB")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"too large: {im.width}x{im.height} pixels")
            im.load()
            im = im.convert("RGB")
            im.thumbnail((longest_side, longest_side))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=90)
    except UnidentifiedImageError:
        raise ImageError("not an image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"unreadable or truncated image: {exc}") from None
    return digest, "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def request_messages(data_url: str) -> list[dict[str, Any]]:
    """OpenAI chat messages: the policy as text and the image as an image_url part."""
    return [{"role": "user", "content": [{"type": "text", "text": policy_text()},
                                         {"type": "image_url", "image_url": {"url": data_url}}]}]


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


class DecisionCache:
    """Parsed judgments keyed by image sha256 + policy version + judge model (JSON Lines, append-only)."""

    def __init__(self, path: str | os.PathLike):
        from ainkit.llm import Journal

        self._journal = Journal(path)

    @staticmethod
    def key(sha256: str, model: str) -> str:
        return hashlib.sha256(f"{sha256}|{POLICY_VERSION}|{model}".encode()).hexdigest()

    def get(self, sha256: str, model: str) -> Judgment | None:
        hit = self._journal.get(self.key(sha256, model))
        return Judgment(**hit["judgment"]) if hit else None

    def put(self, sha256: str, j: Judgment) -> None:
        self._journal.append({"key": self.key(sha256, j.model), "judgment": asdict(j)})

    def close(self) -> None:
        self._journal.close()


PROBE_COLORS = {"red": (220, 20, 20), "green": (20, 180, 20), "blue": (20, 40, 220)}


def probe_vision(client: Client) -> tuple[bool, str]:
    """Ask the backend the colour of a plain red image; (True, '') only when it answers red."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), PROBE_COLORS["red"]).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    msgs = [{"role": "user", "content": [{"type": "text", "text": "What colour is this image? Answer with one word."},
                                         {"type": "image_url", "image_url": {"url": url}}]}]
    journal, client.journal = client.journal, None
    try:
        [ans] = client.run([msgs], max_tokens=8, temperature=0)
    finally:
        client.journal = journal
    if not ans.ok:
        return False, f"the vision probe failed: {ans.error}"
    if "red" in (ans.content or "").lower() or "أحمر" in (ans.content or ""):
        return True, ""
    return False, f"asked the colour of a red image, it answered {(ans.content or '')[:60]!r}"


def require_vision(backend: Backend, client: Client) -> None:
    """Refuse a backend that cannot see images: by configuration, else by the probe."""
    if backend.embedded or backend.vision is False:
        raise LLMError(f"{backend.describe()} cannot see images (text-only); the toxicity judge needs a vision model "
                       "such as gpt-4o (--base-url https://api.openai.com/v1 --model gpt-4o) or a served LlavaGuard")
    if backend.vision is None:
        ok, why = probe_vision(client)
        if not ok:
            raise LLMError(f"{backend.describe()} does not show it can see images: {why}")


def image_records(source: str | os.PathLike, image_field: str = "image") -> tuple[Path, bool]:
    """A JSONL path as it is, or a folder turned into a temporary JSONL of {id, image, source}; (path, is_temp)."""
    source = Path(source)
    if source.is_file():
        return source, False
    if not source.is_dir():
        raise ImageError(f"{source}: neither a JSON Lines file nor a folder")
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="ainkit-images-", suffix=".jsonl")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for p in sorted(source.rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                rel = p.relative_to(source)
                fh.write(json.dumps({"id": str(rel), image_field: str(p), "source": rel.parts[0] if len(rel.parts) > 1 else "."},
                                    ensure_ascii=False) + "\n")
    return Path(tmp), True


def run(input: str, output: str, client: Client, rejects: str | None = None, image_field: str = "image",
        longest_side: int = 672, cache: str | None = None, json_mode: bool = True, chunk: int = 256,
        progress: bool = True) -> tuple[Any, dict[str, int]]:
    """The `ainkit toxicity` stage; returns (records Summary, counts by rating)."""
    from ainkit.records import StageIO

    require_vision(client.backend, client)
    src, temp = image_records(input, image_field)
    decisions = DecisionCache(cache or f"{output}.decisions.jsonl")
    counts = {"Safe": 0, "Unsafe": 0, "Unparsed": 0, "from cache": 0}
    base = Path(input).parent if Path(input).is_file() else Path(input)
    params: dict[str, Any] = {"temperature": 0, "max_tokens": 300}
    if json_mode:
        params["response_format"] = {"type": "json_object"}
    try:
        with StageIO(src, output, rejects=rejects, resume=False) as io_:
            batch: list[tuple[dict, str, str]] = []

            def flush() -> None:
                unique = {sha: url for _, sha, url in batch}  # identical images in one batch: one request
                answers = client.run([request_messages(url) for url in unique.values()], progress=progress, **params)
                judged = {}
                for sha, ans in zip(unique, answers):
                    j = parse(ans.content if ans.ok else None, client.backend.model)
                    if not ans.ok:
                        j.reason = f"request failed: {ans.error}"
                    elif j.rating != "Unparsed":
                        decisions.put(sha, j)
                    judged[sha] = j
                for rec, sha, _ in batch:
                    finish(rec, sha, judged[sha])
                batch.clear()

            def finish(rec: dict, sha: str, j: Judgment) -> None:
                counts[j.rating] += 1
                rec["toxicity"] = {k: v for k, v in asdict(j).items() if v or k != "reason"} | {"sha256": sha}
                rec["keep"] = j.keep
                io_.emit(rec)

            for rec in io_.pending():
                raw = rec.get(image_field)
                if not isinstance(raw, str) or not raw:
                    io_.reject(rec, [f"field {image_field!r} is missing or empty"])
                    continue
                path = Path(raw) if Path(raw).is_absolute() else base / raw
                try:
                    sha, url = load_image(path, longest_side)
                except ImageError as exc:
                    io_.reject(rec, [str(exc)])
                    continue
                hit = decisions.get(sha, client.backend.model)
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
        decisions.close()
        if temp:
            src.unlink(missing_ok=True)
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


def published_consistency() -> dict[str, float]:
    """The report's Figure 16 numbers and their sums (they do not agree)."""
    from ainkit import paper

    s = paper.shares("figure16")
    cats = paper.meta("figure16")["categories"]
    return {"safe": s["safe"], "unsafe": s["unsafe"], "safe + unsafe": round(s["safe"] + s["unsafe"], 2),
            "sum of unsafe categories": round(sum(s[c] for c in cats), 2),
            "categories - stated unsafe": round(sum(s[c] for c in cats) - s["unsafe"], 2),
            "safe implied by categories": round(100 - sum(s[c] for c in cats), 2)}
