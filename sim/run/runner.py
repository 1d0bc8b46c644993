"""One run: a pure function of (scenario, seed).

``run(scenario, seed)`` builds the world (:mod:`sim.run.world`), starts its processes, runs
SimPy to the scenario's duration, heals what is still active, lets the consumers read, and hands
the ledger to the checks and the summary (:mod:`sim.run.summary`). Nothing in it reads the
machine's clock except ``wall_time_s`` and ``model.sim_wall_s``, which are reported and never
feed back.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import pandas as pd

from sim.core.events import CountingEnvironment
from sim.core.rng import Streams, draw_root_seed
from sim.run.summary import derive
from sim.run.world import World
from sim.scenario import Scenario


@dataclass
class RunResult:
    """Everything a run produced: the summary and the tables behind it."""

    scenario: Scenario
    seed: int
    summary: dict
    requests: pd.DataFrame
    attempts: pd.DataFrame
    files: pd.DataFrame
    batches: pd.DataFrame
    receipts: pd.DataFrame
    leader: pd.DataFrame
    events: pd.DataFrame
    topology: dict = field(default_factory=dict)
    ops: pd.DataFrame | None = None
    cost: dict = field(default_factory=dict)
    components: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    faults: list = field(default_factory=list)


def run(sc: Scenario, seed: int | None = None, progress=None, prices=None) -> RunResult:
    """Run one scenario from one root seed and return its results (``prices``: a price file
    or table to cost it with instead of the shipped one; it changes only the ``cost`` block)."""
    seed = seed if seed is not None else sc.run.seed
    if seed is None:
        seed = draw_root_seed()
    sc = sc.model_copy(deep=True)
    sc.run.seed = int(seed)
    wall0 = time.perf_counter()
    env = CountingEnvironment()
    streams = Streams(seed)
    world = World(env, sc, streams)
    world.start()
    duration = sc.run.duration
    # The model allocates many short-lived objects (events, generators) and few cycles: collect
    # less often while it runs and its tables are built (15-20% faster); restored afterwards.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        if progress is None:
            env.run(until=duration)
        else:
            step = max(duration / 200, 1.0)
            t = 0.0
            while t < duration:
                t = min(duration, t + step)
                env.run(until=t)
                progress(t)
        world.finish()
        sim_wall = time.perf_counter() - wall0
        parts = derive(world, sc, int(seed), env.events, sim_wall, wall0, prices)
        return RunResult(sc, int(seed), **parts)
    finally:
        gc.set_threshold(*thresholds)
