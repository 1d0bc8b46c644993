"""One run: a pure function of (scenario, seed).

``run(scenario, seed)`` builds the world (:mod:`sim.run.world`), starts its processes, runs
SimPy to the scenario's duration, heals what is still active, lets the consumers read, and hands
the ledger to the checks and the summary (:mod:`sim.run.summary`). Nothing in it reads the
machine's clock except ``wall_time_s`` and ``model.sim_wall_s``, which are reported and never
feed back.
"""

from __future__ import annotations

import faulthandler
import gc
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.events import CountingEnvironment
from sim.core.rng import Streams, draw_root_seed
from sim.ledger import window
from sim.ledger.records import SpoolPlan
from sim.run.summary import derive
from sim.run.world import World
from sim.scenario import Scenario


@dataclass
class RunResult:
    """Everything a run produced: the summary and the tables behind it.

    The per-row tables (``requests``, ``attempts``, ``files``, ``batches``, ``receipts``) are
    ``tables`` (``sim.ledger.tables.Table``): in memory for a short run, Parquet files written
    as the run went for a long one (in ``spill_dir``, removed with the result unless the run
    folder took them). The attributes of the same names read them whole, as DataFrames: fine
    for a test or a notebook, not for a day of the reference workload (read
    ``tables[name].column(...)`` or ``.chunks(...)`` instead)."""

    scenario: Scenario
    seed: int
    summary: dict
    tables: dict
    leader: pd.DataFrame
    events: pd.DataFrame
    topology: dict = field(default_factory=dict)
    ops: pd.DataFrame | None = None
    cost: dict = field(default_factory=dict)
    components: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    faults: list = field(default_factory=list)
    spill_dir: Path | None = None

    def __post_init__(self):
        if self.spill_dir is not None:  # the spilled files go with the result
            weakref.finalize(self, shutil.rmtree, str(self.spill_dir), True)

    @property
    def requests(self) -> pd.DataFrame:
        return self.tables["requests"].frame()

    @property
    def attempts(self) -> pd.DataFrame:
        return self.tables["attempts"].frame()

    @property
    def files(self) -> pd.DataFrame:
        return self.tables["files"].frame()

    @property
    def batches(self) -> pd.DataFrame:
        return self.tables["batches"].frame()

    @property
    def receipts(self) -> pd.DataFrame:
        return self.tables["receipts"].frame()


SPILL_EVERY_S = 30.0  # simulated seconds between two looks for settled rows to write out


def _events_per_stop() -> int:
    """The events SimPy schedules itself for one ``run(until=...)`` (the stop, and its
    bookkeeping): the extra stops that write rows out are not the model's events."""
    env = CountingEnvironment()
    env.run(until=1.0)
    before = env.events
    env.run(until=2.0)
    return env.events - before


def spool_margin_s(sc: Scenario) -> float:
    """How long a settled request stays in memory before it may be written out: twice the
    longest a request can stay in the producers' and agents' hands after it was first sent
    (its delivery timeout, after waiting up to ``max_block`` for buffer space). A safety margin
    on top of the ledger's own rules (``Ledger.spill``): it costs memory in proportion to the
    rate (a few minutes of rows), never to the run's length."""
    w = sc.workload
    return 2.0 * (float(w.delivery_timeout) + float(w.max_block))


def run(
    sc: Scenario, seed: int | None = None, progress=None, prices=None, spill_dir=None,
    spool_rows: int | None = None, spool_margin: float | None = None, on_requests=None,
) -> RunResult:  # fmt: skip
    """Run one scenario from one root seed and return its results (``prices``: a price file
    or table to cost it with instead of the shipped one; it changes only the ``cost`` block).

    A run long enough to fill a row group (``spool_rows`` rows, default ``SpoolPlan.rows``)
    writes its settled rows to Parquet as it goes, in a temporary folder under ``spill_dir``
    (default: the system's); ``spool_margin``: seconds a settled row stays in memory first
    (default ``spool_margin_s``). Neither changes any result. ``on_requests``: called with the
    requests ``Table`` once the simulation is over and the table complete (a file for a long run),
    before the checks (``sim run`` has its plot worker read it meanwhile)."""
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
    margin = spool_margin_s(sc) if spool_margin is None else float(spool_margin)
    folder: list[Path] = []

    def spill_folder() -> Path:
        if not folder:
            if spill_dir is not None:
                Path(spill_dir).mkdir(parents=True, exist_ok=True)
            folder.append(Path(tempfile.mkdtemp(prefix=".sim-spill-", dir=spill_dir)))
        return folder[0]

    led = world.ledger
    if window.GUARD and not faulthandler.is_enabled():
        # a row given back and read again stops the run (sim.ledger.window): say who read it
        faulthandler.enable()
    led.spool = SpoolPlan(spill_folder, duration, margin_s=margin)
    if spool_rows is not None:
        led.spool.rows = int(spool_rows)
    # where the run stops: the progress steps (as before), and every SPILL_EVERY_S to write
    # out settled rows once some can be (each stop schedules one SimPy event, not counted)
    stops: list[float] = [duration]
    if progress is not None:
        step = max(duration / 200, 1.0)
        stops, t = [], 0.0
        while t < duration:
            t = min(duration, t + step)
            stops.append(t)
    spills = set()
    if duration > margin:
        spills = {float(t) for t in np.arange(SPILL_EVERY_S, duration, SPILL_EVERY_S)}
    reported = set(stops)
    # The model allocates many short-lived objects (events, generators) and few cycles: collect
    # less often while it runs (15-20% faster); restored for the step after it, which reads the
    # tables a row group at a time (pandas frames hold reference cycles: each group's would
    # otherwise wait for a rare collection, hundreds of MB for a long run). The same after each
    # write of settled rows.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        every = sorted(reported | spills)
        for t in every:
            env.run(until=t)
            if t in spills and led.spill(t, *world.held_floors()):
                gc.collect()
            if progress is not None and t in reported:
                progress(t)
        world.finish()
        gc.set_threshold(*thresholds)
        sim_wall = time.perf_counter() - wall0
        n_events = env.events - (len(every) - len(stops)) * _events_per_stop()
        parts = derive(world, sc, int(seed), n_events, sim_wall, wall0, prices, on_requests)
        return RunResult(sc, int(seed), **parts, spill_dir=folder[0] if folder else None)
    except BaseException:
        if folder:
            shutil.rmtree(folder[0], ignore_errors=True)
        raise
    finally:
        gc.set_threshold(*thresholds)
