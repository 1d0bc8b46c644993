"""The run's nemesis: when each fault fires, on what, and the heal of everything at the end.

A fault spec may repeat (``every`` ... ``until``) and draw its start and duration from ranges;
``occurrences`` expands it, drawing from the run's ``faults`` stream. Each occurrence is a SimPy
process: it waits for its start, resolves its target *then* (``leader``, ``follower``,
``table-leader`` and ``random`` against the model's state at that moment, through the surface),
injects the fault, records it whole in the ledger (kind, resolved target, every parameter, drawn
values, label, start and end), and heals it at exactly its recorded end. ``Nemesis.finish``
heals, at the end of the run, every fault still active that is not permanent (as Jepsen's
nemeses do), and records that as its end.
"""

from __future__ import annotations

import heapq

from sim.faults.kinds import FaultSpec
from sim.faults.surface import FaultSurface, Heal

INF = float("inf")


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


def resolve_target(s: FaultSurface, target: str, gen) -> str:
    """A region name for ``target`` at this moment (symbolic targets resolved now)."""
    regions = s.regions
    if target in regions or target == "all":
        return target
    if target == "leader":
        holder = s.leader()
        return holder if holder is not None else regions[0]
    if target == "table-leader":
        return s.table_leader() or regions[0]
    if target == "follower":
        holder = s.leader()
        others = [r for r in regions if r != holder] or regions
        return others[int(gen.integers(len(others)))]
    if target == "random":
        return regions[int(gen.integers(len(regions)))]
    raise ValueError(f"unknown target {target!r}")


def _params(spec) -> dict:
    """Every parameter of a fault spec, as written (ranges as [low, high])."""
    out = {}
    for k, v in spec.model_dump(mode="json").items():
        if k in ("kind", "label"):
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


class _Occurrence:
    """One firing of a fault: its record in the ledger and its heal."""

    def __init__(self, nemesis: Nemesis, spec, index: int, rec: dict):
        self.nemesis = nemesis
        self.spec = spec
        self.index = index
        self.rec = rec
        self.heal: Heal | None = None
        self.active = True

    def end_now(self) -> None:
        """End early (a rollback): heal now and record the real end."""
        self.nemesis.end(self, self.nemesis.env.now)


class Nemesis:
    """Every fault of a scenario: fired by processes, recorded, healed."""

    def __init__(
        self, env, surface, faults: list[FaultSpec], gen, ledger, run_end: float, horizon=None
    ):
        self.env = env
        self.surface = surface
        self.gen = gen
        self.ledger = ledger
        self.run_end = run_end
        self.active: list[_Occurrence] = []
        self.current: _Occurrence | None = None  # the occurrence whose effects are being made
        # the lookahead kept for the model (``sim.core.events.Horizon``): while no occurrence is
        # active and no step of one is pending, nothing changes before the next start (or the
        # run's end)
        self.horizon = horizon
        self._starts: list[float] = []  # the pending occurrences' starts (a heap)
        self._steps = 0  # steps of occurrences (``surface.after``) still to run
        for spec in faults:
            for i, (t, d) in enumerate(occurrences(spec, gen, run_end)):
                heapq.heappush(self._starts, max(0.0, t))
                env.process(self._fire(spec, t, d, i))
        self._update_horizon()

    def _update_horizon(self) -> None:
        if self.horizon is None:
            return
        if self.active or self._steps:
            self.horizon.until = -INF
        else:
            # (and never past the run's end: what arrives after it is not in the run)
            self.horizon.until = (
                min(self._starts[0], self.run_end) if self._starts else self.run_end
            )

    def step_pending(self, ev) -> None:
        """A step of an occurrence is scheduled (``ev``): no lookahead until it has run."""
        self._steps += 1
        self._update_horizon()

        def done(_ev) -> None:
            self._steps -= 1
            self._update_horizon()

        ev.callbacks.append(done)

    def _fire(self, spec, t_start: float, duration: float | None, index: int):
        """Process: wait for one occurrence's start, inject it, heal it at its end."""
        env = self.env
        yield env.timeout(max(0.0, t_start - env.now))
        heapq.heappop(self._starts)  # this start (occurrences fire in the order of their starts)
        if self.horizon is not None:
            self.horizon.until = -INF  # (no lookahead while it is being injected)
        try:
            yield from self._occur(spec, t_start, duration, index)
        finally:
            self._update_horizon()

    def _occur(self, spec, t_start: float, duration: float | None, index: int):
        env = self.env
        t = env.now
        target = spec.resolved_target(resolve_target(self.surface, spec.target, self.gen), index)
        end = None if duration is None or duration == INF else t + duration
        label = spec.label or spec.kind
        rec = {
            "id": len(self.ledger.faults),
            "kind": spec.kind,
            "label": label,
            "target": target,
            "requested_target": spec.target,
            "occurrence": index,
            "start_s": t,
            "end_s": end,
            "scheduled_end_s": end,
            "permanent": end is None and not spec.is_action and not spec.ends_itself,
            "action": spec.is_action,
            "destroys_data": spec.destroys_data,
            "drawn_as": spec.drawn_as,
            "drawn": {"at": t_start, "duration": duration},
            "params": _params(spec),
        }
        occ = _Occurrence(self, spec, index, rec)
        self.ledger.faults.append(rec)
        self.current = occ
        try:
            occ.heal = spec.inject(self.surface, target, occ)
        finally:
            self.current = None
        if spec.is_action:
            self.ledger.note(t, "operator", f"{label}: {target}")
            occ.active = False  # an instant: no end (as before the fault surface)
            return
        lasting = ""
        if end is None:
            lasting = " (until it ends itself)" if spec.ends_itself else " (permanent)"
        self.ledger.note(t, "fault", f"{label} on {target} starts{lasting}")
        if not occ.active:  # ended itself at once
            return
        self.active.append(occ)
        self._update_horizon()
        if end is None:
            return
        yield env.timeout(duration)
        self.end(occ, env.now)

    def end(self, occ: _Occurrence, t: float) -> None:
        """Heal an occurrence at ``t`` and record ``t`` as its end."""
        if not occ.active:
            return
        occ.active = False
        if occ in self.active:
            self.active.remove(occ)
        if occ.heal is not None:
            occ.heal(t)
        occ.rec["end_s"] = t
        self.ledger.note(t, "fault", f"{occ.rec['label']} on {occ.rec['target']} healed")
        self._update_horizon()

    def finish(self, t: float) -> None:
        """The end of the run: heal every fault still active that is not permanent."""
        for occ in list(self.active):
            if not occ.rec["permanent"]:
                self.end(occ, t)
