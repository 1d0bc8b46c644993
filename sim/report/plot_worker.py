"""A process that imports the plotting code while the simulation runs, then draws the plots.

``sim run`` starts a ``PlotWorker`` before the simulation: a process forked from the small
pre-run interpreter, which imports ``sim.report.plots`` (matplotlib, ~1 s of CPU) on the second
core while the model runs on the first, then waits. Once the run folder's files are written,
``PlotWorker.render`` has it call ``render_all`` on the folder (which forks it once more to draw
half of the figures in parallel, ``jobs``). Before that, while the run's process still checks the
run, ``PlotWorker.read_ahead`` has it read the finished requests table and compute what the plots
draw from it alone. The figures are the same as ``render_all`` drawn in
this process; the run's process never imports matplotlib, and no fork copies the page tables
of a process that holds a whole run.

This module imports nothing heavy: it is imported before the simulation.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _warm() -> None:
    # idle, the worker leaves Ctrl-C to the run's process (which shuts it down); drawing, it
    # stops with it (``_render``)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import sim.report.plots  # noqa: F401 - the import is the point


def _read_ahead(requests: Path, duration: float) -> None:
    # best effort: after an error the plots read the folder's table instead
    try:
        from sim.report.plots.figures import read_ahead

        read_ahead(requests, duration)
    except Exception:
        pass


def _render(folder: Path, fmt: str, jobs: int) -> list[str]:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from sim.report.plots import render_all

    return render_all(folder, fmt=fmt, jobs=jobs)


class PlotWorker:
    """One warm process drawing a run's plots (``render``); ``None`` from ``start`` where
    processes cannot be forked (then the plots are drawn in the calling process)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._pool = ProcessPoolExecutor(1, mp_context=mp.get_context("fork"), initializer=_warm)
        self._pool.submit(int)  # forks the process now (the pool starts it on a first submit)

    @classmethod
    def start(cls, jobs: int) -> PlotWorker | None:
        return cls(jobs) if "fork" in mp.get_all_start_methods() else None

    def read_ahead(self, requests: Path, duration: float) -> None:
        """Have the worker read a finished requests table (``duration``: the run's) while this
        process goes on (``sim.report.plots.figures.read_ahead``): the plots of the folder it is
        then moved into start from it. Does not wait."""
        try:
            self._pool.submit(_read_ahead, Path(requests), float(duration))
        except Exception:  # a broken pool: render says so
            pass

    def render(self, folder: Path, fmt: str = "png") -> list[str]:
        """``sim.report.plots.render_all(folder, fmt, jobs)``, drawn by the worker."""
        return self._pool.submit(_render, Path(folder), fmt, self.jobs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PlotWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
