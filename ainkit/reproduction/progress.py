"""What `ainkit reproduce` shows while it runs: which notebook, which cell, and the time left.

The time left is estimated from the last manifest's seconds per notebook.
"""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Which notebook, which cell, and an ETA from the last manifest's seconds per notebook.

    On a terminal one live line on stderr; otherwise a line per notebook, and a cell line only when
    ten seconds passed since the last line (so logs stay short).
    """

    QUIET_S = 10.0

    def __init__(self, estimates: dict[str, float | None], live: bool):
        self.estimates, self.live = estimates, live
        self.names = list(estimates)
        self.current, self.t0, self.last_line = "", 0.0, 0.0

    def _left(self) -> str:
        """Estimated time left in the run: the rest of this notebook plus those still to come."""
        later = self.names[self.names.index(self.current) + 1:]
        known = [self.estimates[n] for n in [self.current, *later] if self.estimates[n] is not None]
        if self.estimates[self.current] is None:
            return "no estimate (not in the last manifest)"
        left = max(0.0, self.estimates[self.current] - (time.time() - self.t0)) + sum(known[1:])
        unknown = sum(self.estimates[n] is None for n in later)
        return f"about {_clock(left)} left" + (f" + {unknown} notebook(s) never timed" if unknown else "")

    def start(self, name: str, what: str, eta: bool = True) -> None:
        self.current, self.t0 = name, time.time()
        print(f"[reproduce] {self.names.index(name) + 1}/{len(self.names)} {name}: {what}" + (f"; {self._left()}" if eta else ""),
              flush=True)
        self.last_line = time.time()

    def cell(self, number: int, total: int) -> None:
        text = f"[reproduce] {self.current}: cell {number}/{total}, {_clock(time.time() - self.t0)} in; {self._left()}"
        if self.live:
            print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)
        elif time.time() - self.last_line >= self.QUIET_S:
            print(text, flush=True)
            self.last_line = time.time()

    def end(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _counting_engine(progress: Progress) -> str:
    """Register a papermill engine that reports each code cell as it starts; returns its name."""
    from papermill.engines import NBClientEngine, papermill_engines

    class CellCounter(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            code = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]
            started = nb_man.cell_start

            def cell_start(cell, cell_index=None, **kw):
                if cell_index in code:
                    progress.cell(code.index(cell_index) + 1, len(code))
                return started(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("ainkit-cells", CellCounter)
    return "ainkit-cells"
