"""Where a command's model is: one reading of --model/--base-url/--backend, one way to open it, one vision check.

    from ainkit.services import endpoint
    backend = endpoint.vision_backend(ep, "probe")   # a judge that must see images (never the embedded server)
    endpoint.require_vision(backend, client)         # by configuration, else by asking the colour of a red image
"""
from __future__ import annotations

from ainkit.services import images
from ainkit.services.llm import Backend, Client, LLMError

PROBE_COLORS = {"red": (220, 20, 20), "green": (20, 180, 20), "blue": (20, 40, 220)}
NO_VISION = ("no vision endpoint configured (--base-url/--backend or OPENAI_BASE_URL/OPENAI_API_KEY); "
             "the embedded server is text-only and is never used to judge images")


def vision_backend(ep, vision: str = "probe", refusal: str = NO_VISION) -> Backend:
    """The Backend of an endpoint that must see images: an openai one (the embedded server is text-only, refused with
    `refusal`); `vision` yes/no says whether it can, probe leaves that to `require_vision`."""
    from ainkit.services import llm

    backend = llm.endpoint_backend(ep) if ep.kind == "openai" else None
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
