"""Shared fixtures and the test tiers.

    .venv/bin/python -m pytest                  # everything (`make test`)
    make test-fast                              # the fast tier: no process, server, model, notebook, cluster or browser

Fixtures: a temporary output root, so no test writes into the kit's own figures/ or reports/, and
each test's own answer cache.

Tiers. A test that starts something is marked with what it starts (markers registered in pyproject.toml):
slow (a process or a model: torch, a sentence encoder), server (a local HTTP, llama.cpp or Jupyter server),
notebook (a notebook executed by papermill or a kernel), slurm (a cluster job), browser (a headless browser).
The marks are applied here, at collection, from the code each test runs: its body, the fixtures it uses and the
functions of tests/ they call (RULES below, read from the code without comments or docstrings). A mark may also be
written by hand. Then a guard checks the classification while the tests run: a test with none of these marks that
starts a process (other than git or uname), forks, loads a sentence encoder, imports torch or builds a torch module
fails, naming what it started and the mark it needs. So a new test cannot land in the fast tier by mistake.

`--module-coverage` (make test and make test-fast) also checks that the fast tier covers every module of ainkit/:
each was imported and, if it defines a function, at least one of its functions ran during a fast-tier test (a trace
hook, set only while a test with no tier mark runs, records the file of every function called; it sees this process
only, which is all the fast tier has). SLOW_ONLY names the modules left to the slow tier, and why; the check prints
them. It is skipped, saying so, when -k, paths or another -m select part of the suite.
"""
from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "ainkit"
TIERS = ("slow", "server", "notebook", "slurm", "browser")
FAST = "not (" + " or ".join(TIERS) + ")"  # the fast tier's -m expression (make test-fast)
RULES = {  # mark -> what in a test's code (body, fixtures, the tests/ functions they call) starts that
    "browser": r"\bwebdriver\b|\bselenium\b|chromedriver|\bbrowser\(",
    "slurm": r"\bsinfo\b|\bsbatch\b|\bsacct\b|\bsqueue\b",
    "notebook": r"execute_notebook|'reproduce'|reproduce\.run\(|\bjupyter|KernelClient|kernel\.execute",
    "server": r"\bfault_server\b|\bbatch_server\b|\bspawn\(|\bserve\.|llama_cpp|'serve'|'lab'",
    "slow": r"\bsubprocess\b|\bPopen\b|\bcli\(|\bcli_signalled\(|sys\.executable|multiprocessing|ProcessPool|"
            r"\bworkers=[2-9]|\btry_load\(|similarity\.load\(|similarity\.score_records\(|similarity\.Encoder\(|"
            r"quality\.score\(|from_pretrained|\bbuild_\w*(lm|model)\b|tiny_lm|tiny_marian|load_model|\btorch\b",
}
SLOW_ONLY = {  # modules every function of which needs what the fast tier may not start; the check names them
    "ainkit.services.onnx_runtime": "every function needs a loaded transformer (tests/test_similarity.py runs it)",
    "ainkit.ground.setup_models": "its steps download and assemble models (the set-up runs them)",
    "ainkit.services.qwen2vl": "its record encoder needs transformers' image utilities, which import torch",
    "ainkit.stages.train.data": "it reads records through the Qwen2-VL record encoder (torch)",
}
FAST_TOOLS = {"git", "uname"}  # processes a fast test may start: read-only queries that answer in milliseconds


# -- fixtures ----------------------------------------------------------------------------------------------------

@pytest.fixture
def out(tmp_path: Path):
    from ainkit.ground.paths import Outputs

    return Outputs.resolve(tmp_path / "run").ensure()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Each test gets its own answer cache (ainkit.services.cache), inside its tmp_path: nothing leaks between tests."""
    monkeypatch.setenv("AINKIT_CACHE_DIR", str(tmp_path / "ainkit-cache"))


# -- marks from the code a test runs -------------------------------------------------------------------------------

_code_text: dict[object, str] = {}


def _text(func) -> str:
    """A function's code without its docstring and comments (ast.unparse drops comments)."""
    if func not in _code_text:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
            node = tree.body[0]
            first = node.body[0] if node.body else None
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str)
            if docstring and len(node.body) > 1:
                node.body = node.body[1:]
            _code_text[func] = ast.unparse(node)
        except (OSError, TypeError, SyntaxError, IndexError):
            _code_text[func] = ""
    return _code_text[func]


def _ours(obj) -> bool:
    code = getattr(obj, "__code__", None)
    return code is not None and Path(code.co_filename).resolve().parent == TESTS


def _names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


def _closure(funcs) -> list:
    """The functions of tests/ reachable from `funcs` by the global names their code uses."""
    seen, todo = [], [f for f in funcs if _ours(f)]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.append(f)
        for name in _names(f.__code__):
            obj = f.__globals__.get(name)
            obj = getattr(obj, "__wrapped__", obj)
            if callable(obj) and _ours(obj) and obj not in seen:
                todo.append(obj)
    return seen


def tiers_of(item) -> set[str]:
    """The marks RULES finds in the code a test item runs."""
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        funcs += [d.func for d in defs]
    text = "\n".join(_text(f) for f in _closure([f for f in funcs if f is not None]))
    return {mark for mark, pattern in RULES.items() if re.search(pattern, text)}


def pytest_configure(config):
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    missing = [t for t in TIERS if t not in registered]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py: markers {missing} are not registered in pyproject.toml")
    _guard.install()
    if config.getoption("module_coverage"):
        _coverage.install()


def pytest_addoption(parser):
    parser.addoption("--module-coverage", action="store_true",
                     help="fail unless the tests run imported every module of ainkit/ and called one of its functions")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in sorted(tiers_of(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(mark)


# -- the guard: what a test with no tier mark may not start ---------------------------------------------------------

class _Guard:
    """Records, while a test runs, each process, fork, encoder and torch model it starts."""

    def __init__(self):
        self.events: list[tuple[str, str]] | None = None
        self.torch_before = False
        self.patched_torch = False

    def note(self, mark: str, what: str) -> None:
        if self.events is not None:
            self.events.append((mark, what))

    def install(self) -> None:
        popen_init = subprocess.Popen.__init__
        guard = self

        def recording_init(self, args, *a, **kw):
            argv = [os.fsdecode(x) for x in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
            if not argv or Path(argv[0].split()[0]).name not in FAST_TOOLS:
                guard.note(_mark_for(argv), "a process: " + " ".join(argv)[:200])
            popen_init(self, args, *a, **kw)

        subprocess.Popen.__init__ = recording_init
        os.register_at_fork(before=lambda: self.note("slow", "a forked process"))
        import multiprocessing.process

        start = multiprocessing.process.BaseProcess.start

        def recording_start(proc):
            self.note("slow", f"a multiprocessing process ({proc.name})")
            return start(proc)

        multiprocessing.process.BaseProcess.start = recording_start
        from ainkit.stages import similarity

        encoder_init = similarity.Encoder.__init__

        def recording_encoder(enc, spec, *a, **kw):
            self.note("slow", f"a sentence encoder ({spec.name})")
            encoder_init(enc, spec, *a, **kw)

        similarity.Encoder.__init__ = recording_encoder

    def patch_torch(self) -> None:
        """Once torch is imported: record each nn.Module built (a model, however small)."""
        import torch

        module_init = torch.nn.Module.__init__

        def recording_module(module, *a, **kw):
            self.note("slow", f"a torch model ({type(module).__name__})")
            module_init(module, *a, **kw)

        torch.nn.Module.__init__ = recording_module
        self.patched_torch = True

    def start(self) -> None:
        self.events = []
        self.torch_before = "torch" in sys.modules
        if self.torch_before and not self.patched_torch:
            self.patch_torch()

    def stop(self) -> list[tuple[str, str]]:
        events, self.events = self.events or [], None
        if "torch" in sys.modules and not self.torch_before:
            events.append(("slow", "torch (imported by this test: seconds, and a model follows)"))
        return events


def _mark_for(argv: list[str]) -> str:
    text = " ".join(argv)
    for mark, needles in (("server", ("fault_server", "batch_server", "llama_cpp.server", "jupyterlab", "jupyter-lab")),
                          ("notebook", ("papermill", "ipykernel", " reproduce")),
                          ("slurm", ("sbatch", "srun", "sinfo", "sacct", "squeue", "scancel")),
                          ("browser", ("chrom",))):
        if any(n in text for n in needles):
            return mark
    return "slow"


_guard = _Guard()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _guard.start()
    _coverage.follow(item)
    yield
    _guard.events = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "teardown":
        return
    events = _guard.stop()
    if not events or any(item.get_closest_marker(t) for t in TIERS):
        return
    report = outcome.get_result()
    needed = sorted({mark for mark, _ in events})
    seen = "\n".join(f"  - {what}" for _, what in dict.fromkeys(events))
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} has no tier mark but started:\n{seen}\n"
                       f"It belongs in a tier: mark it @pytest.mark.{needed[0]} (or teach RULES in tests/conftest.py "
                       f"to see it), or keep it in the fast tier by not starting these.")


# -- module coverage of the fast tier ---------------------------------------------------------------------------------

class _Coverage:
    """Which files' functions ran (a global trace hook: one set insert per Python call, no line tracing)."""

    def __init__(self):
        self.on = False
        self.ran: set[str] = set()

    def trace(self, frame, event, arg):
        code = frame.f_code
        if code.co_flags & 2:  # CO_NEWLOCALS: a function, not a module or class body
            self.ran.add(code.co_filename)

    def install(self) -> None:
        self.on = True

    def follow(self, item) -> None:
        """Trace while a fast-tier test runs (set-up, call, teardown), not while any other does: so `make test`, which
        runs every tier, checks the fast tier's coverage as `make test-fast` does. Also puts the hook back if
        something (hypothesis, explaining a failure) took it away."""
        if not self.on:
            return
        hook = None if any(item.get_closest_marker(t) for t in TIERS) else self.trace
        sys.settrace(hook)
        threading.settrace(hook)

    def missing(self) -> list[str]:
        """Modules of ainkit/ not imported, or none of whose functions ran."""
        loaded = {str(Path(m.__file__).resolve()) for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
        ran = {str(Path(f).resolve()) for f in self.ran if f.endswith(".py")}
        gaps = []
        for path in sorted(PACKAGE.rglob("*.py")):
            name = str(path.relative_to(PACKAGE.parent).with_suffix("")).replace("/", ".")
            if name in SLOW_ONLY:
                continue
            if str(path.resolve()) not in loaded:
                gaps.append(f"{name}: never imported")
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defines = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for n in ast.walk(tree))
            if defines and str(path.resolve()) not in ran:
                gaps.append(f"{name}: imported, but none of its functions ran")
        return gaps


_coverage = _Coverage()


def _whole_fast_tier(config) -> bool:
    """Whether this run holds every fast-tier test: no -k, no paths of its own, no -m but the fast tier's."""
    args = [a for a in config.args if not a.startswith("-")]
    default = [str(TESTS), "tests", str(TESTS.parent)]
    markexpr = " ".join(config.option.markexpr.split())
    return not config.option.keyword and all(a.rstrip("/") in default for a in args) \
        and markexpr in ("", FAST)


def pytest_sessionfinish(session, exitstatus):
    if not _coverage.on:
        return
    sys.settrace(None)
    threading.settrace(None)
    if not _whole_fast_tier(session.config):
        _coverage.gaps = None
        _coverage.skipped = True
        return
    _coverage.gaps = _coverage.missing()
    if _coverage.gaps and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if getattr(_coverage, "skipped", False):
        terminalreporter.line("module coverage: not checked: this run selected part of the suite (-k, paths, or -m)")
        return
    gaps = getattr(_coverage, "gaps", None)
    if gaps is None:
        return
    modules = len(list(PACKAGE.rglob("*.py")))
    if gaps:
        terminalreporter.section("module coverage: FAILED", sep="=", red=True)
        terminalreporter.line(f"{len(gaps)} of {modules} modules of ainkit/ not covered by the tests run:")
        for gap in gaps:
            terminalreporter.line(f"  {gap}")
    else:
        covered = modules - len(SLOW_ONLY)
        terminalreporter.line(f"module coverage: {covered} of the {modules} modules of ainkit/ imported, "
                              "and a function of each ran")
    for name, why in SLOW_ONLY.items():
        terminalreporter.line(f"  {name}: left to the slow tier: {why}")
