"""Benchmark of the sweep engine: its overhead per run, and the speed-up of 2 workers over 1.

    PYTHONPATH=. python benchmarks/bench_sweep.py [--runs 12] [--duration 5m] [--scenario FILE]

The same sweep (``--runs`` seeds of the reference workload, ``--duration`` simulated each; every
run distinct) runs three times into fresh folders, without the plots and sensitivity that end a
sweep (a one-off cost, timed apart):

1. in this process (``--workers 0``);
2. on a ``LocalCluster`` of 1 worker process;
3. on a ``LocalCluster`` of 2 worker processes.

Overhead per run = (the sweep's wall time - the sum of the runs' own wall times, measured inside
each task) / runs, on 1 worker: what the engine adds to each run (scheduling, shipping the
scenario and the row, the journal, the table). It is compared with the wall time of one
``--duration`` run (target: under 5%). Speed-up = wall time on 1 worker / wall time on 2 (target:
at least 1.8 on 2 cores). How busy the workers were (the runs' own time / (workers x wall)) tells
the engine's share of a shortfall from the other processes' share: when other work holds a
core, each run takes longer on 2 workers than on 1. The clusters are started before the clock starts; their start-up time is
printed apart. The load average is printed too: other processes on the machine slow the
2-worker case first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.ensemble.engine import DaskEngine, InProcess  # noqa: E402
from sim.ensemble.sweep import analyse_sweep, run_sweep  # noqa: E402
from sim.ensemble.sweepfile import quick_sweep  # noqa: E402


def timed_sweep(plan, engine, folder: Path) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    res = run_sweep(plan, folder, engine=engine, quiet=True, analyse=False)
    wall = time.perf_counter() - t0
    assert (res.table["status"] == "ok").all(), res.table["error"].dropna().head(1).tolist()
    return wall, float(res.table["wall_s"].sum()), res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--duration", default="5m")
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "multi-region.yaml"))
    a = ap.parse_args()
    plan = quick_sweep(a.scenario, a.runs, extra_set=[f"run.duration={a.duration}"])
    print(
        f"sweep: {a.runs} runs of {Path(a.scenario).stem}, {a.duration} simulated each; "
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"cores {os.cpu_count()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wall, work, res0 = timed_sweep(plan, InProcess(), tmp / "inproc")
        results["in-process"] = (wall, work)
        print(f"in-process : {wall:7.2f} s wall, runs' own time {work:7.2f} s")
        rows = None
        for n in (1, 2):
            t0 = time.perf_counter()
            with DaskEngine(workers=n) as eng:
                up = time.perf_counter() - t0
                wall, work, res = timed_sweep(plan, eng, tmp / f"dask{n}")
            results[n] = (wall, work)
            print(
                f"{n} worker(s): {wall:7.2f} s wall, runs' own time {work:7.2f} s "
                f"(cluster start {up:.2f} s, not counted)"
            )
            drop = ["wall_s", "wall_time_s", "model.sim_wall_s"]
            same = res.table.drop(columns=drop).equals(res0.table.drop(columns=drop))
            rows = same if rows is None else rows and same
        t0 = time.perf_counter()
        analyse_sweep(plan, res0, quiet=True)
        t_analysis = time.perf_counter() - t0
    per_run = statistics.mean(res0.table["wall_s"])
    w1, s1 = results[1]
    overhead = (w1 - s1) / a.runs
    wi, si = results["in-process"]
    print("")
    print(f"one {a.duration} run                      : {per_run:.2f} s wall (mean of {a.runs})")
    print(
        f"engine overhead per run, 1 worker       : {overhead * 1000:.0f} ms = "
        f"{100 * overhead / per_run:.1f}% of a {a.duration} run (target < 5%)"
    )
    print(
        f"engine overhead per run, in-process     : {(wi - si) / a.runs * 1000:.0f} ms = "
        f"{100 * (wi - si) / a.runs / per_run:.1f}%"
    )
    print(f"speed-up of 2 workers over 1            : {w1 / results[2][0]:.2f}x (target >= 1.8x)")
    for n in (1, 2):
        w, work = results[n]
        print(
            f"workers busy, {n} worker(s)               : {100 * work / (n * w):.0f}% of the wall "
            f"time (a run took {work / a.runs:.2f} s on average)"
        )
    print(f"rows identical in-process, 1 and 2 workers: {bool(rows)}")
    print(f"aggregate + plots at the end (once)     : {t_analysis:.2f} s")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
