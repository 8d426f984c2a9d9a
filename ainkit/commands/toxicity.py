"""`ainkit toxicity`: images judged by a vision LLM under the LlavaGuard policy (ainkit.stages.toxicity).

    ainkit toxicity --input imgs/ --output judged.jsonl --base-url https://api.openai.com/v1 --model gpt-4o --shard 0/4
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import client_for, endpoint_of, llm_options, stage_options
from ainkit.ground.errors import epilog

PARSER = dict(help="judge images with a vision LLM under the LlavaGuard policy (Figure 16)",
              description="""Send each image (resized) with the kit's LlavaGuard-taxonomy policy to a vision judge and
                          record toxicity {rating Safe|Unsafe|Unparsed, category, rationale, model, policy_version}.
                          Answers that are not exactly the JSON asked for are Unparsed and filtered like Unsafe
                          (fail closed); `keep` is true only for Safe. Decisions are cached by image sha256 + policy
                          + model. Unreadable images go to the rejects file. Text-only backends are refused.""",
              epilog="GPT-4o: OPENAI_API_KEY=... ainkit toxicity --input imgs/ --output judged.jsonl "
                     "--base-url https://api.openai.com/v1 --model gpt-4o --vision yes. Self-hosted LlavaGuard: "
                     "vllm serve AIML-TUDA/LlavaGuard-v1.2-7B-OV-hf, then ainkit toxicity --input imgs/ --output "
                     "judged.jsonl --base-url http://127.0.0.1:8000/v1 --model AIML-TUDA/LlavaGuard-v1.2-7B-OV-hf. "
                       + epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True, help="a folder of images, or JSON Lines records with an image path field "
                   "(relative paths resolve against the JSON Lines file's folder)")
    p.add_argument("--output", required=True, help="judged records (JSON Lines)")
    p.add_argument("--image-field", default="image", help="field holding the image path in JSON Lines input (default: image)")
    p.add_argument("--longest-side", type=int, default=672, help="resize images to this longest side before sending (default 672)")
    stage_options(p)
    p.add_argument("--vision", choices=["probe", "yes", "no"], default="probe",
                   help="can the backend see images? probe (default: ask it the colour of a red image), yes, no")
    p.add_argument("--no-json-mode", action="store_true", help="do not send response_format=json_object")
    llm_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.services import endpoint
    from ainkit.stages import toxicity

    backend = endpoint.vision_backend(endpoint_of(args), args.vision)
    print(f"[toxicity] judge: {backend.describe()}; policy {toxicity.POLICY_VERSION}", flush=True)
    client = client_for(args, backend)
    try:
        summary, counts = toxicity.run(args.input, args.output, client, args.rejects, args.image_field, args.longest_side,
                                       not args.no_json_mode, progress=sys.stderr.isatty(), resume=not args.restart,
                                       shard=args.shard)
    finally:
        client.close()
    print(summary.line("toxicity") + f"; Safe {counts['Safe']}, Unsafe {counts['Unsafe']}, Unparsed {counts['Unparsed']} "
          f"(filtered as unsafe), {counts['from cache']} from the decision cache")
    print(client.stats.line())
    return summary.exit_code()
