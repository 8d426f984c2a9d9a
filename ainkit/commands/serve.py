"""`ainkit serve`: the embedded OpenAI-compatible server (llama.cpp) until Ctrl-C (ainkit.services.serve).

    ainkit serve --port 8080
"""
from __future__ import annotations

import argparse
import sys

from ainkit.commands.options import Terminated
from ainkit.ground.errors import EXIT_ALL_FAILED

PARSER = dict(help="run the embedded OpenAI-compatible server (llama.cpp) until Ctrl-C",
              description="Start llama.cpp's OpenAI-compatible server on 127.0.0.1 with a small GGUF model "
                          "shipped on PyPI; point any client at the printed base URL.",
              epilog=("It is ready when it has generated one token. Exit codes: 0 stopped by Ctrl-C/SIGTERM; 4 the server died "
                      "(its exit signal and log are printed); 2 it could not start."))


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--model", default=None, help="smollm2-135m (default; the only embedded model, a stand-in)")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--n-ctx", type=int, default=2048, help="context length (default 2048)")
    return p


def run(args: argparse.Namespace) -> int:
    import time

    from ainkit.services import serve

    try:
        with serve.embedded_server(args.model or serve.DEFAULT_LOCAL_MODEL, n_ctx=args.n_ctx, port=args.port, verbose=True,
                                   workers=1) as b:  # one URL to hand out: one process, every core
            print(f"export OPENAI_BASE_URL={b.base_url}   # model name: {b.model}; Ctrl-C stops the server", flush=True)
            while (why := b.dead()) is None:
                time.sleep(1.0)
            print(f"ainkit serve: error: {why}", file=sys.stderr)
            return EXIT_ALL_FAILED
    except (KeyboardInterrupt, Terminated):
        print("[serve] stopped", file=sys.stderr)
        return 0
