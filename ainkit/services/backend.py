"""The errors of an endpoint and the Backend a client talks to (where requests go, with what key and identity).

    from ainkit.services.backend import Backend
    Backend("vllm", "http://127.0.0.1:8000/v1", "Qwen/Qwen2-VL-7B-Instruct").describe()

(also reachable as ainkit.services.llm.Backend, .LLMError, ...; ainkit.services.endpoint makes Backends from --model)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ainkit.ground.errors import EXIT_ALL_FAILED, UserError
from ainkit.ground.paths import CONFIGS


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
