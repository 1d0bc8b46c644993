"""Plot ``benchmarks/scaling.csv`` (written by ``bench_scaling.py``) for docs/performance.md.

    python benchmarks/plot_scaling.py [--csv benchmarks/scaling.csv] [--out docs/img/scaling.png]

One row of three panels (simulated time, load, regions), each with the run's cost (left axis:
its wall time times the speed of the bare SimPy loop measured in the same process just before,
in millions of bare events: the figure that survives a noisy, shared machine; the wall time
itself is written on the bar) and the peak resident memory (right axis); and, when
``bench_memory.py`` has written its log (``--memory-log``), a last panel with the resident memory
of one long run against the simulated time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TITLES = {
    "time": "simulated time (reference load, 3 regions)",
    "load": "load, x reference records/s",
    "regions": "regions (quorum k-of-n)",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(ROOT / "benchmarks" / "scaling.csv"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "scaling.png"))
    ap.add_argument("--memory-log", default=str(ROOT / "benchmarks" / "memory_24h.log"))
    a = ap.parse_args(argv)
    df = pd.read_csv(a.csv)
    axes_present = [x for x in TITLES if x in set(df["axis"])]
    mem = _memory_log(Path(a.memory_log))
    n = len(axes_present) + (mem is not None)
    fig, axs = plt.subplots(1, n, figsize=(5.5 * n, 4.6))
    axs = list(axs) if n > 1 else [axs]
    if mem is not None:
        _memory_panel(axs.pop(), *mem)
    for ax, axis in zip(axs, axes_present, strict=True):
        d = df[df["axis"] == axis].reset_index(drop=True)
        x = range(len(d))
        dur = d["sim_s"].iloc[0] / 60
        cost = d["wall_x_bare_M"]
        ax.bar([i - 0.2 for i in x], cost, width=0.4, color="tab:blue", label="cost")
        ax.set_ylabel("wall s x bare SimPy events/s (millions)", color="tab:blue")
        ax.set_xticks(list(x))
        ax.set_xticklabels(
            [
                f"{r['point']}\n{r['wall_s']:.1f} s wall\n{r['files'] / 1e3:.0f}k files\n"
                f"{r['requests'] / 1e6:.2f}M req\n{r['records'] / 1e6:.0f}M rec"
                for _, r in d.iterrows()
            ],
            fontsize=7.5,
        )
        ax2 = ax.twinx()
        ax2.bar(
            [i + 0.2 for i in x], d["peak_mib"], width=0.4, color="tab:orange", label="peak MiB"
        )
        ax2.set_ylabel("peak resident memory, MiB", color="tab:orange")
        for i, r in d.iterrows():
            ax2.annotate(f"{r['peak_mib']:.0f}", (i + 0.2, r["peak_mib"]), ha="center",
                         va="bottom", fontsize=7)  # fmt: skip
        ax.set_ylim(0, cost.max() * 1.45)
        ax2.set_ylim(0, d["peak_mib"].max() * 1.25)
        sub = "" if axis == "time" else f", {dur:.0f} simulated min each"
        ax.set_title(TITLES[axis] + sub, fontsize=9)
    fig.suptitle(
        "Reference scenario, seed 1: cost (blue: wall time x the bare SimPy loop's speed) "
        "and peak memory (orange)",
        fontsize=10,
    )
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


def _memory_log(path: Path):
    """(samples, final figures) from a ``bench_memory.py`` log, or None."""
    if not path.is_file():
        return None
    rows, done = [], None
    for line in path.read_text().splitlines():
        if line.startswith("DONE "):
            done = json.loads(line[5:])
        elif line.startswith("sim_h"):
            f = line.split()
            rows.append({f[i]: float(f[i + 1]) for i in range(0, len(f), 2)})
    return (pd.DataFrame(rows), done) if rows else None


def _memory_panel(ax, d: pd.DataFrame, done: dict | None) -> None:
    ax.plot(d["sim_h"], d["rss_mib"], color="tab:orange", label="resident memory")
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("MiB", color="tab:orange")
    ax.axhline(1536, color="0.5", ls=":", lw=1)
    ax.annotate("1.5 GiB target", (0, 1536), va="bottom", fontsize=7, color="0.4")
    if done is not None:
        ax.axhline(done["peak_mib"], color="tab:red", ls="--", lw=1)
        ax.annotate(
            f"peak with the checks after the run: {done['peak_mib']:.0f} MiB "
            f"({done['wall_s'] / 60:.0f} min wall)",
            (0, done["peak_mib"]), va="bottom", fontsize=7, color="tab:red",
        )  # fmt: skip
    ax.set_ylim(0, max(1700, d["rss_mib"].max() * 1.15, (done or {}).get("peak_mib", 0) * 1.1))
    ax.set_xlim(0, max(d["sim_h"].max(), 1))
    ax.set_title(f"one {d['sim_h'].max():.0f}-hour reference run: memory as it goes", fontsize=9)


if __name__ == "__main__":
    sys.exit(main())
