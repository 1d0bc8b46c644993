"""10,000 simulated years of the reference design (issue 11): wall time per phase, cold and warm.

    PYTHONPATH=. python benchmarks/bench_availability.py [--years 10000] [--out DIR] [--runs 12]

Phases, each timed:
1. incident windows per class (sweep engine; cached in DIR/outcomes.parquet): cold the first time;
2. the joint windows of overlapping incidents (cached in DIR/joint.parquet): cold the first time;
3. the whole study (`run_study`) with both caches warm, the fastest of --repeats: the composition
   alone (two Monte Carlo passes over the months, the joint look-ups, the summary, the files).
"Cold" = 1 + 2 + 3 (a study from nothing, as a new incident model or design needs); "warm" = 3 (a
study rerun, or another question asked of the same runs). With a warm DIR, 1 and 2 cost nothing.
The machine is shared: a bare SimPy loop's event rate is printed before and after, as in
benchmarks/bench_reference.py, to show how loaded it was, and each phase's CPU time (this process
and its workers, from psutil) next to its wall time: the runs' CPU over 2 plus the composing's is
what a cold study would take on two idle cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reference import bare_simpy_events_per_s  # noqa: E402

from sim.ensemble.availability import compose, load_incidents  # noqa: E402
from sim.ensemble.availability.compose import Design  # noqa: E402
from sim.ensemble.availability.joint import SimulatedJoint  # noqa: E402
from sim.ensemble.availability.outcomes import build_outcomes, offered_rate  # noqa: E402
from sim.ensemble.availability.study import format_table, plan_months, run_study  # noqa: E402
from sim.ensemble.engine import open_engine  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and its live children (the engine's workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=float, default=10_000)
    ap.add_argument("--out", default="results/bench-availability")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"bare SimPy loop: {bare_simpy_events_per_s():,.0f} events/s (machine load)", flush=True)
    model = load_incidents()
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    name = "multi-region"
    with open_engine(a.workers) as engine:
        t0, c0 = time.perf_counter(), cpu_s()
        samples = build_outcomes(name, base, model, a.runs, 1, engine, out / "outcomes.parquet")
        t_windows, c_windows = time.perf_counter() - t0, cpu_s() - c0
        print(f"1. incident windows ({a.runs} per class, {len(model)} classes): "
              f"{t_windows:.1f} s wall, {c_windows:.1f} s CPU", flush=True)  # fmt: skip
        d = Design(name, 3, samples, offered_rate(base))
        r, m = plan_months(a.years)
        hook = SimulatedJoint({name: base}, engine, out / "joint.parquet")
        t0, c0 = time.perf_counter(), cpu_s()
        collect = []

        def one_pass():
            t1 = time.perf_counter()
            compose(model, [d], rate_draws=r, months_per_draw=m, seed=1, joint=hook)
            collect.append((time.perf_counter() - t1, len(hook.pending)))

        cached = len(hook.rows)
        hook.settle(one_pass)
        t_all = time.perf_counter() - t0
        t_collect = sum(c for c, _ in collect)
        t_joint = t_all - t_collect
        c_joint = cpu_s() - c0
        print(f"2. joint windows: {len(hook.rows) - cached} run ({cached} cached before, "
              f"{' + '.join(str(n) for _, n in collect[:-1]) or '0'} by pass): "
              f"{t_joint:.1f} s (+ {t_collect:.1f} s in {len(collect)} collecting passes), "
              f"{c_joint:.1f} s CPU in all",
              flush=True)  # fmt: skip
        walls, cpus = [], []
        for _ in range(a.repeats):
            t0, c0 = time.perf_counter(), cpu_s()
            doc = run_study({name: base}, model, out, years=a.years, seed=1, engine=engine,
                            runs_per_class=a.runs)  # fmt: skip
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu_s() - c0)
    t_warm = min(walls)
    c_warm = cpus[walls.index(t_warm)]
    print(f"3. whole study, caches warm (fastest of {a.repeats}): {t_warm:.1f} s wall, "
          f"{c_warm:.1f} s CPU")  # fmt: skip
    print(format_table(doc))
    print(f"bare SimPy loop: {bare_simpy_events_per_s():,.0f} events/s (machine load)")
    cold = t_windows + t_joint + t_collect + t_warm
    c_cold = c_windows + c_joint + c_warm
    idle = (c_windows + c_joint) / 2 + c_warm  # runs split over 2 cores; the composing is serial
    print(
        f"{doc['years']:,.0f} simulated years of {name} on {os.cpu_count()} cores: "
        f"cold (windows + joint runs + study) {cold:.1f} s = {cold / 60:.1f} min wall, "
        f"{c_cold:.1f} s CPU (runs over 2 cores + composing: {idle / 60:.1f} min on 2 idle cores); "
        f"warm (study on cached runs) {t_warm:.1f} s wall, {c_warm:.1f} s CPU"
    )


if __name__ == "__main__":
    main()
