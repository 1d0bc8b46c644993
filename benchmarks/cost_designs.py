"""What each design costs, beside its latency: cost per GB produced against produce p50.

    python benchmarks/cost_designs.py [--duration 10m] [--seeds 2] [--out docs/img]

Runs each design fault-free on the reference workload, on the same seeds, and prices every
request and byte from the run's ledger (``summary.cost``, prices in ``sim/data/prices_usd.csv``,
each with its source; items with no known price are listed, never counted as zero). Prints a
table (mean over seeds, and the spread) and writes ``cost-vs-latency.png``.

The S3 Express designs run the low-latency agent settings of their scenarios (50 ms flush, 10 ms
linger), so they make five times the files of the others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.core.units import parse_duration
from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = {
    "single region (S3 Standard)": ("single-region.yaml", []),
    "single region (S3 Express)": ("express-one-zone-low-latency.yaml", []),
    "S3 Express across 3 zones, 2-of-3": ("express-zonal-quorum.yaml", []),
    "3 regions, 2-of-3 (reference)": ("multi-region.yaml", []),
    "3 regions, 3-of-3": ("multi-region.yaml", ["storage.quorum=3"]),
    "3 regions, async replication": ("multi-region.yaml", ["storage.replication=async"]),
    "3 regions, 2-of-3, read nearest": ("multi-region.yaml", ["workload.read_from=nearest"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", default="10m")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    a = ap.parse_args()
    dur = parse_duration(a.duration)
    rows = []
    for name, (file, sets) in DESIGNS.items():
        sc = load_scenario(ROOT / "scenarios" / file, [f"run.duration={dur}", "faults=[]", *sets])
        per = [run(sc, seed).summary for seed in range(1, a.seeds + 1)]
        gb = np.array([s["cost"]["usd_per_gb"] for s in per])
        month = np.array([s["cost"]["usd_per_month"] for s in per])
        p50 = np.array([s["produce_latency_ms"]["p50"] for s in per])
        unknown = sorted({u for s in per for u in s["cost"]["unknown"]})
        top = sorted(per[0]["cost"]["items"].items(), key=lambda kv: -kv[1])[:3]
        rows.append((name, gb, month, p50, unknown, top))
    print(
        f"{'design':<34}{'USD/GB':>10}{'USD/month':>12}{'p50 ms':>9}   biggest items (first seed)"
    )
    for name, gb, month, p50, unknown, top in rows:
        items = ", ".join(f"{k} {v / sum(x for _, x in top):.0%}" for k, v in top)
        print(f"{name:<34}{gb.mean():>10.4f}{month.mean():>12,.0f}{p50.mean():>9.1f}   {items}")
        if unknown:
            print(f"{'':<34}no known price: {', '.join(unknown)}")
    fig = Figure(figsize=(9, 6.2), dpi=130, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, gb, _month, p50, unknown, _top in rows:
        mark = " *" if unknown else ""
        ax.errorbar(
            p50.mean(), gb.mean(), xerr=np.ptp(p50) / 2, yerr=np.ptp(gb) / 2, fmt="o", ms=8,
            label=f"{name}{mark}: ${gb.mean():.3f}/GB, p50 {p50.mean():.0f} ms",
        )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("produce latency p50 (ms)")
    ax.set_ylabel("cost per GB produced (USD, log scale)")
    ax.set_title(
        f"What a design costs against its latency (fault-free, {a.duration} runs, "
        f"{a.seeds} seeds)\n* some items have no known price and are left out",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "cost-vs-latency.png")
    print(f"\nwrote {out / 'cost-vs-latency.png'}")


if __name__ == "__main__":
    main()
