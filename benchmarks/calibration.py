"""Simulated single-region latency next to the real system's published figures (spec section 3).

    python benchmarks/calibration.py [--duration 10m] [--seeds 3]

Runs the two published single-region configurations on several seeds and prints the simulated
percentiles (mean over seeds, with the range) beside the published ones. docs/calibration.md
quotes its output.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sim.run.runner import run
from sim.scenario import validate_data

CONFIGS = {
    "S3 Standard, 250 ms flush, 25 ms linger": (
        {},
        {"produce p50": 250, "produce p99": 500, "e2e p50": 500, "e2e p99": 900},
        "",
    ),
    "S3 Express One Zone, 50 ms flush, 10 ms linger": (
        {
            "storage": {"quorum": 1, "profile": "s3-express"},
            "agents": {"batch_timeout": "50ms"},
            "workload": {"linger": "10ms", "poll_interval": "50ms"},
        },
        {"produce p50": 80, "produce p99": 150, "e2e p50": 200, "e2e p99": 400},
        "<",
    ),
}


def scenario(extra: dict, duration: str, seed: int):
    data = {
        "name": "calibration",
        "run": {"duration": duration, "seed": seed},
        "topology": {"regions": ["us-east-1"]},
        "storage": {"quorum": 1},
        "table": {"kind": "single-region"},
        "workload": {"producers_per_zone": 3},
    }
    for k, v in extra.items():
        data.setdefault(k, {}).update(v)
    return validate_data(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="10m")
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args(argv)
    for name, (extra, published, bound) in CONFIGS.items():
        rows = {k: [] for k in published}
        for seed in range(1, a.seeds + 1):
            s = run(scenario(extra, a.duration, seed)).summary
            p, e = s["produce_latency_ms"], s["e2e_latency_ms"]
            rows["produce p50"].append(p["p50"])
            rows["produce p99"].append(p["p99"])
            rows["e2e p50"].append(e["p50"])
            rows["e2e p99"].append(e["p99"])
        print(
            f"\n{name}  ({a.seeds} seeds x {a.duration}, us-east-1, 3 agents, 9 producers x 1,000 rec/s)"
        )
        print(f"  {'figure':<14}{'published':>12}{'simulated':>12}{'range':>20}")
        for k, pub in published.items():
            v = np.array(rows[k])
            print(
                f"  {k:<14}{bound + str(pub) + ' ms':>12}{v.mean():>9.0f} ms{f'{v.min():.0f}-{v.max():.0f} ms':>20}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
