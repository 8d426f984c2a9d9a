"""Run the notebooks through papermill, then write REPRODUCTION.md and the run manifest.

    ainkit reproduce                       # every notebook, offline profile
    ainkit reproduce --only 06,07 -p extra_scores my_model.json
    ainkit reproduce --profile paper       # the report's real services (network, keys)

Executed copies go to reports/notebooks/, with their parameters in their metadata.
Parameters come in layers: the notebook's defaults, configs/profiles/<profile>.yaml,
then `-p NAME VALUE`. Secrets never travel as parameters (papermill writes every
parameter into the executed notebook): pass them as environment variables.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ainkit import __version__, atomic, results
from ainkit.paths import CONFIGS, NOTEBOOKS, ROOT, Outputs

SECRET_NAME = re.compile(r"(api_?key|token|secret|passw(or)?d|credential)", re.IGNORECASE)
PROFILES = ("local", "paper")
REPORTED_PACKAGES = ["ainkit", "torch", "transformers", "deepspeed", "datasets", "sentence-transformers", "sacrebleu",
                     "rouge-score", "nltk", "openai", "matplotlib", "seaborn", "pandas", "numpy", "submitit",
                     "papermill", "jupyterlab", "ipykernel", "nbclient"]


class ReproduceError(RuntimeError):
    """A run that cannot start or a notebook that failed; the message says which and why."""


def discover(folder: Path = NOTEBOOKS) -> list[Path]:
    """Numbered notebooks (NN_name.ipynb) in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def select(notebooks: list[Path], only: str | None) -> list[Path]:
    """Keep the notebooks named by `only` ('06,07' or full names); error on unknown names."""
    if not only:
        return notebooks
    chosen = []
    for token in (t.strip() for t in only.split(",") if t.strip()):
        match = [p for p in notebooks if p.stem == token or p.stem.split("_", 1)[0] == token.zfill(2)]
        if not match:
            raise ReproduceError(f"--only {token}: no such notebook; available: {', '.join(p.stem for p in notebooks)}")
        chosen += [p for p in match if p not in chosen]
    return sorted(chosen)


def secret_values() -> list[str]:
    """Values of environment variables whose names look secret (to keep them out of every output)."""
    return [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6]


def _scrub_file(path: Path) -> None:
    """Rewrite an executed notebook with every known secret (ainkit.redact) removed from its outputs."""
    from ainkit import redact

    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if redact.scrub(text) != text:
            atomic.write_text(path, text)  # atomic.write_text scrubs


def scrub(obj: Any, secrets: list[str] | None = None) -> Any:
    """A copy of `obj` with secret-named keys and any secret value replaced by '<redacted>'."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: ("<redacted>" if SECRET_NAME.search(str(k)) else scrub(v, secrets)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, "<redacted>")
    return obj


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
            parsed = yaml.safe_load(value)
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


def git_state() -> dict[str, Any]:
    """Commit of the kit's checkout and whether it has uncommitted changes."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    try:
        return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def kernel_name() -> str:
    """The kit's registered kernel when present, else the current interpreter's python3 kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return "ainkit" if "ainkit" in specs else "python3"


@dataclass
class NotebookRun:
    name: str
    status: str = "pending"
    seconds: float = 0.0
    output: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def describe_failure(nb: str, exc: Exception, output: Path) -> str:
    """A message naming the notebook, the failing cell and its source, and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join("    " + l for l in (exc.source or "").splitlines()[:25])
        return (f"notebook {nb} failed in cell {exc.cell_index} of the executed copy (execution count {exc.exec_count}):\n{source}\n"
                f"  {exc.ename}: {exc.evalue}\nexecuted copy, with the error in it: {output}")
    return f"notebook {nb} failed: {type(exc).__name__}: {exc}\nexecuted copy (may be partial): {output}"


def run(only: str | None = None, overrides: list[list[str]] | None = None, profile: str = "local",
        out_root: str | None = None, notebooks_dir: str | None = None, progress: bool | None = None) -> list[NotebookRun]:
    """Execute the selected notebooks in order; writes results, REPRODUCTION.md and manifest.json."""
    import papermill

    out = Outputs.resolve(out_root).ensure()
    folder = Path(notebooks_dir).resolve() if notebooks_dir else NOTEBOOKS
    chosen = select(discover(folder), only)
    if not chosen:
        raise ReproduceError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    cli = parse_overrides(overrides or [])
    prof = load_profile(profile)
    declared = {nb.stem: declared_parameters(nb) for nb in chosen}
    unknown = [n for n in cli if not any(n in d for d in declared.values())]
    if unknown:
        raise ReproduceError(f"-p {', '.join(unknown)}: no selected notebook declares such a parameter "
                             f"(see `papermill --help-notebook notebooks/<name>.ipynb`)")
    kernel = kernel_name()
    progress = sys.stderr.isatty() if progress is None else progress
    started = datetime.now(timezone.utc)
    runs: list[NotebookRun] = []
    failure: str | None = None
    for nb in chosen:
        params: dict[str, Any] = {}
        layers = [("profile", prof.get("parameters", {})), ("profile", prof.get("notebooks", {}).get(nb.stem[:2], {})),
                  ("-p", cli)]
        for layer, values in layers:
            for name, value in (values or {}).items():
                if name not in declared[nb.stem]:
                    continue
                if layer == "-p":
                    value = cast(value, declared[nb.stem][name].get("inferred_type_name"), f"{nb.stem}: -p {name}")
                params[name] = value
        for name, value in (("profile", profile), ("out_root", str(out.root))):
            if name in declared[nb.stem]:
                params[name] = value
        record = NotebookRun(nb.stem, output=str(out.executed / nb.name), parameters=params)
        runs.append(record)
        print(f"[reproduce] {nb.stem}: running ({', '.join(f'{k}={v!r}' for k, v in params.items() if k != 'out_root') or 'defaults'})", flush=True)
        t0 = time.time()
        try:
            papermill.execute_notebook(str(nb), record.output, parameters=params, kernel_name=kernel, cwd=str(out.executed),
                                       progress_bar=progress, log_output=False, report_mode=False)
            record.status = "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its notebook
            record.status = "failed"
            failure = describe_failure(nb.stem, exc, Path(record.output))
            record.error = failure
        record.seconds = round(time.time() - t0, 2)
        _scrub_file(Path(record.output))
        if record.status == "ok":
            print(f"[reproduce] {nb.stem}: ok in {record.seconds:.1f} s", flush=True)
        if failure:
            break
    header = {"kit commit": git_state()["commit"] or "unknown", "profile": profile,
              "notebooks run now": ", ".join(f"{r.name} ({r.status}, {r.seconds:.1f} s)" for r in runs),
              "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        results.write_reproduction(out, header)
    except ValueError as exc:
        failure = failure or f"REPRODUCTION.md not written: {exc}"
    manifest = {
        "kit_version": __version__, "git": git_state(), "python": sys.version.split()[0], "platform": platform.platform(),
        "profile": profile, "command_line_parameters": cli, "kernel": kernel,
        "started": started.isoformat(timespec="seconds"), "seconds": round((datetime.now(timezone.utc) - started).total_seconds(), 2),
        "notebooks": [r.__dict__ for r in runs], "packages": package_versions(),
    }
    atomic.write_json(out.manifest, scrub(manifest))
    if failure:
        raise ReproduceError(scrub(failure))
    print(f"[reproduce] done: {len(runs)} notebook(s) in {manifest['seconds']:.1f} s; {out.reproduction}; {out.manifest}", flush=True)
    return runs
