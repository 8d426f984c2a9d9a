"""When `ainkit reproduce` may reuse a notebook's results: its inputs fingerprint and an outputs check.

    from ainkit.reproduction import rerun
    inputs = rerun.Inputs("local")                     # the hashes every notebook of a run shares
    parts = inputs.of(Path("notebooks/06_benchmark_results.ipynb"), {"profile": "local"})
    before = rerun.snapshot(out); ...run it...; made = rerun.written_since(before, out)
    ok, why = rerun.reusable(previous_manifest_entry, parts, out)

A notebook's results, figures and executed copy are reused when every part of its inputs is
unchanged since the run that made them, and every file that run wrote is still there, byte for byte.
The parts (each a sha256, recorded per notebook in reports/manifest.json):

- notebook: the .ipynb file itself (its parameter defaults included);
- parameters: the resolved parameters (profile layer, then `-p`); `out_root` is left out, it says
  where the outputs go, not what they are;
- profile: the profile's name (its YAML is under configs/, below);
- ainkit: every file under ainkit/ (the source and its data: paper/ tables, data/ samples), bytecode excluded;
- configs: every file under configs/ (profiles, training presets, LLM backends);
- parameter files: the content of every file a string parameter names (lists and comma-separated strings too:
  extra_scores, rating_sheet); for a folder (images_dir), the name, size and mtime of each file in it;
- packages: the installed version of every package the kit declares (requirements.txt,
  configs/requirements-nodeps.txt: models shipped on PyPI included) and of those the manifest reports;
- python: the interpreter's version;
- environment: the variables that choose services and limits (OPENAI_*, AINKIT_*, HF_*), not those
  that only say where outputs and caches go; a secret enters only as set or unset, never its value.

Not covered: packages the kit does not name (a dependency's dependency), files a notebook finds
outside the kit by itself (nltk_data, encoder weights in ~/.cache), system packages, the content of
the answer cache, what a remote service answers, and the
machine (timing rows stay those of the run that measured them). After changing one of these, pass
`--force`.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from ainkit.services import cache
from ainkit.ground import redact
from ainkit.ground.redact import SECRET_NAME
from ainkit.ground.paths import CONFIGS, PACKAGE, ROOT, Outputs
from ainkit.ground.provenance import versions

ENV_PREFIXES = ("OPENAI_", "AINKIT_", "HF_")
ENV_IGNORED = {"AINKIT_OUTPUT_ROOT", "AINKIT_CACHE", "AINKIT_CACHE_DIR"}  # where things go, not what they are
NOT_PARAMETERS = {"out_root"}
Snapshot = dict[str, tuple[int, int, int]]  # relative path -> (mtime_ns, size, inode)


file_digest = cache.file_sha256  # sha256 of a file's bytes


def tree_digest(folder: Path) -> str:
    """One sha256 over every file under `folder` (relative name + content), bytecode excluded."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return cache.key([(p.relative_to(folder).as_posix(), file_digest(p)) for p in files])


def _named_files(value: Any) -> list[Any]:
    """What the files or folders a string parameter names hold, as (name, digest or listing)."""
    if isinstance(value, (list, tuple)):  # a list parameter of paths (extra_scores)
        return [f for item in value for f in _named_files(item)]
    if not isinstance(value, str) or not value.strip():
        return []
    found = []
    for part in (p.strip() for p in value.split(",")):
        path = Path(part).expanduser()
        if not part or not path.exists():
            continue
        if path.is_file():
            found.append((part, file_digest(path)))
        elif path.is_dir():
            listing = sorted((p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                             for p in path.rglob("*") if p.is_file())
            found.append((part, cache.key(listing)))
    return found


def environment() -> dict[str, str]:
    """The service-choosing variables; secret values as 'set' (never stored or hashed as such)."""

    secret = set(redact.env_names())
    return {k: ("set" if k in secret or SECRET_NAME.search(k) else v) for k, v in sorted(os.environ.items())
            if k.startswith(ENV_PREFIXES) and k not in ENV_IGNORED and v}


REQUIREMENTS = (ROOT / "requirements.txt", CONFIGS / "requirements-nodeps.txt")


def declared_packages(also: Iterable[str] = ()) -> dict[str, str | None]:
    """Installed version (None: missing) of each package named in REQUIREMENTS and in `also`."""
    names = set(also)
    for path in (p for p in REQUIREMENTS if p.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#")[0])
            names |= {m.group(1)} if m else set()
    return versions(sorted({re.sub(r"[-_.]+", "-", n).lower() for n in names}))


class Inputs:
    """The inputs of one run: the shared parts hashed once, a notebook's own parts on demand."""

    def __init__(self, profile: str, packages: Iterable[str] = ()):
        self.shared = {"profile": cache.key(profile), "ainkit": tree_digest(PACKAGE), "configs": tree_digest(CONFIGS),
                       "packages": cache.key(declared_packages(packages)), "python": cache.key(sys.version),
                       "environment": cache.key(environment())}

    def of(self, notebook: Path, parameters: dict[str, Any]) -> dict[str, str]:
        """{part: sha256} for one notebook with its resolved parameters."""
        kept = {k: v for k, v in parameters.items() if k not in NOT_PARAMETERS}
        return {"notebook": file_digest(notebook), "parameters": cache.key(kept),
                "parameter files": cache.key([_named_files(v) for _, v in sorted(kept.items())]), **self.shared}


def fingerprint(parts: dict[str, str]) -> str:
    """One sha256 over all the parts."""
    return cache.key(parts)


def _watched(out: Outputs) -> list[Path]:
    return [out.figures, out.reports]


def snapshot(out: Outputs) -> Snapshot:
    """Every file under figures/ and reports/ (the run's own manifest and reports excluded) with its stat."""
    skip = {out.manifest, out.reproduction, out.reproduction.with_suffix(".html")}
    found: Snapshot = {}
    for folder in _watched(out):
        for p in folder.rglob("*") if folder.is_dir() else ():
            if p.is_file() and p not in skip:
                st = p.stat()
                found[p.relative_to(out.root).as_posix()] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return found


def written_since(before: Snapshot, out: Outputs) -> dict[str, str]:
    """{relative path: sha256} of the files new or rewritten since `before`."""
    after = snapshot(out)
    return {rel: file_digest(out.root / rel) for rel, st in sorted(after.items()) if before.get(rel) != st}


def reusable(previous: dict[str, Any] | None, parts: dict[str, str], out: Outputs) -> tuple[bool, str]:
    """Whether an earlier manifest entry's results can stand for this run, and if not, why not."""
    if not previous:
        return False, "no earlier run in this output folder"
    if previous.get("status") not in ("ok", "reused", "kept"):
        return False, f"its earlier run {'failed' if previous.get('status') == 'failed' else 'did not finish'}"
    if not previous.get("fingerprint"):
        return False, "the earlier run recorded no inputs fingerprint (an older kit)"
    if previous["fingerprint"] != fingerprint(parts):
        changed = [k for k, v in parts.items() if (previous.get("inputs") or {}).get(k) != v]
        return False, f"changed since the earlier run: {', '.join(changed) or 'the inputs'}"
    outputs = previous.get("outputs") or {}
    if not any(rel.endswith(".ipynb") for rel in outputs):
        return False, "the earlier run recorded no executed notebook"
    for rel, digest in outputs.items():
        path = out.root / rel
        if not path.is_file():
            return False, f"output missing: {rel}"
        if file_digest(path) != digest:
            return False, f"output changed since it was written: {rel}"
    return True, "inputs unchanged"
