"""The import direction of DESIGN.md, read with `ast` from every module of ainkit/ (imports inside functions included).

    .venv/bin/python -m pytest tests/test_layers.py

    face  ->  report  ->  stage  ->  service  ->  base

A module may import modules of its own layer or of a layer to its right, never to its left:
a stage never imports report code or a face; a service never imports a stage. `similarity` and
`metrics` never reach `llm`, not even through another module. A new module must be given a
layer in LAYERS (the test says so); every module under REPORT_PACKAGE is report code.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ainkit.ground.paths import PACKAGE

REPORT_PACKAGE = "ainkit.reproduction.analyses"  # the analyses that exist only to check the report; every module under it is "report"
RANK = {"base": 0, "service": 1, "stage": 2, "report": 3, "face": 4}

LAYERS = {
    # base: imports nothing of the kit but other base modules
    "ainkit": "base",                      # the package: __version__
    "ainkit.ground.paths": "base",                # every path of the kit, from __file__
    "ainkit.ground.errors": "base",               # UserError and the documented exit codes
    # services: what the stages stand on
    "ainkit.ground.atomic": "service",            # atomic, scrubbed file writes
    "ainkit.ground.redact": "service",            # secret values kept out of every written string
    "ainkit.services.cache": "service",             # the shared SQLite answer cache
    "ainkit.services.records": "service",           # JSON Lines in and out: StageIO, rejects, journal, shards
    "ainkit.services.llm": "service",               # OpenAI-compatible client, backends, retries
    "ainkit.services.batch": "service",             # OpenAI Batch API: upload, create, poll, answers into the cache
    "ainkit.services.serve": "service",             # the embedded llama.cpp server
    "ainkit.services.mt": "service",                # dedicated MT models (Marian, NLLB) behind the llm.Client surface
    "ainkit.services.images": "service",            # an image file as a chat request part
    "ainkit.services.onnx_runtime": "service",      # ONNX runtime for sentence encoders
    "ainkit.services.tiny": "service",              # tiny causal LMs built offline (tests, CPU trials)
    "ainkit.reproduction.paper": "service",             # the report's published numbers
    "ainkit.services.plots": "service",             # figures: style, save with provenance
    "ainkit.reproduction.results": "service",           # the results contract: rows, REPRODUCTION.md
    "ainkit.reproduction.report": "service",            # REPRODUCTION.md layout: rows judged and laid out (used by results)
    "ainkit.reproduction.report_html": "service",       # REPRODUCTION.html (used by results)
    # stages: the toolkit a lab runs
    "ainkit.stages.translate": "stage",           # English -> Arabic (and back) through an endpoint
    "ainkit.stages.similarity": "stage",          # cross-lingual similarity with sentence encoders
    "ainkit.stages.metrics": "stage",             # BLEU / METEOR / ROUGE back-translation scores
    "ainkit.stages.verify": "stage",              # the report's thresholds, the verification funnel
    "ainkit.stages.toxicity": "stage",            # the LlavaGuard-policy image judge
    "ainkit.pipelines.export": "stage",              # kept records -> LLaMA-Factory / ms-swift training set
    "ainkit.pipelines.curate": "stage",              # the whole data pipeline over shards (local or a SLURM array)
    "ainkit.stages.train": "stage",               # fine-tuning Qwen2-VL (and every module under it)
    "ainkit.stages.train.data": "stage",          # records -> training examples
    "ainkit.stages.train.plan": "stage",          # paper-scale memory and compute plan
    "ainkit.stages.train.tiny": "stage",          # tiny random Qwen2-VL for the CPU trial
    "ainkit.stages.train.trainer": "stage",       # the training loop, config, resume
    "ainkit.pipelines.launch": "stage",              # submitit launch of a training run
    "ainkit.ground.cluster": "stage",             # executors: local, SLURM
    "ainkit.stages.evaluate": "stage",            # CAMEL-Bench and ArabicMMLU scoring (and every module under it)
    "ainkit.stages.evaluate.arabic_mmlu": "stage",
    "ainkit.stages.evaluate.camel_bench": "stage",
    "ainkit.stages.evaluate.hub": "stage",
    "ainkit.stages.evaluate.runner": "stage",
    "ainkit.stages.evaluate.text": "stage",
    "ainkit.stages.evaluate.local_vlm": "stage",  # a Qwen2-VL checkpoint of `ainkit train` under evaluation
    "ainkit.pipelines.sidebyside": "stage",          # several models' answers joined by item (gallery, survey)
    "ainkit.pipelines.gallery": "stage",             # `ainkit gallery`: Figures 4-5 for any models
    "ainkit.pipelines.survey": "stage",              # `ainkit survey`: blind side-by-side survey (and every module under it)
    "ainkit.pipelines.survey.order": "stage",
    "ainkit.pipelines.survey.demographics": "stage",
    "ainkit.pipelines.survey.form": "stage",
    "ainkit.pipelines.survey.build": "stage",
    "ainkit.pipelines.survey.responses": "stage",
    "ainkit.pipelines.survey.stats": "stage",
    "ainkit.pipelines.survey.analyze": "stage",
    # report: the analyses that check the report (every module of REPORT_PACKAGE)
    # faces: what people run
    "ainkit.commands.cli": "face",                  # the `ainkit` command
    "ainkit.reproduction.reproduce": "face",            # `ainkit reproduce`: the notebooks through papermill
    "ainkit.reproduction.rerun": "face",                # reproduce's reuse check (inputs fingerprint)
    "ainkit.reproduction.lab": "face",                  # `ainkit lab`: JupyterLab on the kit's kernel
    "ainkit.ground.bootstrap": "face",            # set-up script (standard library only)
}
PENDING_MOVE: set[str] = set()  # modules listed here before they move into REPORT_PACKAGE

# Imports against the direction that cannot be fixed in the importing file alone; each must still exist
# (remove it here once fixed). The fix is named.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}
NEVER_REACH = {"ainkit.stages.similarity": "ainkit.services.llm", "ainkit.stages.metrics": "ainkit.services.llm"}  # not even through other modules


def module_name(path: Path) -> str:
    parts = ["ainkit", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    if module == REPORT_PACKAGE or module.startswith(REPORT_PACKAGE + "."):
        return "report"
    return LAYERS.get(module)


def imports(module: str, source: str, known: set[str]) -> set[str]:
    """The ainkit modules that `source` (module `module`) imports, anywhere in it: `from ainkit import x` is ainkit.x
    when that is a module, else ainkit itself."""
    package = module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
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


GRAPH = {m: imports(m, p.read_text(encoding="utf-8"), set(MODULES)) for m, p in MODULES.items()}


def test_the_reader_sees_imports():
    """Top-level, function-level and package imports are all seen (else every other test passes vacuously)."""
    assert "ainkit.services.llm" in GRAPH["ainkit.stages.translate"]  # from ainkit.services.llm import Answer, Client
    assert "ainkit.services.records" in GRAPH["ainkit.stages.translate"]  # inside a function
    assert "ainkit.stages.evaluate.runner" in GRAPH["ainkit.commands.cli"]  # from ainkit.stages.evaluate import runner
    assert imports("ainkit.stages.train.x", "from . import data\nfrom ..paths import ROOT", set(MODULES) | {"ainkit.stages.train.x"}) \
        == {"ainkit.stages.train.data", "ainkit.ground.paths"}


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer(m) is None)
    assert not missing, f"give these modules a layer in LAYERS (tests/test_layers.py): {missing}"
    stale = sorted(m for m in LAYERS if m not in MODULES and m not in PENDING_MOVE)
    assert not stale, f"LAYERS names modules that no longer exist: {stale}"


def violations() -> list[tuple[str, str]]:
    return sorted((src, dst) for src, targets in GRAPH.items() for dst in targets
                  if dst in MODULES and layer(src) and layer(dst) and RANK[layer(dst)] > RANK[layer(src)])


def test_imports_run_one_way():
    found = [(s, d) for s, d in violations() if (s, d) not in KNOWN_VIOLATIONS]
    assert not found, "imports against the direction face -> report -> stage -> service -> base:\n" + "\n".join(
        f"  {s} ({layer(s)}) imports {d} ({layer(d)})" for s, d in found)


def test_known_violations_still_exist():
    fixed = sorted(set(KNOWN_VIOLATIONS) - set(violations()))
    assert not fixed, f"fixed, remove from KNOWN_VIOLATIONS: {fixed}"


def reach(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("module, forbidden", sorted(NEVER_REACH.items()))
def test_similarity_and_metrics_never_need_llm(module, forbidden):
    assert forbidden not in reach(module), f"{module} reaches {forbidden}"
