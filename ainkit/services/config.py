"""Configuration in layers, one loader for every command: defaults, then a preset (YAML), then `--set KEY=VALUE`.

    from ainkit.services.config import layered
    cfg = layered(DEFAULTS, "configs/curate/tiny.yaml", ["translate.concurrency=32"])   # ainkit curate
    cfg = layered(fields, "configs/train/tiny.yaml", ["max_steps=12"])                  # ainkit train (flat keys)

KEY is dotted (`translate.concurrency`) and must name a setting the defaults have; a typo is refused with the
closest name. VALUE is read as YAML (`32` an int, `{a: 1}` a mapping, `` None); text that is not YAML stays
text. A section listed in `free` takes any names below it (curate's `verify.thresholds`) and is replaced whole,
not merged. The merged result is what a command writes beside its run, with `git_commit()`
(ainkit.ground.provenance).
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from ainkit.ground.errors import UserError


class ConfigError(UserError, ValueError):
    """A preset or an override that cannot be read or names no setting (exit 2)."""


def read_preset(path: str | os.PathLike, presets: str = "", error: type[Exception] = ConfigError) -> dict[str, Any]:
    """A preset file's mapping of settings; `presets` names the kit's own, for the message of a missing file."""
    p = Path(path)
    if not p.is_file():
        raise error(f"--config {p}: no such file" + (f" (presets: {presets})" if presets else ""))
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise error(f"{p}: expected a mapping of settings, found {type(raw).__name__}")
    return raw


def parse_override(item: str, example: str, error: type[Exception] = ConfigError) -> tuple[str, Any]:
    """'KEY=VALUE' -> (KEY, VALUE read as YAML; an empty VALUE is None, text YAML cannot read stays text)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise error(f"--set {item!r}: expected KEY=VALUE, e.g. {example}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def flatten(d: dict[str, Any], free: tuple[str, ...] = (), prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; a section in `free` (and an empty mapping) is kept whole."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and f"{prefix}{k}" not in free:
            out.update(flatten(v, free, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def set_dotted(cfg: dict[str, Any], known: dict[str, Any], dotted: str, value: Any, origin: str,
               free: tuple[str, ...] = (), error: type[Exception] = ConfigError) -> None:
    """cfg[a][b] = value for 'a.b', refusing a name `known` (the defaults) does not have, with the closest one."""
    keys = dotted.split(".")
    node = cfg
    for depth, k in enumerate(keys):
        if not isinstance(known, dict) or k not in known:
            if ".".join(keys[:depth]) in free:
                break  # any name below a free section (checked by the command)
            options = list(known) if isinstance(known, dict) else []
            close = difflib.get_close_matches(k, options, n=1)
            raise error(f"{origin}: unknown setting {'.'.join(keys[:depth + 1])!r}"
                        + (f"; did you mean {'.'.join(keys[:depth] + [close[0]])!r}?" if close else "")
                        + (f" (known: {', '.join(options)})" if options else ""))
        if depth == len(keys) - 1:
            break
        node = node.setdefault(k, {})
        known = known[k]
    node[keys[-1]] = value


def layered(defaults: dict[str, Any], preset: str | os.PathLike | None = None, overrides: list[str] | None = None,
            free: tuple[str, ...] = (), presets: str = "", example: str = "section.name=VALUE",
            error: type[Exception] = ConfigError) -> dict[str, Any]:
    """A copy of `defaults`, then the preset's settings, then each `--set KEY=VALUE`; every name checked."""
    cfg = copy.deepcopy(defaults)
    if preset is not None:
        for key, value in flatten(read_preset(preset, presets, error), free).items():
            set_dotted(cfg, defaults, key, value, str(Path(preset)), free, error)
    for item in overrides or []:
        key, value = parse_override(item, example, error)
        set_dotted(cfg, defaults, key, value, f"--set {item!r}", free, error)
    return cfg
