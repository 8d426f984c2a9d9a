"""The options several sub-commands share, written once: --debug, the record-stage trio, the LLM endpoint and client.

    from ainkit.commands.options import COMMON, stage_options, llm_options
    p = sub.add_parser("mystage", parents=[COMMON]); stage_options(p); llm_options(p)
    client = client_for(args, backend)            # a Client with the --concurrency/--rpm/... the user gave
"""
from __future__ import annotations

import argparse

from ainkit.services.endpoint import add_endpoint_options

# options every sub-command takes
COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show the full traceback of an error (default: one line)")

REJECTS_HELP = "rejects file (default: <output stem>.rejects.jsonl)"
SHARD_HELP = "process only shard I of N (by id hash), e.g. one task of a SLURM array"
CACHE_DIR_HELP = ("shared answer cache (default: ~/.cache/ainkit/store, or AINKIT_CACHE_DIR); "
                  "an answer paid for once is never paid again, whatever the output path")


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every `finally` runs (servers stop, journals close)."""


def stage_options(p: argparse.ArgumentParser, rejects_help: str = REJECTS_HELP, shard_help: str | None = SHARD_HELP,
                  restart: bool = True) -> None:
    """--rejects, --shard and --restart: the same on every record stage (`shard_help` None: no --shard)."""
    p.add_argument("--rejects", help=rejects_help)
    if shard_help:
        p.add_argument("--shard", metavar="I/N", help=shard_help)
    if restart:
        p.add_argument("--restart", "--no-resume", dest="restart", action="store_true",
                       help="discard an earlier run's journal and start over (needed when the settings changed)")


def cache_dir_option(p: argparse.ArgumentParser | argparse._ArgumentGroup, help: str = CACHE_DIR_HELP) -> None:
    p.add_argument("--cache-dir", help=help)


def llm_options(p: argparse.ArgumentParser) -> None:
    """The endpoint (ainkit.services.endpoint) and the client's limits, retries and answer cache (`client_for`)."""
    g = p.add_argument_group("LLM endpoint (default: OPENAI_BASE_URL / OPENAI_API_KEY if set, else the embedded local server)")
    add_endpoint_options(g)
    g.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    g.add_argument("--rpm", type=int, help="requests-per-minute ceiling")
    g.add_argument("--tpm", type=int, help="tokens-per-minute ceiling")
    g.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    g.add_argument("--max-retries", type=int, default=5, help="retries on 429/5xx/timeouts (default 5)")
    cache_dir_option(g)
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the answer cache")
    g.add_argument("--cache-across-endpoints", action="store_true",
                   help="reuse cached answers of any endpoint serving the same model name (default: answers are keyed by "
                        "the endpoint too: its base URL, or the embedded model file's checksum)")


def endpoint_of(args: argparse.Namespace):
    """The endpoint `llm_options` read (ainkit.services.endpoint.Endpoint)."""
    from ainkit.services import endpoint

    return endpoint.from_args(args)


def client_for(args: argparse.Namespace, backend):
    """A Client on `backend` with the limits, retries and cache `llm_options` read."""
    from ainkit.services import cache
    from ainkit.services.llm import Client

    return Client(backend, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, timeout=args.timeout,
                  max_retries=args.max_retries, cache=cache.open_cache(args.cache_dir, enabled=not args.no_cache),
                  share_across_endpoints=args.cache_across_endpoints)


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value
