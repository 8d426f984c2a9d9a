"""JupyterLab on the kit's notebooks with the kit's kernel: what `make lab` runs.

    .venv/bin/python -m ainkit.reproduction.lab                          # make lab
    .venv/bin/python -m ainkit.reproduction.lab --port 8899 --no-browser # make lab ARGS="--port 8899 --no-browser"
    .venv/bin/python -m ainkit.reproduction.lab -- --ServerApp.ip=0.0.0.0  # anything after -- goes to `jupyter lab` as is

The server's root is notebooks/ (from ainkit.ground.paths, whatever the working directory), new
notebooks and consoles get the `ainkit` kernel (registered by ainkit/ground/bootstrap.py), and
--allow-root is added when running as root, where JupyterLab otherwise refuses to start.
Figures show because `plots.save` displays what it writes; progress bars are ipywidgets.
"""
from __future__ import annotations

import argparse
import os
import sys

from ainkit.ground.paths import NOTEBOOKS

KERNEL = "ainkit"


def command(port: int | None = None, token: str | None = None, browser: bool = True, extra: list[str] | None = None) -> list[str]:
    """The `jupyter lab` command line, run with this interpreter (the venv's)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS}",
           f"--MultiKernelManager.default_kernel_name={KERNEL}"]
    if getattr(os, "geteuid", lambda: -1)() == 0:
        cmd.append("--allow-root")
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]  # that port or fail, never another
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not browser:
        cmd.append("--ServerApp.open_browser=False")
    return cmd + list(extra or [])


def kernel_registered() -> bool:
    """Whether Jupyter finds the kit's kernel (bootstrap's `ipykernel install --sys-prefix --name ainkit`)."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL in KernelSpecManager().find_kernel_specs()


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `python -m ainkit.reproduction.lab` (and of `ainkit lab`)."""
    p.add_argument("--port", type=int, help="serve on this port (default: 8888, or the next free one)")
    p.add_argument("--token", help="the access token (default: a random one, printed in the URL)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: further `jupyter lab` options, passed as is")
    return p


def run(args: argparse.Namespace) -> int:
    """Replace this process with JupyterLab (so Ctrl-C and its shutdown prompt reach it directly)."""
    if not kernel_registered():
        print(f"[lab] Jupyter kernel '{KERNEL}' is not registered: run `make setup` (python3 ainkit/ground/bootstrap.py); "
              "notebooks will ask for a kernel", file=sys.stderr, flush=True)
    extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
    cmd = command(args.port, args.token, not args.no_browser, extra)
    os.execv(cmd[0], cmd)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ainkit.reproduction.lab", description=__doc__.split("\n\n")[0])
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
