"""Hygiene: committed notebooks are stripped and fully parameterised; generated folders stay out of git."""
import json
import subprocess

import nbformat
import papermill
import pytest

from ainkit.ground.paths import ROOT
from ainkit.reproduction.reproduce import discover

NOTEBOOK_FILES = discover()
EXPECTED = {"06_benchmark_results", "07_human_feedback_survey"}


def test_foundation_notebooks_exist():
    assert EXPECTED <= {p.stem for p in NOTEBOOK_FILES}


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: strip them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    assert "papermill" not in nb["metadata"], f"{path.name} is an executed copy, not a source notebook"
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_every_parameter_has_type_and_help(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    lines = [l for l in cells[0].source.splitlines() if l.strip() and not l.startswith("#")]
    declared = papermill.inspect_notebook(str(path))
    assert len(declared) == len(lines), f"{path.name}: papermill could not parse every parameter line"
    for name, p in declared.items():
        assert p["inferred_type_name"] != "None" and p["help"], f"{path.name}: {name} needs a type and a help comment"
    assert "out_root" in set(declared)


def test_generated_outputs_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", "figures", "reports"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert set(tracked) <= {"figures/README.md", "reports/README.md"}
