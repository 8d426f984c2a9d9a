"""The kit's error kinds and the exit codes every `ainkit` command returns.

    ainkit similarity ...; echo $?        # 0, 2, 3, 4, 130: see EXIT_CODES

A `UserError` is something the user can fix (a path, a flag, a file's content, a missing model):
the command prints its one-line message, never a traceback (`--debug` shows it). Anything else
is a bug and exits 1 with the traceback.
"""
from __future__ import annotations

EXIT_OK = 0                # every record processed (some may be rejected for their content: see the rejects file)
EXIT_BUG = 1               # an unexpected error (a bug): the traceback is printed
EXIT_USAGE = 2             # a user error: bad flag, bad path, unreadable input, settings that differ from the journal
EXIT_SOME_FAILED = 3       # some records failed at the endpoint (after retries); they are in the rejects file
EXIT_ALL_FAILED = 4        # records failed at the endpoint and none was kept, or it refused the run (401/403/404)
EXIT_NOTEBOOK = 5          # ainkit reproduce: a notebook failed (its cell and error are shown; results of the others kept)
EXIT_INTERRUPTED = 130     # Ctrl-C or SIGTERM: finished work is journalled; the same command resumes
EXIT_PIPE = 141            # the reader of stdout went away (`ainkit paper show table1 | head -1`): 128 + SIGPIPE

EXIT_CODES = {
    EXIT_OK: "all records processed (content rejects are in the rejects file)",
    EXIT_BUG: "unexpected error (a bug; traceback printed)",
    EXIT_USAGE: "user error: a flag, a path, the input or the settings (message says which)",
    EXIT_SOME_FAILED: "some records failed at the endpoint; re-run the same command to retry only those",
    EXIT_ALL_FAILED: "records failed at the endpoint and none was kept (it is down?), or the endpoint refused the run "
                     "(bad key, unknown model)",
    EXIT_NOTEBOOK: "ainkit reproduce: a notebook failed (its failing cell and the error are shown)",
    EXIT_INTERRUPTED: "interrupted; run the same command again to resume",
    EXIT_PIPE: "the reader of the output went away (e.g. `| head`); nothing is wrong",
}


class UserError(Exception):
    """A problem the user can fix; its message names the file, line, record or flag."""

    exit_code = EXIT_USAGE


class EndpointRefused(UserError):
    """The endpoint answered with an error no retry can fix (401, 403, 404): the run stops at once."""

    exit_code = EXIT_ALL_FAILED


def epilog() -> str:
    """The exit-code table for a command's --help."""
    return "exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items())
