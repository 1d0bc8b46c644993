"""Overlapping incidents simulated together: the `JointHook` that runs a group's joint window.

A group of time-overlapping joint incidents (two regions down at once, a table outage during a
region outage, ...) is turned into one incident window with all the group's faults: the first
starts after the warm-up, the others at their offsets from it (rounded to QUANTUM_S, so near-equal
groups share a run), each one simulated for at most CAP_S past the last start; the window opens at
most CAP_S before the last start (an earlier incident enters it under way, and its part before the
window counts pro rata from its own simulated outcome, its lost records in full). The joint run's
downtime, failed and lost records are the group's outcome; a run still unavailable when its last
fault heals stays down, as in `outcomes.extend`, until the group's true end.

Groups come from the composer one at a time, but runs go to the sweep engine in batches, so a study
composes twice: `collecting` first records the groups' scenarios (and returns the summed outcomes,
discarded), `run_pending` runs them on the engine (cached in Parquet by design and run key), and
the second pass looks the outcomes up. Both passes see the same groups (same seeds).

Fewer runs, same outcomes: a member already over when the window opens is not simulated (its own
outcome counts in full; before, it was simulated for QUANTUM_S by mistake), and faults of the same
kind on the same target that overlap are merged into one over their union (`merge_faults`: a
region down twice at once is down once). With the shipped incident model and 10,000 years of the
reference design these take the distinct joint runs from 2,378 to 637 for the same 20,750 groups
(benchmarks/bench_availability.py). The cache (`joint.parquet`) is written as runs finish.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sim import __version__
from sim.ensemble.engine import Engine, Task
from sim.ensemble.sweep import run_row
from sim.ensemble.sweepfile import run_key

from .compose import Design, Incident, Outcome
from .outcomes import (
    CAP_S,
    DEFAULT_CAPS,
    FLUSH_S,
    RECOVERY_S,
    WARMUP_S,
    Caps,
    _faults,
    extend,
    light,
    offered_rate,
)

QUANTUM_S = 30.0
JOINT_SEED = 7  # one seed for every joint window: the key is the scenario


def joint_scenario(
    base: dict, group: Sequence[Incident], cap_s: float = CAP_S
) -> tuple[dict, float, float, list]:
    """(scenario, simulated end of the last fault, true end of the group, the parts of incidents
    before the window as (incident, seconds)). The window opens at most CAP_S before the last
    incident starts: an earlier incident enters it already under way."""
    sc = copy.deepcopy(base)
    regions = list(sc["topology"]["regions"])
    t_last = max(i.start_s for i in group)
    w0 = max(min(i.start_s for i in group), t_last - cap_s)
    horizon = (t_last - w0) + cap_s
    faults, sim_end, before = [], WARMUP_S, []
    for i in sorted(group, key=lambda i: (i.start_s, i.cls, i.region)):
        pre = max(0.0, w0 - i.start_s)
        left = i.duration_s - pre
        if left <= 0:  # over before the window opens: its own outcome, in full
            before.append((i, i.duration_s))
            continue
        if pre > 0:
            before.append((i, pre))
        off = round(max(0.0, i.start_s - w0) / QUANTUM_S) * QUANTUM_S
        d = max(QUANTUM_S, round(min(left, horizon - off) / QUANTUM_S) * QUANTUM_S)
        faults += _faults(i.cls, regions, WARMUP_S + off, d, max(i.region, 0), i.error_rate)
        sim_end = max(sim_end, WARMUP_S + off + d)
    sc["faults"] = drop_dead(merge_faults(faults))
    sc.setdefault("run", {})["duration"] = sim_end + RECOVERY_S
    sc["run"]["warmup"] = WARMUP_S / 2
    true_end = max(i.end_s for i in group) - w0 + WARMUP_S
    return sc, sim_end, true_end, before


def merge_faults(faults: list[dict]) -> list[dict]:
    """Faults of the same kind on the same target (all else equal) whose spans overlap or touch,
    as one fault over their union: a region down twice at once is down once. Exact, and it lets
    groups that differ only in such repeats share a run. Faults without a duration (region loss,
    bad deployments) are kept as they are."""
    out, spans = [], {}
    for f in sorted(faults, key=lambda f: (f["at"], f["kind"], str(f.get("target")))):
        if "duration" not in f:
            out.append(dict(f))
            continue
        ident = tuple(sorted((k, str(v)) for k, v in f.items() if k not in ("at", "duration")))
        prev = spans.get(ident)
        if prev is not None and f["at"] <= prev["at"] + prev["duration"]:
            prev["duration"] = max(prev["duration"], f["at"] + f["duration"] - prev["at"])
            continue
        spans[ident] = g = dict(f)
        out.append(g)
    return out


#: Fault kinds that do nothing to a region already destroyed (its data-holding parts are gone for
#: good, everything else in it is held down with no heal): `drop_dead` leaves them out of a joint
#: window. tests/test_availability_joint.py runs windows with and without them: same figures.
NO_OP_ON_DESTROYED = ("region-outage", "table-errors", "bucket-errors")


def drop_dead(faults: list[dict]) -> list[dict]:
    """`faults` without those that start on a region at or after its destruction (a region-outage
    with data destroyed) and are of a kind that cannot act on a destroyed region
    (NO_OP_ON_DESTROYED): a table outage or a second outage in a region lost for good changes
    nothing, so the groups that differ only by such members share a run. A region destroyed twice
    keeps its first destruction."""
    dead: dict[str, float] = {}
    for f in faults:
        if f["kind"] == "region-outage" and f.get("data") == "destroyed":
            dead[f["target"]] = min(dead.get(f["target"], f["at"]), f["at"])
    out, first = [], set()
    for f in faults:
        t = f.get("target")
        if f["kind"] in NO_OP_ON_DESTROYED and t in dead and f["at"] >= dead[t]:
            if f.get("data") != "destroyed" or t in first:
                continue  # a no-op, or the region destroyed a second time
            if f["at"] == dead[t]:
                first.add(t)
        out.append(f)
    return out


class SimulatedJoint:
    """A JointHook backed by joint simulator runs (module doc)."""

    def __init__(
        self,
        bases: dict[str, dict],
        engine: Engine,
        cache: Path | None = None,
        caps: Caps = DEFAULT_CAPS,
    ):
        self.bases = bases  # design name -> resolved scenario (reference workload)
        self.caps = caps
        self.engine = engine
        self.cache = cache
        self.collecting = True
        self.pending: dict[str, Task] = {}
        self.rows: dict[str, dict] = {}
        if cache is not None and cache.exists():
            for r in pd.read_parquet(cache).to_dict("records"):
                self.rows[r["run_key"]] = r
        self.runs = 0

    def _prepare(self, design: Design, group: Sequence[Incident]):
        base = self.bases[design.name]
        lite = light(base)
        sc, sim_end, true_end, before = joint_scenario(lite, group, self.caps.cap_s)
        key = run_key(sc, JOINT_SEED, __version__)
        return sc, sim_end, true_end, before, key, offered_rate(base) / offered_rate(lite)

    def __call__(self, design: Design, group: Sequence[Incident]) -> Outcome:
        sc, sim_end, true_end, before, key, scale = self._prepare(design, group)
        if self.collecting:
            if key not in self.rows and key not in self.pending:
                self.pending[key] = Task(f"joint-{key}", run_row, (sc, JOINT_SEED))
            return Outcome()
        row = self.rows[key]
        o = extend(
            row, sim_end - WARMUP_S, true_end - WARMUP_S, sim_end, scale, self.caps.rebuild_s
        )
        out = [o["downtime_s"], o["failed_records"], o["lost_acked"], o["sla_error_s"]]
        for i, pre in before:  # the part before the window: the incident's own outcome, pro rata
            f = pre / i.duration_s if i.duration_s > 0 else 0.0
            out[0] += f * i.outcome.downtime_s
            out[1] += f * i.outcome.failed_records
            out[2] += i.outcome.lost_acked
            out[3] += f * i.outcome.sla_error_s
        return Outcome(*out)

    def run_pending(self, progress=None) -> None:
        """Run the groups collected (the cache is rewritten every FLUSH_S and at the end, also
        on an error or Ctrl-C, so an interrupted study resumes from the runs that finished)."""
        tasks = list(self.pending.values())
        keep = ("unavailability.total_s", "unavailability.windows", "records.failed",
                "records.lost_acked", "records.sent", "sim_duration_s")  # fmt: skip
        last = time.monotonic()
        try:
            for n, (task, res, err) in enumerate(self.engine.run(tasks), 1):
                if err or res is None or res.get("status") != "ok":
                    raise RuntimeError(f"joint run {task.key} failed:\n{err or res.get('error')}")
                row = {k: res[k] for k in keep}
                if not isinstance(row["unavailability.windows"], str):
                    row["unavailability.windows"] = json.dumps(row["unavailability.windows"])
                row["run_key"] = task.key[len("joint-") :]
                self.rows[row["run_key"]] = row
                self.runs += 1
                if progress:
                    progress(f"joint windows {n}/{len(tasks)}")
                if time.monotonic() - last > FLUSH_S:
                    self._flush()
                    last = time.monotonic()
        finally:
            if tasks:
                self._flush()
        self.pending = {}
        self.collecting = False

    def _flush(self) -> None:
        if self.cache is None or not self.rows:
            return
        tmp = self.cache.with_suffix(".parquet.tmp")
        rows = [self.rows[k] for k in sorted(self.rows)]
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        tmp.replace(self.cache)
