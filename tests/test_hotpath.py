"""The model's hot path: a file's write runs in line (no SimPy process per file), and the PUTs
planned in line draw what ``plan_put`` would."""

from __future__ import annotations

from pathlib import Path

import simpy

from sim.core.events import drive
from sim.core.rng import Streams
from sim.run.world import World
from sim.scenario import load_scenario
from tests.conftest import run_small

ROOT = Path(__file__).resolve().parents[1]


def test_drive_runs_a_generator_like_a_process():
    """In line up to the first yield; resumed with each event's value; an event already
    processed goes on at once; a failed event is thrown into the generator; no events of its
    own (a process costs two: its start and its end)."""
    env = simpy.Environment()
    seen = []
    done = env.event()
    done.succeed("early")

    def gen():
        seen.append(("start", env.now))
        v = yield env.timeout(1.0, "one")
        seen.append((v, env.now))
        v = yield done  # processed by then: no wait
        seen.append((v, env.now))
        bad = env.event()
        bad.fail(ValueError("boom"))
        try:
            yield bad
        except ValueError as e:
            seen.append((str(e), env.now))
        yield env.timeout(0.5)
        seen.append(("end", env.now))

    drive(gen())
    assert seen == [("start", 0.0)]  # ran in line, before the clock moved
    env.run()
    assert seen == [("start", 0.0), ("one", 1.0), ("early", 1.0), ("boom", 1.0), ("end", 1.5)]


def test_a_file_costs_about_four_events():
    """Per file: the quorum wake-up (which also delivers the commit request), the table write
    of its group commit, and the answer; plus the agents' flush ticks and the control planes'
    renewals. A SimPy process per file would add two more (about 6.2 per file)."""
    res = run_small(duration=30.0)
    per_file = res.summary["model"]["events"] / res.summary["files"]["flushed"]
    assert 3.0 < per_file < 4.8


def test_the_puts_planned_in_line_draw_what_plan_put_draws():
    """``QuorumWriter._plan_all`` (the nominal path in line) gives, from the same random
    streams, the same end times, outcomes and PUT counts as ``plan_put`` bucket by bucket."""
    sc = load_scenario(ROOT / "scenarios" / "multi-region.yaml")
    got = []
    for inline in (True, False):
        world = World(simpy.Environment(), sc, Streams(3))
        q = world.agents[4].quorum
        plans = []
        for i in range(50):
            t, size = 0.25 * i, 100_000 + 70_000 * i
            if inline:
                plans.append(q._plan_all(t, size))
            else:
                plans.append([q.plan_put(j, t, 0, size) for j in range(len(q.buckets))])
        got.append((plans, list(q.put_counts), list(q.put_bytes)))
    assert got[0] == got[1]
    assert all(ok for plans in got[0][0] for _, ok in plans)
