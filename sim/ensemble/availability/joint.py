"""Overlapping incidents simulated together: the `JointHook` that runs a group's joint window.

A group of time-overlapping joint incidents (two regions down at once, a table outage during a
region outage, ...) is turned into one incident window with all the group's faults: the first
starts after the warm-up, the others at their offsets from it (rounded to QUANTUM_S, so near-equal
groups share a run), each one simulated for at most `Caps.joint_post_s` (150 s) past the last
start; the window opens at most `Caps.joint_pre_s` (120 s) before the last start (an earlier
incident enters it under way). The joint run's
downtime, failed and lost records are the group's outcome for the window.

Outside the window the group's time is cut where members start or end. After the window, its
last state goes on (the share of the second half of the last incident's simulated part spent
unavailable, as `outcomes.extend` does for one incident) until the first member still under way
ends; from there the members left say how it goes on: two or more, the share of their own window
(a run of them together, most often one already run for another group); one, the rest of its own
outcome pro rata. A state that is up is taken to stay up as faults end. Before the window, a
stretch with one member under way counts that member's own outcome pro rata, one with two or more
their window's share; members begun before the window add their own lost records in full.
(Until 2026-11 a run still down at its end stayed down until the group's last end: a 30-minute
outage of every region during a region loss cost the loss's whole week; and the share was taken
over the last 300 s of the window, where the last incident's own failover falls.)

Groups come from the composer one at a time, but runs go to the sweep engine in batches, so a study
composes in passes (`settle`): a collecting pass records the scenarios it needs and has no run
for (its outcomes are discarded), `run_pending` runs them on the engine (cached in Parquet by
design and run key), and so on until a pass needs nothing new (the stretches after a window need
runs of the members left, known once the window has run); the last pass looks the outcomes up.
Every pass sees the same groups (same seeds).

Fewer runs, same outcomes: a member already over when the window opens is not simulated (it
counts as a stretch before the window), faults on a region already destroyed are left out
(`drop_dead`: they act on nothing; shown by test), and faults of the same
kind on the same target that overlap are merged into one over their union (`merge_faults`: a
region down twice at once is down once). With the shipped incident model and 10,000 years of the
reference design the first two took the distinct joint runs from 2,378 to 637 for 20,750 groups;
with the outcomes cached on 2026-11-28, `drop_dead` takes 752 to 571 for 19,474 groups
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
    down_share,
    light,
    offered_rate,
)

QUANTUM_S = 30.0
JOINT_SEED = 7  # one seed for every joint window: the key is the scenario


def joint_scenario(
    base: dict, group: Sequence[Incident], cap_s: float = CAP_S, pre_s: float | None = None
) -> tuple[dict, float, float, list]:
    """(scenario, simulated end of the last fault, true end of the group, the parts of incidents
    before the window as (incident, seconds)). The window opens at most CAP_S before the last
    incident starts: an earlier incident enters it already under way."""
    sc = copy.deepcopy(base)
    regions = list(sc["topology"]["regions"])
    t_last = max(i.start_s for i in group)
    w0 = window_start(group, cap_s if pre_s is None else pre_s)
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


def window_start(group: Sequence[Incident], pre_s: float) -> float:
    """When a group's joint window opens (month time): at its first start, or `pre_s` before its
    last start if that is later (the earlier incidents then enter it under way)."""
    t_last = max(i.start_s for i in group)
    return max(min(i.start_s for i in group), t_last - pre_s)


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
        sc, sim_end, true_end, before = joint_scenario(
            lite, group, self.caps.joint_post_s, self.caps.joint_pre_s
        )
        key = run_key(sc, JOINT_SEED, __version__)
        return sc, sim_end, true_end, before, key, offered_rate(base) / offered_rate(lite)

    def _row(self, sc: dict, key: str) -> dict | None:
        """The cached run of `sc`, or None after queueing it (collecting passes only)."""
        if key in self.rows:
            return self.rows[key]
        if not self.collecting:
            raise KeyError(f"joint window {key} was never run (use settle)")
        if key not in self.pending:
            self.pending[key] = Task(f"joint-{key}", run_row, (sc, JOINT_SEED))
        return None

    def _share(self, row: dict, group: Sequence[Incident], sim_end: float) -> float:
        """The share of the second half of the last incident's simulated part that the run spent
        unavailable: the rate at which the group's state goes on after the window."""
        t_last = max(i.start_s for i in group)
        w0 = window_start(group, self.caps.joint_pre_s)
        t1 = WARMUP_S + round((t_last - w0) / QUANTUM_S) * QUANTUM_S
        windows = row.get("unavailability.windows") or "[]"
        windows = json.loads(windows) if isinstance(windows, str) else windows
        return down_share(windows, t1 + (sim_end - t1) / 2, sim_end)

    def __call__(self, design: Design, group: Sequence[Incident]) -> Outcome:
        sc, sim_end, _, before, key, scale = self._prepare(design, group)
        row = self._row(sc, key)
        if row is None:
            return Outcome()
        down = float(row["unavailability.total_s"])
        failed = float(row["records.failed"]) * scale
        lost = float(row["records.lost_acked"]) * scale
        span = float(row["sim_duration_s"])
        per_s = float(row["records.sent"]) * scale / span if span > 0 else 0.0
        # After the window: the state of its end goes on (the share f of its last stretch spent
        # down) until the first member still under way ends; then the remaining members' own
        # window says how it goes on (a run of them together, two or more; one member left
        # counts the rest of its own outcome pro rata). A state that is up stays up as faults go.
        w0 = window_start(group, self.caps.joint_pre_s)
        t = w0 + (sim_end - WARMUP_S)  # the window's end in the month's time
        f = self._share(row, group, sim_end)
        active = [i for i in group if i.end_s > t]
        tail = [0.0, 0.0, 0.0]  # downtime, failed records, SLA error seconds of single members
        while active and f > 0:
            t_next = min(i.end_s for i in active)
            down += (t_next - t) * f
            failed += (t_next - t) * f * per_s
            t = t_next
            active = [i for i in active if i.end_s > t]
            if len(active) == 1:
                i = active[0]
                frac = (i.end_s - t) / i.duration_s if i.duration_s > 0 else 0.0
                tail = [frac * i.outcome.downtime_s, frac * i.outcome.failed_records,
                        frac * i.outcome.sla_error_s]  # fmt: skip
                break
            if active:
                sc2, sim_end2, _, _, key2, _ = self._prepare(design, active)
                row2 = self._row(sc2, key2)
                if row2 is None:
                    return Outcome()
                f = self._share(row2, active, sim_end2)
        # Before the window: each stretch between the members' starts and ends, with one member
        # under way, counts its own outcome pro rata; with two or more, their run's share.
        w = [0.0, 0.0, 0.0]
        edges = sorted({x for i in group for x in (i.start_s, i.end_s) if x < w0} | {w0})
        for a, b in zip(edges, edges[1:], strict=False):
            on = [i for i in group if i.start_s <= 0.5 * (a + b) < i.end_s]
            if len(on) == 1:
                i = on[0]
                fr = (b - a) / i.duration_s if i.duration_s > 0 else 0.0
                w[0] += fr * i.outcome.downtime_s
                w[1] += fr * i.outcome.failed_records
                w[2] += fr * i.outcome.sla_error_s
            elif len(on) > 1:
                sc2, sim_end2, _, _, key2, _ = self._prepare(design, on)
                row2 = self._row(sc2, key2)
                if row2 is None:
                    return Outcome()
                g = self._share(row2, on, sim_end2)
                w[0] += (b - a) * g
                w[1] += (b - a) * g * per_s
                w[2] += (b - a) * g
        sla = failed / per_s if per_s > 0 else down
        out = [down + tail[0] + w[0], failed + tail[1] + w[1], lost, sla + tail[2] + w[2]]
        for i, _ in before:  # lost records of the incidents begun before the window: in full
            out[2] += i.outcome.lost_acked
        return Outcome(*out)

    def settle(self, collect, progress=None) -> None:
        """Call `collect()` (a composing pass over every group) and run what it queued, until it
        queues nothing: the stretch after a window may need a run of the members still under way,
        known only once the window has run. Then the hook answers from the cache."""
        while True:
            self.collecting = True
            collect()
            if not self.pending:
                break
            self.run_pending(progress)
        self.collecting = False

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
