"""The six figures of a run, each from the run folder's files only."""

from __future__ import annotations

import math
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import yaml
from matplotlib import ticker, transforms
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.report.folder import load_run
from sim.report.plots.layout import _clip, _rtt, initial_positions, spread_boxes
from sim.report.plots.style import (
    ACKED,
    E2E_COLOUR,
    FAILED_TIMEOUT,
    MAX_FAULT_LANES,
    MAX_POINTS,
    P50_COLOUR,
    P99_COLOUR,
    PRODUCER_DIED,
    UNAVAILABLE_COLOUR,
    _fault_end,
    bin_width,
    e2e_latency,
    fault_colours,
    fault_label,
    is_instant,
    leader_segments,
    ms_axis,
    new_figure,
    per_bin_sum,
    per_second_quantiles,
    produce_latency,
    region_colours,
    row_of,
    save,
    seconds_axis,
    shade_faults,
    style_cdf_axes,
    title,
)

# -- the run --------------------------------------------------------------------------------------
REQ_COLS = ["send_s", "ack_s", "end_s", "status", "n_records", "attempts", "ack_file", "region"]


# a run's requests table read ahead of its plots (``read_ahead``), with what is drawn from it
_AHEAD: dict = {}


def _identity(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _read_requests(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path, columns=REQ_COLS)  # as load_run reads it for the plots


def read_ahead(requests: Path, duration: float) -> None:
    """Read a finished requests table (the columns the plots draw) and compute what the plots
    draw from it alone (the produce latencies, their p50 and p99 per time bin over ``duration``)
    before the rest of its run folder is written: ``sim run``'s plot worker does it on the other
    core while the run's process checks the run. ``_Run`` takes them instead of reading the
    folder's ``requests.parquet`` only if that is the same file (device, inode, size and
    modification time: the table is moved into the folder, never rewritten); otherwise, or after
    an error here, the plots read the folder as always. The same values either way."""
    _AHEAD.clear()
    path = Path(requests)
    key = _identity(path)
    req = _read_requests(path)
    if _identity(path) != key:  # changed while read: not the folder's table
        return
    lat = produce_latency(req, 0.0)
    width = bin_width(duration)
    q = per_second_quantiles(lat["send_s"], lat["latency_ms"], [0.5, 0.99], duration, width)
    _AHEAD.update(key=key, requests=req, lat=lat, quantiles={(float(duration), width): q})


def _take_ahead(path: Path) -> dict | None:
    """What ``read_ahead`` read, if it read ``path`` as it is now (forgotten here either way)."""
    ahead = dict(_AHEAD)
    _AHEAD.clear()
    try:
        return ahead if ahead and ahead["key"] == _identity(path) else None
    except OSError:
        return None


class _Run:
    """What the plots need from a run folder, loaded once."""

    def __init__(self, folder: Path):
        # all the plots read: two tables, and of the requests only the columns drawn (or the
        # same file's columns read ahead)
        ahead = _take_ahead(Path(folder) / "requests.parquet")
        if ahead is None:
            d = load_run(folder, tables=("requests", "receipts"), columns={"requests": REQ_COLS})
        else:
            d = load_run(folder, tables=("receipts",))
            d["requests"] = ahead["requests"]
        self.d = d
        s = d["summary"]
        self.summary = s
        self.name = s["scenario"]
        self.seed = s["seed"]
        self.duration = float(s["sim_duration_s"])
        sc = yaml.safe_load(d["scenario_yaml"]) or {}
        self.warmup = float((sc.get("run") or {}).get("warmup") or 0.0)
        self.topo = d["topology"]
        self.regions = list(self.topo.get("regions", []))
        self.colours = region_colours(self.regions)
        self.faults = d["faults"]
        self.destroyed = list(self.topo.get("destroyed", []))
        self.width = bin_width(self.duration)
        self.leader_segs = leader_segments(d["leader"], self.duration)
        # produce_latency of the whole run, once asked for; its quantiles per time bin
        self._lat = None if ahead is None else ahead["lat"]
        self._quantiles = {} if ahead is None else ahead["quantiles"]

    def produce_latency(self, warmup: float = 0.0):
        """``produce_latency(requests, warmup)``, computed once for the whole run and filtered."""
        if self._lat is None:
            self._lat = produce_latency(self.d["requests"], 0.0)
        lat = self._lat
        if warmup <= 0.0 or lat.empty:
            return lat
        return lat[lat["send_s"].to_numpy() >= warmup].reset_index(drop=True)

    def latency_quantiles(self) -> tuple[np.ndarray, np.ndarray]:
        """p50 and p99 of the whole run's produce latencies per time bin
        (``per_second_quantiles``)."""
        q = self._quantiles.get((self.duration, self.width))
        if q is None:
            lat = self.produce_latency(0.0)
            q = per_second_quantiles(
                lat["send_s"], lat["latency_ms"], [0.5, 0.99], self.duration, self.width
            )
        return q

    def time_axis(self, ax) -> None:
        ax.set_xlim(0, self.duration)
        seconds_axis(ax.xaxis)

    def per(self) -> str:
        return "second" if self.width == 1 else f"{self.width:g} s"


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _leader_marks(ax, run: _Run, y: float = 0.02) -> list:
    """Vertical lines at each leader change, labelled with the new region and epoch.

    Changes closer together than 2.5% of the run share one label (how many, and where the lease
    ended up), so a flapping lease stays readable; with more than 8 such groups only the lines
    are drawn.
    """
    tr = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    segs = run.leader_segs[1:]
    groups: list[list] = []
    for seg in segs:
        ax.axvline(seg[0], color=run.colours.get(seg[2], "k"), ls="--", lw=1.3, zorder=4)
        if groups and seg[0] - groups[-1][0][0] <= 0.025 * run.duration:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    for g in groups if len(groups) <= 8 else []:  # beyond that, labels would hide the data
        start, _, region, epoch, _ = g[-1]
        text = f" leader → {region} (epoch {epoch}) "
        if len(g) > 1:
            span = start - g[0][0]
            text = f" leader changed {len(g)} times in {span:,.0f} s → {region} (epoch {epoch}) "
        ax.text(
            g[0][0], y, text, transform=tr, rotation=90, ha="left", va="bottom", fontsize=8.5,
            color=run.colours.get(region, "k"), zorder=5,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )  # fmt: skip
    if not segs:
        return []
    label = "leader change (colour: the new leader's region)"
    if len(groups) > 8:
        label = f"{len(segs)} leader changes (colour: the new leader; see leader_timeline)"
    return [Line2D([], [], color="0.2", ls="--", lw=1.3, label=label)]


# -- 1. produce latency over time -----------------------------------------------------------------
def plot_produce_latency(run: _Run, out: Path, fmt: str) -> str:
    """p50/p99 per second of send time, slow requests as dots, faults and leader changes."""
    lat = run.produce_latency(0.0)
    fig = new_figure(13, 6)
    ax = fig.subplots()
    title(fig, "Produce latency over time", run.name, run.seed)
    handles = []
    if len(lat):
        p99_run = run.summary["produce_latency_ms"].get("p99")
        if p99_run is None:
            p99_run = float(np.percentile(lat["latency_ms"], 99))
        slow = lat[lat["latency_ms"] > p99_run]
        n_slow = len(slow)
        if n_slow > MAX_POINTS:
            slow = slow.sample(MAX_POINTS, random_state=0)
        for r in run.regions:
            sr = slow[slow["region"] == r]
            if len(sr):
                ax.scatter(
                    sr["send_s"], sr["latency_ms"], s=7, lw=0, alpha=0.45, zorder=2,
                    color=run.colours[r], rasterized=True,
                )  # fmt: skip
        shown = f" ({MAX_POINTS:,} drawn at random)" if n_slow > MAX_POINTS else ""
        x, q = run.latency_quantiles()
        ax.plot(x, q[1], color=P99_COLOUR, lw=1.0, zorder=3)
        ax.plot(x, q[0], color=P50_COLOUR, lw=1.0, zorder=3)
        handles += [
            Line2D([], [], color=P50_COLOUR, lw=1.5, label=f"p50 per {run.per()}"),
            Line2D([], [], color=P99_COLOUR, lw=1.5, label=f"p99 per {run.per()}"),
        ]
        handles += [
            Line2D([], [], ls="", marker="o", ms=5, alpha=0.7, color=run.colours[r],
                   label=f"slow request from {r}")
            for r in run.regions if (lat["region"] == r).any()
        ]  # fmt: skip
        note = (
            f"dots: the {n_slow:,} acked requests slower than the run's p99 ({p99_run:,.0f} ms)"
            f"{shown}, coloured by producer region"
        )
        ax.set_yscale("log")
    else:
        note = ""
        _no_data(ax, "no acknowledged requests")
    handles += shade_faults(ax, run.faults, run.duration, destroyed=run.destroyed)
    handles += _leader_marks(ax, run)
    if run.warmup > 0:
        ax.axvspan(0, run.warmup, color="0.85", lw=0, zorder=0)
        handles.append(Patch(color="0.85", label=f"warm-up ({run.warmup:g} s)"))
    run.time_axis(ax)
    if len(lat):
        ms_axis(ax.yaxis)
    ax.set_xlabel("send time since start (s)")
    ax.set_ylabel("produce latency, send to ack (ms, log scale)")
    ax.set_title(
        f"acked requests by the {run.per()} they were sent (failed ones are in the throughput "
        f"plot); {note}",
        fontsize=9.5, color="0.35", loc="left",
    )  # fmt: skip
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    name = save(fig, out, "produce_latency", fmt, tight=False)
    return name


# -- 2. latency CDFs ------------------------------------------------------------------------------
def _ecdf_points(
    v: np.ndarray, n_pts: int = 3000, is_sorted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, CDF, 1-CDF+1/n) at a few thousand order statistics, dense in the tail."""
    v = v if is_sorted else np.sort(v)
    n = len(v)
    head = np.linspace(0, n - 1, n_pts)
    tail = n - np.logspace(0, math.log10(n), n_pts)
    idx = np.unique(np.clip(np.concatenate([head, tail]).round().astype(np.int64), 0, n - 1))
    x = v[idx]
    cdf = (idx + 1) / n
    surv = (n - idx) / n  # P(X >= x): the last point stays above zero on a log axis
    return x, cdf, surv


def plot_latency_cdf(run: _Run, out: Path, fmt: str) -> str:
    """Produce and end-to-end latency CDFs, and their tails on log-log axes."""
    req, rec = run.d["requests"], run.d["receipts"]
    series = [
        ("produce", run.produce_latency(run.warmup)["latency_ms"].to_numpy(), P50_COLOUR),
        ("end-to-end", e2e_latency(req, rec, run.warmup), E2E_COLOUR),
    ]
    return _cdf_figure(
        out, fmt, run.name, run.seed,
        [(name, v, c, "-") for name, v, c in series],
        f"acked requests sent after the {run.warmup:g} s warm-up; end-to-end: one value per "
        "consumer that received the request's file",
        "latency_cdf",
    )  # fmt: skip


def _cdf_figure(out, fmt, scenario, seed, series, note, fname, what="Latency distribution") -> str:
    """Two panels: CDF (log x) and 1 - CDF (log-log), p50/p99/p99.9 marked."""
    fig = new_figure(13, 5.6)
    ax1, ax2 = fig.subplots(1, 2)
    title(fig, what, scenario, seed)
    handles = []
    for name, v, colour, ls in series:
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) == 0:
            handles.append(Line2D([], [], color=colour, ls=ls, label=f"{name}: no data"))
            continue
        v = np.sort(v)  # sorted once: the ECDF and the percentiles (same values) read it
        x, cdf, surv = _ecdf_points(v, is_sorted=True)
        p50, p99, p999 = np.percentile(v, [50, 99, 99.9])
        ax1.plot(x, cdf, color=colour, ls=ls, lw=1.6)
        ax2.plot(x, surv, color=colour, ls=ls, lw=1.6)
        ax1.plot([p50, p99], [0.5, 0.99], "o", color=colour, ms=5)
        ax2.plot([p50, p99, p999], [0.5, 0.01, 0.001], "o", color=colour, ms=5)
        handles.append(
            Line2D(
                [], [], color=colour, ls=ls, lw=1.6, marker="o", ms=5,
                label=f"{name}: p50 {p50:,.0f} · p99 {p99:,.0f} · p99.9 {p999:,.0f} ms "
                f"(n = {len(v):,})",
            )
        )  # fmt: skip
    tr1 = transforms.blended_transform_factory(ax1.transAxes, ax1.transData)
    for y, lab in ((0.5, "p50"), (0.99, "p99")):
        ax1.axhline(y, color="0.5", lw=0.8, ls=":")
        ax1.text(0.005, y, lab, transform=tr1, fontsize=8.5, color="0.3", va="bottom")
    tr2 = transforms.blended_transform_factory(ax2.transAxes, ax2.transData)
    for y, lab in ((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9")):
        ax2.axhline(y, color="0.5", lw=0.8, ls=":")
        ax2.text(0.005, y, lab, transform=tr2, fontsize=8.5, color="0.3", va="bottom")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.grid(True, which="major", alpha=0.3)
    style_cdf_axes(ax1, ax2)
    fig.legend(
        handles=handles, loc="outside lower center", ncol=1, fontsize=9.5, frameon=False,
        title=note, title_fontsize=9,
    )  # fmt: skip
    return save(fig, out, fname, fmt, tight=False)


# -- 3. throughput, failures and retries ---------------------------------------------------------
def plot_throughput(run: _Run, out: Path, fmt: str) -> str:
    """Acked records/s, failed and retried requests per second, unavailability shaded."""
    req = run.d["requests"]
    w, dur = run.width, run.duration
    n = max(1, math.ceil(dur / w))
    edges = np.arange(n + 1) * w
    fig = new_figure(13, 8.5)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=[2, 1, 1])
    title(fig, "Throughput, failures and retries", run.name, run.seed)
    if len(req):
        ok = req["status"] == ACKED
        sent = per_bin_sum(req["send_s"], req["n_records"], dur, w) / w
        acked = per_bin_sum(req.loc[ok, "ack_s"], req.loc[ok, "n_records"], dur, w) / w
        ax1.stairs(
            sent, edges, baseline=None, color="0.6", lw=1.0, label="records sent /s (by send time)"
        )
        ax1.stairs(acked, edges, baseline=None, color=P50_COLOUR, lw=1.0,
                   label="records acked /s (by ack time)")  # fmt: skip
        ax1.set_ylim(bottom=0)
        for status, colour, lab in (
            (FAILED_TIMEOUT, "#d62728", "delivery timeout"),
            (PRODUCER_DIED, "#8c564b", "producer died"),
        ):
            m = req["status"] == status
            if m.any():
                c = per_bin_sum(req.loc[m, "end_s"], None, dur, w)
                ax2.stairs(
                    c, edges, baseline=None, color=colour, lw=1.2,
                    label=f"failed, {lab}: {int(m.sum()):,} requests",
                )  # fmt: skip
        if not req["status"].isin([FAILED_TIMEOUT, PRODUCER_DIED]).any():
            _no_data(ax2, "no failed requests")
        retried = req["attempts"] > 0
        if retried.any():
            c = per_bin_sum(req.loc[retried, "send_s"], None, dur, w)
            ax3.stairs(c, edges, baseline=None, color="#9467bd", lw=1.2,
                       label=f"retried requests: {int(retried.sum()):,}")  # fmt: skip
        else:
            _no_data(ax3, "no retried requests")
    else:
        for ax in (ax1, ax2, ax3):
            _no_data(ax, "no requests")
    u = run.summary.get("unavailability", {})
    tr = transforms.blended_transform_factory(ax1.transData, ax1.transAxes)
    for i, (a, b) in enumerate(u.get("windows", [])):
        for ax in (ax1, ax2, ax3):
            ax.axvspan(a, b, color=UNAVAILABLE_COLOUR, alpha=0.25, lw=0, zorder=0)
        # a marker at the top, so that a window of a few seconds in an hour still shows
        ax1.plot((a + b) / 2, 1.0, "v", ms=9, color=UNAVAILABLE_COLOUR, transform=tr,
                 clip_on=False, zorder=6)  # fmt: skip
        if i < 8:
            ax1.text(
                a, 0.04, f" unavailable {b - a:,.1f} s", transform=tr, fontsize=8.5, ha="left",
                va="bottom", color="#a04000",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )  # fmt: skip
    colours = fault_colours(run.faults)
    for f in run.faults:
        for ax in (ax1, ax2, ax3):
            ax.axvline(f["start_s"], color=colours[f["kind"]], lw=1, ls=":")
    per = "per second" if w == 1 else f"per {w:g} s bin"
    ax1.set_ylabel("records/s")
    ax2.set_ylabel(f"failed requests\n{per}")
    ax3.set_ylabel(f"retried requests\n{per}")
    ax2.set_title("failed requests by the time they failed", fontsize=9.5, color="0.35", loc="left")
    ax3.set_title(
        "requests sent more than once, by send time", fontsize=9.5, color="0.35", loc="left"
    )
    for ax in (ax2, ax3):
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=4))
    ax1.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax3.set_xlabel("time since start (s)")
    run.time_axis(ax3)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    handles = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    handles += ax3.get_legend_handles_labels()[0]
    total, nwin = u.get("total_s", 0.0), len(u.get("windows", []))
    handles.append(
        Patch(color=UNAVAILABLE_COLOUR, alpha=0.3,
              label=f"unavailable (summary.json, ▼ marks each window): {total:,.1f} s in "
              f"{nwin} window(s)"
              if nwin else "unavailable (summary.json): never")
    )  # fmt: skip
    if run.faults:
        handles.append(Line2D([], [], color="0.4", ls=":", label="fault start (colour: its kind)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    return save(fig, out, "throughput", fmt, tight=False)


# -- 4. leader timeline ---------------------------------------------------------------------------
def _lease_rows(ax, segs, rows: list[str], colours, duration, epochs: bool) -> None:
    """One horizontal row per region, a bar for each time it led."""
    y = {r: i for i, r in enumerate(rows)}
    for start, end, region, epoch, _ in segs:
        if region not in y:
            continue
        ax.broken_barh(
            [(start, end - start)], (y[region] - 0.35, 0.7), facecolors=colours.get(region, "0.5")
        )
        if epochs and (end - start) > 0.06 * duration:
            ax.text(
                (start + end) / 2, y[region], f"epoch {epoch}", ha="center", va="center",
                color="white", fontsize=9.5, fontweight="bold",
            )  # fmt: skip
        elif epochs and len(segs) <= 40:
            ax.text(start, y[region] + 0.38, f"{epoch}", ha="left", va="bottom", fontsize=7.5)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.4, -0.6)


def _fault_lanes(faults: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """Faults grouped by (name, target) in order of first appearance, at most MAX_FAULT_LANES."""
    lanes: dict[tuple, list[dict]] = {}
    for f in faults:
        key = (f.get("label") or f["kind"], str(f["target"]))
        if key not in lanes and len(lanes) == MAX_FAULT_LANES - 1 and len(faults) > len(lanes):
            key = ("other faults", "")
        lanes.setdefault(key, []).append(f)
    return list(lanes.items())


def plot_leader_timeline(run: _Run, out: Path, fmt: str) -> str:
    """Which region held the control-plane lease when, with epochs, under the faults' lanes;
    the table's internal leader when it moved."""
    topo = run.topo
    rows = [r for r in run.regions if r in topo.get("control_planes", run.regions)]
    rows = rows or run.regions
    tchanges = run.summary.get("metadata", {}).get("table_leader_changes", [])
    table_moved = len({r for _, r in tchanges}) > 1
    table_rows = [r for r in run.regions if r in topo.get("table", {}).get("regions", [])]
    lanes = _fault_lanes(run.faults)
    panels = (
        ([len(lanes)] if lanes else []) + [len(rows)] + ([len(table_rows)] if table_moved else [])
    )
    fig = new_figure(13, 2.2 + 0.5 * sum(panels) + 0.5 * len(panels))
    axes = list(np.atleast_1d(fig.subplots(len(panels), 1, sharex=True, height_ratios=panels)))
    axf = axes.pop(0) if lanes else None
    ax = axes.pop(0)
    axt = axes.pop(0) if table_moved else None
    title(fig, "Leader timeline", run.name, run.seed)
    colours = fault_colours(run.faults)
    handles = [Patch(color="0.4", label="holds the control-plane lease (epoch written on it)")]
    if axf is not None:
        names = []
        for i, ((name, target), fs) in enumerate(lanes):
            kind = fs[0]["kind"]
            names.append(f"{name} {target}".strip() + (f" ×{len(fs)}" if len(fs) > 1 else ""))
            for f in fs:
                colour = colours[f["kind"]]
                start, end = float(f["start_s"]), _fault_end(f, run.duration)
                if is_instant(f) or end <= start:
                    axf.plot(start, i, marker="D", ms=7, color=colour, ls="")
                    continue
                axf.broken_barh([(start, end - start)], (i - 0.35, 0.7), facecolors=colour,
                                alpha=0.75)  # fmt: skip
                if f.get("end_s") is None:
                    axf.text(start, i, " " + fault_label(f, run.destroyed, target=False),
                             va="center", ha="left", fontsize=8.5, color="white",
                             fontweight="bold", clip_on=True)  # fmt: skip
                # the region the fault hit, hatched on its lease row
                row = row_of(str(f["target"]), rows)
                if row is not None:
                    ax.broken_barh(
                        [(start, end - start)], (rows.index(row) - 0.45, 0.9),
                        facecolors="none", edgecolors=colour, hatch="///", lw=0.8,
                    )  # fmt: skip
            if any(is_instant(f) for f in fs):
                for f in fs:
                    ax.axvline(float(f["start_s"]), color=colours[kind], lw=1.2, ls="-.", zorder=3)
        axf.set_yticks(range(len(lanes)), names)
        axf.set_ylim(len(lanes) - 0.4, -0.6)
        axf.set_title("faults (◆ an operator action; permanent ones run to the end)",
                      fontsize=9.5, color="0.35", loc="left")  # fmt: skip
        axf.grid(True, axis="x", alpha=0.3)
        if any(not is_instant(f) for f in run.faults):
            handles.append(Patch(facecolor="none", edgecolor="0.3", hatch="///",
                                 label="a fault on the region (from the lanes above)"))  # fmt: skip
    _lease_rows(ax, run.leader_segs, rows, run.colours, run.duration, epochs=True)
    u = run.summary.get("unavailability", {}).get("windows", [])
    for a, b in u:
        for x in (axf, ax, axt):
            if x is not None:
                x.axvspan(a, b, color=UNAVAILABLE_COLOUR, alpha=0.25, lw=0, zorder=0)
    if u:
        handles.append(Patch(color=UNAVAILABLE_COLOUR, alpha=0.3, label="unavailable"))
    ax.set_ylabel("control-plane\nregion")
    tkind = topo.get("table", {}).get("kind", "?")
    n_changes = max(0, len(run.leader_segs) - 1)
    sub = f"control-plane lease: {n_changes} change(s)"
    counted = run.summary.get("leader", {}).get("changes", n_changes)
    if counted != n_changes:
        sub += f" (summary.json counts {counted}: a lease recorded twice counts there as a change)"
    if not run.leader_segs:
        sub = "no control plane ever held the lease"
    if axt is not None:
        tsegs = [
            (float(t), float(tchanges[i + 1][0]) if i + 1 < len(tchanges) else run.duration, r,
             0, "")
            for i, (t, r) in enumerate(tchanges)
        ]  # fmt: skip
        _lease_rows(axt, tsegs, table_rows, run.colours, run.duration, epochs=False)
        axt.set_ylabel("table region")
        axt.set_title(
            f"the {tkind} table's internal leader", fontsize=9.5, loc="left", color="0.35"
        )
        axt.grid(True, axis="x", alpha=0.3)
    elif tchanges:
        sub += f"; the {tkind} table's internal leader stayed in {tchanges[0][1]}"
    sub += "\na bar runs from the time a region took the lease to the time the next region did"
    ax.set_title(sub, fontsize=9.5, color="0.35", loc="left")
    ax.grid(True, axis="x", alpha=0.3)
    last = axt if axt is not None else ax
    run.time_axis(last)
    last.set_xlabel("time since start (s)")
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    return save(fig, out, "leader_timeline", fmt, tight=False)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def plot_topology(run: _Run, out: Path, fmt: str) -> str:
    """Regions with RTTs on the edges, what each region holds, the leader and destroyed regions."""
    topo = run.topo
    regions = run.regions
    rtt = topo.get("rtt_ms", {})
    table = topo.get("table", {})
    buckets = topo.get("buckets", [])
    cps = topo.get("control_planes", [])
    destroyed = set(run.destroyed)
    final = run.leader_segs[-1][2] if run.leader_segs else None
    g = nx.Graph()
    g.add_nodes_from(regions)
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            g.add_edge(a, b, rtt=(_rtt(rtt, a, b) + _rtt(rtt, b, a)) / 2)
    # one box per region, measured, then laid out in inches (one data unit = one inch)
    fig = Figure(figsize=(10, 6))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    boxes = {}
    for r in regions:
        holds = []
        n_here = buckets.count(r)
        if n_here:
            holds.append("bucket" if n_here == 1 else f"{n_here} zonal buckets")
        if r in cps:
            holds.append("control plane")
        lines = [r + ("   ★ leader" if r == final else ""), " · ".join(holds) if holds else None]
        if r in table.get("regions", []):
            if r == table.get("witness"):
                lines.append("table witness (votes, no data)")
            else:
                lead = ", table's leader" if r == table.get("leader_region_final") else ""
                lines.append(f"table replica{lead}")
        lines.append(
            f"{_plural(topo.get('agents', {}).get(r, 0), 'agent')} · "
            f"{_plural(topo.get('producers', {}).get(r, 0), 'producer')} · "
            f"{_plural(topo.get('consumers', {}).get(r, 0), 'consumer')}"
        )
        lines.append(f"in-region endpoint RTT {_rtt(rtt, r, r):.1f} ms")
        if r in destroyed:
            lines.append("DESTROYED")
        is_leader = r == final
        edge = "#d62728" if r in destroyed else ("#b8860b" if is_leader else run.colours[r])
        boxes[r] = ax.text(
            0, 0, "\n".join(x for x in lines if x), ha="center", va="center", fontsize=9.5,
            linespacing=1.45, zorder=5,
            bbox={"boxstyle": "round,pad=0.6", "facecolor": "#fff3c4" if is_leader else "white",
                  "edgecolor": edge, "linewidth": 3.0 if is_leader or r in destroyed else 1.8},
        )  # fmt: skip
    renderer = fig.canvas.get_renderer()
    pad = 2 * 0.6 * 9.5 / 72 + 0.06  # the box padding on both sides, and its edge
    sizes = {}
    for r, t in boxes.items():
        bb = t.get_window_extent(renderer)
        sizes[r] = (bb.width / fig.dpi + pad, bb.height / fig.dpi + pad)
    init, geo = initial_positions(regions, rtt)
    pos = spread_boxes(regions, init, sizes, list(g.edges()))
    for r in regions:
        boxes[r].set_position(tuple(pos[r]))
    for a, b, d in g.edges(data=True):
        pa, pb = pos[a], pos[b]
        ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="0.55", lw=1.6, zorder=1)
        # the label sits in the middle of the visible part of the edge, between the two boxes
        ta = _clip(pa, pb, pa, np.array(sizes[a]) / 2)
        tb = _clip(pb, pa, pb, np.array(sizes[b]) / 2)
        t0 = ta[1] if ta else 0.0
        t1 = 1.0 - (tb[1] if tb else 0.0)
        m = pa + (pb - pa) * ((t0 + t1) / 2 if t1 > t0 else 0.5)
        ax.text(
            m[0], m[1], f"{d['rtt']:.0f} ms", ha="center", va="center", fontsize=10, zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "#fffbe6", "edgecolor": "0.7"},
        )  # fmt: skip
    for r in destroyed & set(regions):
        (x, y), (w, h) = pos[r], sizes[r]
        for sgn in (1, -1):
            ax.plot([x - w / 2, x + w / 2], [y - sgn * h / 2, y + sgn * h / 2],
                    color="#d62728", lw=3, alpha=0.5, zorder=7)  # fmt: skip
    lo = np.min([pos[r] - np.array(sizes[r]) / 2 for r in regions], axis=0) - 0.3
    hi = np.max([pos[r] + np.array(sizes[r]) / 2 for r in regions], axis=0) + 0.3
    width, height = hi - lo
    if width < 9.0:  # room for the title and the notes
        lo[0] -= (9.0 - width) / 2
        width = 9.0
    fig.set_size_inches(width, height)
    ax.set_xlim(lo[0], lo[0] + width)
    ax.set_ylim(lo[1], lo[1] + height)
    fig.text(
        0.5, 1 + 0.25 / height, f"Topology — {run.name} (seed {run.seed})", ha="center",
        va="bottom", fontsize=13, fontweight="bold",
    )  # fmt: skip
    q = topo.get("quorum")
    wit = table.get("witness") or "none"
    ini, fin = table.get("leader_region_initial"), table.get("leader_region_final")
    tl = f"internal leader {fin}" if ini == fin else f"internal leader {ini} → {fin}"
    notes = [
        f"storage: {len(buckets)} bucket(s) in {', '.join(topo.get('bucket_sites', buckets))}; "
        f"a write is acked once {q} of "
        f"{len(buckets)} hold it",
        f"table: {table.get('kind')} in {', '.join(table.get('regions', []))} (witness: {wit}; "
        f"{tl}); control planes in {', '.join(cps)}",
    ]
    if len(regions) > 1:
        notes.append(
            "edges: RTT in ms, mean of both directions (each direction in rtt_matrix); layout: "
            + ("rough geography, spread apart to fit" if geo else "graph layout")
        )
    if final:
        notes.append(f"★ leader: the region holding the control-plane lease at the end ({final})")
    if destroyed:
        notes.append(
            f"crossed out: destroyed during the run, its data lost ({', '.join(sorted(destroyed))})"
        )
    fig.text(0.0, -0.1 / height, "\n".join(notes), ha="left", va="top", fontsize=9.5, color="0.25")
    return save(fig, out, "topology", fmt)


def plot_rtt_matrix(run: _Run, out: Path, fmt: str) -> str:
    """The RTT matrix (source row, destination column) as an annotated heatmap."""
    regions = run.regions
    n = len(regions)
    m = np.array([[_rtt(run.topo.get("rtt_ms", {}), a, b) for b in regions] for a in regions])
    side = 3.2 + 1.1 * n
    fig = new_figure(side + 1.8, side)
    ax = fig.subplots()
    title(fig, "RTT between regions", run.name, run.seed)
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=np.nanmax(m) * 1.15 if n else 1)
    hi = np.nanmax(m) if n else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=10,
                color="white" if m[i, j] > 0.6 * hi else "black",
            )  # fmt: skip
    labels = [r + (" ✗" if r in run.destroyed else "") for r in regions]
    ax.set_xticks(range(n), labels, rotation=30, ha="right")
    ax.set_yticks(range(n), labels)
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        if lab.get_text().endswith("✗"):
            lab.set_color("#d62728")
    ax.set_xlabel("to (destination region)")
    ax.set_ylabel("from (source region)")
    ax.set_title(
        "steady-state RTT the model uses (ms)\n"
        "diagonal: a call to a regional endpoint in the same region"
        + ("\n✗ destroyed during the run" if run.destroyed else ""),
        fontsize=9, color="0.35",
    )  # fmt: skip
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("RTT (ms)")
    return save(fig, out, "rtt_matrix", fmt)


PLOTS = (
    plot_produce_latency,
    plot_latency_cdf,
    plot_throughput,
    plot_leader_timeline,
    plot_topology,
    plot_rtt_matrix,
)
