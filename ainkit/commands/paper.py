"""`ainkit paper`: list or show the report's published numbers.

    ainkit paper show table1
"""
from __future__ import annotations

import argparse

from ainkit.ground.errors import UserError

PARSER = dict(help="list or show the report's published numbers",
              description="The report's published numbers (ainkit/reproduction/paper/), each with the table or figure it comes from.")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    psub = p.add_subparsers(dest="paper_cmd", required=True)
    psub.add_parser("list", help="list the artefacts")
    show = psub.add_parser("show", help="print one artefact, e.g. `ainkit paper show table1`")
    show.add_argument("name", help="artefact name (see `ainkit paper list`)")
    return p


def run(args: argparse.Namespace) -> int:
    from ainkit.reproduction import paper

    if args.paper_cmd == "list":
        for name in paper.artefacts():
            print(f"{name:<12} {paper.meta(name)['title']}")
        return 0
    try:
        print(paper.show(args.name))
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    return 0
