"""One async client for every OpenAI-compatible endpoint: bounded concurrency, rate limits, retries, fail-fast, shared cache, cost.

    from ainkit import llm
    backend = llm.resolve_backend()                  # --backend / OPENAI_BASE_URL / embedded server
    client = llm.Client(backend, concurrency=64)     # answers cached in the shared cache (ainkit.cache)
    answers = client.run([[{"role": "user", "content": "Hello"}]], max_tokens=64)
    print(client.stats.line())

- Endpoints, the same for every command (`parse_endpoint`): `openai:NAME` (OPENAI_BASE_URL /
  OPENAI_API_KEY, or --base-url), `local:NAME` (the embedded llama.cpp server), `hf:PATH` (a local
  Hugging Face model, for logit scoring), a named backend of configs/llm.yaml, or --base-url/--model.
- Retries: 429, 500, 502, 503, 504, timeouts and connection errors are retried with exponential
  backoff and full jitter, honouring `Retry-After`; at most `max_retries` times, then the request
  fails with its reason (the caller records it; nothing is dropped silently).
- Fail fast: 401, 403 and 404 (bad key, no access, unknown model) cannot be fixed by retrying;
  the first one stops the whole run with `EndpointRefused` (nothing more is sent).
- Cache: every completed request is stored in the shared content cache (keyed by model + messages +
  parameters, `ainkit.cache.key`), so no run, whatever its output path, pays for it again.
  Error texts an endpoint sends back are scrubbed of the API key before they are kept anywhere.
- Rate limits: optional requests-per-minute and tokens-per-minute ceilings (sliding window).
- Accounting: prompt and completion tokens, cost from a price table (configs/llm.yaml, overridable).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ainkit import cache as cache_mod
from ainkit import redact
from ainkit.errors import EXIT_ALL_FAILED, UserError
from ainkit.paths import CONFIGS

RETRY_STATUS = {429, 500, 502, 503, 504}
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or endpoint path"}


class LLMError(UserError, RuntimeError):
    """A request or endpoint set-up that failed for good; the message says why."""


class EndpointRefused(LLMError):
    """401/403/404: no retry can fix it, so the run stops at the first one."""

    exit_code = EXIT_ALL_FAILED


@dataclass
class Backend:
    """Where requests go. `api_key` is held in memory only and never printed or written."""

    name: str
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    vision: bool | None = None  # None: unknown (probe it)
    embedded: bool = False

    def describe(self) -> str:
        return f"{self.name} ({self.base_url}, model {self.model}{', embedded' if self.embedded else ''})"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or CONFIGS / "llm.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def resolve_backend(name: str | None = None, base_url: str | None = None, model: str | None = None,
                    config: Path | None = None) -> Backend | None:
    """A named backend, explicit --base-url, or OPENAI_BASE_URL/OPENAI_API_KEY; None means: use the embedded server."""
    if name:
        backends = load_config(config).get("backends", {})
        if name not in backends:
            raise LLMError(f"--backend {name}: not in {config or CONFIGS / 'llm.yaml'} (known: {', '.join(backends) or 'none'})")
        b = backends[name]
        key_env = b.get("api_key_env", "OPENAI_API_KEY")
        redact.register(os.environ.get(key_env, ""), key_env)
        return Backend(name, base_url or b["base_url"], model or b["model"], os.environ.get(key_env, ""), b.get("vision"))
    url = base_url or os.environ.get("OPENAI_BASE_URL")
    key = os.environ.get("OPENAI_API_KEY", "")
    if url or key:
        return Backend("env", url or "https://api.openai.com/v1", model or os.environ.get("AINKIT_MODEL", "gpt-4o-mini"), key)
    return None


@dataclass(frozen=True)
class Endpoint:
    """Where a command's model is: kind openai (any OpenAI-compatible URL), local (embedded server) or hf (a folder)."""

    kind: str
    name: str | None = None
    base_url: str | None = None
    backend: str | None = None

    def describe(self) -> str:
        return f"{self.kind}:{self.name or '(default)'}" + (f" at {self.base_url}" if self.base_url else "")


def parse_endpoint(model: str | None = None, base_url: str | None = None, backend: str | None = None,
                   local_model: str | None = None) -> Endpoint:
    """The one reading of --model/--base-url/--backend for every command (see the module docstring)."""
    from ainkit.serve import DEFAULT_LOCAL_MODEL, LOCAL_MODELS

    kind, sep, name = (model or "").partition(":")
    if sep and kind in ("openai", "local", "hf") and not (kind == "openai" and name.startswith("//")):
        if not name:
            raise LLMError(f"--model {model!r}: name the model after '{kind}:'")
        if kind == "local" and (base_url or backend):
            raise LLMError(f"--model {model}: an embedded model takes no --base-url/--backend")
        return Endpoint(kind, name, base_url if kind == "openai" else None, backend if kind == "openai" else None)
    if backend or base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        return Endpoint("openai", model or None, base_url, backend)
    if model and model not in LOCAL_MODELS:
        raise LLMError(f"--model {model!r}: no endpoint is configured (set --base-url, OPENAI_BASE_URL/OPENAI_API_KEY or "
                       f"--backend), and it is not an embedded model ({', '.join(LOCAL_MODELS)}); write openai:NAME, "
                       "local:NAME or hf:PATH")
    return Endpoint("local", model or local_model or DEFAULT_LOCAL_MODEL)


def endpoint_backend(ep: Endpoint) -> Backend | None:
    """The Backend of an openai endpoint; None for local (the caller starts the embedded server)."""
    if ep.kind == "hf":
        raise LLMError(f"hf:{ep.name}: a local Hugging Face model is scored by its logits (ainkit evaluate); "
                       "this command needs a chat endpoint (openai:NAME or local:NAME)")
    if ep.kind == "local":
        return None
    b = resolve_backend(ep.backend, ep.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1", ep.name)
    return b


def request_key(model: str, messages: list[dict], params: dict[str, Any]) -> str:
    """Stable hash of what is asked: same model, messages and parameters -> same key."""
    return cache_mod.key("llm", model, messages, params)


@dataclass
class Answer:
    """The outcome of one request."""

    content: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    attempts: int = 0
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


class RateLimiter:
    """Sliding one-minute window over requests and tokens; `acquire` waits until both fit."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None):
        self.rpm, self.tpm = rpm, tpm
        self.events: deque[tuple[float, int]] = deque()
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.events and now - self.events[0][0] >= 60:
                    self.events.popleft()
                used = sum(t for _, t in self.events)
                if (not self.rpm or len(self.events) < self.rpm) and (not self.tpm or used + tokens <= self.tpm or not self.events):
                    self.events.append((now, tokens))
                    return
                await asyncio.sleep(max(0.01, 60 - (now - self.events[0][0])))


@dataclass
class Stats:
    """Counts of one client's work."""

    done: int = 0
    cached: int = 0
    failed: int = 0
    retried: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def line(self, what: str = "llm") -> str:
        fails = f" ({', '.join(f'{k}: {v}' for k, v in self.reasons.items())})" if self.reasons else ""
        return (f"[{what}] {self.done} done ({self.cached} from cache), {self.failed} failed{fails}, {self.retried} retries, "
                f"{self.prompt_tokens}+{self.completion_tokens} tokens, ${self.cost:.4f}, {self.seconds:.1f} s")


def estimate_tokens(messages: list[dict]) -> int:
    """Rough prompt size for the token limiter: 1 token per 4 characters of text."""
    total = 0
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            total += len(c)
        elif isinstance(c, list):
            total += sum(len(p.get("text", "")) for p in c if isinstance(p, dict))
    return total // 4 + 8


class Client:
    """Async OpenAI-compatible client; `run` is the synchronous front door (see the module docstring)."""

    def __init__(self, backend: Backend, concurrency: int = 64, rpm: int | None = None, tpm: int | None = None,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0,
                 cache: "cache_mod.Cache | None | bool" = True, prices: dict[str, tuple[float, float]] | None = None):
        """cache: True (default) the shared cache, a Cache, or False/None for none."""
        self.backend, self.concurrency, self.timeout = backend, max(1, concurrency), timeout
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.limiter_args = (rpm, tpm)
        redact.register(backend.api_key, "the endpoint's API key")
        self.cache = cache_mod.open_cache() if cache is True else (cache or None)
        self._refused: str = ""
        table = load_config().get("prices", {})
        table.update(prices or {})
        self.prices = {k: tuple(v) for k, v in table.items()}
        self.stats = Stats()

    def price(self, prompt: int, completion: int) -> float:
        p = self.prices.get(self.backend.model)
        return (prompt * p[0] + completion * p[1]) / 1e6 if p else 0.0

    async def _one(self, api, limiter: RateLimiter, sem: asyncio.Semaphore, messages: list[dict],
                   params: dict[str, Any]) -> Answer:
        import openai

        key = request_key(self.backend.model, messages, params)
        if self.cache and (hit := self.cache.get("llm", key)):
            self.stats.done += 1
            self.stats.cached += 1
            return Answer(hit["content"], hit["finish_reason"], hit["prompt_tokens"], hit["completion_tokens"], cached=True)
        answer = Answer()
        t0 = time.monotonic()
        async with sem:
            for attempt in range(self.max_retries + 1):
                if self._refused:
                    raise EndpointRefused(self._refused)
                answer.attempts = attempt + 1
                await limiter.acquire(estimate_tokens(messages) + int(params.get("max_tokens") or 256))
                wait, reason = None, ""
                try:
                    resp = await api.chat.completions.create(model=self.backend.model, messages=messages, **params)
                    if not resp.choices:
                        raise LLMError("response without choices")
                    choice = resp.choices[0]
                    answer.content = choice.message.content if choice.message else None
                    answer.finish_reason = choice.finish_reason
                    if resp.usage:
                        answer.prompt_tokens = resp.usage.prompt_tokens or 0
                        answer.completion_tokens = resp.usage.completion_tokens or 0
                    break
                except openai.APIStatusError as exc:
                    reason = f"HTTP {exc.status_code}"
                    if exc.status_code in FATAL_STATUS:
                        self._refused = self._refused or redact.scrub(
                            f"{self.backend.base_url} answered HTTP {exc.status_code} ({FATAL_STATUS[exc.status_code]}) "
                            f"for model {self.backend.model}: {str(exc)[:300]}. No retry can fix this: check the key "
                            "(OPENAI_API_KEY or the backend's api_key_env), --model and --base-url. Nothing more was sent; "
                            "finished work is kept, so the same command resumes once this is fixed")
                        raise EndpointRefused(self._refused)
                    if exc.status_code not in RETRY_STATUS:
                        answer.error = redact.scrub(f"{reason}: {str(exc)[:200]}")
                        break
                    wait = _retry_after(exc.response)
                except openai.APITimeoutError:
                    reason = f"timeout after {self.timeout:g} s"
                except openai.APIConnectionError as exc:
                    reason = redact.scrub(f"connection error: {str(exc)[:120]}")
                except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError, TypeError) as exc:
                    reason = redact.scrub(f"malformed response: {type(exc).__name__}: {str(exc)[:120]}")
                except LLMError as exc:
                    reason = f"malformed response: {exc}"
                if attempt == self.max_retries:
                    answer.error = f"{reason} (gave up after {attempt + 1} attempts)"
                    break
                self.stats.retried += 1
                delay = wait if wait is not None else random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
                await asyncio.sleep(delay)
        answer.seconds = time.monotonic() - t0
        if answer.ok:
            self.stats.done += 1
            self.stats.prompt_tokens += answer.prompt_tokens
            self.stats.completion_tokens += answer.completion_tokens
            self.stats.cost += self.price(answer.prompt_tokens, answer.completion_tokens)
            if self.cache:
                self.cache.put("llm", key, {"model": self.backend.model, "content": answer.content,
                                            "finish_reason": answer.finish_reason, "prompt_tokens": answer.prompt_tokens,
                                            "completion_tokens": answer.completion_tokens})
        else:
            self.stats.failed += 1
            kind = answer.error.split(":")[0].split(" (")[0]
            self.stats.reasons[kind] = self.stats.reasons.get(kind, 0) + 1
        return answer

    async def run_async(self, requests: list[list[dict]], progress: bool = False, **params: Any) -> list[Answer]:
        import openai
        from tqdm.auto import tqdm

        api = openai.AsyncOpenAI(base_url=self.backend.base_url, api_key=self.backend.api_key or "no-key",
                                 max_retries=0, timeout=self.timeout)
        limiter, sem = RateLimiter(*self.limiter_args), asyncio.Semaphore(self.concurrency)
        bar = tqdm(total=len(requests), desc=f"llm {self.backend.model}", unit="req", disable=not progress, leave=False)
        t0 = time.monotonic()

        async def tracked(msgs):
            ans = await self._one(api, limiter, sem, msgs, params)
            bar.update(1)
            return ans

        tasks = [asyncio.ensure_future(tracked(m)) for m in requests]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await api.close()
            bar.close()
            self.stats.seconds += time.monotonic() - t0
        return list(answers)

    def run(self, requests: list[list[dict]], progress: bool = False, **params: Any) -> list[Answer]:
        """Send every request (at most `concurrency` in flight); answers in request order.

        Works inside a running event loop too (Jupyter): the requests then run on a helper thread's loop.
        """
        coro = self.run_async(requests, progress, **params)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def close(self) -> None:
        if self.cache:
            self.cache.close()


def _retry_after(response) -> float | None:
    """Seconds from a Retry-After header (number of seconds; HTTP dates are not honoured), capped at 5 minutes."""
    try:
        value = response.headers.get("retry-after")
        return min(300.0, max(0.0, float(value))) if value is not None else None
    except (AttributeError, ValueError):
        return None
