"""Every path of the kit, resolved from this file; nothing depends on the working directory.

    python -c "from ainkit.ground import paths; print(paths.ROOT)"

Generated outputs (figures/, reports/) go under an output root that defaults to the
repository but can be moved (tests, batch runs) with `Outputs(root)` or the
AINKIT_OUTPUT_ROOT environment variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # ainkit/ (this file is ainkit/ground/paths.py)
ROOT = PACKAGE.parent
PAPER_DATA = PACKAGE / "reproduction" / "paper"
NOTEBOOKS = ROOT / "notebooks"
CONFIGS = ROOT / "configs"
VENV = ROOT / ".venv"
CACHE = Path(os.environ.get("AINKIT_CACHE", Path.home() / ".cache" / "ainkit"))  # models, builds, logs, the answer store


def answer_store() -> Path:
    """Where the shared answer cache lives: $AINKIT_CACHE_DIR when set (it moves the answers alone, e.g. one per
    test, leaving the models where they are), else <CACHE>/store. Read at each call, so a changed variable counts."""
    return Path(os.environ.get("AINKIT_CACHE_DIR") or CACHE / "store").expanduser()
SAMPLES = PACKAGE / "data" / "bilingual_samples.jsonl"  # the kit's bilingual sample set (ainkit/data/README.md)
HELDOUT = PACKAGE / "data" / "heldout_en_ar.jsonl"  # held-out EN->AR references for the stand-ins (notebook 01)


@dataclass(frozen=True)
class Outputs:
    """Where one run writes: <root>/figures, <root>/reports/{notebooks,results,tables}."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike | None = None) -> "Outputs":
        """Explicit root, else $AINKIT_OUTPUT_ROOT, else the repository."""
        chosen = root or os.environ.get("AINKIT_OUTPUT_ROOT") or ROOT
        return cls(Path(chosen).expanduser().resolve())

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def executed(self) -> Path:
        return self.reports / "notebooks"

    @property
    def results(self) -> Path:
        return self.reports / "results"

    @property
    def tables(self) -> Path:
        return self.reports / "tables"

    @property
    def manifest(self) -> Path:
        return self.reports / "manifest.json"

    @property
    def reproduction(self) -> Path:
        return self.reports / "REPRODUCTION.md"

    def ensure(self) -> "Outputs":
        """Create every output folder; returns self."""
        for p in (self.figures, self.executed, self.results, self.tables):
            p.mkdir(parents=True, exist_ok=True)
        return self
