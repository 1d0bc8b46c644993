"""The reference simulation alone (no checks, no tables), for exact instruction counts.

    PYTHONPATH=<tree> valgrind --tool=cachegrind --cache-sim=no <python> benchmarks/sim_only.py 1m

Builds the ``World`` of ``scenarios/multi-region.yaml`` (seed 1) and runs ``env.run`` to the
given duration, as ``sim.run.runner.run`` does before its checks; prints the events and files.
Subtract the count of a ``1s`` run (the imports and the world's construction).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from sim.core.events import CountingEnvironment
from sim.core.rng import Streams
from sim.run.world import World
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    duration = argv[0] if argv else "1m"
    sc = load_scenario(
        ROOT / "scenarios" / "multi-region.yaml", [f"run.duration={duration}", "run.warmup=0s"]
    )
    sc = sc.model_copy(deep=True)
    sc.run.seed = 1
    env = CountingEnvironment()
    world = World(env, sc, Streams(1))
    world.start()
    gc.set_threshold(100_000, 50, 1000)  # as run() does
    env.run(until=sc.run.duration)
    print(f"events {env.events:,}  files {world.ledger.files.n:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
