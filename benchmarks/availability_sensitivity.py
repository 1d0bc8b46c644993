"""How the availability study's result hangs on its three estimates (issue 11).

    PYTHONPATH=. python benchmarks/availability_sensitivity.py [--years 300] [--runs 4]
        [--workers 2] [--out DIR] [DESIGN ...]

The estimates:
- CAP_S (outcomes.py, 300 s): the longest incident simulated; longer ones go on as the second half
  of their simulated part went. Shown at 120 / 300 / 900 s.
- REBUILD_S (outcomes.py, 7 days): how long a design that cannot fail over stays down when its
  region is destroyed. Shown at 1 / 7 / 30 days.
- PARTIAL_ERROR_RATE (fit.py, 0.3): the error rate of a partial incident (SERVICE_DISRUPTION or
  partial wording in the status feed). Shown at 0.1 / 0.3 / 0.5.

Each variant is a whole study on the same seed (common random numbers: the incident histories are
the same, only the outcomes differ). All variants share one folder: the incident windows are cached
by scenario content (the extension to the true length is applied on load), so a variant only runs
the windows it changes. Prints one line per (variant, design) and writes `sensitivity.csv` there.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sim.ensemble.availability import load_incidents
from sim.ensemble.availability.incidents import IncidentModel
from sim.ensemble.availability.outcomes import CAP_S, REBUILD_S, Caps
from sim.ensemble.availability.study import run_study
from sim.ensemble.engine import open_engine
from sim.scenario import load_scenario

DAY = 86400.0
VARIANTS = [  # (name, cap_s, rebuild_s, partial error rate or None for the table's)
    ("baseline", CAP_S, REBUILD_S, None),
    ("cap 120 s", 120.0, REBUILD_S, None),
    ("cap 900 s", 900.0, REBUILD_S, None),
    ("rebuild 1 d", CAP_S, 1 * DAY, None),
    ("rebuild 30 d", CAP_S, 30 * DAY, None),
    ("partial 0.1", CAP_S, REBUILD_S, 0.1),
    ("partial 0.5", CAP_S, REBUILD_S, 0.5),
]


def with_partial_rate(model: IncidentModel, rate: float) -> IncidentModel:
    """Every class's partial incidents at `rate` (classes with only full incidents unchanged)."""
    return IncidentModel(
        tuple(
            replace(c, partial_error_rate=rate) if c.full_share < 1.0 else c for c in model.classes
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("designs", nargs="*", default=["single-region", "multi-region"])
    ap.add_argument("--years", type=float, default=300)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/availability-sensitivity")
    ap.add_argument("--only", default=None, help="comma-separated variant names to run")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    scenarios = {n: load_scenario(f"scenarios/{n}.yaml").model_dump(mode="json") for n in a.designs}
    base_model = load_incidents()
    rows = []
    wanted = None if a.only is None else {v.strip() for v in a.only.split(",")}
    with open_engine(a.workers) as engine:
        for name, cap, rebuild, partial in VARIANTS:
            if wanted is not None and name not in wanted:
                continue
            model = base_model if partial is None else with_partial_rate(base_model, partial)
            t0 = time.perf_counter()
            doc = run_study(scenarios, model, out, years=a.years, seed=1, engine=engine,
                            runs_per_class=a.runs, caps=Caps(cap, rebuild))  # fmt: skip
            wall = time.perf_counter() - t0
            for design, s in doc["designs"].items():
                n = s["nines"]
                rows.append(
                    {
                        "variant": name,
                        "design": design,
                        "cap_s": cap,
                        "rebuild_days": rebuild / DAY,
                        "partial_rate": partial if partial is not None else "table",
                        "nines": round(n["estimate"], 3),
                        "nines_lo": round(n["ci95"][0], 3),
                        "nines_hi": round(n["ci95"][1], 3),
                        "mean_s_per_month": round(s["monthly_downtime_s"]["mean"], 1),
                        "p_month_over_26s": round(s["p_month_over_s"]["26"], 4),
                        "lost_acked_per_year": float(f"{s['lost_acked_per_year']['estimate']:.3g}"),
                        "wall_s": round(wall, 1),
                    }
                )
                r = rows[-1]
                print(
                    f"{name:13s} {design:30s} nines {r['nines']:.2f} [{r['nines_lo']:.2f}, "
                    f"{r['nines_hi']:.2f}]  mean {r['mean_s_per_month']:9.1f} s/mo  "
                    f"P>26s {r['p_month_over_26s']:.3f}  lost/yr {r['lost_acked_per_year']:.3g}"
                    f"  ({wall:.0f} s)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    path = out / "sensitivity.csv"
    if path.exists() and wanted is not None:
        old = pd.read_csv(path)
        table = pd.concat([old[~old["variant"].isin(wanted)], table], ignore_index=True)
    table.to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
