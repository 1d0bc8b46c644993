"""Shared plotting helpers: figures, axes, fault shading, per-second quantiles (also used by
``sim.ensemble.compare``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker, transforms
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

# request status codes of requests.parquet (see sim.report.results)
PENDING, ACKED, FAILED_TIMEOUT, PRODUCER_DIED = 0, 1, 2, 3
MAX_POINTS = 20_000  # most scatter points drawn on one figure
DPI = 130
MAX_BINS = 7_200  # a longer run is binned coarser than one second
FAULT_COLOURS = {"region-outage": "#d62728"}  # other kinds: FAULT_PALETTE in order of appearance
FAULT_PALETTE = ("#9467bd", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f", "#aec7e8")
MAX_FAULT_LABELS = 8  # fault labels written on a time axis
MAX_FAULT_LANES = 10  # lanes of the leader timeline's fault panel (the rest share one)
UNAVAILABLE_COLOUR = "#ff7f0e"
P50_COLOUR, P99_COLOUR, E2E_COLOUR = "#1f77b4", "#d62728", "#2ca02c"


# -- shared helpers (also used by sim.ensemble.compare) -----------------------------------------------------
def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on an Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, folder: Path, name: str, fmt: str, tight: bool = True) -> str:
    """Write a figure as ``folder/name.fmt`` (nothing clipped) and return the file name.

    ``tight=False`` for figures whose constrained layout already keeps every artist inside the
    figure (axes, titles and a legend placed ``outside``): drawn once instead of twice
    (``bbox_inches="tight"`` draws the figure to measure it, then again to write it). Figures
    with text placed off the axes (topology, the RTT matrix) keep the tight box."""
    fname = f"{name}.{fmt}"
    extra = {"bbox_inches": "tight"} if tight else {}
    if fmt == "png":  # zlib level 3: the same pixels, ~5% larger, half the encoding time
        extra["pil_kwargs"] = {"compress_level": 3}
    fig.savefig(Path(folder) / fname, dpi=DPI, format=fmt, **extra)
    return fname


def title(fig: Figure, what: str, scenario: str, seed, noun: str = "seed") -> None:
    """The figure title: what it shows, the scenario and the seed."""
    fig.suptitle(f"{what} — {scenario} ({noun} {seed})", fontsize=13, fontweight="bold")


def bin_width(duration: float) -> float:
    """Seconds per time bin: one second, coarser when that would exceed ``MAX_BINS`` bins."""
    return float(max(1, math.ceil(duration / MAX_BINS)))


def per_second_quantiles(
    t: np.ndarray, v: np.ndarray, qs: list[float], duration: float, width: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of ``v`` per time bin of ``t``: (bin centres, array [len(qs), bins]), NaN if empty.

    One sort for all bins (linear interpolation, as ``numpy.quantile``), so a million requests take
    a fraction of a second.
    """
    n_bins = max(1, math.ceil(duration / width))
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    b = np.floor(t / width).astype(np.int64)
    keep = (b >= 0) & (b < n_bins) & np.isfinite(v)
    b, v = b[keep], v[keep]
    out = np.full((len(qs), n_bins), np.nan)
    centres = (np.arange(n_bins) + 0.5) * width
    if len(v) == 0:
        return centres, out
    # values sorted within each bin: sort the values, then a stable sort by bin (a radix sort
    # when the bin numbers fit in 16 bits, i.e. up to MAX_BINS bins): the same array as
    # ``v[np.lexsort((v, b))]`` at a fraction of its cost
    order = np.argsort(v)  # ties are equal values: their order does not matter
    bs = b[order]
    if n_bins <= np.iinfo(np.int16).max:
        bs = bs.astype(np.int16)
    vs = v[order][np.argsort(bs, kind="stable")]
    counts = np.bincount(b, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    s, c = starts[has], counts[has]
    for i, q in enumerate(qs):
        pos = s + q * (c - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, s + c - 1)
        frac = pos - lo
        out[i, has] = vs[lo] * (1.0 - frac) + vs[hi] * frac
    return centres, out


def per_bin_sum(t: np.ndarray, w: np.ndarray | None, duration: float, width: float) -> np.ndarray:
    """Sum of ``w`` (or a count) per time bin of ``t`` over [0, duration)."""
    n_bins = max(1, math.ceil(duration / width))
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(t)
    b = np.floor(t[ok] / width).astype(np.int64)
    inside = (b >= 0) & (b < n_bins)
    weights = None if w is None else np.asarray(w, dtype=np.float64)[ok][inside]
    return np.bincount(b[inside], weights=weights, minlength=n_bins)[:n_bins].astype(np.float64)


def produce_latency(requests: pd.DataFrame, warmup: float = 0.0) -> pd.DataFrame:
    """Acked requests sent at or after ``warmup``: send_s, latency_ms, region."""
    if requests.empty:
        return pd.DataFrame({"send_s": [], "latency_ms": [], "region": []})
    ok = (requests["status"] == ACKED) & (requests["send_s"] >= warmup)
    cols = ["send_s", "ack_s"] + (["region"] if "region" in requests else [])
    r = requests.loc[ok, cols]  # only the columns read, not a copy of every request column
    return pd.DataFrame(
        {
            "send_s": r["send_s"].to_numpy(),
            "latency_ms": ((r["ack_s"] - r["send_s"]) * 1000.0).to_numpy(),
            "region": r["region"].to_numpy() if "region" in r else "",
        }
    )


def e2e_latency(requests: pd.DataFrame, receipts: pd.DataFrame, warmup: float = 0.0) -> np.ndarray:
    """End-to-end latency in ms: each consumer's receipt of the acked file minus the send time.

    One value per (acked request sent after warm-up, consumer that received its file), as in
    ``summary.json``.
    """
    if requests.empty or receipts.empty:
        return np.zeros(0)
    ok = ((requests["status"] == ACKED) & (requests["send_s"] >= warmup)).to_numpy()
    send = requests["send_s"].to_numpy()[ok]
    ack_file = requests["ack_file"].to_numpy()[ok]
    # receipt time by (file, consumer): a lookup, not a join (a day of requests times the
    # consumers would be a table of hundreds of millions of rows)
    fid = receipts["file_id"].to_numpy(dtype=np.int64)
    con = receipts["consumer"].to_numpy(dtype=np.int64)
    grid = np.full((int(max(fid.max(), ack_file.max(initial=0))) + 1, int(con.max()) + 1), np.nan)
    grid[fid, con] = receipts["receipt_s"].to_numpy(dtype=np.float64)
    v = ((grid[ack_file] - send[:, None]) * 1000.0).ravel()
    return v[~np.isnan(v)]


def ms_axis(axis) -> None:
    """Plain millisecond tick labels (300, 1,000, 2,000) on a log axis, as many as its range needs.

    Call after the data is drawn: the tick spacing follows the axis range (1-9 within a decade
    when the range is narrow, 1-2-5 over a few decades, powers of ten beyond).
    """
    lo, hi = axis.get_view_interval()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 3.0
    if decades < 1.0:
        subs: tuple = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    elif decades < 2.0:
        subs = (1.0, 2.0, 3.0, 5.0)
    elif decades < 3.5:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0,)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_minor_formatter(ticker.NullFormatter())
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))


def seconds_axis(axis) -> None:
    """Thousands separators on a time axis in seconds."""
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))


def fault_colours(faults: list[dict]) -> dict[str, str]:
    """A colour per fault kind: region outages red, the others in order of first appearance."""
    out = dict(FAULT_COLOURS)
    for f in faults:
        if f["kind"] not in out:
            n = len(out) - len(FAULT_COLOURS)
            out[f["kind"]] = FAULT_PALETTE[n % len(FAULT_PALETTE)]
    return out


def is_instant(f: dict) -> bool:
    """Whether a fault record is drawn as an instant (an operator action), from faults.json."""
    return f.get("drawn_as") == "instant" or bool(f.get("action"))


def fault_label(f: dict, destroyed: list[str] | tuple = (), target: bool = True) -> str:
    """``region-outage us-east-1 (permanent, data destroyed)`` and the like, from the fault's
    record in faults.json (``action``, ``permanent``, ``destroys_data``)."""
    name = f.get("label") or f["kind"]
    if is_instant(f):
        extra = "action"
    elif f.get("permanent") or f.get("end_s") is None:
        extra = "permanent"
    else:
        extra = f"{f['end_s'] - f['start_s']:,.0f} s"
    if f.get("destroys_data"):
        extra += ", data destroyed"
    return f"{name} {f['target']} ({extra})" if target else f"{name} ({extra})"


def _fault_end(f: dict, t_end: float) -> float:
    return t_end if f.get("end_s") is None else float(f["end_s"])


def shade_faults(ax, faults: list[dict], t_end: float, label: bool = True, destroyed=()) -> list:
    """Shade each fault window (permanent ones to the end), labelled at the top; legend handles.

    An operator action is a dash-dot line. A fault that repeats is labelled once, with its count,
    and at most ``MAX_FAULT_LABELS`` labels are written.
    """
    tr = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    counts: dict[tuple, int] = {}
    for f in faults:
        key = (f.get("label") or f["kind"], f["target"])
        counts[key] = counts.get(key, 0) + 1
    labelled: set[tuple] = set()
    kinds: dict[str, bool] = {}
    colours = fault_colours(faults)
    for f in faults:
        colour = colours[f["kind"]]
        start, end = float(f["start_s"]), _fault_end(f, t_end)
        instant = is_instant(f) or end <= start
        kinds[f["kind"]] = instant
        if instant:
            ax.axvline(start, color=colour, lw=1.3, ls="-.", zorder=1)
        else:
            ax.axvspan(start, end, color=colour, alpha=0.10, lw=0, zorder=0)
            ax.axvline(start, color=colour, lw=1.0, alpha=0.6, zorder=1)
        key = (f.get("label") or f["kind"], f["target"])
        if label and key not in labelled and len(labelled) < MAX_FAULT_LABELS:
            text = fault_label(f, destroyed)
            if counts[key] > 1:
                text = text[:-1] + f", {counts[key]} times)"
            late = start > 0.7 * t_end  # written leftwards from the window's end
            ax.text(
                min(end, t_end) if late else start, 0.98 - 0.065 * (len(labelled) % 4),
                text + " " if late else " " + text, transform=tr, ha="right" if late else "left",
                va="top", fontsize=9, color=colour, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
            )  # fmt: skip
            labelled.add(key)
    handles: list = []
    for kind, instant in kinds.items():
        c = colours[kind]
        if instant:
            handles.append(Line2D([], [], color=c, ls="-.", label=f"{kind} (operator action)"))
        else:
            handles.append(Patch(facecolor=c, alpha=0.18, label=f"{kind} (fault window)"))
    return handles


def row_of(target: str, rows: list[str]) -> str | None:
    """The region row a fault target belongs to: the region itself, or a zone's region."""
    if target in rows:
        return target
    owners = [r for r in rows if target.startswith(r)]
    return max(owners, key=len) if owners else None


def region_colours(regions: list[str]) -> dict[str, str]:
    """A stable colour per region, in topology order."""
    pal = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
    return {r: pal[i % len(pal)] for i, r in enumerate(regions)}


def leader_segments(leader: pd.DataFrame, t_end: float) -> list[tuple[float, float, str, int, str]]:
    """(start, end, region, epoch, cause) of each lease, consecutive repeats of a lease merged."""
    if leader.empty:
        return []
    rows = leader.sort_values("t_s", kind="stable")
    causes = rows["cause"] if "cause" in rows else [""] * len(rows)
    segs: list[list] = []
    for t, r, e, c in zip(rows["t_s"], rows["region"], rows["epoch"], causes, strict=True):
        if segs and segs[-1][2] == r and segs[-1][3] == int(e):
            continue  # the same lease recorded twice
        segs.append([float(t), None, str(r), int(e), str(c)])
    for i, s in enumerate(segs):
        s[1] = segs[i + 1][0] if i + 1 < len(segs) else float(t_end)
    return [tuple(s) for s in segs]


def style_cdf_axes(ax1, ax2) -> None:
    """Labels and scales of a CDF panel (``ax1``) and its tail panel, 1 - CDF (``ax2``)."""
    ax1.set_ylim(0, 1.04)
    ax1.set_ylabel("fraction of requests at or below (CDF)")
    ax1.set_title("CDF", fontsize=10.5)
    ax2.set_yscale("log")
    ax2.set_ylabel("fraction at or above (1 - CDF, log scale)")
    ax2.set_title("tail: 1 - CDF", fontsize=10.5)
    ax2.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    for ax in (ax1, ax2):
        ms_axis(ax.xaxis)
