"""`ainkit survey`: a blind side-by-side survey: build the form, analyse the responses (ainkit.pipelines.survey).

    ainkit survey build --answers a.jsonl b.jsonl --output runs/survey
"""
from __future__ import annotations

import argparse

from ainkit.commands.options import COMMON
from ainkit.ground.errors import epilog

PARSER = dict(help="a blind side-by-side survey of models' answers: build the form, analyse the responses",
              description="""build: a static bilingual HTML form (no server) with model identities hidden and the
                          answers in a seeded order per rater and question, plus the de-blinding key apart from it.
                          analyze: shares with bootstrap intervals, Bradley-Terry strengths, position bias,
                          Krippendorff's alpha, breakdowns, Figures 7-9 from the responses; every bad response is
                          listed by file and rater.""",
              epilog=epilog())


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    ssub = p.add_subparsers(dest="survey_cmd", required=True)
    b = ssub.add_parser("build", help="write OUTPUT/form/survey.html, OUTPUT/key.json and OUTPUT/raters.csv", parents=[COMMON])
    b.add_argument("--answers", nargs="+", required=True, metavar="FILE", help="one predictions file per model (at least two)")
    b.add_argument("--items", help="the questions: item records with question, images, answer (default: the kit's fixture)")
    b.add_argument("--output", required=True, metavar="DIR")
    b.add_argument("--names", nargs="+", metavar="NAME", help="model names, one per answers file (only the key holds them)")
    b.add_argument("--raters", type=int, default=20, help="rater codes to issue (default 20)")
    b.add_argument("--seed", help="order seed (default: random); the key records it")
    b.add_argument("--limit", type=int, help="first N questions only")
    a = ssub.add_parser("analyze", help="check and analyse the saved responses against the key", parents=[COMMON])
    a.add_argument("--responses", required=True, metavar="DIR", help="folder of saved response files (*.json), or one file")
    a.add_argument("--key", required=True, metavar="FILE", help="the key.json `survey build` wrote")
    a.add_argument("--output", required=True, metavar="DIR")
    a.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.survey_cmd == "build":
        from ainkit.pipelines.survey import build

        print(build.line(build.build(args.answers, args.output, args.items, args.names, args.raters, args.seed, args.limit)))
        return 0
    from ainkit.pipelines.survey import analyze

    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap {args.bootstrap}: use at least 100 resamples")
    print(analyze.line(analyze.run(args.responses, args.key, args.output, args.bootstrap, args.seed), args.output))
    return 0
