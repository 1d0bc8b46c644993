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

from pathlib import Path

from sim.report.plots.figures import PLOTS, _Run
from sim.report.plots.layout import _clip, initial_positions, spread_boxes
from sim.report.plots.style import *  # noqa: F403 - the shared helpers, for compare and notebooks
from sim.report.plots.style import leader_segments, per_second_quantiles

__all__ = [
    "PLOTS", "_clip", "initial_positions", "leader_segments", "per_second_quantiles",
    "render_all", "spread_boxes",
]  # fmt: skip


def render_all(folder: Path, fmt: str = "png") -> list[str]:
    """Render every plot of a run folder into ``folder/plots``; return their file names."""
    folder = Path(folder)
    out = folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(folder)
    return [plot(run, out, fmt) for plot in PLOTS]
