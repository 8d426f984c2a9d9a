"""The layout of DESIGN.md, read with `ast` from every module of ainkit/ (imports inside functions included).

    .venv/bin/python -m pytest tests/test_layers.py

    commands  ->  pipelines  ->  stages  ->  services  ->  ground        (the toolkit)
    reproduction  ->  pipelines, stages, services, ground                (never the reverse)

Every module lives in one room, a sub-package of ainkit/ (the package's own __init__ is ground).
The rules, each a test below, each shown to fail on a scratch copy with a planted import:
- no import circle anywhere in ainkit/;
- the toolkit (ground, services, stages, pipelines) never imports ainkit.reproduction; only the
  commands (the `ainkit` command, which runs `ainkit reproduce`) reach both, and the reproduction
  never imports a command;
- imports run right: a room imports its own room or one to its right;
- a stage never imports another stage (a stage is a module or a package under stages/); what stages
  share is a service, each listed in SERVICES with what it holds;
- `similarity` and `metrics` never reach `llm`, not even through other modules.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from ainkit.ground.paths import PACKAGE

TOOLKIT = ("ground", "services", "stages", "pipelines", "commands")  # left to right: what may import what
RANK = {room: i for i, room in enumerate(TOOLKIT)}
REPRODUCTION = "reproduction"
SERVICES = {  # what stages share; a new service is listed here, with what it holds
    "ainkit.services.cache": "the shared SQLite answer cache",
    "ainkit.services.records": "JSON Lines read line by line, written atomically, sharded by id",
    "ainkit.services.stageio": "StageIO: how every stage reads and writes records (journal, resume, rejects)",
    "ainkit.services.llm": "the OpenAI-compatible client, backends, retries",
    "ainkit.services.endpoint": "an endpoint's name parsed, opened (embedded or remote), its vision checked, its options",
    "ainkit.services.backend": "an endpoint's backend (configs/llm.yaml) and its errors",
    "ainkit.services.costs": "rate limits, request statistics, token and cost estimates",
    "ainkit.services.batch": "OpenAI Batch API: upload, create, poll, answers into the cache",
    "ainkit.services.serve": "the embedded llama.cpp server",
    "ainkit.services.mt": "dedicated MT models (Marian, NLLB) behind the llm.Client surface",
    "ainkit.services.images": "an image file checked, decoded whole, and embedded in a request or a page",
    "ainkit.services.onnx_runtime": "ONNX runtime for sentence encoders",
    "ainkit.services.tiny": "tiny models built offline (tests, CPU trials)",
    "ainkit.services.plots": "figures: style, save with provenance",
    "ainkit.services.tables": "numbers and Markdown tables for people",
    "ainkit.services.chat": "the chat record schema: turn keys, the image placeholder, pixel bounds",
    "ainkit.services.qwen2vl": "the Qwen2-VL chat format: records -> model inputs (training and evaluation)",
    "ainkit.services.config": "layered YAML configs with dotted --set overrides (curate, train)",
    "ainkit.services.phash": "perceptual image hashes (DCT pHash) and their blocked Hamming matching",
}
NEVER_REACH = {"ainkit.stages.similarity": "ainkit.services.llm", "ainkit.stages.metrics": "ainkit.services.llm"}


def module_name(path: Path, package: Path) -> str:
    parts = ["ainkit", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str, source: str, known: set[str], is_package: bool) -> set[str]:
    """The ainkit modules that `source` (module `module`) imports, anywhere in it: `from ainkit.x import y` is
    ainkit.x.y when that is a module, else ainkit.x."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m == "ainkit" or m.startswith("ainkit.")}


def graph(package: Path) -> dict[str, set[str]]:
    """Module -> the ainkit modules it imports, for the package at `package` (ainkit/ or a scratch copy of it)."""
    files = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    return {m: imports(m, p.read_text(encoding="utf-8"), set(files), p.name == "__init__.py") & set(files)
            for m, p in files.items()}


def room(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return "ground"  # the package itself: __version__
    return parts[1] if parts[1] in TOOLKIT or parts[1] == REPRODUCTION else None


def stage_unit(module: str) -> str:
    """ainkit.stages.evaluate.runner -> ainkit.stages.evaluate (a stage is a module or a package under stages/)."""
    return ".".join(module.split(".")[:3])


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (strongly connected components of two or more modules, or a module importing itself)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan, iterative over the graph's depth
        work = [(v, iter(sorted(g[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(g[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1 or node in g[node]:
                    found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def problems(package: Path) -> list[str]:
    """Every break of the rules in the module docstring, one line each."""
    g = graph(package)
    out = [f"{m}: not in a room (the sub-packages of ainkit/: {', '.join(TOOLKIT)}, {REPRODUCTION})"
           for m in g if room(m) is None]
    out += [f"import circle: {' -> '.join(c)}" for c in circles(g)]
    for src, targets in sorted(g.items()):
        a = room(src)
        for dst in sorted(targets):
            b = room(dst)
            if a is None or b is None:
                continue
            if b == REPRODUCTION and a not in (REPRODUCTION, "commands"):
                out.append(f"{src} ({a}) imports {dst}: the toolkit never imports the reproduction")
            elif a == REPRODUCTION and b == "commands":
                out.append(f"{src} imports {dst}: the reproduction never imports a command")
            elif a in RANK and b in RANK and RANK[b] > RANK[a]:
                out.append(f"{src} ({a}) imports {dst} ({b}): imports run commands -> pipelines -> stages -> services -> ground")
            elif a == b == "stages" and stage_unit(src) != stage_unit(dst):
                out.append(f"{src} imports {dst}: a stage reaches another stage only through a service (SERVICES)")
    return out


def reach(g: dict[str, set[str]], module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for nxt in g.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


GRAPH = graph(PACKAGE)


def test_the_reader_sees_imports():
    """Top-level, function-level and package imports are all seen (else every other test passes vacuously)."""
    assert "ainkit.services.llm" in GRAPH["ainkit.stages.translate"]  # from ainkit.services.llm import Answer, ...
    assert "ainkit.services.records" in GRAPH["ainkit.stages.translate"]  # inside a function
    assert "ainkit.stages.evaluate.runner" in reach(GRAPH, "ainkit.commands.cli")
    assert imports("ainkit.stages.train.x", "from . import data\nfrom ...ground.paths import ROOT",
                   set(GRAPH) | {"ainkit.stages.train.x"}, False) == {"ainkit.stages.train.data", "ainkit.ground.paths"}


def test_the_layout_holds():
    found = problems(PACKAGE)
    assert not found, "ainkit/ breaks the layout of DESIGN.md:\n" + "\n".join(f"  {p}" for p in found)


def test_every_service_is_listed():
    services = {m for m in GRAPH if room(m) == "services" and m != "ainkit.services"}
    unlisted, stale = sorted(services - set(SERVICES)), sorted(set(SERVICES) - services)
    assert not unlisted, f"list these services in SERVICES (tests/test_layers.py) with what they hold: {unlisted}"
    assert not stale, f"SERVICES names modules that no longer exist: {stale}"


def test_the_top_level_is_rooms():
    """ainkit/ holds its rooms, its data and its __init__; no module sits beside them."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules at the top of ainkit/ (move each into its room): {loose}"


@pytest.mark.parametrize("module, forbidden", sorted(NEVER_REACH.items()))
def test_similarity_and_metrics_never_need_llm(module, forbidden):
    assert forbidden not in reach(GRAPH, module), f"{module} reaches {forbidden}"


PLANTED = {  # a scratch copy of ainkit/ with one import added -> what the check must say
    "circle": ("services/cache.py", "from ainkit.services import plots\n", "services/plots.py",
               "from ainkit.services import cache\n", "import circle: ainkit.services.cache -> ainkit.services.plots"),
    "toolkit imports the reproduction": ("stages/metrics.py", "from ainkit.reproduction import paper\n", None, None,
                                         "the toolkit never imports the reproduction"),
    "stage imports a stage": ("stages/metrics.py", "from ainkit.stages import translate\n", None, None,
                              "a stage reaches another stage only through a service"),
    "wrong way": ("services/images.py", "from ainkit.stages import metrics\n", None, None, "imports run commands"),
    "loose module": ("loose.py", "", None, None, "not in a room"),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_the_check_fails_on_a_planted_break(tmp_path, case):
    scratch = tmp_path / "ainkit"
    shutil.copytree(PACKAGE, scratch, ignore=shutil.ignore_patterns("__pycache__", "data", "fixtures", "*.csv", "*.json"))
    before = set(problems(scratch))
    file_a, line_a, file_b, line_b, said = PLANTED[case]
    for name, line in ((file_a, line_a), (file_b, line_b)):
        if name:
            path = scratch / name
            path.write_text((path.read_text(encoding="utf-8") if path.exists() else "") + line, encoding="utf-8")
    found = [p for p in problems(scratch) if p not in before]
    assert any(said in p for p in found), f"planted {case!r}; the check said: {found}"
