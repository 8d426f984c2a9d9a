"""Where a command's model is: one reading of --model/--base-url/--backend, one way to open it, one vision check.

    from ainkit.services import endpoint
    ep = endpoint.parse_endpoint("openai:gpt-4o", base_url=None)   # or endpoint.from_args(args)
    with endpoint.open_endpoint(ep) as backend: ...   # a remote Backend as it is, or the embedded server for the block
    backend = endpoint.vision_backend(ep, "probe")     # a judge that must see images (never the embedded server)
    endpoint.require_vision(backend, client)           # by configuration, else by asking the colour of a red image

Endpoints, the same for every command, curate, evaluate and the notebooks: `openai:NAME` (OPENAI_BASE_URL /
OPENAI_API_KEY, or --base-url), `local:NAME` (the embedded llama.cpp server, ainkit.services.serve), `hf:PATH` (a
local Hugging Face model, for logit scoring), `mt:PATH` (a dedicated MT model, ainkit.services.mt: translation
only), a named backend of configs/llm.yaml (--backend), or --base-url/--model. `add_endpoint_options` adds those
switches to a command's parser.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ainkit.ground import redact
from ainkit.ground.paths import CONFIGS
from ainkit.services import images
from ainkit.services.llm import Backend, Client, LLMError, load_config
from ainkit.services.serve import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, embedded_server

MODEL_HELP = ("openai:NAME (OPENAI_BASE_URL/OPENAI_API_KEY or --base-url), local:NAME (embedded: "
              "smollm2-135m, a stand-in whose translations are not usable data), mt:PATH (translate: a dedicated MT "
              "model such as opus-mt-en-ar or NLLB-200, a folder or a hub id), or a plain model name at "
              "--base-url/--backend (default: the backend's, gpt-4o-mini, or local:smollm2-135m when no endpoint is set)")
BASE_URL_HELP = "any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY)"


def add_endpoint_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, model_help: str = MODEL_HELP,
                         model_default: str | None = None, named: bool = True) -> None:
    """--model and --base-url; with `named` also --backend and --local-model (read back by `from_args`)."""
    parser.add_argument("--model", default=model_default, help=model_help)
    if named:
        parser.add_argument("--backend", help="a named backend from configs/llm.yaml")
    parser.add_argument("--base-url", help=BASE_URL_HELP)
    if named:
        parser.add_argument("--local-model", default=None, help="same as --model local:NAME")


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


def from_args(args: argparse.Namespace) -> Endpoint:
    """The endpoint of a command's parsed `add_endpoint_options` switches."""
    return parse_endpoint(args.model, args.base_url, getattr(args, "backend", None), getattr(args, "local_model", None))


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


def endpoint_backend(ep: Endpoint, unset: str | None = None) -> Backend | None:
    """The Backend of an openai endpoint; None for local (the caller starts the embedded server). With no URL, key or
    backend anywhere: OpenAI's API, or, when `unset` is given, a refusal saying that."""
    if ep.kind == "hf":
        raise LLMError(f"hf:{ep.name}: a local Hugging Face model is scored by its logits (ainkit evaluate); "
                       "this command needs a chat endpoint (openai:NAME or local:NAME)")
    if ep.kind == "mt":
        raise LLMError(f"mt:{ep.name}: a dedicated translation model translates (ainkit translate, curate's translate "
                       "steps); this command needs a chat endpoint (openai:NAME or local:NAME)")
    if ep.kind == "local":
        return None
    b = resolve_backend(ep.backend, ep.base_url, ep.name)
    if b is None and unset:
        raise LLMError(unset)
    if b is None:  # no URL and no key anywhere: OpenAI's API (the missing key is named where it matters)
        b = Backend("openai", "https://api.openai.com/v1", ep.name or os.environ.get("AINKIT_MODEL", "gpt-4o-mini"))
    return b


@contextlib.contextmanager
def open_endpoint(ep: Endpoint, unset: str | None = None, **kw) -> Iterator[Backend]:
    """The Backend of a parsed endpoint; a local one runs for as long as the block (`kw`: embedded_server's)."""
    with backend_or_embedded(endpoint_backend(ep, unset), ep.name or DEFAULT_LOCAL_MODEL, **kw) as b:
        yield b


@contextlib.contextmanager
def backend_or_embedded(backend: Backend | None, model: str = DEFAULT_LOCAL_MODEL, **kw) -> Iterator[Backend]:
    """The configured backend as it is, or the embedded server for as long as the block runs."""
    if backend is not None:
        yield backend
        return
    with embedded_server(model, **kw) as b:
        yield b


PROBE_COLORS = {"red": (220, 20, 20), "green": (20, 180, 20), "blue": (20, 40, 220)}
NO_VISION = ("no vision endpoint configured (--base-url/--backend or OPENAI_BASE_URL/OPENAI_API_KEY); "
             "the embedded server is text-only and is never used to judge images")


def vision_backend(ep: Endpoint, vision: str = "probe", refusal: str = NO_VISION, unset: str | None = None) -> Backend:
    """The Backend of an endpoint that must see images: an openai one (the embedded server is text-only, refused with
    `refusal`); `vision` yes/no says whether it can, probe leaves that to `require_vision`."""
    backend = endpoint_backend(ep, unset) if ep.kind == "openai" else None
    if backend is None:
        raise LLMError(refusal)
    if vision != "probe":
        backend.vision = vision == "yes"
    return backend


def probe_vision(client: Client) -> tuple[bool, str]:
    """Ask the backend the colour of a plain red image; (True, '') only when it answers red (never cached)."""
    from PIL import Image

    url = images.encode(Image.new("RGB", (64, 64), PROBE_COLORS["red"]))
    msgs = [{"role": "user", "content": [{"type": "text", "text": "What colour is this image? Answer with one word."},
                                         images.part(url)]}]
    store, client.cache = client.cache, None
    try:
        [ans] = client.run([msgs], max_tokens=8, temperature=0)
    finally:
        client.cache = store
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
