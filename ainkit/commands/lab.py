"""`ainkit lab`: JupyterLab on the notebooks with the kit's kernel; the arguments and run are ainkit.reproduction.lab's.

    ainkit lab --port 8899 --no-browser
"""
from __future__ import annotations

from ainkit.reproduction.lab import add_arguments, run  # noqa: F401 (the command's add_arguments and run)

PARSER = dict(help="JupyterLab on the notebooks with the kit's kernel (what `make lab` runs)")
