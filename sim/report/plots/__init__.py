"""Plots of one run, rendered from its folder's files only (never from the model).

``render_all(folder)`` reads a run folder with ``sim.report.folder.load_run`` and writes into
``folder/plots``:

- ``produce_latency``: p50 and p99 of produce latency per second of send time (log scale), the
  requests slower than the run's p99 as faint dots (coloured by producer region), fault windows
  shaded and labelled, leader changes marked;
- ``latency_cdf``: produce and end-to-end latency CDFs (log x) and their tails (1 - CDF, log-log);
- ``throughput``: acked records per second, failed and retried requests per second, with the
  unavailability windows of ``summary.json`` shaded;
- ``leader_timeline``: which region held the control-plane lease when, with its epoch, faults
  hatched on their region, and the table's internal leader when it moved;
- ``topology``: regions on a rough map with RTTs on the edges, buckets, table replicas, control
  planes, the final leader and destroyed regions; ``rtt_matrix``: the RTT matrix as a heatmap.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas rather than through
``pyplot``: no global backend switch, nothing left open, and safe to call from a notebook.
The resolved scenario (``scenario.yaml``) is read with PyYAML for the warm-up only.

The helpers without a leading underscore (``per_second_quantiles``, ``produce_latency``,
``e2e_latency``, ``new_figure``, ...) are shared with ``sim.ensemble.compare``.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sim.report.plots.figures import PLOTS, _Run
from sim.report.plots.layout import _clip, initial_positions, spread_boxes
from sim.report.plots.style import *  # noqa: F403 - the shared helpers, for compare and notebooks
from sim.report.plots.style import leader_segments, per_second_quantiles

__all__ = [
    "PLOTS", "_clip", "initial_positions", "leader_segments", "per_second_quantiles",
    "render_all", "spread_boxes",
]  # fmt: skip


# the plots split in two groups of about equal drawing time (measured on the 1-hour reference,
# its requests read ahead by `sim run`'s worker: latency CDF 1.0-1.3 s, leader timeline 0.1;
# produce latency 0.3, throughput 0.5-0.7, topology and RTT matrix 0.15-0.2 each)
_GROUPS = (("plot_latency_cdf", "plot_leader_timeline"),
           ("plot_produce_latency", "plot_throughput", "plot_topology", "plot_rtt_matrix"))  # fmt: skip


def _render(run: _Run, out: Path, names: tuple[str, ...], fmt: str) -> dict[str, str]:
    return {p.__name__: p(run, out, fmt) for p in PLOTS if p.__name__ in names}


_INHERITED: list[_Run] = []  # in the forked child: the run its parent had loaded


def _inherit(run: _Run) -> None:
    _INHERITED.append(run)


def _render_inherited(out: Path, names: tuple[str, ...], fmt: str) -> dict[str, str]:
    return _render(_INHERITED[0], out, names, fmt)


def render_all(folder: Path, fmt: str = "png", jobs: int = 1) -> list[str]:
    """Render every plot of a run folder into ``folder/plots``; return their file names.

    ``jobs`` 2: half of the plots are drawn in a forked child process while this one draws the
    other half (matplotlib holds the interpreter lock while it lays out and draws, so threads
    would not help). The figures are the same either way; without ``fork`` (not Linux), or with
    ``jobs`` 1, they are drawn here one after the other. A child's error is raised here.
    """
    folder = Path(folder)
    out = folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(folder)  # read once: a forked child inherits it (it is not pickled)
    made: dict[str, str] = {}
    if jobs > 1 and "fork" in mp.get_all_start_methods():
        fork = mp.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=fork, initializer=_inherit, initargs=(run,)) as pool:
            child = pool.submit(_render_inherited, out, _GROUPS[1], fmt)
            made.update(_render(run, out, _GROUPS[0], fmt))
            made.update(child.result())
    else:
        made.update(_render(run, out, tuple(p.__name__ for p in PLOTS), fmt))
    return [made[p.__name__] for p in PLOTS]
