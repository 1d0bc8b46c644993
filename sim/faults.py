"""Faults and operator actions: each a small piece that schedules calls on the model's fault surface.

A fault has a start (``at``), a duration (``None``: permanent), a target and parameters. When it
fires its target is resolved (symbolic targets such as ``leader``, ``follower``, ``table-leader``
or ``random`` are resolved *then*, against the model's state, and recorded resolved); it calls
``take_down`` / ``destroy`` / ``add_slowdown`` ... on components, and at its end it always heals
what it did. Every fault that fired is written to the run's fault timeline. Model code never
imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.topology import INF, Component

SYMBOLIC_TARGETS = ("leader", "follower", "table-leader", "random")


@dataclass
class FaultRecord:
    """One fault as it fired."""

    kind: str
    target: str
    start_s: float
    end_s: float | None
    detail: str = ""


def resolve_target(world, target: str, gen) -> str:
    """A region name for ``target`` at this moment (symbolic targets resolved now)."""
    regions = world.regions
    if target in regions:
        return target
    if target == "leader":
        holder = world.current_leader()
        return holder if holder is not None else regions[0]
    if target == "table-leader":
        return world.table.leader_region
    if target == "follower":
        holder = world.current_leader()
        others = [r for r in regions if r != holder]
        return others[int(gen.integers(len(others)))]
    if target == "random":
        return regions[int(gen.integers(len(regions)))]
    raise ValueError(f"unknown target {target!r}")


def region_outage(
    world, region: str, t: float, destroy: bool, scope: str
) -> Callable[[float], None]:
    """Take a region (or part of it) down; with ``destroy`` its buckets and table replica are gone."""
    comps: list[Component] = world.components_in(region, scope)
    data = set(world.data_components_in(region)) if destroy else set()
    for c in comps:
        if c in data:
            c.destroy(t)
        else:
            c.take_down(t)

    def heal(t1: float) -> None:
        for c in comps:
            if c not in data:
                c.bring_up(t1)

    return heal


def fault_process(env, world, spec, gen, ledger):
    """Process: wait for the fault's start, inject it, and heal it at its end."""
    yield env.timeout(spec.at)
    t = env.now
    target = resolve_target(world, spec.target, gen)
    heal = world.inject(spec, target, t)
    end = spec.at + spec.duration if spec.duration is not None else None
    rec = {
        "kind": spec.kind,
        "target": target,
        "start_s": t,
        "end_s": end,
        "requested_target": spec.target,
    }
    ledger.faults.append(rec)
    ledger.note(t, "fault", f"{spec.kind} on {target} starts" + ("" if end else " (permanent)"))
    if spec.duration is None or spec.duration == INF:
        return
    yield env.timeout(spec.duration)
    heal(env.now)
    ledger.note(env.now, "fault", f"{spec.kind} on {target} healed")
