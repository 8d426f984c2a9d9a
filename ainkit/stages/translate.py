"""Translate instruction data English <-> Arabic through any OpenAI-compatible endpoint, checking every output.

    ainkit translate --input in.jsonl --output out.jsonl --field text            # en-ar, the report's direction
    ainkit translate --input chats.jsonl --output ar.jsonl --messages --concurrency 128
    ainkit translate --input ar.jsonl --output back.jsonl --field text_ar --direction ar-en   # back-translation
    ainkit translate --input chats.jsonl --output ar.jsonl --messages --batch --max-cost 200  # OpenAI Batch API

Prompts follow the report's setting: an English and an Arabic prompt (written for the kit;
the report's own are not published) asking for a faithful Modern Standard Arabic translation
that keeps names, brands, numbers and placeholders. Every output is checked (empty, wrong
script, placeholders lost or added, length ratio, refusal, cut off); a record with any issue
goes to the rejects file with `translation_issues`, and is counted; nothing is accepted silently.
Leading and trailing placeholders such as `<image>` are taken off before translation and put
back after, so the model never sees (or moves) them; inner ones are checked.

Requests stream: records are read, their strings sent through one client session (at most
`concurrency` in flight, a few times that queued), and each record is journalled as soon as its
last string is answered, so the endpoint never waits for a chunk to drain. `--batch` sends them
through OpenAI's Batch API instead (ainkit.services.batch); `--max-cost` refuses a run whose estimate
(`estimate`) is over the limit before any request is sent.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

from ainkit.services.chat import CHAT_KEYS
from ainkit.services.llm import Answer, Client, Estimate, run_sync

PROMPTS = {
    ("en-ar", "en"): "You are a professional translator. Translate the user's text from English into Modern Standard Arabic. "
                     "Translate faithfully and completely. Keep names, brand names, numbers, code and placeholders such as "
                     "<image> exactly as they are. Do not add explanations or notes. Reply with the translation only.",
    ("en-ar", "ar"): "أنت مترجم محترف. ترجم نص المستخدم من الإنجليزية إلى العربية الفصحى ترجمةً أمينةً وكاملة. "
                     "احتفظ بأسماء الأعلام والعلامات التجارية والأرقام والشيفرات والعناصر النائبة مثل <image> كما هي دون تغيير. "
                     "لا تُضف أي شرح أو ملاحظة. أجب بالترجمة فقط.",
    ("ar-en", "en"): "You are a professional translator. Translate the user's text from Arabic into English. Translate "
                     "faithfully and completely. Keep names, numbers, code and placeholders such as <image> exactly as they "
                     "are. Do not add explanations or notes. Reply with the translation only.",
    ("ar-en", "ar"): "أنت مترجم محترف. ترجم نص المستخدم من العربية إلى الإنجليزية ترجمةً أمينةً وكاملة. احتفظ بأسماء "
                     "الأعلام والأرقام والشيفرات والعناصر النائبة مثل <image> كما هي. لا تُضف أي شرح. أجب بالترجمة فقط.",
}
PLACEHOLDER = re.compile(r"<(?:image|video|audio|img|ref|box|quad)[^<>]{0,20}>|\{[A-Za-z_][A-Za-z0-9_]*\}")
# Markup the kit keeps in place (placeholders, grounding tags and their closing tags): not text in any script
MARKUP = re.compile(PLACEHOLDER.pattern + r"|</(?:image|video|audio|img|ref|box|quad)>")
ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0671-\u06D3\u06FA-\u06FF]")
LATIN_LETTER = re.compile(r"[A-Za-z]")
REFUSAL = re.compile(r"(?i)\b(i'?m sorry|i am sorry|i cannot|i can'?t (help|translate|assist)|as an ai)\b|"
                     r"(عذرًا|عذراً|آسف|لا أستطيع|لا يمكنني)")
MIN_SCRIPT_SHARE = 0.5  # share of letters in the target script
LENGTH_RATIO = (0.3, 3.5)  # output / input characters
MAX_CHARS = 20_000  # longest string sent for translation (--max-chars); a longer one is rejected, never sent
VERSION = "translate-3"  # 3: markup not counted in the script share. Bump when prompts or checks change: journals of another version do not resume


@dataclass
class Settings:
    direction: str = "en-ar"
    prompt_lang: str = "en"
    temperature: float = 0.0
    max_tokens: int = 1024
    max_chars: int = MAX_CHARS
    max_chars_switch: str = "--max-chars"  # how the caller's user changes max_chars (named in reject reasons)

    def fingerprint(self, model: str) -> dict[str, Any]:
        """What a journal must agree on to be resumed: these settings, the prompt text and the model."""
        prompt = PROMPTS[(self.direction, self.prompt_lang)]
        return {"stage": "translate", "version": VERSION, "model": model, "direction": self.direction,
                "prompt_lang": self.prompt_lang, "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:16],
                "temperature": self.temperature, "max_tokens": self.max_tokens, "max_chars": self.max_chars}

    def __post_init__(self) -> None:
        if (self.direction, self.prompt_lang) not in PROMPTS:
            raise ValueError(f"direction {self.direction!r} / prompt language {self.prompt_lang!r}: choose en-ar|ar-en and en|ar")

    @property
    def target(self) -> str:
        return self.direction.split("-")[1]

    def params(self) -> dict[str, Any]:
        """The request parameters (part of every request's cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


def split_edges(text: str) -> tuple[str, str, str]:
    """(leading placeholders, text to translate, trailing placeholders on their own line)."""
    lead = re.match(r"^\s*(?:<(?:image|video|audio)>\s*)+", text)
    head = lead.group(0) if lead else ""
    rest = text[len(head):]
    trail = re.search(r"\n(?:\s*<(?:image|video|audio)>)+\s*$", rest)  # only a placeholder block on its own line
    tail = trail.group(0) if trail and trail.start() > 0 else ""
    return head, rest[: len(rest) - len(tail)] if tail else rest, tail


def messages_for(text: str, settings: Settings) -> list[dict[str, str]]:
    return [{"role": "system", "content": PROMPTS[(settings.direction, settings.prompt_lang)]},
            {"role": "user", "content": text}]


def script_share(text: str, target: str) -> float:
    """Share of letters in the target script (Arabic letters for 'ar', Latin for 'en'); markup (`<image>`,
    `{name}`, grounding tags) is not text and is not counted."""
    text = MARKUP.sub(" ", text)
    ar, la = len(ARABIC_LETTER.findall(text)), len(LATIN_LETTER.findall(text))
    if ar + la == 0:
        return 1.0
    return (ar if target == "ar" else la) / (ar + la)


def check(source: str, answer: Answer, target: str) -> list[str]:
    """Every problem with one translation; [] when it can be accepted."""
    if not answer.ok:
        return [f"request failed: {answer.error}"]
    out = (answer.content or "").strip()
    issues = []
    if not out:
        return ["empty translation"]
    if answer.finish_reason == "length":
        issues.append("cut off (finish_reason=length)")
    if REFUSAL.search(out) and not REFUSAL.search(source):
        issues.append("looks like a refusal")
    share = script_share(out, target)
    if share < MIN_SCRIPT_SHARE and script_share(source, target) < MIN_SCRIPT_SHARE:
        issues.append(f"not in {'Arabic' if target == 'ar' else 'Latin'} script ({share:.0%} of letters)")
    src_ph, out_ph = sorted(PLACEHOLDER.findall(source)), sorted(PLACEHOLDER.findall(out))
    if src_ph != out_ph:
        lost = [p for p in set(src_ph) if out_ph.count(p) < src_ph.count(p)]
        added = [p for p in set(out_ph) if out_ph.count(p) > src_ph.count(p)]
        issues.append("placeholders " + "; ".join(filter(None, [f"lost {lost}" if lost else "", f"added {added}" if added else ""])))
    ratio = len(out) / max(1, len(source))
    if len(source) >= 12 and not LENGTH_RATIO[0] <= ratio <= LENGTH_RATIO[1]:
        issues.append(f"length ratio {ratio:.2f} outside {LENGTH_RATIO[0]}-{LENGTH_RATIO[1]}")
    return issues


@dataclass
class Job:
    """One record's strings to translate and where each goes back."""

    record: dict[str, Any]
    slots: list[tuple[Any, ...]] = field(default_factory=list)  # paths into the record
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan(rec: dict[str, Any], field_name: str | None, messages: bool, max_chars: int = MAX_CHARS,
         switch: str = "--max-chars") -> Job:
    """Which strings of a record to translate; problems when the record has nothing usable."""
    job = Job(rec)
    if messages:
        for list_key, text_key in CHAT_KEYS:
            turns = rec.get(list_key)
            if isinstance(turns, list):
                for i, turn in enumerate(turns):
                    if isinstance(turn, dict) and isinstance(turn.get(text_key), str) and turn[text_key].strip():
                        job.slots.append((list_key, i, text_key))
                        job.texts.append(turn[text_key])
                break
        else:
            job.problems.append("no 'messages' (role/content) or 'conversations' (from/value) list")
        if not job.slots and not job.problems:
            job.problems.append("no text to translate in the chat turns")
        job.problems += [f"turn {slot[1]}: {len(t):,} characters, over the limit of {max_chars:,} ({switch})"
                         for slot, t in zip(job.slots, job.texts) if len(t) > max_chars]
    else:
        value = rec.get(field_name)
        if not isinstance(value, str) or not value.strip():
            job.problems.append(f"field {field_name!r} is {'missing' if field_name not in rec else 'empty or not a string'}")
        elif len(value) > max_chars:
            job.problems.append(f"field {field_name!r} has {len(value):,} characters, over the limit of {max_chars:,} "
                                f"({switch})")
        else:
            job.slots.append((field_name,))
            job.texts.append(value)
    return job


def requests_for(texts: list[str], settings: Settings) -> tuple[list[tuple[str, str, str]], list[int], list[list[dict]]]:
    """(edge split of each string, indices of those with text to send, their request messages)."""
    parts = [split_edges(t) for t in texts]
    todo = [i for i, (_, body, _) in enumerate(parts) if body.strip()]
    return parts, todo, [messages_for(parts[i][1], settings) for i in todo]


def assemble(texts: list[str], parts, todo: list[int], answers: list[Answer], settings: Settings):
    """(translations or None, issues) per string from the answers to `requests_for`, edge placeholders restored."""
    out: list[str | None] = list(texts)  # placeholder-only strings pass through untouched
    issues: list[list[str]] = [[] for _ in texts]
    for i, ans in zip(todo, answers):
        head, body, tail = parts[i]
        problems = check(body, ans, settings.target)
        issues[i] = problems
        out[i] = head + (ans.content or "").strip() + tail if ans.ok else None
    return out, issues


def translate_texts(client: Client, texts: list[str], settings: Settings, progress: bool = False) -> tuple[list[str | None], list[list[str]]]:
    """Translate strings; returns (translations or None, issues) per string, placeholders at the edges restored."""
    parts, todo, reqs = requests_for(texts, settings)
    answers = client.run(reqs, progress=progress, **settings.params())
    return assemble(texts, parts, todo, answers, settings)


async def translate_async(client: Client, texts: list[str], settings: Settings):
    """`translate_texts` inside an open `client.session()`."""
    parts, todo, reqs = requests_for(texts, settings)
    params = settings.params()
    if len(reqs) == 1:  # the common case (--field): no extra task
        answers = [await client.ask(reqs[0], **params)]
    else:
        answers = await asyncio.gather(*(client.ask(m, **params) for m in reqs))
    return assemble(texts, parts, todo, answers, settings)


@dataclass
class BatchOptions:
    """--batch: requests through OpenAI's Batch API (ainkit.services.batch)."""

    requests: int = 50_000  # lines per batch file (OpenAI's limit)
    poll: float = 60.0  # seconds between status checks


def estimate(io, client: Client, settings: Settings, field_name: str | None, messages: bool, batch: bool = False) -> Estimate:
    """The cost of this shard's requests not yet in the cache, read from the input before any is sent."""
    from ainkit.services.records import read_lines, record_id

    est = Estimate()
    for line in read_lines(io.input):
        if line.record is None or not io.shard.owns(record_id(line.record, line.number)):
            continue
        job = plan(line.record, field_name, messages, settings.max_chars)
        if not job.problems:
            for m in requests_for(job.texts, settings)[2]:
                est.add(client, m, settings.params())
    return est.priced(client, batch)


def run(input: str, output: str, client: Client | Callable[[], ContextManager[Client]], settings: Settings,
        field_name: str | None = "text", messages: bool = False, output_field: str | None = None, rejects: str | None = None,
        shard: str | None = None, window: int = 0, progress: bool = True, resume: bool = True, model: str | None = None,
        batch: BatchOptions | None = None, max_cost: float | None = None):
    """The `ainkit translate` stage. Field mode writes `<field>_<target>`; messages mode translates chats in place
    and keeps the originals under `source_<key>`. Returns the records Summary.

    `client` is a Client, or a function returning a context manager that yields one (so that an embedded
    server starts only after the input, output and journal have been checked). `model` names the model for
    the journal's settings when `client` is such a function. A record whose request failed at the endpoint
    is rejected with `endpoint: true`. `window`: strings read ahead of the answers (0: 4 x the client's
    concurrency), which bounds memory. `batch`: through the Batch API. `max_cost`: USD the estimate may reach.
    """
    import copy

    from ainkit.services.stageio import StageIO

    out_field = output_field or (f"{field_name}_{settings.target}" if field_name else None)
    model_name = client.backend.model if isinstance(client, Client) else model
    fp = settings.fingerprint(model_name or "?") | {"field": field_name, "messages": messages, "output_field": out_field}
    opened = contextlib.nullcontext(client) if isinstance(client, Client) else client()
    with StageIO(input, output, rejects=rejects, shard=shard, resume=resume, settings=fp) as io, opened as cl:
        meta = {"direction": settings.direction, "prompt_lang": settings.prompt_lang, "model": cl.backend.model}

        def finish(job: Job, translated: list[str | None], issues: list[list[str]]) -> None:
            rec = job.record
            if messages:
                list_key = job.slots[0][0]
                rec[f"source_{list_key}"] = copy.deepcopy(rec[list_key])
                for (lk, i, tk), text in zip(job.slots, translated):
                    if text is not None:
                        rec[lk][i][tk] = text
            else:
                rec[out_field] = translated[0]
            problems = [f"turn {j}: {p}" if messages else p for j, ps in enumerate(issues) for p in ps]
            rec["translation"] = meta
            if problems:
                rec["translation_issues"] = problems
                io.reject(rec, problems, endpoint=any(p.startswith("request failed") for ps in issues for p in ps))
            else:
                io.emit(rec)

        def jobs():
            for rec in io.pending():
                job = plan(rec, field_name, messages, settings.max_chars, settings.max_chars_switch)
                if job.problems:
                    io.reject(rec, job.problems)
                else:
                    yield job

        if max_cost is not None:
            est = estimate(io, cl, settings, field_name, messages, batch is not None)
            print(f"[translate] estimate: {est.line(batch is not None)}; --max-cost ${max_cost:g}", flush=True)
            est.check(cl, max_cost, batch is not None)
        if batch is not None:
            _run_batch(cl, io, jobs(), finish, settings, batch, field_name, messages)
        else:
            run_sync(_stream(cl, jobs(), finish, settings, window or 4 * cl.concurrency, progress))
        stats = cl.stats
    io.summary.extra = {"requests": stats.done + stats.failed, "from cache": stats.cached,
                        "retries": stats.retried, "tokens": stats.prompt_tokens + stats.completion_tokens,
                        "cost $": round(stats.cost, 4)}
    return io.summary


async def _stream(cl: Client, jobs, finish, settings: Settings, window: int, progress: bool) -> None:
    """Send every job's strings through one session, at most `window` strings read ahead; finish each job as it lands.

    Finished jobs arrive through a queue (one done-callback per job): `asyncio.wait` over the jobs in flight
    would cost O(window) per finished job.
    """
    from tqdm.auto import tqdm

    inflight: dict[asyncio.Future, Job] = {}
    landed: asyncio.Queue = asyncio.Queue()
    queued = 0
    bar = tqdm(desc="translate", unit="rec", disable=not progress, leave=False)

    async def settle(limit: int) -> None:
        nonlocal queued
        while inflight and queued >= limit:
            task = await landed.get()
            job = inflight.pop(task)
            queued -= len(job.texts)
            finish(job, *task.result())  # EndpointRefused is raised here
            bar.update()

    async with cl.session():
        try:
            for job in jobs:
                task = asyncio.ensure_future(translate_async(cl, job.texts, settings))
                task.add_done_callback(landed.put_nowait)
                inflight[task] = job
                queued += len(job.texts)
                await settle(window)
            await settle(1)
        finally:
            bar.close()
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)


def _run_batch(cl: Client, io, jobs, finish, settings: Settings, opts: BatchOptions, field_name, messages) -> None:
    """Batch API: spool the records and queue their requests, submit, wait, then finish every record from the cache."""
    from ainkit.services.batch import Batches

    with Batches(cl, io.output, size=opts.requests, poll=opts.poll) as b:
        for job in jobs:
            b.spool(job.record)
            for m in requests_for(job.texts, settings)[2]:
                b.add(m, settings.params())
        b.submit()
        b.wait()
        for rec in b.spooled():
            job = plan(rec, field_name, messages, settings.max_chars)
            parts, todo, reqs = requests_for(job.texts, settings)
            finish(job, *assemble(job.texts, parts, todo, [b.answer(m, settings.params()) for m in reqs], settings))
