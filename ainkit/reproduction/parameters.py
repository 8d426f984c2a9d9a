"""A notebook's parameters for `ainkit reproduce`: the profile's layers, then `-p NAME VALUE` cast to the declared type.

    prof = parameters.load_profile("local")                       # configs/profiles/local.yaml
    params = parameters.resolve_parameters(nb, declared, prof, parameters.parse_overrides([["n", "3"]]), "local", out)

Secrets are never parameters: papermill writes parameters into the executed notebook.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ainkit.ground.errors import UserError
from ainkit.ground.paths import CONFIGS, Outputs
from ainkit.ground.redact import SECRET_NAME

PROFILES = ("local", "paper")


class ReproduceError(UserError):
    """A run that cannot start (a flag, a parameter, a profile); the message says which and why."""


def secret_values() -> list[str]:
    """Values of environment variables whose names look secret (to keep them out of every output)."""
    return [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6]


def parse_overrides(pairs: list[list[str]]) -> dict[str, str]:
    """-p NAME VALUE pairs as raw strings; secret-looking names or values are refused."""
    secrets = secret_values()
    out = {}
    for name, value in pairs:
        if not name.isidentifier():
            raise ReproduceError(f"-p {name}: not a valid parameter name")
        if SECRET_NAME.search(name) or any(s and s in value for s in secrets):
            raise ReproduceError(f"-p {name}: secrets are never passed as parameters (papermill writes them into the "
                                 "executed notebook); set them as environment variables instead")
        out[name] = value
    return out


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters cell as papermill reads it: name -> {inferred_type_name, default, help}."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def cast(value: str, type_name: str, where: str) -> Any:
    """Turn a command-line string into the type the notebook declares."""
    t = (type_name or "None").lower()
    try:
        if t == "int":
            return int(value)
        if t == "float":
            return float(value)
        if t == "bool":
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if t in ("list", "dict"):
            try:
                parsed = yaml.safe_load(value) if value.strip() else ([] if t == "list" else {})
            except yaml.YAMLError as exc:
                raise ValueError(f"not YAML: {exc}") from None
            if t == "list" and not isinstance(parsed, list):
                parsed = [v.strip() for v in value.split(",") if v.strip()]  # `a` or `a,b`: plain names
            if not isinstance(parsed, list if t == "list" else dict):
                raise ValueError(f"expected a {t}")
            return parsed
    except ValueError as exc:
        raise ReproduceError(f"{where}: {value!r} is not a valid {t} ({exc})") from exc
    return value


def load_profile(profile: str) -> dict[str, Any]:
    """configs/profiles/<profile>.yaml with its two parameter layers."""
    if profile not in PROFILES:
        raise ReproduceError(f"--profile {profile}: unknown; choose one of {', '.join(PROFILES)}")
    path = CONFIGS / "profiles" / f"{profile}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for key in ("parameters", "notebooks"):
        if not isinstance(data.get(key, {}), dict):
            raise ReproduceError(f"{path}: '{key}' must be a mapping")
    return data


def resolve_parameters(nb: Path, declared: dict[str, Any], prof: dict[str, Any], cli: dict[str, str], profile: str,
                       out: Outputs) -> dict[str, Any]:
    """The notebook's parameters: profile layer, then its notebook layer, then -p (cast to the declared type)."""
    params: dict[str, Any] = {}
    layers = [("profile", prof.get("parameters", {})), ("profile", prof.get("notebooks", {}).get(nb.stem[:2], {})), ("-p", cli)]
    for layer, values in layers:
        for name, value in (values or {}).items():
            if name not in declared:
                continue
            if layer == "-p":
                value = cast(value, declared[name].get("inferred_type_name"), f"{nb.stem}: -p {name}")
            params[name] = value
    for name, value in (("profile", profile), ("out_root", str(out.root))):
        if name in declared:
            params[name] = value
    return params
