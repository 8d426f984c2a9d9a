"""One async client for every OpenAI-compatible endpoint: bounded concurrency, rate limits, retries, fail-fast, shared cache, cost.

    from ainkit.services import llm
    backend = llm.resolve_backend()                  # --backend / OPENAI_BASE_URL / embedded server
    client = llm.Client(backend, concurrency=64)     # answers cached in the shared cache (ainkit.services.cache)
    answers = client.run([[{"role": "user", "content": "Hello"}]], max_tokens=64)
    print(client.stats.line())
    async with client.session():                     # a stage's whole run: one connection pool, requests
        answer = await client.ask(messages, max_tokens=64)   # streamed as records arrive (ainkit.stages.translate)

- Endpoints, the same for every command (`parse_endpoint`): `openai:NAME` (OPENAI_BASE_URL /
  OPENAI_API_KEY, or --base-url), `local:NAME` (the embedded llama.cpp server), `hf:PATH` (a local
  Hugging Face model, for logit scoring), `mt:PATH` (a dedicated MT model, ainkit.services.mt: translation
  only), a named backend of configs/llm.yaml, or --base-url/--model.
- Retries: 429, 500, 502, 503, 504, timeouts and connection errors are retried with exponential
  backoff and full jitter, honouring `Retry-After`; at most `max_retries` times, then the request
  fails with its reason (the caller records it; nothing is dropped silently).
- Fail fast: 401, 403 and 404 (bad key, no access, unknown model) cannot be fixed by retrying;
  the first one stops the whole run with `EndpointRefused` (nothing more is sent).
- Cache: every completed request is stored in the shared content cache, keyed by the endpoint's identity
  (its base URL; for the embedded server, the model file's sha256) + model + messages + parameters
  (`Client.key`), so no run, whatever its output path, pays for it again, and a model name served by
  another server never gets the first server's answers. `share_across_endpoints=True` (the CLI's
  --cache-across-endpoints) drops the endpoint from the key, and the stats line says so.
- A dead embedded server: on a connection error or timeout the client asks the backend whether its
  process is gone (`Backend.dead`); if so the run stops at once with `EndpointDied` (exit 4), its
  exit signal and log named once; no request is retried against it.
  Error texts an endpoint sends back are scrubbed of the API key before they are kept anywhere.
- Rate limits: optional requests-per-minute and tokens-per-minute ceilings (sliding window).
- Accounting: prompt and completion tokens, cost from a price table (configs/llm.yaml, overridable), at
  the Batch API's price for answers that came through it (ainkit.services.batch); `Estimate` is the cost of a
  run before it starts (--max-cost).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ainkit.services import cache as cache_mod
from ainkit.ground import redact
from ainkit.ground.errors import EXIT_ALL_FAILED, UserError
from ainkit.ground.paths import CONFIGS

RETRY_STATUS = {429, 500, 502, 503, 504}
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or endpoint path"}


class LLMError(UserError, RuntimeError):
    """A request or endpoint set-up that failed for good; the message says why."""


class EndpointRefused(LLMError):
    """401/403/404: no retry can fix it, so the run stops at the first one."""

    exit_code = EXIT_ALL_FAILED


class EndpointDied(EndpointRefused):
    """The embedded server's process is gone: nothing can answer, so the run stops at once (exit 4)."""


class EndpointUnreachable(EndpointRefused):
    """No connection to the endpoint and no request of the run ever answered: it is down or the URL is wrong (exit 4)."""


@dataclass
class Backend:
    """Where requests go. `api_key` is held in memory only and never printed or written."""

    name: str
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    vision: bool | None = None  # None: unknown (probe it)
    embedded: bool = False
    identity: str = ""  # what answers: '' = the base URL; the embedded server: its model file's sha256
    dead: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)  # None while alive, else why
    pid: int | None = field(default=None, compare=False)  # the embedded server's process
    base_urls: list[str] = field(default_factory=list, compare=False)  # several servers of one model (embedded workers)

    def describe(self) -> str:
        return f"{self.name} ({self.base_url}, model {self.model}{', embedded' if self.embedded else ''})"

    def endpoint_id(self) -> str:
        """The identity of the server behind the answers (part of every cache key)."""
        return self.identity or self.base_url.rstrip("/").lower()


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
        name = "base-url" if base_url else "env"  # where the URL came from: --base-url, or OPENAI_BASE_URL/OPENAI_API_KEY
        return Backend(name, url or "https://api.openai.com/v1", model or os.environ.get("AINKIT_MODEL", "gpt-4o-mini"), key)
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
    from ainkit.services.serve import DEFAULT_LOCAL_MODEL, LOCAL_MODELS

    kind, sep, name = (model or "").partition(":")
    if sep and kind in ("openai", "local", "hf", "mt") and not (kind == "openai" and name.startswith("//")):
        if not name:
            raise LLMError(f"--model {model!r}: name the model after '{kind}:'")
        if kind in ("local", "mt") and (base_url or backend):
            raise LLMError(f"--model {model}: {'an embedded' if kind == 'local' else 'a dedicated MT'} model takes no "
                           "--base-url/--backend")
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
    if ep.kind == "mt":
        raise LLMError(f"mt:{ep.name}: a dedicated translation model translates (ainkit translate, curate's translate "
                       "steps); this command needs a chat endpoint (openai:NAME or local:NAME)")
    if ep.kind == "local":
        return None
    b = resolve_backend(ep.backend, ep.base_url, ep.name)
    if b is None:  # no URL and no key anywhere: OpenAI's API (the missing key is named where it matters)
        b = Backend("openai", "https://api.openai.com/v1", ep.name or os.environ.get("AINKIT_MODEL", "gpt-4o-mini"))
    return b


def request_key(model: str, messages: list[dict], params: dict[str, Any], endpoint: str | None = None) -> str:
    """Stable hash of what is asked: same endpoint, model, messages and parameters -> same key (endpoint None:
    shared by every endpoint serving that model name)."""
    if endpoint is None:
        return cache_mod.key("llm", model, messages, params)
    return cache_mod.key("llm", endpoint, model, messages, params)


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
    shared: bool = False  # answers shared across endpoints serving the same model name

    def line(self, what: str = "llm") -> str:
        fails = f" ({', '.join(f'{k}: {v}' for k, v in self.reasons.items())})" if self.reasons else ""
        shared = "; cache shared across endpoints of this model name" if self.shared else ""
        return (f"[{what}] {self.done} done ({self.cached} from cache{shared}), {self.failed} failed{fails}, "
                f"{self.retried} retries, {self.prompt_tokens}+{self.completion_tokens} tokens, ${self.cost:.4f}, "
                f"{self.seconds:.1f} s")


def estimate_tokens(messages: list[dict]) -> int:
    """Rough prompt size (token limiter, cost estimate): 1 token per 4 characters of text, 8 for the framing."""
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
                 cache: cache_mod.Cache | None | bool = True, prices: dict[str, tuple[float, float]] | None = None,
                 share_across_endpoints: bool = False):
        """cache: True (default) the shared cache, a Cache, or False/None for none. share_across_endpoints: answers
        keyed by model name only, so any server of that name reuses them (an explicit choice, stated in `stats.line`)."""
        self.backend, self.concurrency, self.timeout = backend, max(1, concurrency), timeout
        self.shared = share_across_endpoints
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.limiter_args = (rpm, tpm)
        redact.register(backend.api_key, "the endpoint's API key")
        self.cache = cache_mod.open_cache() if cache is True else (cache or None)
        self._stopped: EndpointRefused | None = None  # why the run stopped (the first such reason): raised again after
        self._answered = False  # some request of this client got an answer over the network
        self._inflight: dict[str, asyncio.Future] = {}  # key -> the answer of the same request already on its way
        config = load_config()
        table = {**config.get("prices", {}), **(prices or {})}
        self.prices = {k: tuple(v) for k, v in table.items()}
        discount = float(config.get("batch_discount", 1.0))
        self.batch_prices = {k: (p[0] * discount, p[1] * discount) for k, p in self.prices.items()}
        self.batch_prices.update({k: tuple(v) for k, v in (config.get("batch_prices") or {}).items()})
        self.stats = Stats(shared=share_across_endpoints)
        self._api = self._limiter = self._sem = None

    def key(self, messages: list[dict], params: dict[str, Any]) -> str:
        """The cache key of one request to this client's endpoint (see the module docstring)."""
        return request_key(self.backend.model, messages, params, None if self.shared else self.backend.endpoint_id())

    def priced(self, batch: bool = False) -> bool:
        """Whether the model's price is known (an embedded model costs nothing)."""
        return self.backend.embedded or self.backend.model in (self.batch_prices if batch else self.prices)

    def price(self, prompt: int, completion: int, batch: bool = False) -> float:
        """USD for these tokens at the model's synchronous or Batch API price (0 when unknown)."""
        p = (self.batch_prices if batch else self.prices).get(self.backend.model)
        return (prompt * p[0] + completion * p[1]) / 1e6 if p else 0.0

    def account(self, answer: Answer, key: str, batch: bool = False) -> None:
        """Count a finished request and store its answer in the cache (a failed one is counted, not stored)."""
        if answer.ok:
            self.stats.done += 1
            self.stats.prompt_tokens += answer.prompt_tokens
            self.stats.completion_tokens += answer.completion_tokens
            self.stats.cost += self.price(answer.prompt_tokens, answer.completion_tokens, batch)
            if self.cache:
                self.cache.put("llm", key, {"model": self.backend.model, "content": answer.content,
                                            "finish_reason": answer.finish_reason, "prompt_tokens": answer.prompt_tokens,
                                            "completion_tokens": answer.completion_tokens})
        else:
            self.stats.failed += 1
            kind = answer.error.split(":")[0].split(" (")[0]
            self.stats.reasons[kind] = self.stats.reasons.get(kind, 0) + 1

    def _stop(self, kind: type[EndpointRefused], message: str) -> None:
        """Stop the run: raise `kind` (the first reason given stays the run's reason for every request after it)."""
        self._stopped = self._stopped or kind(redact.scrub(message))
        raise type(self._stopped)(str(self._stopped))

    def counted_hit(self, key: str) -> Answer | None:
        """The cached answer to a request key, counted as done from the cache; None when there is none."""
        if hit := self.cached(key):
            self.stats.done += 1
            self.stats.cached += 1
        return hit

    def cached(self, key: str) -> Answer | None:
        """The cached answer to a request key, or None."""
        hit = self.cache.get("llm", key) if self.cache else None
        return Answer(hit["content"], hit["finish_reason"], hit["prompt_tokens"], hit["completion_tokens"], cached=True) if hit else None

    @contextlib.asynccontextmanager
    async def session(self):
        """The connection pool, rate limiter and concurrency bound that `ask` uses, open for the block.

        A stage opens one for its whole run, so connections are reused and requests flow as records
        arrive: a client per 64-string chunk, each chunk drained before the next, held `ainkit translate`
        at 0.55 of a bare client's throughput (bench/translate_vs_bare.py; 0.94-1.00 with one session).
        """
        if self._api is not None:  # already open (a nested call): share it
            yield self
            return
        import openai

        self._apis = [openai.AsyncOpenAI(base_url=url, api_key=self.backend.api_key or "no-key", max_retries=0,
                                         timeout=self.timeout) for url in (self.backend.base_urls or [self.backend.base_url])]
        self._busy = [0] * len(self._apis)  # requests in flight per server: each goes to the least busy
        self._api = self._apis[0]
        self._limiter, self._sem = RateLimiter(*self.limiter_args), asyncio.Semaphore(self.concurrency)
        t0 = time.monotonic()
        try:
            yield self
        finally:
            apis, self._api, self._apis = self._apis, None, []
            for api in apis:
                await api.close()
            self.stats.seconds += time.monotonic() - t0

    async def ask(self, messages: list[dict], **params: Any) -> Answer:
        """One request inside `session()`: from the cache, shared with the same request already in flight, or sent
        with retries; never raises for a failed request (the Answer says why), only EndpointRefused for 401/403/404,
        a dead embedded server, or an endpoint that never answered any request of the run."""
        if self._api is None:
            raise RuntimeError("Client.ask needs an open session: async with client.session(): ...")
        key = self.key(messages, params)
        if hit := self.counted_hit(key):
            return hit
        if (pending := self._inflight.get(key)) is not None:  # the same request is on its way: pay for it once
            first = await asyncio.shield(pending)
            shared = dataclasses.replace(first, cached=True, attempts=0)
            if shared.ok:
                self.stats.done += 1
                self.stats.cached += 1
            else:
                self.account(shared, key)
            return shared
        mine = asyncio.get_running_loop().create_future()
        self._inflight[key] = mine
        try:
            answer = await self._send(messages, params, key)
        except BaseException as exc:
            if isinstance(exc, Exception):
                mine.set_exception(exc)
                mine.exception()  # retrieved here: no "never retrieved" warning when nobody shared it
            else:
                mine.cancel()
            raise
        finally:
            del self._inflight[key]
        mine.set_result(answer)
        return answer

    async def _send(self, messages: list[dict], params: dict[str, Any], key: str) -> Answer:
        """One request over the network with retries (see `ask`)."""
        import openai

        limiter, sem = self._limiter, self._sem
        answer = Answer()
        t0 = time.monotonic()
        async with sem:
            for attempt in range(self.max_retries + 1):
                if self._stopped:
                    raise type(self._stopped)(str(self._stopped))
                answer.attempts = attempt + 1
                await limiter.acquire(estimate_tokens(messages) + int(params.get("max_tokens") or 256))
                wait, reason = None, ""
                which = min(range(len(self._busy)), key=self._busy.__getitem__)
                self._busy[which] += 1
                try:
                    resp = await self._apis[which].chat.completions.create(model=self.backend.model, messages=messages,
                                                                           **params)
                    if not resp.choices:
                        raise LLMError("response without choices")
                    choice = resp.choices[0]
                    answer.content = choice.message.content if choice.message else None
                    answer.finish_reason = choice.finish_reason
                    if resp.usage:
                        answer.prompt_tokens = resp.usage.prompt_tokens or 0
                        answer.completion_tokens = resp.usage.completion_tokens or 0
                    self._answered = True
                    break
                except openai.APIStatusError as exc:
                    reason = f"HTTP {exc.status_code}"
                    if exc.status_code in FATAL_STATUS:
                        self._stop(EndpointRefused,
                            f"{self.backend.base_url} answered HTTP {exc.status_code} ({FATAL_STATUS[exc.status_code]}) "
                            f"for model {self.backend.model}: {str(exc)[:300]}. No retry can fix this: check the key "
                            "(OPENAI_API_KEY or the backend's api_key_env), --model and --base-url. Nothing more was sent; "
                            "finished work is kept, so the same command resumes once this is fixed")
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
                finally:
                    self._busy[which] -= 1
                if self.backend.dead is not None and (why := self.backend.dead()) is not None:
                    self._stop(EndpointDied, f"{why}\nNo request is retried against a dead server. Finished work is "
                                             "kept; once the cause is fixed the same command resumes")
                if attempt == self.max_retries:
                    answer.error = f"{reason} (gave up after {attempt + 1} attempts)"
                    if reason.startswith("connection error") and not self._answered:
                        self._stop(EndpointUnreachable,
                            f"nothing answers at {self.backend.base_url} ({reason}, {attempt + 1} attempts) and no request "
                            "of this run has been answered: is the server running, and is the URL (--base-url, "
                            "OPENAI_BASE_URL or the backend's base_url) right? Nothing more is sent; finished work is "
                            "kept, so the same command resumes once it answers")
                    break
                self.stats.retried += 1
                delay = wait if wait is not None else random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))
                await asyncio.sleep(delay)
        answer.seconds = time.monotonic() - t0
        self.account(answer, key)
        return answer

    async def run_async(self, requests: list[list[dict]], progress: bool = False, **params: Any) -> list[Answer]:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(requests), desc=f"llm {self.backend.model}", unit="req", disable=not progress, leave=False)

        async def tracked(msgs):
            ans = await self.ask(msgs, **params)
            bar.update(1)
            return ans

        async with self.session():
            tasks = [asyncio.ensure_future(tracked(m)) for m in requests]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            finally:
                bar.close()

    def run(self, requests: list[list[dict]], progress: bool = False, **params: Any) -> list[Answer]:
        """Send every request (at most `concurrency` in flight); answers in request order."""
        return run_sync(self.run_async(requests, progress, **params))

    def close(self) -> None:
        if self.cache:
            self.cache.close()


def run_sync(coro):
    """Run a coroutine to its end, also from inside a running event loop (Jupyter: on a helper thread's loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Estimate:
    """What a run would cost before it starts: requests not in the cache, their prompt tokens (approximated,
    `estimate_tokens`) and at most `max_tokens` completion tokens each, priced at the model's price."""

    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, client: Client, messages: list[dict], params: dict[str, Any]) -> None:
        if client.cached(client.key(messages, params)):
            self.cached += 1
            return
        self.requests += 1
        self.prompt_tokens += estimate_tokens(messages)
        self.completion_tokens += int(params.get("max_tokens") or 0)

    def priced(self, client: Client, batch: bool = False) -> Estimate:
        self.cost = client.price(self.prompt_tokens, self.completion_tokens, batch)
        return self

    def line(self, batch: bool = False) -> str:
        return (f"{self.requests} requests to send ({self.cached} answered from the cache), about {self.prompt_tokens} prompt "
                f"tokens (4 characters a token) + at most {self.completion_tokens} completion tokens (--max-tokens each): "
                f"at most ${self.cost:.2f} at the {'Batch API' if batch else 'synchronous'} price")

    def check(self, client: Client, max_cost: float | None, batch: bool = False) -> None:
        """Refuse (exit 2, nothing sent) when the estimate is over `max_cost` USD or the model has no price."""
        if max_cost is None:
            return
        if not client.priced(batch):
            raise LLMError(f"--max-cost: no price for model {client.backend.model!r} in configs/llm.yaml (prices:), so "
                           "the cost cannot be estimated; add its price there or drop --max-cost. Nothing was sent")
        if self.cost > max_cost:
            raise LLMError(f"--max-cost ${max_cost:g}: the estimate is over it: {self.line(batch)}. Nothing was sent; "
                           "raise --max-cost, lower --max-tokens, or run a --shard of the input")


def _retry_after(response) -> float | None:
    """Seconds from a Retry-After header (number of seconds; HTTP dates are not honoured), capped at 5 minutes."""
    try:
        value = response.headers.get("retry-after")
        return min(300.0, max(0.0, float(value))) if value is not None else None
    except (AttributeError, ValueError):
        return None
