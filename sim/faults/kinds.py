"""Faults and operator actions: each kind is one small class that says how it is written in a
scenario (its pydantic fields), what it does through the fault surface, how it heals (the heals
the surface returned) and how plots draw it (``drawn_as``, ``destroys_data``).

A fault has a start (``at``), a duration (absent: permanent), a target and parameters. ``at`` and
``duration`` may be ranges (``[10m, 20m]``) drawn from the run's ``faults`` random stream, and
``every`` repeats a fault (or an operator action) with that period until ``until`` or the end of
the run. When an occurrence fires its target is resolved (``leader``, ``follower``,
``table-leader`` and ``random`` are resolved *then*, against the model's state) and recorded
resolved in the fault timeline; at its end it always heals what it did.

Faults reach the model only through the fault surface (:mod:`sim.faults.surface`). Model code
never imports this package. Adding a fault kind: a class here, its name in ``FAULT_KINDS`` and
``FaultSpec``; nothing else.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sim.core.latency import Slowdown
from sim.core.units import parse_duration
from sim.faults.surface import NO_EFFECT, FaultSurface, Heal, Part, Select, heal_all

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


class Occurrence(Protocol):
    """What a fault knows of the occurrence it is injected as."""

    index: int  # the repetition (0 for a fault without ``every``)

    def end_now(self) -> None:
        """End this occurrence early (heal it now and record the real end)."""


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
    drawn_as: ClassVar[Literal["span", "instant"]] = "span"  # plots: shaded span or a line
    is_action: ClassVar[bool] = False  # an operator action, not a failure
    ends_itself: ClassVar[bool] = False  # without a duration it ends on its own (a rollback)

    @property
    def destroys_data(self) -> bool:
        """Whether the fault destroys stored data for good."""
        return False

    @model_validator(mode="after")
    def _check_repeat(self):
        if self.every is not None and self.every <= 0:
            raise ValueError("every: must be a positive duration")
        return self

    def inject(self, s: FaultSurface, target: str, occ: Occurrence) -> Heal:
        """Start the fault on a resolved target now; return its heal."""
        raise NotImplementedError

    def resolved_target(self, target: str, index: int) -> str:
        """The target of repetition ``index`` (after symbolic resolution)."""
        return target


# -- regions, zones, planes -----------------------------------------------------------------------
class RegionOutage(_Fault):
    """Hard outage of everything in a region; with ``data: destroyed`` its buckets and table
    replica are gone for good (the region does not come back)."""

    kind: Literal["region-outage"]
    data: Literal["retained", "destroyed"] = Field(
        "retained", description="destroyed: the region's buckets and table replica are lost"
    )

    @property
    def destroys_data(self) -> bool:
        return self.data == "destroyed"

    def inject(self, s, target, occ):
        return s.hold_down(Select(None, target), destroy_data=self.destroys_data)


class ControlPlaneOutage(_Fault):
    """The region's control plane scaled to zero; its table replica and data plane stay up."""

    kind: Literal["control-plane-outage"]

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.CONTROL_PLANE, target))


class DataPlaneOutage(_Fault):
    """Every agent in the region down (the customer's data plane); producers there fail over."""

    kind: Literal["data-plane-outage"]

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.AGENT, target))


class ZoneOutage(_Fault):
    """One availability zone down: its agents and clients, and its share of control-plane
    instances. Regional services (S3 Standard, DynamoDB) are multi-AZ and stay up."""

    kind: Literal["zone-outage"]
    zone: str = Field("a", description="zone letter (a, b, c ...) within the target region")

    def inject(self, s, target, occ):
        nz = len(s.zones(target))
        return heal_all(
            [
                s.hold_down(Select(None, target, f"{target}{self.zone}")),
                s.reduce_capacity(Select(Part.CONTROL_PLANE, target), (nz - 1) / nz),
            ]
        )


# -- object storage -------------------------------------------------------------------------------
class BucketUnavailable(_Fault):
    """The region's bucket answers nothing (PUTs hang until the S3 retry timeout)."""

    kind: Literal["bucket-unavailable"]

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.BUCKET, target))


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

    def inject(self, s, target, occ):
        return s.slow(Select(Part.BUCKET, target), self.slowdown())


class BucketErrors(_Fault):
    """The region's bucket answers a fraction of requests with 500/503."""

    kind: Literal["bucket-errors"]
    rate: float = Field(0.5, ge=0.0, le=1.0, description="fraction of requests that fail")

    def inject(self, s, target, occ):
        return s.fail_fraction(Select(Part.BUCKET, target), self.rate)


# -- metadata table -------------------------------------------------------------------------------
class TableUnavailable(_Fault):
    """The region's table replica (endpoint) is unavailable."""

    kind: Literal["table-unavailable"]

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.TABLE_REPLICA, target))


class TableSlow(_Fault, _SlowFields):
    """The region's table replica is slow (a soft failure: backpressure, throttling)."""

    kind: Literal["table-slow"]

    def inject(self, s, target, occ):
        return s.slow(Select(Part.TABLE_REPLICA, target), self.slowdown())


class TableErrors(_Fault):
    """The region's table replica fails a fraction of operations."""

    kind: Literal["table-errors"]
    rate: float = Field(0.5, ge=0.0, le=1.0, description="fraction of operations that fail")

    def inject(self, s, target, occ):
        return s.fail_fraction(Select(Part.TABLE_REPLICA, target), self.rate)


class TableLeaderLost(_Fault):
    """The table's internal leader role is lost (its replica stays up): writes stall until the
    table elects another leader after its ``leader_failover``, or the role comes back at the
    fault's end. The target is always the table leader."""

    kind: Literal["table-leader-lost"]
    target: str = Field("table-leader", description="always the table's leader")

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.TABLE_LEADER, target))


class ReplicationPaused(_Fault):
    """Eventually consistent table: replication out of the target region is paused."""

    kind: Literal["replication-paused"]

    def inject(self, s, target, occ):
        return s.hold_down(Select(Part.TABLE_REPLICATION, target))


# -- network --------------------------------------------------------------------------------------
class Partition(_Fault):
    """Cut the network: isolate the target region, split explicit groups, or cut one direction."""

    kind: Literal["partition"]
    mode: Literal["isolate", "groups", "asymmetric"] = Field("isolate")
    groups: list[list[str]] | None = Field(None, description="mode groups: regions on each side")
    direction: Literal["outbound", "inbound"] = Field(
        "outbound", description="mode asymmetric: which direction of the target's links is cut"
    )

    def inject(self, s, target, occ):
        pairs = [(a, b) for a in s.regions for b in s.regions if a != b]
        if self.mode == "isolate":
            cut = [(a, b) for a, b in pairs if target in (a, b)]
        elif self.mode == "asymmetric":
            end = 0 if self.direction == "outbound" else 1
            cut = [p for p in pairs if p[end] == target]
        else:
            side = {r: i for i, g in enumerate(self.groups or []) for r in g}
            cut = [(a, b) for a, b in pairs if a in side and b in side and side[a] != side[b]]
        return s.cut(cut)


class LinkDegradation(_Fault):
    """Degrade the path between two regions: added delay, jitter, packet loss."""

    kind: Literal["link-degradation"]
    target: str = Field("leader", description="one end (the other is `peer`)")
    peer: str = Field(description="the other end of the degraded path")
    delay: Duration = Field(0.0, description="added round-trip delay")
    jitter: float = Field(0.0, ge=0.0, description="extra jitter, in multiples of the base jitter")
    loss: float = Field(0.0, ge=0.0, lt=1.0, description="packet loss probability per request")

    def inject(self, s, target, occ):
        if target == self.peer:
            return NO_EFFECT
        return s.degrade(target, self.peer, Slowdown(self.delay, 1.0, self.jitter), self.loss)


# -- control plane --------------------------------------------------------------------------------
class ControlPlaneCrashLoop(_Fault):
    """The region's control plane crashes, restarts after ``down``, runs ``up``, crashes again."""

    kind: Literal["control-plane-crash-loop"]
    down: Duration = Field(20.0, description="time to restart after each crash (estimate)")
    up: Duration = Field(10.0, description="time it runs before crashing again")

    def inject(self, s, target, occ):
        state: dict = {"healed": False, "hold": None}
        sel = Select(Part.CONTROL_PLANE, target)

        def crash() -> None:
            if not state["healed"]:
                state["hold"] = s.hold_down(sel)
                s.after(self.down, restart)

        def restart() -> None:
            if not state["healed"]:
                state["hold"](s.now)
                state["hold"] = None
                s.after(self.up, crash)

        crash()

        def heal(t1: float) -> None:
            state["healed"] = True
            if state["hold"] is not None:
                state["hold"](t1)  # up at once, whatever the loop was doing

        return Heal(heal)


class ControlPlaneSlow(_Fault, _SlowFields):
    """The region's control plane answers slowly (added service time, multiplier)."""

    kind: Literal["control-plane-slow"]

    def inject(self, s, target, occ):
        return s.slow(Select(Part.CONTROL_PLANE, target), self.slowdown())


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

    ends_itself: ClassVar[bool] = True

    def inject(self, s, target, occ):
        cp_regions = s.control_plane_regions()
        order = [target] + [r for r in s.regions if r != target and r in cp_regions]
        steps = []  # (region, zone, zones in the region, wait before the next zone)
        for region in order:
            zones = s.zones(region)
            for zi, zone in enumerate(zones):
                wait = self.bake if zi == len(zones) - 1 else self.step
                steps.append((region, zone, len(zones), wait))
        applied: list[Heal] = []
        state = {"done": False}
        t_first = s.now

        def reach(i: int) -> None:
            if state["done"]:
                return
            region, zone, n_zones, wait = steps[i]
            sel = Select(Part.CONTROL_PLANE, region)
            # k of the region's n zones bad: a share k/n of its instances fails error_rate of its
            # requests. Error rates compose as 1 - prod(1 - r), so the k-th zone adds the rate
            # that takes the region from (k-1)/n to k/n of error_rate (all of it at k = n).
            k = sum(1 for st in steps[: i + 1] if st[0] == region)
            before, after = self.error_rate * (k - 1) / n_zones, self.error_rate * k / n_zones
            step_rate = 1.0 if before >= 1.0 else (after - before) / (1.0 - before)
            applied.append(s.fail_fraction(sel, step_rate))
            s.note("deploy", f"bad build reaches {zone}")
            if i == len(steps) - 1:
                return
            if self.detect_after is not None:
                detect = t_first + self.detect_after
                if s.now + wait >= detect:
                    s.after(max(0.0, detect - s.now), detected)
                    return
            s.after(wait, lambda: reach(i + 1))

        def detected() -> None:
            if not state["done"]:
                s.note("deploy", "bad build detected: rollback")
                occ.end_now()

        reach(0)

        def heal(t1: float) -> None:
            state["done"] = True
            for h in applied:
                h(t1)

        return Heal(heal)


# -- clocks ---------------------------------------------------------------------------------------
class ClockSkew(_Fault):
    """The region's control-plane clock is off by ``offset`` and drifts by ``drift`` s/s."""

    kind: Literal["clock-skew"]
    offset: SignedDuration = Field(0.0, description="clock ahead (+) or behind (-), e.g. -3s")
    drift: float = Field(0.0, description="seconds gained per second (e.g. 0.01)")

    def inject(self, s, target, occ):
        return s.skew_clock(target, self.offset, self.drift)


# -- workload -------------------------------------------------------------------------------------
class LoadSpike(_Fault):
    """Producers in the target region (or ``all``) send ``multiplier`` times their rate."""

    kind: Literal["load-spike"]
    target: str = Field("all", description="a region, a symbolic target, or all")
    multiplier: float = Field(2.0, ge=0.0, description="rate multiplier")

    region_scoped: ClassVar[bool] = False

    def inject(self, s, target, occ):
        return s.scale_load(None if target == "all" else target, self.multiplier)


class ProducersMove(_Fault):
    """Producers of the target region move to region ``to`` (and write to the agents there)."""

    kind: Literal["producers-move"]
    to: str = Field(description="the region they move to")

    def inject(self, s, target, occ):
        return s.move_clients("producers", target, self.to)


class ConsumersMove(_Fault):
    """Consumers of the target region move to region ``to`` (they read from there)."""

    kind: Literal["consumers-move"]
    to: str = Field(description="the region they move to")

    def inject(self, s, target, occ):
        return s.move_clients("consumers", target, self.to)


# -- operator actions -----------------------------------------------------------------------------
class PinPreferred(_Fault):
    """Operator action: pin the preferred leader region. With ``cycle``, repetition i pins
    ``cycle[i % len(cycle)]`` (e.g. alternate us-east-1 and us-west-2 every 30 minutes)."""

    kind: Literal["pin-preferred"]
    cycle: list[str] | None = Field(None, description="regions to pin in turn on each repetition")

    drawn_as: ClassVar[Literal["span", "instant"]] = "instant"
    is_action: ClassVar[bool] = True

    def inject(self, s, target, occ):
        s.prefer(target)
        return NO_EFFECT

    def resolved_target(self, target: str, index: int) -> str:
        return self.cycle[index % len(self.cycle)] if self.cycle else target


class AutoPreference(_Fault):
    """Operator action: back to ``auto`` preference."""

    kind: Literal["auto-preference"]
    target: str = Field("all", description="(not used)")

    region_scoped: ClassVar[bool] = False
    drawn_as: ClassVar[Literal["span", "instant"]] = "instant"
    is_action: ClassVar[bool] = True

    def inject(self, s, target, occ):
        s.prefer("auto")
        return NO_EFFECT


FAULT_KINDS = (
    RegionOutage, ControlPlaneOutage, DataPlaneOutage, ZoneOutage,
    BucketUnavailable, BucketSlow, BucketErrors,
    TableUnavailable, TableSlow, TableErrors, TableLeaderLost, ReplicationPaused,
    Partition, LinkDegradation,
    ControlPlaneCrashLoop, ControlPlaneSlow, BadDeploy,
    ClockSkew, LoadSpike, ProducersMove, ConsumersMove,
    PinPreferred, AutoPreference,
)  # fmt: skip
ACTIONS = tuple(k.model_fields["kind"].annotation.__args__[0] for k in FAULT_KINDS if k.is_action)

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
