"""Run the notebooks through papermill, then write REPRODUCTION.md / .html and the run manifest.

    ainkit reproduce                       # every notebook, offline profile; unchanged ones are reused
    ainkit reproduce --only 06,07 -p extra_scores my_model.json
    ainkit reproduce --force 06            # rerun 06 even if its inputs are unchanged (--force alone: all)
    ainkit reproduce --profile paper       # the report's real services (network, keys)

Executed copies go to reports/notebooks/, with their parameters in their metadata.
Parameters come in layers: the notebook's defaults, configs/profiles/<profile>.yaml,
then `-p NAME VALUE`. Secrets never travel as parameters (papermill writes every
parameter into the executed notebook): pass them as environment variables.

A notebook whose inputs (ainkit.reproduction.rerun says which) are unchanged since the run recorded in
reports/manifest.json, and whose outputs are all still there, is not executed again: its
results, figures and executed copy are reused, and REPRODUCTION.md names the run that made them.
Exit codes: 0 done; 5 a notebook failed (its cell and error are shown); 2 a user error; 1 a bug.

While the set-up still compiles llama-cpp-python in the background (`make reproduce`:
bootstrap.py --llama-in-background), the notebooks that import ainkit.services.serve (the embedded
llama.cpp server) run after the others, and the run waits for the build before the first of
them, saying so and for how long; a failed build fails that notebook with the build log named.
Reports and the manifest list the notebooks in number order whatever order they ran in.
"""
from __future__ import annotations

import json
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ainkit import __version__
from ainkit.ground import atomic
from ainkit.ground.redact import SECRET_NAME
from ainkit.reproduction import document, rerun
from ainkit.ground.errors import EXIT_NOTEBOOK
from ainkit.ground.paths import NOTEBOOKS, Outputs
from ainkit.ground.provenance import git_state, versions
from ainkit.reproduction.parameters import (ReproduceError, declared_parameters, load_profile, parse_overrides,
                                           resolve_parameters, secret_values)
from ainkit.reproduction.progress import Progress, _counting_engine

REPORTED_PACKAGES = ["ainkit", "torch", "transformers", "deepspeed", "datasets", "sentence-transformers", "sacrebleu",
                     "rouge-score", "nltk", "openai", "matplotlib", "seaborn", "pandas", "numpy", "submitit",
                     "papermill", "jupyterlab", "ipykernel", "nbclient"]
FORCE_ALL = "all"


class NotebookFailed(ReproduceError):
    """A notebook failed; the message names it, its failing cell and the error."""

    exit_code = EXIT_NOTEBOOK


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


USES_SERVER = re.compile(r"^\s*(from\s+ainkit\.services\s+import\s+[^#\n]*\bserve\b|import\s+ainkit\.services\.serve\b|"
                         r"from\s+ainkit\.services\.serve\s+import\b)",
                         re.MULTILINE)


def uses_embedded_server(notebook: Path) -> bool:
    """Whether a code cell of the notebook imports ainkit.services.serve (the embedded llama.cpp server: llama-cpp-python)."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return False
    return any(c.get("cell_type") == "code" and USES_SERVER.search("".join(c.get("source", ""))) for c in cells)


def llama_build_running() -> bool:
    """Whether the set-up's background build of llama-cpp-python (ainkit.ground.setup_llama) is running now."""
    from ainkit.ground import setup_llama

    return setup_llama.llama_build()["running"]


def wait_for_llama_build(names: list[str]) -> str | None:
    """Wait for the background build before the notebooks `names`; None when it succeeded, else why not."""
    from ainkit.ground import setup_llama

    print(f"[reproduce] {', '.join(names)} use(s) the embedded llama.cpp server: waiting for the set-up's background "
          f"build of llama-cpp-python (log: {setup_llama.LLAMA_LOG}) ...", flush=True)
    state = setup_llama.wait_llama_build()
    print(f"[reproduce] waited {state['waited_s']:.0f} s for the llama-cpp-python build: {state.get('status')}"
          + (f" (it took {state['seconds']:.0f} s)" if state.get("seconds") else ""), flush=True)
    if state.get("status") == "ok":
        return None
    how = {"failed": f"failed (exit {state.get('exit')})", "stopped": "stopped before it finished"}.get(state.get("status"),
                                                                                                      str(state.get("status")))
    return (f"llama-cpp-python was not installed: its background build {how}, and {', '.join(names)} need(s) it. "
            f"See the build log {setup_llama.LLAMA_LOG}; `python3 ainkit/ground/bootstrap.py` (or `make test`) builds it again "
            "in the foreground, then rerun")


def _scrub_file(path: Path) -> None:
    """Rewrite an executed notebook with every known secret (ainkit.ground.redact) removed from its outputs."""
    from ainkit.ground import redact

    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if redact.scrub(text) != text:
            atomic.write_text(path, text)  # atomic.write_text scrubs


BY_PATH = ("inputs", "outputs")  # manifest maps keyed by part or file name (tokenizer.json), not by setting


def scrub(obj: Any, secrets: list[str] | None = None, by_name: bool = True) -> Any:
    """A copy of `obj` with secret-named keys and any secret value replaced by '<redacted>'.

    Under the BY_PATH keys only values are scrubbed: a file named tokenizer.json is not a secret."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: ("<redacted>" if by_name and SECRET_NAME.search(str(k)) else scrub(v, secrets, by_name and k not in BY_PATH))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets, by_name) for v in obj]
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, "<redacted>")
    return obj


def package_versions() -> dict[str, str | None]:
    return versions(REPORTED_PACKAGES)


def kernel_name() -> str:
    """The kit's registered kernel when present, else the current interpreter's python3 kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    return "ainkit" if "ainkit" in specs else "python3"


@dataclass
class NotebookRun:
    """One notebook in the manifest: what it ran with, what it wrote, and which run made its results."""

    name: str
    status: str = "pending"  # ok | failed | reused (inputs unchanged) | kept (not selected; earlier results)
    seconds: float = 0.0  # execution time in the run that made the results
    output: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    reason: str = ""  # why it ran or was reused
    fingerprint: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # part -> sha256 (ainkit.reproduction.rerun)
    outputs: dict[str, str] = field(default_factory=dict)  # path under the output root -> sha256
    made_by: dict[str, Any] = field(default_factory=dict)  # the run that executed it: started, commit, dirty


def describe_failure(nb: str, exc: Exception, output: Path) -> str:
    """A message naming the notebook, the failing cell and its source, and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join("    " + l for l in (exc.source or "").splitlines()[:25])
        return (f"notebook {nb} failed in cell {exc.cell_index} of the executed copy (execution count {exc.exec_count}):\n{source}\n"
                f"  {exc.ename}: {exc.evalue}\nexecuted copy, with the error in it: {output}")
    return f"notebook {nb} failed: {type(exc).__name__}: {exc}\nexecuted copy (may be partial): {output}"


def read_manifest(path: Path) -> dict[str, Any]:
    """An earlier run's manifest, or {} when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _made_by(entry: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The run that executed an earlier entry (older manifests: the manifest's own run)."""
    return entry.get("made_by") or {"started": manifest.get("started"), "commit": (manifest.get("git") or {}).get("commit")}


def run(only: str | None = None, overrides: list[list[str]] | None = None, profile: str = "local",
        out_root: str | None = None, notebooks_dir: str | None = None, progress: bool | None = None,
        force: str | None = None) -> list[NotebookRun]:
    """Execute the selected notebooks in order, reusing those whose inputs are unchanged (ainkit.reproduction.rerun);
    writes REPRODUCTION.md, REPRODUCTION.html and manifest.json. `force`: 'all' or '06,07' reruns those."""
    out = Outputs.resolve(out_root).ensure()
    folder = Path(notebooks_dir).resolve() if notebooks_dir else NOTEBOOKS
    available = discover(folder)
    chosen = select(available, only)
    if not chosen:
        raise ReproduceError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    forced = {p.stem for p in (chosen if force == FORCE_ALL else select(available, force))} if force else set()
    if forced - {p.stem for p in chosen}:
        raise ReproduceError(f"--force {force}: {', '.join(sorted(forced - {p.stem for p in chosen}))} not selected by --only {only}")
    cli = parse_overrides(overrides or [])
    prof = load_profile(profile)
    declared = {nb.stem: declared_parameters(nb) for nb in chosen}
    unknown = [n for n in cli if not any(n in d for d in declared.values())]
    if unknown:
        raise ReproduceError(f"-p {', '.join(unknown)}: no selected notebook declares such a parameter "
                             f"(see `papermill --help-notebook notebooks/<name>.ipynb`)")
    previous = read_manifest(out.manifest)
    earlier = {e["name"]: e for e in previous.get("notebooks", []) if isinstance(e, dict) and e.get("name")}
    timed = {e["name"]: e.get("seconds") for e in read_manifest(Outputs.resolve(None).manifest).get("notebooks", [])}
    timed.update({n: e.get("seconds") for n, e in earlier.items()})  # this folder's last run first, else the kit's own
    git = git_state()
    started = datetime.now(timezone.utc)
    this_run = {"started": started.isoformat(timespec="seconds"), "commit": git["commit"], "dirty": git["dirty"]}
    inputs = rerun.Inputs(profile, REPORTED_PACKAGES)
    plan = []
    for nb in chosen:
        params = resolve_parameters(nb, declared[nb.stem], prof, cli, profile, out)
        parts = inputs.of(nb, params)
        reuse, why = (False, "--force") if nb.stem in forced else rerun.reusable(earlier.get(nb.stem), parts, out)
        plan.append((nb, params, parts, reuse, why))
    waiting = [nb.stem for nb, *_ in plan if uses_embedded_server(nb)] if llama_build_running() else []
    if waiting:  # the others run while the set-up still compiles llama-cpp-python; these after them
        plan = [p for p in plan if p[0].stem not in waiting] + [p for p in plan if p[0].stem in waiting]
        print(f"[reproduce] llama-cpp-python is still being built by the set-up: {', '.join(waiting)} (the embedded "
              "server) run last", flush=True)
    shown = Progress({nb.stem: 0.0 if reuse else timed.get(nb.stem) for nb, _, _, reuse, _ in plan},
                     sys.stderr.isatty() if progress is None else progress)
    engine = kernel = None
    runs: list[NotebookRun] = []
    failure: str | None = None
    for index in range(len(plan)):
        if waiting and plan[index][0].stem in waiting:
            failure = wait_for_llama_build(waiting)
            if failure:
                nb, params, parts, _, why = plan[index]
                runs.append(NotebookRun(nb.stem, status="failed", output=str(out.executed / nb.name), parameters=params,
                                        reason=why, error=failure, fingerprint=rerun.fingerprint(parts), inputs=parts,
                                        made_by=dict(this_run)))
                break
            # the installed packages changed during this run: hash them again, for what ran and what is to come
            inputs = rerun.Inputs(profile, REPORTED_PACKAGES)
            for r in runs:
                if r.status == "ok":
                    r.inputs = inputs.of(folder / f"{r.name}.ipynb", r.parameters)
                    r.fingerprint = rerun.fingerprint(r.inputs)
                    r.reason += ("; ran while the set-up compiled llama-cpp-python, which it does not use: its inputs are "
                                 "those after the build")
            for later in range(index, len(plan)):
                nb, params = plan[later][:2]
                parts = inputs.of(nb, params)
                reuse, why = (False, "--force") if nb.stem in forced else rerun.reusable(earlier.get(nb.stem), parts, out)
                plan[later] = (nb, params, parts, reuse, why)
                shown.estimates[nb.stem] = 0.0 if reuse else timed.get(nb.stem)
            waiting = []
        nb, params, parts, reuse, why = plan[index]
        record = NotebookRun(nb.stem, output=str(out.executed / nb.name), parameters=params, reason=why,
                             fingerprint=rerun.fingerprint(parts), inputs=parts)
        runs.append(record)
        if reuse:
            before = earlier[nb.stem]
            record.status, record.seconds, record.outputs = "reused", before.get("seconds", 0.0), before.get("outputs", {})
            record.made_by = _made_by(before, previous)
            shown.start(nb.stem, f"reused from the run of {record.made_by.get('started')} "
                                 f"(commit {str(record.made_by.get('commit') or 'unknown')[:10]}; inputs unchanged)", eta=False)
            continue
        if engine is None:
            import papermill

            engine, kernel = _counting_engine(shown), kernel_name()
        shown.start(nb.stem, f"running ({why}; {', '.join(f'{k}={v!r}' for k, v in params.items() if k != 'out_root') or 'defaults'})")
        (out.results / f"{nb.stem}.json").unlink(missing_ok=True)  # a failed rerun must not leave the old rows standing
        snap = rerun.snapshot(out)
        t0 = time.time()
        try:
            papermill.execute_notebook(str(nb), record.output, parameters=params, kernel_name=kernel, cwd=str(out.executed),
                                       progress_bar=False, log_output=False, report_mode=False, engine_name=engine)
            record.status = "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its notebook
            record.status = "failed"
            failure = record.error = describe_failure(nb.stem, exc, Path(record.output))
        shown.end()
        record.seconds = round(time.time() - t0, 2)
        _scrub_file(Path(record.output))
        record.made_by = dict(this_run)
        if record.status == "ok":
            record.outputs = rerun.written_since(snap, out)
            print(f"[reproduce] {nb.stem}: ok in {record.seconds:.1f} s", flush=True)
        if failure:
            break
    done, selected = {r.name for r in runs}, {nb.stem for nb in chosen}
    kept = [NotebookRun(**{**{k: v for k, v in e.items() if k in NotebookRun.__dataclass_fields__}, "status": "kept",
                           "made_by": _made_by(e, previous),
                           "reason": "not run now (an earlier notebook failed)" if name in selected else "not selected in this run"})
            for name, e in earlier.items() if name not in done and (out.results / f"{name}.json").is_file()]
    everything = sorted(runs + kept, key=lambda r: r.name)
    manifest = {  # written first: a later run can reuse this run's notebooks even if the report below fails
        "kit_version": __version__, "git": git, "python": sys.version.split()[0], "platform": platform.platform(),
        "profile": profile, "command_line_parameters": cli, "force": force, "kernel": kernel or kernel_name(),
        "started": this_run["started"], "seconds": round((datetime.now(timezone.utc) - started).total_seconds(), 2),
        "notebooks": [asdict(r) for r in everything], "packages": package_versions(),
    }
    atomic.write_json(out.manifest, scrub(manifest))
    header = {"kit commit": git["commit"] or "unknown", "profile": profile,
              "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        document.write_reproduction(out, header, [asdict(r) for r in everything])
    except ValueError as exc:
        failure = failure or f"REPRODUCTION.md not written: {exc}"
    if failure:
        raise (NotebookFailed if any(r.status == "failed" for r in runs) else ReproduceError)(scrub(failure))
    reused = [r.name for r in runs if r.status == "reused"]
    took = (datetime.now(timezone.utc) - started).total_seconds()
    print(f"[reproduce] done in {took:.1f} s: {len(runs) - len(reused)} run, {len(reused)} reused"
          + (f" ({', '.join(n[:2] for n in reused)}; --force reruns them)" if reused else "")
          + f"; {out.reproduction}, {out.reproduction.with_suffix('.html')}, {out.manifest}", flush=True)
    return runs
