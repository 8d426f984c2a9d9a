"""What a client's requests cost and how fast they may go: the rate limiter, the counts of a run, the estimate before it.

    from ainkit.services.costs import Estimate
    est = Estimate(); est.add(client, messages, {"max_tokens": 256}); est.priced(client).check(client, max_cost=5.0)

(also reachable as ainkit.services.llm.Estimate, .Stats, .RateLimiter, .estimate_tokens; `client` below is an
llm.Client, not imported: llm imports this module)
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ainkit.services.backend import LLMError


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


@dataclass
class Estimate:
    """What a run would cost before it starts: requests not in the cache, their prompt tokens (approximated,
    `estimate_tokens`) and at most `max_tokens` completion tokens each, priced at the model's price."""

    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, client: Any, messages: list[dict], params: dict[str, Any]) -> None:
        if client.cached(client.key(messages, params)):
            self.cached += 1
            return
        self.requests += 1
        self.prompt_tokens += estimate_tokens(messages)
        self.completion_tokens += int(params.get("max_tokens") or 0)

    def priced(self, client: Any, batch: bool = False) -> Estimate:
        self.cost = client.price(self.prompt_tokens, self.completion_tokens, batch)
        return self

    def line(self, batch: bool = False) -> str:
        return (f"{self.requests} requests to send ({self.cached} answered from the cache), about {self.prompt_tokens} prompt "
                f"tokens (4 characters a token) + at most {self.completion_tokens} completion tokens (--max-tokens each): "
                f"at most ${self.cost:.2f} at the {'Batch API' if batch else 'synchronous'} price")

    def check(self, client: Any, max_cost: float | None, batch: bool = False) -> None:
        """Refuse (exit 2, nothing sent) when the estimate is over `max_cost` USD or the model has no price."""
        if max_cost is None:
            return
        if not client.priced(batch):
            raise LLMError(f"--max-cost: no price for model {client.backend.model!r} in configs/llm.yaml (prices:), so "
                           "the cost cannot be estimated; add its price there or drop --max-cost. Nothing was sent")
        if self.cost > max_cost:
            raise LLMError(f"--max-cost ${max_cost:g}: the estimate is over it: {self.line(batch)}. Nothing was sent; "
                           "raise --max-cost, lower --max-tokens, or run a --shard of the input")
