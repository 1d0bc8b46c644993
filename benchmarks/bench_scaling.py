"""Wall time and peak memory of the reference scenario against simulated time, load and regions.

    python benchmarks/bench_scaling.py [--out benchmarks/scaling.csv] [--axes time load regions]
        [--hours 1 4 24] [--loads 1 4 16] [--axis-duration 1h] [--repeat 1]

Every point runs in a fresh subprocess (so its peak resident memory is its own) and measures,
in that same process and just before the run, the events per second of a bare SimPy timeout
loop: ``wall_x_bare`` (the run's wall time times the bare loop's speed, in millions of bare
events) is the figure that survives a noisy, shared machine. Axes:

- time: the reference scenario (``scenarios/multi-region.yaml``) for each of ``--hours``;
- load: the reference scenario at 1, 4 and 16 times its records per second (``--loads``),
  ``--axis-duration`` long;
- regions: 3 regions with a 2-of-3 bucket quorum (the reference), 5 with 3-of-5, 7 with 4-of-7,
  ``--axis-duration`` long. The added regions (us-west-1, ca-central-1, eu-west-1, eu-central-1)
  take their RTTs from ``sim/data/aws_interregion_rtt_p50_ms.csv`` like every region; the table
  stays MRSC on the three US regions (MRSC spans three regions) and the producers stay in the
  three US regions, so the load is the reference load and only the fan-out grows (one more
  bucket PUT per file per region, one more agent, control plane and consumer per region).

Prints one line per point and writes them to a CSV (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "scenarios" / "multi-region.yaml"
US = ["us-east-1", "us-east-2", "us-west-2"]
EXTRA = ["us-west-1", "ca-central-1", "eu-west-1", "eu-central-1"]
REGION_POINTS = {3: 2, 5: 3, 7: 4}  # regions -> bucket quorum

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_reference import bare_simpy_events_per_s
from sim.run.runner import run
from sim.scenario import load_scenario
overrides = json.loads(sys.argv[3])
sc = load_scenario(sys.argv[2], overrides)
bare = bare_simpy_events_per_s()
t0 = time.perf_counter()
res = run(sc, 1)
wall = time.perf_counter() - t0
s = res.summary
print(json.dumps({
    "sim_s": s["sim_duration_s"], "wall_s": wall, "sim_wall_s": s["model"]["sim_wall_s"],
    "events": s["model"]["events"], "requests": s["requests"]["sent"],
    "records": s["records"]["sent"], "files": s["files"]["flushed"],
    "bare_events_per_s": bare,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def points(a) -> list[tuple[str, str, list[str]]]:
    out = []
    if "time" in a.axes:
        for h in a.hours:
            out.append(("time", f"{h:g}h", [f"run.duration={h:g}h"]))
    dur = f"run.duration={a.axis_duration}"
    if "load" in a.axes:
        for m in a.loads:
            out.append(("load", f"{m:g}x", [dur, f"workload.records_per_s={1000 * m:g}"]))
    if "regions" in a.axes:
        for n, q in REGION_POINTS.items():
            regions = US + EXTRA[: n - 3]
            out.append(
                (
                    "regions",
                    f"{n} ({q}-of-{n})",
                    [
                        dur,
                        f"topology.regions={json.dumps(regions)}",
                        f"storage.quorum={q}",
                        f"table.regions={json.dumps(US)}",
                        f"workload.producer_regions={json.dumps(US)}",
                    ],
                )
            )
    return out


def measure(overrides: list[str], repeat: int) -> dict:
    best = None
    for _ in range(max(1, repeat)):
        p = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), str(REF), json.dumps(overrides)],
            capture_output=True,
            text=True,
            check=False,
        )
        if p.returncode != 0:
            raise SystemExit(f"bench_scaling: run {overrides} failed:\n{p.stderr[-2000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if best is None or r["wall_s"] < best["wall_s"]:
            best = r
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "scaling.csv"))
    ap.add_argument("--axes", nargs="+", default=["time", "load", "regions"])
    ap.add_argument("--hours", nargs="+", type=float, default=[1, 4, 24])
    ap.add_argument("--loads", nargs="+", type=float, default=[1, 4, 16])
    ap.add_argument("--axis-duration", default="1h", help="duration of the load and region points")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point; the fastest is kept")
    a = ap.parse_args(argv)
    fields = [
        "axis", "point", "sim_s", "wall_s", "sim_wall_s", "speed_x", "events", "requests",
        "records", "files", "bare_events_per_s", "wall_x_bare_M", "peak_mib", "overrides",
    ]  # fmt: skip
    rows = []
    print(
        f"{'axis':8} {'point':14} {'sim s':>7} {'wall s':>8} {'x real':>7} {'files':>9} "
        f"{'requests':>10} {'records':>12} {'bare ev/s':>10} {'wall*bare':>9} {'peak MiB':>9}"
    )
    for axis, label, ov in points(a):
        r = measure(ov, a.repeat)
        r.update(
            axis=axis,
            point=label,
            speed_x=r["sim_s"] / r["wall_s"],
            wall_x_bare_M=r["wall_s"] * r["bare_events_per_s"] / 1e6,
            overrides=" ".join(ov),
        )
        rows.append(r)
        print(
            f"{axis:8} {label:14} {r['sim_s']:7.0f} {r['wall_s']:8.2f} {r['speed_x']:7.0f} "
            f"{r['files']:9,} {r['requests']:10,} {r['records']:12,} "
            f"{r['bare_events_per_s']:10,.0f} {r['wall_x_bare_M']:9.2f} {r['peak_mib']:9.0f}",
            flush=True,
        )
        with open(a.out, "w", newline="") as f:  # rewritten after every point
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for row in rows:
                w.writerow({k: row[k] for k in fields})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
