"""Every option of every sub-command reaches its command's run: an option nobody reads fails here.

    .venv/bin/python -m pytest tests/test_commands.py

The proof reads the code with `ast`: each dest of a sub-command's parser (nested sub-commands included)
must be read as `args.DEST` (or getattr(args, "DEST")) by the command's module or by a shared helper of
ainkit.commands.options / ainkit.services.endpoint that the module calls with the parsed arguments.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import textwrap

import pytest

from ainkit.commands import cli, options
from ainkit.services import endpoint

NOT_THE_COMMANDS = {"help", "debug", "func"}  # argparse's own; --debug is read by cli.main for every command
HELPERS = {"client_for": [options.client_for], "endpoint_of": [options.endpoint_of, endpoint.from_args]}


def reads(source: str) -> set[str]:
    """The attributes read from a variable named `args` anywhere in `source`."""
    found = set()
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "args":
            found.add(node.attr)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id == "args"
              and isinstance(node.args[1], ast.Constant)):
            found.add(node.args[1].value)
    return found


def consumed(source: str) -> set[str]:
    """What a command module reads, itself and through the shared helpers it calls."""
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    found = reads(source)
    for helper, functions in HELPERS.items():
        if helper in names:
            for f in functions:
                found |= reads(inspect.getsource(f))
    return found


def dests(parser: argparse.ArgumentParser, where: str = "") -> list[tuple[str, str]]:
    """(where, dest) of every option and positional of `parser` and of its sub-commands."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.append((where, action.dest))
            for name, child in action.choices.items():
                out += dests(child, f"{where} {name}".strip())
        elif action.dest not in NOT_THE_COMMANDS:
            out.append((where, action.dest))
    return out


def unused(parser: argparse.ArgumentParser, source: str) -> list[str]:
    seen = consumed(source)
    return [f"{where + ': ' if where else ''}{dest}" for where, dest in dests(parser) if dest not in seen]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_is_a_module():
    assert set(subcommands()) == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        module = importlib.import_module(f"ainkit.commands.{name}")
        assert callable(module.add_arguments) and callable(module.run) and "help" in module.PARSER, name


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_reaches_the_command(name):
    parser = subcommands()[name]
    run = importlib.import_module(f"ainkit.commands.{name}").run
    source = inspect.getsource(inspect.getmodule(run))  # lab: ainkit.reproduction.lab owns its run
    assert not unused(parser, source), f"ainkit {name}: options its run never reads: {unused(parser, source)}"


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_takes_debug(name):
    assert "--debug" in subcommands()[name].format_help()


def test_an_unused_option_fails():
    """A planted option that run ignores is found (the proof is not vacuous), through a helper too."""
    scratch = argparse.ArgumentParser()
    scratch.add_argument("--input")
    scratch.add_argument("--planted")
    options.llm_options(scratch)
    source = ("def run(args):\n    ep = endpoint_of(args)\n    client = client_for(args, None)\n"
              "    return stage(args.input)\n")
    assert unused(scratch, source) == ["planted"]
    assert "model" in unused(scratch, "def run(args):\n    return stage(args.input, args.planted)\n")
    inner = scratch.add_subparsers(dest="what")
    inner.add_parser("one").add_argument("--deep")
    assert unused(scratch, source.replace("args.input", "args.input, args.planted, args.what")) == ["one: deep"]


def test_toxicity_shard_reaches_the_stage():
    """`ainkit toxicity --shard` was accepted and dropped; now toxicity.run takes it."""
    assert "shard" in inspect.signature(importlib.import_module("ainkit.stages.toxicity").run).parameters
    assert "shard=args.shard" in inspect.getsource(importlib.import_module("ainkit.commands.toxicity").run)
