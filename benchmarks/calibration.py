"""Simulated single-region latency next to the real system's published figures (spec section 3).

    python benchmarks/calibration.py [--duration 10m] [--seeds 3] [--client librdkafka|java]
                                     [--put MEDIAN/P99]

Runs the two published single-region configurations on several seeds and prints the simulated
percentiles (mean over seeds, with the range) beside the published ones. docs/calibration.md
quotes its output. ``--put 70/200`` replaces the S3 Standard PUT fit (ms) for this process: a
what-if, to see whether another PUT would fit with other producer settings.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from sim.core.latency import LogNormal
from sim.model import storage
from sim.run.runner import run
from sim.scenario import validate_data

# The published figures come from the vendor's own benchmark, whose producer settings are not
# published. A Kafka Java producer's default in-flight cap (5 requests per connection) binds at
# this load (about ten 26 KiB linger batches per 250 ms flush), and with it the simulated produce
# p50 stays near 275 ms for any PUT latency (``--client java --put 40/200`` shows it).
# So the calibration assumes producers the cap does not hold: librdkafka's defaults
# (max.in.flight.requests.per.connection 1000000, enable.idempotence false: librdkafka
# CONFIGURATION.md), an estimate. The lab's own default stays Kafka Java's (5, idempotent).
UNCAPPED_CLIENT = {"idempotence": False, "max_in_flight": 1000000}
CLIENTS = {"librdkafka": UNCAPPED_CLIENT, "java": {}}

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


def scenario(extra: dict, duration: str, seed: int, client: dict | None = None):
    data = {
        "name": "calibration",
        "run": {"duration": duration, "seed": seed},
        "topology": {"regions": ["us-east-1"]},
        "storage": {"quorum": 1},
        "table": {"kind": "single-region"},
        "workload": {"producers_per_zone": 3, **(UNCAPPED_CLIENT if client is None else client)},
    }
    for k, v in extra.items():
        data.setdefault(k, {}).update(v)
    return validate_data(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="10m")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="librdkafka",
        help="producer settings: librdkafka defaults (no binding in-flight cap; the calibration) "
        "or Kafka Java defaults (5 in flight, idempotent; the lab's default)",
    )
    ap.add_argument("--put", help="S3 Standard PUT median/p99 in ms, e.g. 70/200 (a what-if)")
    a = ap.parse_args(argv)
    client = CLIENTS[a.client]
    if a.put:
        p50, p99 = (float(x) for x in a.put.split("/"))
        std = storage.PROFILES["s3-standard"]
        storage.PROFILES["s3-standard"] = replace(std, put=LogNormal.from_percentiles(p50, p99))
    for name, (extra, published, bound) in CONFIGS.items():
        rows = {k: [] for k in published}
        for seed in range(1, a.seeds + 1):
            s = run(scenario(extra, a.duration, seed, client)).summary
            p, e = s["produce_latency_ms"], s["e2e_latency_ms"]
            rows["produce p50"].append(p["p50"])
            rows["produce p99"].append(p["p99"])
            rows["e2e p50"].append(e["p50"])
            rows["e2e p99"].append(e["p99"])
        print(
            f"\n{name}  ({a.seeds} seeds x {a.duration}, us-east-1, 3 agents, 9 producers x "
            f"1,000 rec/s, {a.client} producer defaults{', PUT ' + a.put + ' ms' if a.put else ''})"
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
