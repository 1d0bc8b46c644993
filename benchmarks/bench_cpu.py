"""CPU time of the reference simulation, for a shared machine where wall time means little.

    PYTHONPATH=<tree> python benchmarks/bench_cpu.py [--duration 10m] [--repeat 3]

Prints, per run, the CPU seconds (``time.process_time``) of the simulation alone (world built
and ``env.run`` to the end, through ``run()``'s progress hook: the checks and tables after it
are left out), the SimPy events, and the CPU speed of a bare SimPy timeout loop measured in the
same process just before (events per CPU second). On a machine whose other users take the
cores, a run's wall time can be ten times its CPU time while its CPU time moves by a few tens
of percent; alternate two trees (``for i in 1 2 3; do PYTHONPATH=A ...; PYTHONPATH=B ...;
done``) and compare the fastest and the median.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from bench_reference import bare_simpy_events_per_s

from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "multi-region.yaml"))
    ap.add_argument("--duration", default="10m", help="run.duration (default 10m)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    sc = load_scenario(a.scenario, [f"run.duration={a.duration}"])
    cpus = []
    for _ in range(max(1, a.repeat)):
        gc.collect()
        bare = bare_simpy_events_per_s(200_000, clock=time.process_time)
        mark = {}

        def at_end(_t, mark=mark):
            mark["t"] = time.process_time()  # the last call is at the end of the simulation

        t0 = time.process_time()
        res = run(sc, a.seed, progress=at_end)
        cpu = mark["t"] - t0
        cpus.append(cpu)
        events = res.summary["model"]["events"]
        print(
            f"cpu {cpu:.2f} s  events {events:,}  bare loop {bare / 1e6:.2f} M events/cpu-s  "
            f"cpu x bare {cpu * bare / 1e6:.2f}",
            flush=True,
        )
        del res
    cpus.sort()
    print(f"fastest {cpus[0]:.2f} s  median {cpus[len(cpus) // 2]:.2f} s  ({len(cpus)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
