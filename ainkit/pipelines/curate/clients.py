"""curate's models and services: checked before the first request, opened for a step, their usage journalled.

    check_services(cfg, STEPS)      # every endpoint, key, encoder, WordNet and judge the steps need; nothing sent
    with opened_client(cfg["translate"], cache_dir, "translate", shard_dir / "usage") as client: ...

A problem is said as the `--set` switch that fixes it (exit 2).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ainkit.ground import atomic
from ainkit.pipelines.curate.config import DOWNLOAD_SWITCH, CurateError


def endpoint_of(section: dict[str, Any]):
    """The section's endpoint (ainkit.services.endpoint): its `model` and `backend` settings."""
    from ainkit.services import endpoint

    return endpoint.parse_endpoint(section["model"], None, section.get("backend"))


class Usage:
    """A client's requests, tokens and cost, journalled as they are paid: shards/NN/usage/<step>.<pid>.<ns>.json,
    one file per process and step, rewritten in place (one pwrite of a fixed width, which a kill cannot tear) after
    every finished request and when the client closes. The summary adds up every file: work paid before a kill
    counts once, and a resumed run's work is added to it."""

    WIDTH = 512

    def __init__(self, folder: Path, step: str, client):
        folder.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.path = folder / f"{step}.{os.getpid()}.{time.time_ns()}.json"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, atomic.file_mode())
        counted = client.account  # every finished request (not an answer from the cache) goes through it

        def account(*args: Any, **kwargs: Any) -> None:
            counted(*args, **kwargs)
            self.write()

        client.account = account
        self.write()

    def write(self) -> None:
        st = self.client.stats
        data = json.dumps({"requests": st.done + st.failed, "from_cache": st.cached, "retries": st.retried,
                           "tokens": st.prompt_tokens + st.completion_tokens, "cost_usd": st.cost}).encode()
        os.pwrite(self._fd, data.ljust(self.WIDTH), 0)

    def close(self) -> None:
        if self._fd is not None:
            self.write()
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def total(folder: Path, step: str) -> Counter:
        """The sum of a step's usage files in one shard folder (a file a kill left empty counts nothing)."""
        total: Counter = Counter()
        for path in sorted(folder.glob(f"{step}.*.json")) if folder.is_dir() else ():
            try:
                total.update(json.loads(path.read_bytes() or b"{}"))
            except ValueError:
                continue
        return total


def _llm_problem(config: dict[str, Any], step: str, vision: bool = False) -> str:
    """Why the section's endpoint cannot serve the run ('' when it can), each way out named as a --set switch."""
    import importlib.util

    from ainkit.services import endpoint, serve
    from ainkit.services.backend import LLMError

    section = config[step]
    where = f"{step}.model {section['model']!r}"
    try:
        ep = endpoint_of(section)
        if ep.kind == "hf":
            return f"{where}: a Hugging Face folder is not a chat endpoint; --set {step}.model=openai:NAME or local:NAME"
        if vision:
            endpoint.vision_backend(ep, refusal="not a vision endpoint (the embedded server is text-only and never judges "
                                    f"images); --set {step}.model=openai:NAME (a vision model), or --set toxicity.mode=skip "
                                    "(images NOT screened)")
        if section.get("batch") and ep.kind != "openai":
            return f"{step}.batch: {ep.describe()} has no Batch API; --set {step}.batch=false or an openai: model"
        if ep.kind == "mt":
            from ainkit.services import mt

            try:
                mt.locate(ep.name, bool(section.get("allow_download")))
            except mt.MTUnavailable as exc:
                return f"{where}: {str(exc).replace('--allow-download', f'--set {step}.allow_download=true')}"
            return ""
        if ep.kind == "local":
            if importlib.util.find_spec("llama_cpp") is None:
                return (f"{where}: the embedded server needs llama-cpp-python, which is not installed (the set-up builds "
                        f"it); or --set {step}.model=openai:NAME with OPENAI_BASE_URL")
            serve.model_path(ep.name)
            return ""
        backend = endpoint.endpoint_backend(ep)
    except LLMError as exc:
        why = re.sub(r"^--(?:model|backend) \S+: ", "", str(exc)).replace("--backend", f"--set {step}.backend=")
        return f"{where}: {why}"
    if backend is not None and not backend.api_key and "api.openai.com" in backend.base_url:
        return (f"{where}: no API key for {backend.base_url} (OPENAI_API_KEY, or the backend's api_key_env, is not set); "
                f"set it, or point OPENAI_BASE_URL (or --set {step}.backend=NAME) at another server")
    return ""


def check_services(config: dict[str, Any], steps: set[str] | list[str] | tuple[str, ...]) -> None:
    """Every model and service `steps` need, checked before the first request of the run (nothing is sent):
    the endpoints (embedded model installed, a key for OpenAI's API), the encoder (here, or downloads allowed),
    WordNet for METEOR, a vision judge. A problem stops the run (exit 2) naming the curate switch that fixes it."""
    from ainkit.stages import metrics, similarity

    problems = [p for step in ("translate", "back_translate") if step in steps and (p := _llm_problem(config, step))]
    tox = config["toxicity"]
    if "toxicity" in steps and tox["mode"] == "required" and tox["model"]:
        problems += [p for p in [_llm_problem(config, "toxicity", vision=True)] if p]
    if "similarity" in steps:
        s = config["similarity"]
        allow = bool(s["allow_download"]) or None
        try:
            name = similarity.resolve_name(s["encoder"], allow, DOWNLOAD_SWITCH)
            if not Path(name).expanduser().is_dir():
                similarity.locate(name, allow, DOWNLOAD_SWITCH)
        except similarity.EncoderUnavailable as exc:
            problems.append(f"similarity.encoder {s['encoder']!r}: {exc}")
    if "metrics" in steps:
        try:
            metrics._wordnet()
        except metrics.MetricUnavailable as exc:
            problems.append(f"metrics: {exc}")
    if problems:
        raise CurateError("cannot run: " + "; ".join(problems) + ". Nothing was sent")


@contextlib.contextmanager
def opened_client(section: dict[str, Any], cache_dir: str | None, label: str, usage: Path | None = None):
    """A Client on the section's endpoint (the embedded server runs for as long as the block); its usage journalled
    in the folder `usage` when given."""
    from ainkit.services import cache, endpoint
    from ainkit.services.llm import Client

    ep = endpoint_of(section)
    with contextlib.ExitStack() as stack:
        if ep.kind == "mt":  # a dedicated translation model on this machine (ainkit.services.mt)
            from ainkit.services import mt

            client = mt.open_client(ep.name, "ar-en" if label == "back_translate" else "en-ar",
                                    bool(section.get("allow_download")), cache=cache.open_cache(cache_dir))
            print(f"[curate] {label}: {client.backend.describe()} ({client.engine.kind}, {client.engine.device})", flush=True)
        else:
            backend = stack.enter_context(endpoint.open_endpoint(ep))
            print(f"[curate] {label}: {backend.describe()}", flush=True)
            client = Client(backend, concurrency=section["concurrency"], cache=cache.open_cache(cache_dir))
        journal = Usage(usage, label, client) if usage is not None else None
        try:
            yield client
        finally:
            if journal is not None:
                journal.close()
            client.close()
