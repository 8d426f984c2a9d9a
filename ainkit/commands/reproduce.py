"""`ainkit reproduce`: the notebooks through papermill, then REPRODUCTION.md/.html and manifest.json.

    ainkit reproduce --only 06,07 -p extra_scores my_model.json
"""
from __future__ import annotations

import argparse

PARSER = dict(help="run the notebooks (papermill), write REPRODUCTION.md/.html and manifest.json",
              description="""Execute the numbered notebooks in order through papermill into reports/notebooks/, then
                          build reports/REPRODUCTION.md and REPRODUCTION.html (scoreboard, findings, published vs
                          kit per artefact) and reports/manifest.json (git commit, package versions, parameters,
                          seconds and inputs fingerprint per notebook). A notebook whose inputs are unchanged since
                          the last run in the same output folder (notebook, parameters, ainkit/ and configs/ files,
                          packages, profile: see ainkit.reproduction.rerun) and whose outputs are all still there is
                          reused, not run; --force reruns. Stops at the first failing notebook and shows the failing
                          cell.""",
              epilog="exit codes: 0 done; 1 a notebook failed (its cell and error are shown); 2 a user error")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--only", metavar="NN,NN", help="run only these notebooks, by number or name (e.g. 06,07)")
    p.add_argument("--force", nargs="?", const="all", metavar="NN,NN",
                   help="rerun even when the inputs are unchanged: all selected notebooks, or only these (e.g. --force 06)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a notebook parameter in every selected notebook that declares it (repeatable); "
                        "cast to the type the notebook declares. Never a secret: use environment variables")
    p.add_argument("--profile", choices=["local", "paper"], default="local",
                   help="local (default): offline embedded stand-ins; paper: the report's real models and services "
                        "(needs network and keys in environment variables)")
    p.add_argument("--out", metavar="DIR", help="write figures/ and reports/ under DIR instead of the kit's own folders")
    p.add_argument("--notebooks", metavar="DIR", help="take the notebooks from DIR instead of notebooks/")
    return p


def run(args: argparse.Namespace) -> int:
    """Errors are ReproduceError (a UserError: exit 2) or NotebookFailed (exit 1); main() reports them."""
    from ainkit.reproduction.reproduce import run

    run(only=args.only, overrides=args.parameter, profile=args.profile, out_root=args.out, notebooks_dir=args.notebooks,
        force=args.force)
    return 0
