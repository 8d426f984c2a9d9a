"""An LLM judge asked about many answers at once: one endpoint check, one batch, verdicts in request order.

    from ainkit.stages.evaluate import judge
    judge.ask("openai:gpt-4o", [messages, ...], parse=camel_bench.parse_grade, max_tokens=4)   # -> [True/False/None]

Used by CAMEL-Bench's open-ended sets and ARB's final-answer accuracy; answers go through the kit's LLM client
(its shared cache: a re-run asks nothing). An answer `parse` cannot read is None; a request that failed stops
the run (LLMError, naming how many), so no score counts a failure as a verdict, and the answers that came stay cached.
"""
from __future__ import annotations

from typing import Any, Callable

from ainkit.services import endpoint
from ainkit.services.llm import Client, LLMError


def ask(judge_model: str, requests: list[list[dict[str, Any]]], parse: Callable[[str | None], bool | None],
        max_tokens: int, concurrency: int = 16) -> list[bool | None]:
    """Every request asked of `judge_model` (openai:NAME or local:NAME) at temperature 0; parsed verdicts."""
    refusal = f"--judge {judge_model!r}: use openai:NAME (with OPENAI_BASE_URL/OPENAI_API_KEY) or local:NAME"
    try:
        ep = endpoint.parse_endpoint(judge_model)
    except LLMError:
        raise LLMError(refusal) from None
    if ep.kind not in ("openai", "local"):
        raise LLMError(refusal)
    endpoint.endpoint_backend(ep, unset=refusal)  # refused before anything is asked
    if not requests:
        return []
    try:
        with endpoint.open_endpoint(ep, unset=refusal) as b:
            client = Client(b, concurrency=concurrency)
            answers = client.run(requests, max_tokens=max_tokens, temperature=0)
            client.close()
    except LLMError as exc:  # the client speaks of "this run": here that is the judge's part of it
        exc.args = (f"the judge (--judge {judge_model}): {exc}", *exc.args[1:])
        raise
    failed = [a for a in answers if not a.ok]
    if failed:
        raise LLMError(f"--judge {judge_model}: {len(failed)} of {len(answers)} judge requests failed (first: "
                       f"{failed[0].error or 'no answer'}); nothing is scored from them. The answers that came are "
                       "cached: the same command asks only the rest")
    return [parse(a.content) for a in answers]
