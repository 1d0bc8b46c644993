"""The stall of losing the leader region, as a function of the table's internal-leader failover.

    python benchmarks/failover_sweep.py [--failovers 0,5,10,20,30] [--seeds 2] [--duration 30m]

AWS publishes no failover time for an MRSC table whose leader's region is lost (its guidance: the
remaining replicas go on serving, RPO 0), so ``table.leader_failover`` is an estimate and the
results that hang on it are shown across a range: ``nuke-leader-region`` (the leader region,
which also holds the table's internal leader, destroyed at 20 minutes) run for each failover
time and seed. Prints the unavailability (mean, min-max over seeds), lost acknowledged records,
retries and duplicates, and draws docs/img/failover-sweep.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def sweep(failovers: list[float], seeds: int, duration: str) -> list[dict]:
    rows = []
    for fo in failovers:
        for seed in range(1, seeds + 1):
            sc = load_scenario(
                ROOT / "scenarios" / "nuke-leader-region.yaml",
                overrides=[f"table.leader_failover={fo}s", f"run.duration={duration}"],
            )
            s = run(sc, seed=seed).summary
            rows.append(
                {
                    "failover_s": fo,
                    "seed": seed,
                    "stall_s": s["unavailability"]["total_s"],
                    "lost_acked": s["records"]["lost_acked"],
                    "retries": s["requests"]["retries"],
                    "duplicated": s["records"]["duplicated"],
                    "blocked_s_max": s["producers"]["blocked_s_max"],
                }
            )
    return rows


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    xs = sorted({r["failover_s"] for r in rows})
    means = [sum(r["stall_s"] for r in rows if r["failover_s"] == x) /
             sum(1 for r in rows if r["failover_s"] == x) for x in xs]  # fmt: skip
    ax.scatter([r["failover_s"] for r in rows], [r["stall_s"] for r in rows], s=14,
               color="#888888", label="one seed", zorder=2)  # fmt: skip
    ax.plot(xs, means, marker="o", color="#1f77b4", label="mean over seeds", zorder=3)
    ax.plot([0, max(xs)], [0, max(xs)], ls=":", color="#bbbbbb", label="stall = failover")
    ax.set_xlabel("table internal-leader failover time (s), an estimate: not published")
    ax.set_ylabel("producers stalled (s)")
    ax.set_title("nuke-leader-region: stall vs the MRSC table's failover time", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failovers", default="0,5,10,20,30")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", default="30m")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "failover-sweep.png"))
    a = ap.parse_args(argv)
    rows = sweep([float(x) for x in a.failovers.split(",")], a.seeds, a.duration)
    print(
        f"{'failover':>9} {'seed':>5} {'stall s':>9} {'lost':>6} {'retries':>8} {'dup':>5} {'blocked max s':>14}"
    )
    for r in rows:
        print(f"{r['failover_s']:>9g} {r['seed']:>5} {r['stall_s']:>9.2f} {r['lost_acked']:>6} "
              f"{r['retries']:>8} {r['duplicated']:>5} {r['blocked_s_max']:>14.2f}")  # fmt: skip
    plot(rows, Path(a.out))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
