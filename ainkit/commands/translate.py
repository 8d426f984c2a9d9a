"""`ainkit translate`: JSON Lines records English <-> Arabic through an endpoint (ainkit.stages.translate).

    ainkit translate --input en.jsonl --output ar.jsonl --messages --model openai:gpt-4o
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import client_for, endpoint_of, llm_options, stage_options
from ainkit.ground.errors import UserError, epilog

PARSER = dict(help="translate JSON Lines records English <-> Arabic through an LLM",
              description="""Translate one text field (--field) or every chat turn (--messages: 'messages' role/content
                          or ShareGPT 'conversations' from/value, <image> placeholders kept in place) of each
                          record. Every output is checked (empty, wrong script, placeholders lost/added, length
                          ratio, refusal, cut off); records with issues go to the rejects file with
                          `translation_issues`. Output keeps input order; a crashed run resumes without re-sending
                          completed requests. A request that 401/403/404s stops the run at once; strings longer than
                          --max-chars are rejected unsent. --batch sends the requests through OpenAI's Batch API
                          (half the price, answers within 24 h; batch ids are journalled, so the same command picks
                          up its batches after a crash; requests a batch did not answer go to the rejects file, and
                          the same command sends them again). --max-cost refuses a run whose estimate is over it
                          before any request.""",
              epilog=epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--field", default="text", help="the text field to translate (default: text); writes <field>_<target>")
    what.add_argument("--messages", action="store_true", help="translate every turn of chat records in place")
    p.add_argument("--output-field", help="field for the translation in --field mode (default: <field>_ar or <field>_en)")
    p.add_argument("--direction", choices=["en-ar", "ar-en"], default="en-ar", help="en-ar (default) or ar-en (back-translation)")
    p.add_argument("--prompt-lang", choices=["en", "ar"], default="ar",
                   help="language of the instruction prompt (default ar: the report found the Arabic prompt better)")
    p.add_argument("--max-tokens", type=int, default=1024, help="longest answer per string (default 1024)")
    p.add_argument("--max-chars", type=int, default=None, help="longest string sent, in characters (default 20000)")
    stage_options(p)
    p.add_argument("--window", type=int, default=0,
                   help="strings read ahead of the answers, which bounds memory (default: 4 x --concurrency)")
    p.add_argument("--batch", action="store_true", help="send the requests through OpenAI's Batch API (50 %% of the price)")
    p.add_argument("--allow-download", action="store_true", help="with --model mt:HUB_ID, download the MT model from the "
                   "Hugging Face hub when it is not in the local cache (default: offline)")
    p.add_argument("--mt-batch-size", type=int, default=16, help="with --model mt:..., strings per generate() batch "
                   "(default 16)")
    p.add_argument("--batch-requests", type=int, default=50_000, help="requests per batch file (default and OpenAI's "
                   "limit: 50000)")
    p.add_argument("--batch-poll", type=float, default=60.0, help="seconds between batch status checks (default 60)")
    p.add_argument("--max-cost", type=float, metavar="USD", help="""refuse (exit 2, nothing sent) when the estimated cost is
                                                                 over USD: prompt tokens approximated, --max-tokens for every
                                                                 answer, at configs/llm.yaml's prices (Batch API prices with
                                                                 --batch); answers already in the cache are free""")
    llm_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    import contextlib

    from ainkit.services import endpoint
    from ainkit.stages import translate

    settings = translate.Settings(args.direction, args.prompt_lang, max_tokens=args.max_tokens,
                                  max_chars=args.max_chars or translate.MAX_CHARS)
    ep = endpoint_of(args)
    if args.batch and ep.kind != "openai":
        raise UserError(f"--batch: {ep.describe()} has no Batch API; use an OpenAI endpoint (openai:NAME, --base-url, "
                        "--backend)")
    if args.batch and args.no_cache:
        raise UserError("--batch keeps the answers in the answer cache; it cannot run with --no-cache")
    if args.max_cost is not None and args.max_cost < 0:
        raise UserError(f"--max-cost {args.max_cost:g}: expected a non-negative amount of USD")
    batch = translate.BatchOptions(args.batch_requests, args.batch_poll) if args.batch else None
    backend_holder = {}

    @contextlib.contextmanager
    def opened():
        if ep.kind == "mt":  # a dedicated MT model on this machine (ainkit.services.mt)
            from ainkit.services import cache, mt

            client = mt.open_client(ep.name, args.direction, args.allow_download, args.mt_batch_size,
                                    cache.open_cache(args.cache_dir, enabled=not args.no_cache))
            print(f"[translate] endpoint: {client.backend.describe()} ({client.engine.kind}, {client.engine.device})",
                  flush=True)
            backend_holder["client"] = client
            try:
                yield client
            finally:
                client.close()
            return
        with endpoint.open_endpoint(ep) as b:
            print(f"[translate] endpoint: {b.describe()}", flush=True)
            client = client_for(args, b)
            backend_holder["client"] = client
            try:
                yield client
            finally:
                client.close()

    summary = translate.run(args.input, args.output, opened, settings, None if args.messages else args.field,
                            args.messages, args.output_field, args.rejects, args.shard, args.window,
                            progress=sys.stderr.isatty(), resume=not args.restart, model=ep.describe(), batch=batch,
                            max_cost=args.max_cost)
    print(summary.line("translate"))
    print(backend_holder["client"].stats.line())
    return summary.exit_code()
