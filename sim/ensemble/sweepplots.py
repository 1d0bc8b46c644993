"""Plots of a sweep: each kept figure against each parameter, with 95% confidence bands.

One file per kept figure (``figure-<name>.png``), a panel per parameter, a colour per base
scenario. For a parameter with few distinct values (a list, a grid, a Morris design's levels) the
line joins the mean of the runs at each value, and the band is its 95% t interval: the *main
effect* of that parameter, the other parameters varying as the design makes them. For a parameter
sampled along a range (random, lhs, sobol) the runs are grouped into bins of equal counts along
it. A sweep without parameters gets one panel of the figure per base.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.stats import mean_ci
from sim.ensemble.sweep import PARAM, figure_values
from sim.ensemble.sweepfile import Plan, figure
from sim.report import plots

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
MAX_LEVELS = 12  # more distinct values than this: binned
BINS = 8


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _numeric(s: pd.Series) -> bool:
    return pd.to_numeric(s, errors="coerce").notna().all() and len(s) > 0


def _stats(x: pd.Series, y: pd.Series, binned: bool):
    """(x positions, means, CI low, CI high, runs) per value, or per bin of equal counts."""
    d = pd.DataFrame({"x": x, "y": y})
    if binned:
        xs = pd.to_numeric(d["x"], errors="coerce")
        order = np.argsort(xs.to_numpy(), kind="stable")
        groups = [d.iloc[idx] for idx in np.array_split(order, min(BINS, len(d))) if len(idx)]
        keys = [float(pd.to_numeric(g["x"]).median()) for g in groups]
    else:
        grouped = list(d.groupby("x", sort=True, dropna=False))
        keys = [k for k, _ in grouped]
        groups = [g for _, g in grouped]
    xs, m, lo, hi, n = [], [], [], [], []
    for k, g in zip(keys, groups, strict=True):
        cnt, mean, half = mean_ci(g["y"])
        xs.append(k)
        m.append(np.nan if mean is None else mean)
        lo.append(np.nan if half is None else mean - half)
        hi.append(np.nan if half is None else mean + half)
        n.append(cnt)
    return xs, np.array(m), np.array(lo), np.array(hi), n


def plot_figures(plan: Plan, df: pd.DataFrame, out: Path, fmt: str = "png") -> list[str]:
    """One file per kept figure; returns the file names (relative to ``out``)."""
    made = []
    for name in plan.keep:
        made.append(_plot_one(plan, df, name, Path(out), fmt))
    return made


def _plot_one(plan: Plan, df: pd.DataFrame, name: str, out: Path, fmt: str) -> str:
    _, label, unit = figure(name)
    ylab = label + (f" ({unit})" if unit else "")
    params = plan.params
    n_panels = max(1, len(params))
    ncols = min(4, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = plots.new_figure(4.3 * ncols + 0.5, 3.3 * nrows + 1.2)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    ok = int((df["status"] == "ok").sum()) if len(df) else 0
    fig.suptitle(
        f"{label} against each parameter — sweep {plan.name}",
        fontsize=13,
        fontweight="bold",
    )
    y_all = figure_values(df, name) if len(df) else pd.Series(dtype=float)
    handles = {}
    if not params:
        ax = axes[0]
        for i, b in enumerate(plan.bases):
            sel = df["base"] == b.name if len(df) else []
            cnt, m, half = mean_ci(y_all[sel]) if len(df) else (0, None, None)
            if m is not None:
                ax.errorbar([i], [m], yerr=[[half or 0], [half or 0]], fmt="o", capsize=5,
                            color=COLOURS[i % len(COLOURS)])  # fmt: skip
                ax.annotate(f"n = {cnt}", (i, m), xytext=(8, 0), textcoords="offset points",
                            fontsize=8.5, va="center")  # fmt: skip
        ax.set_xticks(range(len(plan.bases)), [b.name for b in plan.bases], rotation=15)
        ax.set_ylabel(ylab)
        ax.grid(True, alpha=0.3)
    for pi, p in enumerate(params):
        ax = axes[pi]
        col = PARAM + p.key
        for bi, b in enumerate(plan.bases):
            if not len(df):
                break
            sel = (df["base"] == b.name).to_numpy()
            x, y = df.loc[sel, col], y_all[sel]
            keep = y.notna().to_numpy()
            x, y = x[keep], y[keep]
            if not len(x):
                continue
            colour = COLOURS[bi % len(COLOURS)]
            numeric = _numeric(x)
            binned = numeric and x.nunique() > MAX_LEVELS
            xs, m, lo, hi, _ = _stats(x, y, binned)
            if numeric:
                xv = np.asarray(xs, dtype=float)
                if binned:
                    ax.scatter(pd.to_numeric(x), y, s=6, alpha=0.25, color=colour, lw=0)
                ax.plot(xv, m, "-o", color=colour, ms=3.5, lw=1.5)
                ax.fill_between(xv, lo, hi, color=colour, alpha=0.2, lw=0)
            else:
                pos = np.arange(len(xs)) + (bi - (len(plan.bases) - 1) / 2) * 0.08
                ax.errorbar(pos, m, yerr=[m - lo, hi - m], fmt="o", color=colour, capsize=4)
                ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs], rotation=15)
            handles[b.name] = colour
        if p.is_range and p.scale == "log":
            from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(_axis_label(p), fontsize=9)
        ax.set_ylabel(ylab, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if not len(df) or not len(y_all.dropna()):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="0.4")
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    legend = [
        Line2D([], [], color=c, marker="o", ms=4, label=f"base {n}") for n, c in handles.items()
    ]
    legend.append(Patch(color="0.5", alpha=0.3, label="95% CI of the mean"))
    binned_any = any(_numeric(df[PARAM + p.key]) and df[PARAM + p.key].nunique() > MAX_LEVELS for p in params) if len(df) else False  # fmt: skip
    note = (
        f"{ok} successful run(s); each point: mean of the runs at that value "
        "(the other parameters varied as the design makes them)"
        + (f"; sampled ranges: {BINS} bins of equal counts, dots are runs" if binned_any else "")
    )
    fig.legend(handles=legend, loc="outside lower center", ncol=min(4, len(legend)),
               fontsize=9, frameon=False, title=note, title_fontsize=8.5)  # fmt: skip
    return plots.save(fig, out, f"figure-{_slug(name)}", fmt)


def _axis_label(p) -> str:
    from sim.ensemble.sweepfile import _field

    info = _field(p.path)
    unit = ""
    if info is not None:
        _, meta = info
        names = {getattr(getattr(m, "func", None), "__name__", "") for m in meta}
        unit = " (s)" if "_duration" in names else " (bytes)" if "_size" in names else ""
    return p.key + unit
