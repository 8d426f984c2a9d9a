"""The `ainkit` command: one sub-command per module of ainkit.commands (PARSER, add_arguments, run), looked up here.

    ainkit --help
    ainkit reproduce --only 06,07 -p extra_scores my_model.json
    ainkit paper show table1

A command module imports its stage only inside `run`, so `ainkit --help` loads no model library; the options
several commands share are written once in ainkit.commands.options.
"""
from __future__ import annotations

import argparse
import signal
import sys
import traceback

from ainkit import __version__
from ainkit.commands import (curate, evaluate, export, gallery, lab, leakage, metrics, paper, reproduce, serve,
                             similarity, survey, toxicity, train, translate, verify)
from ainkit.commands.options import COMMON, Terminated
from ainkit.ground.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_USAGE, UserError, epilog

# the sub-commands, in --help order: name -> its module (ainkit.commands.<name>)
COMMANDS = {"reproduce": reproduce, "paper": paper, "similarity": similarity, "metrics": metrics, "verify": verify,
            "export": export, "curate": curate, "translate": translate, "serve": serve, "toxicity": toxicity,
            "evaluate": evaluate, "leakage": leakage, "train": train, "lab": lab, "gallery": gallery, "survey": survey}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ainkit", description="Reproduction kit for the AIN report and tools to build "
                                     "an Arabic multimodal model. Every sub-command has its own --help.", epilog=epilog())
    parser.add_argument("--version", action="version", version=f"ainkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks of errors (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, parents=[COMMON], **command.PARSER)  # every sub-command takes --debug after its name
        command.add_arguments(p).set_defaults(func=command.run)
    return parser


def _on_sigterm(signum, frame):
    raise Terminated()


def _error(args: argparse.Namespace, exc: BaseException) -> None:
    """One line on stderr (secrets scrubbed); the traceback too with --debug."""
    from ainkit.ground import redact

    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    text = str(exc) or type(exc).__name__
    print(redact.scrub(f"ainkit {args.command}: error: {text}"), file=sys.stderr)




def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (so a BrokenPipeError came from it, not from a socket)."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poll.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe to complain about."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Parse, run the sub-command, and turn every way it can end into one line and an exit code (ainkit.ground.errors).
    When the reader of stdout goes away, it stops quietly with 141, as a command killed by SIGPIPE does."""
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled, not at interpreter exit
        return code
    except BrokenPipeError as exc:
        if not _stdout_closed():  # a socket or another pipe: an error like any OSError
            _error(args, exc)
            return EXIT_USAGE
        _quiet_stdout()
        return EXIT_PIPE
    except (KeyboardInterrupt, Terminated) as exc:
        if getattr(args, "debug", False):
            traceback.print_exception(exc)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"ainkit {args.command}: {what}; finished work is kept: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as exc:
        _error(args, exc)
        return exc.exit_code
    except (ValueError, OSError) as exc:  # a bad value or path the stage did not phrase itself
        _error(args, exc)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with the traceback
        traceback.print_exception(exc)
        print(f"ainkit {args.command}: unexpected error (a bug; please report it with the traceback above)", file=sys.stderr)
        return EXIT_BUG
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
