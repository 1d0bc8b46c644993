"""10,000 simulated years of the reference design (issue 11): wall time per phase.

    PYTHONPATH=. python benchmarks/bench_availability.py [--years 10000] [--out DIR] [--runs 12]

Phases: incident windows per class (sweep engine, cached in DIR/outcomes.parquet), the Monte Carlo
over months (vectorised numpy, two passes), the joint windows of overlapping incidents (cached in
DIR/joint.parquet). A second call with the same DIR reuses both caches: the figure that matters for
repeated studies. Prints each phase's time and the study's table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sim.ensemble.availability import compose, load_incidents
from sim.ensemble.availability.compose import Design
from sim.ensemble.availability.outcomes import build_outcomes, offered_rate
from sim.ensemble.availability.study import format_table, plan_months, run_study
from sim.ensemble.engine import open_engine
from sim.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=float, default=10_000)
    ap.add_argument("--out", default="results/bench-availability")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_incidents()
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    with open_engine(a.workers) as engine:
        t0 = time.perf_counter()
        samples = build_outcomes(
            "multi-region", base, model, a.runs, 1, engine, out / "outcomes.parquet"
        )
        t1 = time.perf_counter()
        print(f"incident windows ({a.runs} per class): {t1 - t0:.1f} s", flush=True)
        d = Design("multi-region", 3, samples, offered_rate(base))
        r, m = plan_months(a.years)
        t2 = time.perf_counter()
        compose(model, [d], rate_draws=r, months_per_draw=m, seed=1, joint=None)
        print(f"Monte Carlo over months alone, {a.years:,.0f} years: {time.perf_counter() - t2:.1f} s",
              flush=True)  # fmt: skip
        t3 = time.perf_counter()
        doc = run_study({"multi-region": base}, model, out, years=a.years, seed=1, engine=engine,
                        runs_per_class=a.runs)  # fmt: skip
        t4 = time.perf_counter()
    print(f"whole study (outcomes cached, joint windows run or cached): {t4 - t3:.1f} s, "
          f"{doc['designs']['multi-region']['joint_runs']} joint runs")  # fmt: skip
    print(format_table(doc))
    print(f"total {t4 - t0:.1f} s for {doc['years']:,.0f} simulated years")


if __name__ == "__main__":
    main()
