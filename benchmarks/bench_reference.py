"""Speed and memory of the reference scenario (spec section 4), printed as figures.

    python benchmarks/bench_reference.py [--scenario scenarios/multi-region.yaml] [--duration 1h]

Prints simulated seconds per wall second, model events per second, the events per second of a
bare SimPy timeout loop measured in the same process (the ceiling for an event-driven model on
this interpreter), and the peak resident memory. Targets (issue 2): the 1-hour reference scenario
at least 300x faster than real time on one core, under 1 GiB peak memory.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import sys
import time
from pathlib import Path

import simpy

from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def bare_simpy_events_per_s(n: int = 300_000, clock=time.perf_counter) -> float:
    """Events per second (of `clock`: wall by default, CPU with time.process_time) of a SimPy
    process that only yields timeouts."""

    def loop(env):
        while True:
            yield env.timeout(0.001)

    env = simpy.Environment()
    env.process(loop(env))
    t = clock()
    env.run(until=n * 0.001)
    dt = clock() - t
    return next(env._eid) / dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "multi-region.yaml"))
    ap.add_argument("--duration", default=None, help="override run.duration, e.g. 10m")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs; the fastest is reported (default 3)"
    )
    a = ap.parse_args(argv)
    overrides = [f"run.duration={a.duration}"] if a.duration else []
    sc = load_scenario(a.scenario, overrides)
    walls, sims, bares = [], [], []
    res = None
    for _ in range(max(1, a.repeat)):
        res = None  # free the previous run first: the peak memory is that of one run
        gc.collect()
        bares.append(bare_simpy_events_per_s())
        t0 = time.perf_counter()
        res = run(sc, a.seed)
        walls.append(time.perf_counter() - t0)
        sims.append(res.summary["model"]["sim_wall_s"])
    best = min(range(len(walls)), key=walls.__getitem__)
    wall, sim_wall, bare = walls[best], sims[best], bares[best]
    s = res.summary
    events = s["model"]["events"]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"machine          {platform.machine()}  python {platform.python_version()}  simpy {simpy.__version__}"
    )
    print(f"scenario         {sc.name}  ({s['sim_duration_s']:.0f} s simulated, seed {a.seed})")
    print(
        f"requests         {s['requests']['sent']:,}   records {s['records']['sent']:,}   files {s['files']['flushed']:,}"
    )
    print(
        f"wall time        {wall:.2f} s  (simulation {sim_wall:.2f} s, checks and tables {wall - sim_wall:.2f} s)"
    )
    print(
        f"                 fastest of {len(walls)} runs: {', '.join(f'{w:.2f}' for w in walls)} s"
    )
    print(f"speed            {s['sim_duration_s'] / wall:,.0f} simulated s per wall s (whole run)")
    print(
        f"                 {s['sim_duration_s'] / sim_wall:,.0f} simulated s per wall s (simulation only)"
    )
    print(f"model events     {events:,}  ->  {events / sim_wall:,.0f} events/s")
    print(f"bare SimPy loop  {bare:,.0f} events/s (same process)")
    print(f"peak memory      {peak_kib / 1024:,.0f} MiB (max RSS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
