"""One async client for every OpenAI-compatible endpoint: bounded concurrency, rate limits, retries, fail-fast, shared cache, cost.

    from ainkit.services import endpoint, llm
    backend = endpoint.resolve_backend()             # --backend / OPENAI_BASE_URL (None: the embedded server)
    client = llm.Client(backend, concurrency=64)     # answers cached in the shared cache (ainkit.services.cache)
    answers = client.run([[{"role": "user", "content": "Hello"}]], max_tokens=64)
    print(client.stats.line())
    async with client.session():                     # a stage's whole run: one connection pool, requests
        answer = await client.ask(messages, max_tokens=64)   # streamed as records arrive (ainkit.stages.translate)

- Endpoints, the same for every command, are read and opened by ainkit.services.endpoint
  (`openai:NAME`, `local:NAME`, `hf:PATH`, `mt:PATH`, --backend, --base-url/--model).
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
import random
import time
from dataclasses import dataclass
from typing import Any

from ainkit.services import cache as cache_mod
from ainkit.services.backend import (  # noqa: F401 (llm.Backend, llm.LLMError, ... as before)
    Backend, EndpointDied, EndpointRefused, EndpointUnreachable, LLMError, load_config)
from ainkit.services.costs import Estimate, RateLimiter, Stats, estimate_tokens  # noqa: F401 (llm.Estimate)
from ainkit.ground import redact

RETRY_STATUS = {429, 500, 502, 503, 504}
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or endpoint path"}


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


def _retry_after(response) -> float | None:
    """Seconds from a Retry-After header (number of seconds; HTTP dates are not honoured), capped at 5 minutes."""
    try:
        value = response.headers.get("retry-after")
        return min(300.0, max(0.0, float(value))) if value is not None else None
    except (AttributeError, ValueError):
        return None
