"""Shared fixtures: a temporary output root, so no test writes into the kit's own figures/ or reports/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


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
