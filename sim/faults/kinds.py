"""Faults and operator actions: each kind is one small class that says how it is written in a
scenario (its pydantic fields), how it is injected, and how it heals.

A fault has a start (``at``), a duration (absent: permanent), a target and parameters. ``at`` and
``duration`` may be ranges (``[10m, 20m]``) drawn from the run's ``faults`` random stream, and
``every`` repeats a fault (or an operator action) with that period until ``until`` or the end of
the run. When an occurrence fires its target is resolved (``leader``, ``follower``,
``table-leader`` and ``random`` are resolved *then*, against the model's state) and recorded
resolved in the fault timeline; at its end it always heals what it did.

Faults reach the model only through its small fault surface (``Component.take_down`` /
``bring_up`` / ``destroy`` / ``add_slowdown`` / ``add_error_rate``, the network's links, the
table's ``lose_leader`` and ``pause_replication``, a control plane's clock and preference, a
producer's rate and home). Model code never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sim.core.latency import Slowdown
from sim.core.units import parse_duration
from sim.model.component import INF

SYMBOLIC_TARGETS = ("leader", "follower", "table-leader", "random")

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _parse_range(v: object) -> object:
    """A duration, or ``[low, high]`` to draw uniformly from the faults stream."""
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise ValueError("a range is written [low, high]")
        lo, hi = parse_duration(v[0]), parse_duration(v[1])
        if hi < lo:
            raise ValueError("a range needs low <= high")
        return (lo, hi)
    return parse_duration(v)


def _parse_signed(v: object) -> float:
    """A duration that may be negative (``-2s``), for clock offsets."""
    if isinstance(v, str) and v.strip().startswith("-"):
        return -parse_duration(v.strip()[1:])
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return parse_duration(v)


DurationOrRange = Annotated[float | tuple[float, float], BeforeValidator(_parse_range)]
SignedDuration = Annotated[float, BeforeValidator(_parse_signed)]
Heal = Callable[[float], None]


class _Fault(BaseModel):
    """Fields every fault and action has."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(
        "leader",
        description="a region, or leader / follower / table-leader / random (resolved when it fires)",
    )
    at: DurationOrRange = Field(description="start, or [low, high] drawn from the run's seed")
    duration: DurationOrRange | None = Field(
        None, description="how long it lasts, or [low, high]; absent: permanent"
    )
    every: Duration | None = Field(None, description="repeat with this period (from `at`)")
    until: Duration | None = Field(None, description="last repetition starts before this time")
    label: str | None = Field(None, description="a name for plots and the fault timeline")

    region_scoped: ClassVar[bool] = True  # the target is a region

    @model_validator(mode="after")
    def _check_repeat(self):
        if self.every is not None and self.every <= 0:
            raise ValueError("every: must be a positive duration")
        return self

    def inject(self, world, target: str, t: float, index: int) -> Heal:
        """Start the fault on a resolved target at ``t``; return its heal."""
        raise NotImplementedError


# -- regions, zones, planes -----------------------------------------------------------------------
class RegionOutage(_Fault):
    """Hard outage of everything in a region; with ``data: destroyed`` its buckets and table
    replica are gone for good (the region does not come back)."""

    kind: Literal["region-outage"]
    data: Literal["retained", "destroyed"] = Field(
        "retained", description="destroyed: the region's buckets and table replica are lost"
    )

    def inject(self, world, target, t, index):
        comps = world.components_in(target, "all")
        data = set(world.data_components_in(target)) if self.data == "destroyed" else set()
        for c in comps:
            (c.destroy if c in data else c.take_down)(t)
        return _bring_up([c for c in comps if c not in data])


class ControlPlaneOutage(_Fault):
    """The region's control plane scaled to zero; its table replica and data plane stay up."""

    kind: Literal["control-plane-outage"]

    def inject(self, world, target, t, index):
        comps = world.components_in(target, "control-plane")
        return _take_down(comps, t)


class DataPlaneOutage(_Fault):
    """Every agent in the region down (the customer's data plane); producers there fail over."""

    kind: Literal["data-plane-outage"]

    def inject(self, world, target, t, index):
        comps = world.components_in(target, "data-plane")
        return _take_down(comps, t)


class ZoneOutage(_Fault):
    """One availability zone down: its agents and clients, and its share of control-plane
    instances. Regional services (S3 Standard, DynamoDB) are multi-AZ and stay up."""

    kind: Literal["zone-outage"]
    zone: str = Field("a", description="zone letter (a, b, c ...) within the target region")

    def inject(self, world, target, t, index):
        zone = f"{target}{self.zone}"
        comps = world.components_in(target, "zone:" + zone)
        for c in comps:
            c.take_down(t)
        cp = world.cps.get(target)
        nz = len(world.region_objs[target].zones)
        if cp is not None:
            cp.capacity_factor *= (nz - 1) / nz

        def heal(t1):
            for c in comps:
                c.bring_up(t1)
            if cp is not None:
                cp.capacity_factor /= (nz - 1) / nz

        return heal


# -- object storage -------------------------------------------------------------------------------
class BucketUnavailable(_Fault):
    """The region's bucket answers nothing (PUTs hang until the S3 retry timeout)."""

    kind: Literal["bucket-unavailable"]

    def inject(self, world, target, t, index):
        comps = [b for b in world.buckets if b.region == target]
        return _take_down(comps, t)


class _SlowFields(BaseModel):
    add: Duration = Field(0.0, description="latency added to every request")
    multiplier: float = Field(1.0, ge=1.0, description="latency multiplied by this")
    extra_sigma: float = Field(
        0.0, ge=0.0, description="heavier tail: added to the lognormal sigma"
    )

    def slowdown(self) -> Slowdown:
        return Slowdown(self.add, self.multiplier, self.extra_sigma)


class BucketSlow(_Fault, _SlowFields):
    """The region's bucket is slow: added latency, a multiplier, a heavier tail."""

    kind: Literal["bucket-slow"]

    def inject(self, world, target, t, index):
        return _slow([b for b in world.buckets if b.region == target], self.slowdown(), t)


class BucketErrors(_Fault):
    """The region's bucket answers a fraction of requests with 500/503."""

    kind: Literal["bucket-errors"]
    rate: float = Field(0.5, ge=0.0, le=1.0, description="fraction of requests that fail")

    def inject(self, world, target, t, index):
        return _errors([b for b in world.buckets if b.region == target], self.rate)


# -- metadata table -------------------------------------------------------------------------------
class TableUnavailable(_Fault):
    """The region's table replica (endpoint) is unavailable."""

    kind: Literal["table-unavailable"]

    def inject(self, world, target, t, index):
        comps = [world.table.replicas[target]] if target in world.table.replicas else []
        return _take_down(comps, t)


class TableSlow(_Fault, _SlowFields):
    """The region's table replica is slow (a soft failure: backpressure, throttling)."""

    kind: Literal["table-slow"]

    def inject(self, world, target, t, index):
        comps = [world.table.replicas[target]] if target in world.table.replicas else []
        return _slow(comps, self.slowdown(), t)


class TableErrors(_Fault):
    """The region's table replica fails a fraction of operations."""

    kind: Literal["table-errors"]
    rate: float = Field(0.5, ge=0.0, le=1.0, description="fraction of operations that fail")

    def inject(self, world, target, t, index):
        comps = [world.table.replicas[target]] if target in world.table.replicas else []
        return _errors(comps, self.rate)


class TableLeaderLost(_Fault):
    """The table's internal leader is lost (its replica stays up): writes stall until the table
    elects another leader after its ``leader_failover``. The target is always the table leader."""

    kind: Literal["table-leader-lost"]
    target: str = Field("table-leader", description="always the table's leader")

    def inject(self, world, target, t, index):
        world.table.lose_leader(t)
        return lambda t1: None


class ReplicationPaused(_Fault):
    """Eventually consistent table: replication out of the target region is paused."""

    kind: Literal["replication-paused"]

    def inject(self, world, target, t, index):
        world.table.pause_replication(target, True)
        return lambda t1: world.table.pause_replication(target, False)


# -- network --------------------------------------------------------------------------------------
class Partition(_Fault):
    """Cut the network: isolate the target region, split explicit groups, or cut one direction."""

    kind: Literal["partition"]
    mode: Literal["isolate", "groups", "asymmetric"] = Field("isolate")
    groups: list[list[str]] | None = Field(None, description="mode groups: regions on each side")
    direction: Literal["outbound", "inbound"] = Field(
        "outbound", description="mode asymmetric: which direction of the target's links is cut"
    )

    def inject(self, world, target, t, index):
        net = world.net
        links = []
        if self.mode == "isolate":
            links = [lk for lk in net.links.values() if target in (lk.src, lk.dst)]
        elif self.mode == "asymmetric":
            key = "src" if self.direction == "outbound" else "dst"
            links = [lk for lk in net.links.values() if getattr(lk, key) == target]
        else:
            side = {r: i for i, g in enumerate(self.groups or []) for r in g}
            links = [
                lk
                for lk in net.links.values()
                if lk.src in side and lk.dst in side and side[lk.src] != side[lk.dst]
            ]
        return _take_down(links, t)


class LinkDegradation(_Fault):
    """Degrade the path between two regions: added delay, jitter, packet loss."""

    kind: Literal["link-degradation"]
    target: str = Field("leader", description="one end (the other is `peer`)")
    peer: str = Field(description="the other end of the degraded path")
    delay: Duration = Field(0.0, description="added round-trip delay")
    jitter: float = Field(0.0, ge=0.0, description="extra jitter, in multiples of the base jitter")
    loss: float = Field(0.0, ge=0.0, lt=1.0, description="packet loss probability per request")

    def inject(self, world, target, t, index):
        if target == self.peer:
            return lambda t1: None
        s = Slowdown(self.delay, 1.0, self.jitter)
        world.net.degrade(target, self.peer, s, self.loss, t)
        return lambda t1: world.net.restore(target, self.peer, s, self.loss, t1)


# -- control plane --------------------------------------------------------------------------------
class ControlPlaneCrashLoop(_Fault):
    """The region's control plane crashes, restarts after ``down``, runs ``up``, crashes again."""

    kind: Literal["control-plane-crash-loop"]
    down: Duration = Field(20.0, description="time to restart after each crash (estimate)")
    up: Duration = Field(10.0, description="time it runs before crashing again")

    def inject(self, world, target, t, index):
        cp = world.cps[target]
        state = {"healed": False}

        def loop():
            env = world.env
            while not state["healed"]:
                cp.take_down(env.now)
                yield env.timeout(self.down)
                cp.bring_up(env.now)
                if state["healed"]:
                    return
                yield env.timeout(self.up)

        world.env.process(loop())

        def heal(t1):
            state["healed"] = True

        return heal


class ControlPlaneSlow(_Fault, _SlowFields):
    """The region's control plane answers slowly (added service time, multiplier)."""

    kind: Literal["control-plane-slow"]

    def inject(self, world, target, t, index):
        return _slow([world.cps[target]], self.slowdown(), t)


class BadDeploy(_Fault):
    """A bad build rolled out one zone at a time within a region and one region at a time, until
    the errors are detected and it is rolled back. The target region deploys first."""

    kind: Literal["bad-deploy"]
    step: Duration = Field(600.0, description="time between two zones of a region (estimate)")
    bake: Duration = Field(1800.0, description="time between two regions (estimate)")
    error_rate: float = Field(
        1.0, ge=0.0, le=1.0, description="fraction of a bad instance's requests that fail"
    )
    detect_after: Duration | None = Field(
        900.0, description="time from the first bad zone to detection and rollback; null: never"
    )

    def inject(self, world, target, t, index):
        order = [target] + [r for r in world.regions if r != target and r in world.cps]
        applied: list[tuple] = []
        state = {"done": False}

        def rollout():
            env = world.env
            t_first = env.now
            for ri, region in enumerate(order):
                cp = world.cps[region]
                zones = world.region_objs[region].zones
                share = 1.0 / len(zones)
                for zi, zone in enumerate(zones):
                    if state["done"]:
                        return
                    rate = self.error_rate * share
                    cp.add_error_rate(rate)
                    applied.append((cp, rate))
                    world.ledger.note(env.now, "deploy", f"bad build reaches {zone}")
                    last = ri == len(order) - 1 and zi == len(zones) - 1
                    wait = self.bake if zi == len(zones) - 1 else self.step
                    if last:
                        return
                    if self.detect_after is not None:
                        detect = t_first + self.detect_after
                        if env.now + wait >= detect:
                            yield env.timeout(max(0.0, detect - env.now))
                            world.ledger.note(env.now, "deploy", "bad build detected: rollback")
                            world.end_fault(self, env.now)
                            return
                    yield env.timeout(wait)

        world.env.process(rollout())

        def heal(t1):
            state["done"] = True
            for cp, rate in applied:
                cp.remove_error_rate(rate)
            applied.clear()

        return heal


# -- clocks ---------------------------------------------------------------------------------------
class ClockSkew(_Fault):
    """The region's control-plane clock is off by ``offset`` and drifts by ``drift`` s/s."""

    kind: Literal["clock-skew"]
    offset: SignedDuration = Field(0.0, description="clock ahead (+) or behind (-), e.g. -3s")
    drift: float = Field(0.0, description="seconds gained per second (e.g. 0.01)")

    def inject(self, world, target, t, index):
        cp = world.cps[target]
        cp.set_clock(t, self.offset, self.drift)
        return lambda t1: cp.set_clock(t1, 0.0, 0.0)


# -- workload -------------------------------------------------------------------------------------
class LoadSpike(_Fault):
    """Producers in the target region (or ``all``) send ``multiplier`` times their rate."""

    kind: Literal["load-spike"]
    target: str = Field("all", description="a region, a symbolic target, or all")
    multiplier: float = Field(2.0, ge=0.0, description="rate multiplier")

    region_scoped: ClassVar[bool] = False

    def inject(self, world, target, t, index):
        prods = [p for p in world.producers if target == "all" or p.region == target]
        for p in prods:
            p.set_rate_multiplier(t, p.rate_multiplier * self.multiplier)

        def heal(t1):
            for p in prods:
                p.set_rate_multiplier(
                    t1, p.rate_multiplier / self.multiplier if self.multiplier else 1.0
                )

        return heal


class ProducersMove(_Fault):
    """Producers of the target region move to region ``to`` (and write to the agents there)."""

    kind: Literal["producers-move"]
    to: str = Field(description="the region they move to")

    def inject(self, world, target, t, index):
        moved = world.move_producers(target, self.to, t)
        return lambda t1: world.move_producers_back(moved, t1)


class ConsumersMove(_Fault):
    """Consumers of the target region move to region ``to`` (they read from there)."""

    kind: Literal["consumers-move"]
    to: str = Field(description="the region they move to")

    def inject(self, world, target, t, index):
        moved = [c for c in world.consumers if c.current_region(t) == target]
        for c in moved:
            c.move(t, self.to)
        return lambda t1: [c.move(t1, target) for c in moved] and None


# -- operator actions -----------------------------------------------------------------------------
class PinPreferred(_Fault):
    """Operator action: pin the preferred leader region. With ``cycle``, repetition i pins
    ``cycle[i % len(cycle)]`` (e.g. alternate us-east-1 and us-west-2 every 30 minutes)."""

    kind: Literal["pin-preferred"]
    cycle: list[str] | None = Field(None, description="regions to pin in turn on each repetition")

    def inject(self, world, target, t, index):
        region = self.cycle[index % len(self.cycle)] if self.cycle else target
        world.set_preference(region, t)
        return lambda t1: None

    def resolved_target(self, target: str, index: int) -> str:
        return self.cycle[index % len(self.cycle)] if self.cycle else target


class AutoPreference(_Fault):
    """Operator action: back to ``auto`` preference."""

    kind: Literal["auto-preference"]
    target: str = Field("all", description="(not used)")

    region_scoped: ClassVar[bool] = False

    def inject(self, world, target, t, index):
        world.set_preference("auto", t)
        return lambda t1: None


FAULT_KINDS = (
    RegionOutage, ControlPlaneOutage, DataPlaneOutage, ZoneOutage,
    BucketUnavailable, BucketSlow, BucketErrors,
    TableUnavailable, TableSlow, TableErrors, TableLeaderLost, ReplicationPaused,
    Partition, LinkDegradation,
    ControlPlaneCrashLoop, ControlPlaneSlow, BadDeploy,
    ClockSkew, LoadSpike, ProducersMove, ConsumersMove,
    PinPreferred, AutoPreference,
)  # fmt: skip
ACTIONS = ("pin-preferred", "auto-preference")

FaultSpec = Annotated[
    RegionOutage | ControlPlaneOutage | DataPlaneOutage | ZoneOutage
    | BucketUnavailable | BucketSlow | BucketErrors
    | TableUnavailable | TableSlow | TableErrors | TableLeaderLost | ReplicationPaused
    | Partition | LinkDegradation
    | ControlPlaneCrashLoop | ControlPlaneSlow | BadDeploy
    | ClockSkew | LoadSpike | ProducersMove | ConsumersMove
    | PinPreferred | AutoPreference,
    Field(discriminator="kind"),
]  # fmt: skip


# -- helpers --------------------------------------------------------------------------------------
def _take_down(comps, t: float) -> Heal:
    """Hold every component down from ``t``; the heal brings them up."""
    for c in comps:
        c.take_down(t)
    return _bring_up(comps)


def _bring_up(comps) -> Heal:
    def heal(t1: float) -> None:
        for c in comps:
            c.bring_up(t1)

    return heal


def _slow(comps, s: Slowdown, t: float) -> Heal:
    for c in comps:
        c.add_slowdown(s, t)

    def heal(t1: float) -> None:
        for c in comps:
            c.remove_slowdown(s, t1)

    return heal


def _errors(comps, rate: float) -> Heal:
    for c in comps:
        c.add_error_rate(rate)

    def heal(t1: float) -> None:
        for c in comps:
            c.remove_error_rate(rate)

    return heal


def fault_region_problems(spec, regions: list[str]) -> list[tuple[tuple, str, str, list[str]]]:
    """Region names in a fault that the scenario's topology does not have:
    (field path, message, offending value, valid choices)."""
    out = []
    targets = list(regions) + list(SYMBOLIC_TARGETS)
    if not spec.region_scoped:
        targets.append("all")
    if spec.target not in targets:
        out.append(
            (
                ("target",),
                "expected a region or " + "/".join(targets[len(regions) :]),
                spec.target,
                targets,
            )
        )
    for name in ("peer", "to"):
        v = getattr(spec, name, None)
        if v is not None and v not in regions:
            out.append(((name,), "expected one of the topology's regions", v, list(regions)))
    for j, v in enumerate(getattr(spec, "cycle", None) or []):
        if v not in regions:
            out.append((("cycle", j), "expected one of the topology's regions", v, list(regions)))
    for gi, g in enumerate(getattr(spec, "groups", None) or []):
        for j, v in enumerate(g):
            if v not in regions:
                out.append(
                    (("groups", gi, j), "expected one of the topology's regions", v, list(regions))
                )
    if getattr(spec, "mode", None) == "groups" and not getattr(spec, "groups", None):
        out.append(
            (("groups",), "mode groups needs groups: [[region, ...], [region, ...]]", None, [])
        )
    return out


def resolve_target(world, target: str, gen) -> str:
    """A region name for ``target`` at this moment (symbolic targets resolved now)."""
    regions = world.regions
    if target in regions or target == "all":
        return target
    if target == "leader":
        holder = world.current_leader()
        return holder if holder is not None else regions[0]
    if target == "table-leader":
        return world.table.leader_region
    if target == "follower":
        holder = world.current_leader()
        others = [r for r in regions if r != holder] or regions
        return others[int(gen.integers(len(others)))]
    if target == "random":
        return regions[int(gen.integers(len(regions)))]
    raise ValueError(f"unknown target {target!r}")


def _draw(v, gen) -> float | None:
    if v is None:
        return None
    if isinstance(v, tuple):
        return float(gen.uniform(v[0], v[1]))
    return float(v)


def occurrences(spec, gen, run_end: float) -> list[tuple[float, float | None]]:
    """The (start, duration) of each occurrence of a fault, drawn from the faults stream."""
    start = _draw(spec.at, gen)
    out = []
    if spec.every is None:
        return [(start, _draw(spec.duration, gen))]
    last = min(spec.until if spec.until is not None else run_end, run_end)
    t = start
    while t < last:
        out.append((t, _draw(spec.duration, gen)))
        t += spec.every
    return out


def fault_process(
    env, world, spec, gen, ledger, t_start: float, duration: float | None, index: int
):
    """Process: wait for one occurrence's start, inject it, and heal it at its end."""
    yield env.timeout(max(0.0, t_start - env.now))
    t = env.now
    target = resolve_target(world, spec.target, gen)
    if hasattr(spec, "resolved_target"):
        target = spec.resolved_target(target, index)
    heal = spec.inject(world, target, t, index)
    end = None if duration is None else t + duration
    rec = {
        "kind": spec.kind,
        "target": target,
        "start_s": t,
        "end_s": end,
        "requested_target": spec.target,
        "label": spec.label or spec.kind,
    }
    ledger.faults.append(rec)
    world.active_faults[id(spec), index] = (rec, heal)
    if spec.kind in ACTIONS:
        ledger.note(t, "operator", f"{spec.label or spec.kind}: {target}")
    else:
        lasting = (
            ""
            if end is not None
            else " (until it ends itself)"
            if spec.kind == "bad-deploy"
            else " (permanent)"
        )
        ledger.note(t, "fault", f"{spec.label or spec.kind} on {target} starts{lasting}")
    if duration is None or duration == INF:
        return
    yield env.timeout(duration)
    if world.active_faults.pop((id(spec), index), None) is not None:
        heal(env.now)
        ledger.note(env.now, "fault", f"{spec.label or spec.kind} on {target} healed")
