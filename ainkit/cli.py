"""The `ainkit` command: one sub-command per stage, each looked up in a registry and imported lazily.

    ainkit --help
    ainkit reproduce --only 06,07 -p extra_scores my_model.json
    ainkit paper show table1
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from ainkit import __version__


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run the notebooks (papermill), write REPRODUCTION.md and manifest.json",
                       description="Execute the numbered notebooks in order through papermill into reports/notebooks/, "
                       "then build reports/REPRODUCTION.md (published vs kit, per artefact) and reports/manifest.json "
                       "(git commit, package versions, parameters, seconds per notebook). Stops at the first failing "
                       "notebook and shows the failing cell.")
    p.add_argument("--only", metavar="NN,NN", help="run only these notebooks, by number or name (e.g. 06,07)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a notebook parameter in every selected notebook that declares it (repeatable); "
                        "cast to the type the notebook declares. Never a secret: use environment variables")
    p.add_argument("--profile", choices=["local", "paper"], default="local",
                   help="local (default): offline embedded stand-ins; paper: the report's real models and services "
                        "(needs network and keys in environment variables)")
    p.add_argument("--out", metavar="DIR", help="write figures/ and reports/ under DIR instead of the kit's own folders")
    p.add_argument("--notebooks", metavar="DIR", help="take the notebooks from DIR instead of notebooks/")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args: argparse.Namespace) -> int:
    from ainkit.reproduce import ReproduceError, run

    try:
        run(only=args.only, overrides=args.parameter, profile=args.profile, out_root=args.out, notebooks_dir=args.notebooks)
    except ReproduceError as exc:
        print(f"ainkit reproduce: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_paper(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="list or show the report's published numbers",
                       description="The report's published numbers (ainkit/paper/), each with the table or figure it comes from.")
    psub = p.add_subparsers(dest="paper_cmd", required=True)
    psub.add_parser("list", help="list the artefacts")
    show = psub.add_parser("show", help="print one artefact, e.g. `ainkit paper show table1`")
    show.add_argument("name", help="artefact name (see `ainkit paper list`)")
    p.set_defaults(func=_run_paper)


def _run_paper(args: argparse.Namespace) -> int:
    from ainkit import paper

    if args.paper_cmd == "list":
        for name in paper.artefacts():
            print(f"{name:<12} {paper.meta(name)['title']}")
        return 0
    try:
        print(paper.show(args.name))
    except KeyError as exc:
        print(f"ainkit paper: error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


# name -> function adding the sub-command; later stages register here.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "reproduce": _add_reproduce,
    "paper": _add_paper,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ainkit", description="Reproduction kit for the AIN report and tools to build "
                                     "an Arabic multimodal model. Every sub-command has its own --help.")
    parser.add_argument("--version", action="version", version=f"ainkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
