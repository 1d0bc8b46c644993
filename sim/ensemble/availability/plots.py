"""Plots of an availability study, from its saved files only (availability.json, months.parquet,
and failover.json when `sim availability --failover-sweep` wrote one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .compose import BUDGETS_S


def _save(fig: Figure, path: Path) -> str:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path.name


def monthly_distribution(folder: Path) -> str:
    """Survival function of monthly downtime per design, SLA budgets marked."""
    months = pd.read_parquet(folder / "months.parquet")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for name, m in months.groupby("design", sort=False):
        x, w = m["downtime_s"].to_numpy(), m["weight"].to_numpy()
        order = np.argsort(x)
        x, w = x[order], w[order] / w.sum()
        surv = 1.0 - np.cumsum(w)
        ax.step(np.maximum(x, 0.01), np.maximum(surv, 1e-7), where="post", label=name)
    for key, b in BUDGETS_S.items():
        ax.axvline(b, color="k", ls="--", lw=0.8)
        ax.text(b, 0.5, f" {float(b):.0f} s ({'99.999%' if key == '26' else '99.99%'})",
                rotation=90, va="center", fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("downtime in a 30-day month (s)")
    ax.set_ylabel("P(month's downtime > x)")
    ax.set_title("Monthly downtime per design (weighted months: plain + importance-sampled)")
    ax.legend(fontsize=8)
    return _save(fig, folder / "monthly_downtime.png")


def by_class(folder: Path) -> str:
    """Expected downtime per month by incident class, per design."""
    doc = json.loads((folder / "availability.json").read_text())
    designs = list(doc["designs"])
    classes = list(next(iter(doc["designs"].values()))["downtime_by_class_s"])
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(designs)
    y = np.arange(len(classes))
    for k, name in enumerate(designs):
        v = [doc["designs"][name]["downtime_by_class_s"][c] for c in classes]
        ax.barh(y + k * width, np.maximum(v, 1e-4), height=width, label=name)
    ax.set_yticks(y + 0.4 - width / 2, classes, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("expected downtime per month (s; bars at 1e-4 are zero)")
    ax.set_title("Downtime by incident class ('overlap': groups simulated together)")
    ax.legend(fontsize=8)
    return _save(fig, folder / "downtime_by_class.png")


def failover(folder: Path) -> str | None:
    """P(month > 26 s) against the failover timings (failover.json from `sim availability
    --failover-sweep`): one line per timing, the design's own value marked."""
    path = folder / "failover.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for setting, grp in pd.DataFrame(doc["rows"]).groupby("setting", sort=False):
        grp = grp.sort_values("value_s")
        err = [grp["p26"] - grp["lo"], grp["hi"] - grp["p26"]]
        line = ax.errorbar(grp["value_s"], grp["p26"], yerr=err, marker="o", capsize=3,
                           label=setting)  # fmt: skip
        own = grp[grp["default"]]
        ax.plot(own["value_s"], own["p26"], marker="o", ms=12, mfc="none", ls="",
                color=line[0].get_color())  # fmt: skip
    ax.set_xlabel("timing (s); open circle: the design's own value")
    ax.set_ylabel("P(month downtime > 26 s)")
    ax.set_title(
        f"{doc.get('design', '')}: breaching 99.999% against the failover timings\n"
        f"(95% CI from simulation noise; {doc.get('years', 0):,.0f} years per setting, "
        "common incident histories)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return _save(fig, folder / "p26_vs_failover.png")


def render(folder: Path) -> list[str]:
    out = [monthly_distribution(folder), by_class(folder)]
    f = failover(folder)
    return out + ([f] if f else [])
