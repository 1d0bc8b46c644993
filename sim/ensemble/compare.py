"""Two designs on the same seeds, side by side: ``sim compare A.yaml B.yaml``.

Both scenarios run on seeds ``s0, s0 + 1, ..., s0 + N - 1`` where ``s0`` is A's ``run.seed`` (1
when A has none). The model draws every component from its own named random stream, so on one seed
both designs see the same arrivals and the same fault draws (common random numbers): the per-seed
difference B - A removes most of the run-to-run noise, and the table reports its mean and a 95%
confidence interval from the t distribution with N - 1 degrees of freedom (undefined, printed
``-``, with one seed).

The figures compared are the summary's (``summary.json`` of ``sim run``): produce and end-to-end
p50/p99, lost acknowledged records, unavailability, leader changes, failed and duplicated records.
The folder ``<out>/compare-<A>-vs-<B>-<stamp>/`` gets ``compare.json`` (every per-seed value and the
table), ``compare.txt`` (the printed table), the two resolved scenarios, and two figures: the
produce and end-to-end latency CDFs of both designs overlaid (all seeds pooled), and the p99 of
produce latency per second of both designs (the median over seeds, with the range over seeds
shaded when there are several).

The runs go to the sweep engine (:mod:`sim.ensemble.engine`: this process, a ``LocalCluster`` or a
Dask cluster; ``--workers`` and ``--scheduler``). Each run is reduced where it ran to its summary,
two latency histograms and its p99 timeline (``compare_task``); the ledger never travels. The
results are folded in seed order, so the comparison is the same on every engine.

Like ``sim.report.results``, the folder is written under a hidden name and renamed when complete.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import transforms
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.core.stats import T975, Z975, paired, t975  # noqa: F401 - re-exported
from sim.ensemble.engine import Engine, InProcess, Task
from sim.ensemble.sweepfile import package_version, run_key
from sim.report import plots
from sim.report.results import versions
from sim.scenario import Scenario, to_yaml

# (key, label, unit, how to read it from a summary)
METRICS: list[tuple[str, str, str, Callable[[dict], float | None]]] = [
    ("produce_p50_ms", "produce p50", "ms", lambda s: s["produce_latency_ms"]["p50"]),
    ("produce_p99_ms", "produce p99", "ms", lambda s: s["produce_latency_ms"]["p99"]),
    ("e2e_p50_ms", "end-to-end p50", "ms", lambda s: s["e2e_latency_ms"]["p50"]),
    ("e2e_p99_ms", "end-to-end p99", "ms", lambda s: s["e2e_latency_ms"]["p99"]),
    ("lost_acked_records", "lost acked records", "", lambda s: s["records"]["lost_acked"]),
    ("unavailable_s", "unavailable", "s", lambda s: s["unavailability"]["total_s"]),
    ("leader_changes", "leader changes", "", lambda s: s["leader"]["changes"]),
    ("failed_records", "failed records", "", lambda s: s["records"]["failed"]),
    ("duplicated_records", "duplicated records", "", lambda s: s["records"]["duplicated"]),
    # the run's cost (known prices only: see the summary's cost.unknown)
    ("usd_per_gb", "cost per GB", "USD", lambda s: (s.get("cost") or {}).get("usd_per_gb")),
    (
        "usd_per_month",
        "cost per month",
        "USD",
        lambda s: (s.get("cost") or {}).get("usd_per_month"),
    ),
]

# latency histograms: log-spaced bins, 100 per decade from 0.1 ms to 10^7 ms (2.3% wide)
HIST_EDGES_MS = np.logspace(-1, 7, 801)


@dataclass
class Design:
    """One design's runs, reduced to what the table and the figures need."""

    name: str
    file: str
    scenario: Scenario
    duration: float
    summaries: list[dict] = field(default_factory=list)
    produce_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HIST_EDGES_MS) - 1))
    e2e_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HIST_EDGES_MS) - 1))
    p99: list[np.ndarray] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)

    def add(self, part: dict) -> None:
        """Fold in one run, as reduced by ``compare_task`` (the run's tables stay on the worker)."""
        self.summaries.append(part["summary"])
        if len(self.summaries) == 1:  # the first seed's faults shade the timeline
            self.faults = part["faults"]
            self.destroyed = list(part["destroyed"])
        self.produce_hist += part["produce_hist"]
        self.e2e_hist += part["e2e_hist"]
        self.p99.append(np.asarray(part["p99"], dtype=float))


def compare_task(scenario: dict, seed: int) -> dict:
    """One run of a comparison, reduced on the worker to what the table and the figures need:
    the summary, the two latency histograms and the p99 per second (a pure function of its
    arguments, apart from the summary's wall times)."""
    from sim.run.runner import run

    sc = Scenario.model_validate(scenario)
    res = run(sc, int(seed))
    warm = sc.run.warmup
    lat = plots.produce_latency(res.requests, warm)["latency_ms"].to_numpy()
    every = plots.produce_latency(res.requests, 0.0)
    width = plots.bin_width(sc.run.duration)
    _, q = plots.per_second_quantiles(
        every["send_s"], every["latency_ms"], [0.99], sc.run.duration, width
    )
    return {
        "summary": res.summary,
        "faults": res.faults,
        "destroyed": list(res.topology.get("destroyed", [])),
        "produce_hist": _hist(lat),
        "e2e_hist": _hist(plots.e2e_latency(res.requests, res.receipts, warm)),
        "p99": q[0],
    }


def _hist(v_ms: np.ndarray) -> np.ndarray:
    v = np.asarray(v_ms, dtype=float)
    v = np.clip(v[np.isfinite(v)], HIST_EDGES_MS[0], HIST_EDGES_MS[-1])
    return np.histogram(v, bins=HIST_EDGES_MS)[0].astype(float)


def seeds_for(sc_a: Scenario, n: int) -> list[int]:
    """Seed i of a comparison: A's run.seed (or 1) plus i."""
    base = sc_a.run.seed if sc_a.run.seed is not None else 1
    return [int(base) + i for i in range(n)]


def compare(
    sc_a: Scenario,
    sc_b: Scenario,
    n_seeds: int = 3,
    files: tuple[str, str] = ("", ""),
    overrides: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> dict:
    """Run both designs on the same seeds and return the comparison (see the module docs).

    The runs go to ``engine`` (default: this process); each comes back reduced to its summary,
    latency histograms and p99 timeline, and they are folded in seed order, so the result does
    not depend on the engine."""
    if n_seeds < 1:
        raise ValueError("n_seeds must be at least 1")
    seeds = seeds_for(sc_a, n_seeds)
    designs = [
        Design(sc.name, f, sc, sc.run.duration) for sc, f in ((sc_a, files[0]), (sc_b, files[1]))
    ]
    version = package_version()
    dumps = [d.scenario.model_dump(mode="json") for d in designs]
    tasks, want = [], []  # want: (design, seed, task key) in table order
    for seed in seeds:
        for di, dump in enumerate(dumps):
            key = f"compare-{run_key(dump, seed, version)}"
            tasks.append(Task(key, compare_task, (dump, seed)))
            want.append((di, seed, key))
    got: dict[str, dict] = {}
    eng = engine if engine is not None else InProcess()
    t0 = time.perf_counter()
    for task, part, err in eng.run(tasks):
        if err is not None:
            raise RuntimeError(f"a run of the comparison failed:\n{err}")
        got[task.key] = part
        if progress is not None:
            for di, seed, key in want:
                if key == task.key:
                    tag = "AB"[di]
                    progress(
                        f"{tag} {designs[di].name} seed {seed}: done at "
                        f"{time.perf_counter() - t0:.1f} s"
                    )
    for di, _, key in want:  # folded in seed order, whatever order the runs finished in
        designs[di].add(got[key])
    a, b = designs
    rows = []
    for key, label, unit, get in METRICS:
        va = [_num(get(s)) for s in a.summaries]
        vb = [_num(get(s)) for s in b.summaries]
        rows.append({"key": key, "label": label, "unit": unit, "a": va, "b": vb, **paired(va, vb)})
    return {
        "a": {"name": a.name, "file": files[0], "description": a.scenario.description},
        "b": {"name": b.name, "file": files[1], "description": b.scenario.description},
        "seeds": seeds,
        "overrides": list(overrides or []),
        "duration_s": {"a": a.duration, "b": b.duration},
        "metrics": rows,
        "_designs": designs,  # for the figures; not written to compare.json
    }


def _num(v) -> float | None:
    return None if v is None else float(v)


def _fmt(v: float | None, integer: bool = False, digits: int = 1) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if integer and float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def format_table(res: dict) -> str:
    """The side-by-side table printed by ``sim compare``."""
    a, b = res["a"], res["b"]
    seeds = res["seeds"]
    da, db = res["duration_s"]["a"], res["duration_s"]["b"]
    dur = f"{da:,.0f} s" if da == db else f"A {da:,.0f} s, B {db:,.0f} s"
    lines = [
        f"A  {a['name']}" + (f"   ({a['file']})" if a["file"] else ""),
        f"B  {b['name']}" + (f"   ({b['file']})" if b["file"] else ""),
        f"seeds {', '.join(str(s) for s in seeds)}: both designs run on each (paired)   "
        f"simulated {dur} per run",
        "",
        f"{'figure':<26}{'A mean':>12}{'B mean':>12}{'B - A':>12}   95% CI of B - A",
    ]
    for m in res["metrics"]:
        label = m["label"] + (f" ({m['unit']})" if m["unit"] else "")
        integer = m["unit"] == ""
        d = 4 if m["key"] == "usd_per_gb" else 2 if m["unit"] == "USD" else 1
        ci = m["diff_ci95"]
        ci_s = "-" if ci is None else f"[{_fmt(ci[0], integer, d)}, {_fmt(ci[1], integer, d)}]"
        lines.append(
            f"{label:<26}{_fmt(m['a_mean'], integer, d):>12}{_fmt(m['b_mean'], integer, d):>12}"
            f"{_fmt(m['diff_mean'], integer, d):>12}   {ci_s}"
        )
    if len(seeds) == 1:
        lines.append("")
        lines.append("one seed: no confidence interval (use --seeds N, N >= 2)")
    return "\n".join(lines)


# -- the folder -----------------------------------------------------------------------------------
def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def new_compare_dir(out: str | Path, a: str, b: str) -> tuple[Path, Path]:
    """(final path, temporary path: created) for a comparison folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    from sim.report.results import _reserve

    # the hidden .partial folder, made with an exclusive mkdir, reserves the name: two
    # comparisons started in the same second never share a folder
    return _reserve(Path(out), f"compare-{_slug(a)}-vs-{_slug(b)}-{stamp}")


def write_compare(res: dict, out: str | Path = "results", fmt: str = "png") -> Path:
    """Write compare.json, compare.txt, both scenarios and the figures; return the folder."""
    a, b = res["_designs"]
    final, tmp = new_compare_dir(out, a.name, b.name)
    try:
        made = [plot_cdfs(res, tmp, fmt), plot_timelines(res, tmp, fmt)]
        (tmp / "scenario-A.yaml").write_text(to_yaml(a.scenario))
        (tmp / "scenario-B.yaml").write_text(to_yaml(b.scenario))
        table = format_table(res)
        (tmp / "compare.txt").write_text(table + "\n")
        doc = {k: v for k, v in res.items() if not k.startswith("_")}
        doc["plots"] = made
        doc["versions"] = versions()
        (tmp / "compare.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# -- the figures ----------------------------------------------------------------------------------
A_COLOUR, B_COLOUR = "#1f77b4", "#ff7f0e"


def _title(fig, what: str, res: dict) -> None:
    a, b = res["_designs"]
    seeds = res["seeds"]
    text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    plots.title(
        fig, what, f"A {a.name} vs B {b.name}", text, "seed" if len(seeds) == 1 else "seeds"
    )


def _mean_of(res: dict, key: str, side: str) -> float | None:
    return next(m for m in res["metrics"] if m["key"] == key)[f"{side}_mean"]


def plot_cdfs(res: dict, out: Path, fmt: str) -> str:
    """Produce and end-to-end latency CDFs and tails of both designs, all seeds pooled."""
    a, b = res["_designs"]
    fig = plots.new_figure(13, 6)
    ax1, ax2 = fig.subplots(1, 2)
    _title(fig, "Latency distributions", res)
    edges = HIST_EDGES_MS
    handles = []
    for side, d, colour in (("a", a, A_COLOUR), ("b", b, B_COLOUR)):
        for what, hist, ls, key in (
            ("produce", d.produce_hist, "-", "produce"),
            ("end-to-end", d.e2e_hist, "--", "e2e"),
        ):
            tag = side.upper()
            total = hist.sum()
            if total == 0:
                handles.append(Line2D([], [], color=colour, ls=ls, label=f"{tag} {what}: no data"))
                continue
            nz = np.nonzero(hist)[0]
            lo, hi = nz[0], nz[-1] + 1
            cum = np.cumsum(hist)[lo:hi] / total
            before = np.concatenate([[0.0], np.cumsum(hist)[:-1]])[lo:hi] / total
            ax1.plot(edges[lo + 1 : hi + 1], cum, color=colour, ls=ls, lw=1.6)
            ax2.plot(edges[lo:hi], 1.0 - before, color=colour, ls=ls, lw=1.6)
            p50 = _mean_of(res, f"{key}_p50_ms", side)
            p99 = _mean_of(res, f"{key}_p99_ms", side)
            ax1.plot([p50, p99], [0.5, 0.99], "o", color=colour, ms=5)
            ax2.plot([p50, p99], [0.5, 0.01], "o", color=colour, ms=5)
            handles.append(
                Line2D(
                    [], [], color=colour, ls=ls, lw=1.6, marker="o", ms=5,
                    label=f"{tag} {d.name}, {what}: p50 {_fmt(p50)} · p99 {_fmt(p99)} ms",
                )
            )  # fmt: skip
    for ax, ys in ((ax1, ((0.5, "p50"), (0.99, "p99"))), (ax2, ((0.5, "p50"), (0.01, "p99")))):
        tr = transforms.blended_transform_factory(ax.transAxes, ax.transData)
        for y, lab in ys:
            ax.axhline(y, color="0.5", lw=0.8, ls=":")
            ax.text(0.005, y, lab, transform=tr, fontsize=8.5, color="0.3", va="bottom")
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.grid(True, alpha=0.3)
    plots.style_cdf_axes(ax1, ax2)
    fig.legend(
        handles=handles, loc="outside lower center", ncol=2, fontsize=9, frameon=False,
        title=f"acked requests after warm-up, seeds {', '.join(map(str, res['seeds']))} pooled "
        "(100 bins per decade); dots and values: the table's p50 and p99 (mean over seeds)",
        title_fontsize=9,
    )  # fmt: skip
    return plots.save(fig, out, "latency_cdf", fmt)


def plot_timelines(res: dict, out: Path, fmt: str) -> str:
    """p99 of produce latency per second of both designs (median over seeds, range shaded)."""
    a, b = res["_designs"]
    n = len(res["seeds"])
    fig = plots.new_figure(13, 6)
    ax = fig.subplots()
    _title(fig, "Produce latency p99 over time", res)
    handles = []
    drawn = False
    for tag, d, colour in (("A", a, A_COLOUR), ("B", b, B_COLOUR)):
        if not d.p99:
            continue
        m = np.vstack(d.p99)
        width = plots.bin_width(d.duration)
        x = (np.arange(m.shape[1]) + 0.5) * width
        with warnings.catch_warnings():  # a second in which no request was acked is all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(m, axis=0)
            lo, hi = np.nanmin(m, axis=0), np.nanmax(m, axis=0)
        if n > 1:
            ax.fill_between(x, lo, hi, color=colour, alpha=0.18, lw=0)
        # A wider underneath: where both designs agree (same seeds, before a fault) A still shows
        ax.plot(x, med, color=colour, lw=2.2 if tag == "A" else 1.0, zorder=3 if tag == "A" else 4)
        finite = np.nonzero(np.isfinite(med))[0]
        drawn = drawn or len(finite) > 0
        if len(finite) and x[finite[-1]] < 0.97 * d.duration:  # say why a line stops early
            t_last = x[finite[-1]] + width / 2
            ax.annotate(
                f"{tag}: no acked request sent after {t_last:,.0f} s",
                (x[finite[-1]], med[finite[-1]]),
                xytext=(6, -14 if tag == "A" else 10), textcoords="offset points", fontsize=9,
                color=colour, fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )  # fmt: skip
        label = f"{tag} {d.name}: p99 per {'second' if width == 1 else f'{width:g} s'}"
        label += ", median over seeds" if n > 1 else ""
        handles.append(Line2D([], [], color=colour, lw=2.2 if tag == "A" else 1.0, label=label))
    if n > 1:
        handles.append(Patch(color="0.5", alpha=0.3, label="range over seeds"))
    duration = max(a.duration, b.duration)
    same = a.faults == b.faults
    shown = _tagged(a, "") if same else _tagged(a, " in A") + _tagged(b, " in B")
    for h in plots.shade_faults(ax, shown, duration):
        h.set_label(h.get_label() + f", seed {res['seeds'][0]}")
        handles.append(h)
    if drawn:
        ax.set_yscale("log")
    ax.set_xlim(0, duration)
    plots.seconds_axis(ax.xaxis)
    if drawn:
        plots.ms_axis(ax.yaxis)
    else:
        ax.text(0.5, 0.5, "no acknowledged requests", transform=ax.transAxes, ha="center")
    ax.set_xlabel("send time since start (s)")
    ax.set_ylabel("produce latency p99 (ms, log scale)")
    ax.set_title("acked requests by the second they were sent", fontsize=9.5, color="0.35",
                 loc="left")  # fmt: skip
    ax.grid(True, alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    return plots.save(fig, out, "latency_timeline", fmt)


def _tagged(d: Design, suffix: str) -> list[dict]:
    """A design's faults for the timeline, the target suffixed, destroyed data marked."""
    out = []
    for f in d.faults:
        out.append(dict(f, target=f"{f['target']}{suffix}"))
    return out
