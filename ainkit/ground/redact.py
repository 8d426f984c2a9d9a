"""Secrets never reach disk: every string the kit writes passes through `scrub`.

    from ainkit.ground import redact
    redact.scrub("error: invalid key sk-abc123...")   # -> "error: invalid key [redacted OPENAI_API_KEY]"

The secrets are the values of OPENAI_API_KEY, of every `api_key_env` variable named in
configs/llm.yaml, of any variable named in AINKIT_SECRET_ENVS (comma-separated), and of keys
handed to `register` (a Backend's key). Values shorter than MIN_LENGTH are not treated as
secrets (replacing "x" everywhere would destroy the data). Text an endpoint echoes back is
scrubbed too, since it goes through the same writers.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache

MIN_LENGTH = 8
SECRET_NAME = re.compile(r"(api_?key|token|secret|passw(or)?d|credential)", re.IGNORECASE)  # a name that looks secret
_registered: dict[str, str] = {}


@lru_cache(maxsize=1)
def _config_envs() -> tuple[str, ...]:
    from ainkit.ground.paths import CONFIGS

    try:
        import yaml

        cfg = yaml.safe_load((CONFIGS / "llm.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, ImportError, ValueError):
        return ()
    return tuple(b.get("api_key_env") for b in (cfg.get("backends") or {}).values() if isinstance(b, dict) and b.get("api_key_env"))


def env_names() -> list[str]:
    """Names of the environment variables whose values are secrets."""
    extra = [n.strip() for n in os.environ.get("AINKIT_SECRET_ENVS", "").split(",") if n.strip()]
    return list(dict.fromkeys(["OPENAI_API_KEY", *_config_envs(), *extra]))


def register(value: str, name: str = "api key") -> None:
    """Treat `value` as a secret from now on (e.g. a key given to a Backend)."""
    if value and len(value) >= MIN_LENGTH:
        _registered[value] = name


def secrets() -> dict[str, str]:
    """value -> name of every secret known now."""
    found = dict(_registered)
    for name in env_names():
        value = os.environ.get(name, "")
        if len(value) >= MIN_LENGTH:
            found[value] = name
    return found


def scrub(text: str) -> str:
    """`text` with every known secret value replaced by [redacted NAME]."""
    if not text:
        return text
    for value, name in sorted(secrets().items(), key=lambda kv: -len(kv[0])):
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text
