"""Resident memory of one long reference run as the simulated time goes (is it flat?).

    python benchmarks/bench_memory.py [--hours 24] [--log benchmarks/memory_24h.log]

Runs ``scenarios/multi-region.yaml`` for ``--hours`` simulated hours (seed 1) in this process
and writes one line per 1/200 of the run: simulated hours, wall seconds, resident memory now and
its peak so far (MiB); then a last ``DONE {...}`` line with the run's figures, the bare SimPy
loop's speed measured just before it, and the peak resident memory of the whole process (the
checks and summary after the simulation included). ``plot_scaling.py`` draws the curve.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--log", default=None, help="default: benchmarks/memory_<hours>h.log")
    a = ap.parse_args(argv)
    from bench_reference import bare_simpy_events_per_s

    from sim.run.runner import run
    from sim.scenario import load_scenario

    log = Path(a.log or ROOT / "benchmarks" / f"memory_{a.hours:g}h.log")
    sc = load_scenario(ROOT / "scenarios" / "multi-region.yaml", [f"run.duration={a.hours:g}h"])
    bare = bare_simpy_events_per_s()
    with log.open("w") as f:
        t0 = time.perf_counter()

        def progress(t: float) -> None:
            f.write(
                f"sim_h {t / 3600:.3f} wall_s {time.perf_counter() - t0:.0f} "
                f"rss_mib {_rss_mib():.0f} peak_mib {_peak_mib():.0f}\n"
            )
            f.flush()

        res = run(sc, 1, progress=progress)
        wall = time.perf_counter() - t0
        s = res.summary
        out = {
            "sim_s": s["sim_duration_s"], "wall_s": wall, "sim_wall_s": s["model"]["sim_wall_s"],
            "events": s["model"]["events"], "requests": s["requests"]["sent"],
            "records": s["records"]["sent"], "files": s["files"]["flushed"],
            "bare_events_per_s": bare, "peak_mib": _peak_mib(),
        }  # fmt: skip
        f.write("DONE " + json.dumps(out) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
