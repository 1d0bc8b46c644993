"""Regions, availability zones, and ``Component``: anything in the model that can fail.

Every piece of the model that can fail (a bucket, a table replica, the table's leader role, a
replication stream, a control plane, an agent, a producer, a consumer, a network link) is a
``Component``. Its state changes only through the mechanism below, which the fault surface
(:mod:`sim.faults.surface`, implemented by :class:`sim.run.world.World`) drives and nothing
else does: ``take_down`` / ``bring_up`` (nested holds: a component is down while any hold is
left), ``destroy`` (permanent, its data gone), ``add_slowdown`` / ``remove_slowdown`` and
``add_error_rate`` / ``remove_error_rate``. Model code never names a fault: it asks ``is_up``,
``up_throughout(t0, t1)``, ``slowdown`` and ``error_rate``, as a real service only sees
timeouts, latency and errors.

Each component writes its transitions into a :class:`sim.ledger.history.History` that the
ledger keeps, so the checks after the run read what was up when from the ledger alone.
Observers (``watch``) are told of every change: the network uses that to keep a fast path
while no link has ever changed, the producers' retry routing to learn that a producer went down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from sim.core.latency import NO_SLOWDOWN, Slowdown
from sim.ledger.history import History

INF = math.inf


class Component:
    """A named thing that can be down, destroyed, slow or erroring; keeps its history."""

    part: str | None = None  # the fault surface's name for this part of the system
    logical = False  # a role rather than a machine: a region-wide outage does not select it
    holds_data = False  # destroyed with its region's data (buckets, table replicas)

    def __init__(self, name: str, region: str, zone: str | None = None):
        self.name = name
        self.region = region
        self.zone = zone
        self.history = History()
        self._hist_up = self.history.up  # the same list: ``is_up`` is on the hot path
        self._down_holds = 0
        self._slowdowns: list[Slowdown] = []
        self._slow = NO_SLOWDOWN
        self._error_rates: list[float] = []
        self._error_rate = 0.0
        self.ever_changed = False  # any transition, slow-down or error rate, ever
        self.went_down = False  # any up/down transition, ever
        self.nominal = True  # no slow-down and no error rate in force now
        self._watchers: list[Callable[[Component], None]] = []

    # -- what the model sees -------------------------------------------------------------------
    @property
    def is_up(self) -> bool:
        """Whether the component serves requests now."""
        return self._hist_up[-1]

    @property
    def destroyed_at(self) -> float:
        """When the component and its data were destroyed (INF: never)."""
        return self.history.destroyed_at

    @property
    def destroyed(self) -> bool:
        """Whether the component and its data are gone for good."""
        return self.history.destroyed_at < INF

    @property
    def slowdown(self) -> Slowdown | None:
        """The slow-down in force, or None."""
        return None if self._slow is NO_SLOWDOWN else self._slow

    @property
    def error_rate(self) -> float:
        """Fraction of requests that fail now."""
        return self._error_rate

    @property
    def since(self) -> float:
        """When the component last went up or down."""
        return self.history.since

    def up_at(self, t: float) -> bool:
        """Whether the component was up at time ``t`` (history query)."""
        if len(self._hist_up) == 1:  # never down: most components, most of the time
            return True
        return self.history.up_at(t)

    def up_throughout(self, t0: float, t1: float) -> bool:
        """Whether the component was up for the whole of [t0, t1]."""
        if len(self._hist_up) == 1:
            return True
        return self.history.up_throughout(t0, t1)

    def first_down_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is down (INF if never)."""
        return self.history.first_down_after(t0)

    def next_up_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is up (INF if never again)."""
        return self.history.next_up_after(t0)

    def down_intervals(self, end: float) -> list[tuple[float, float]]:
        """The intervals in which the component was down, clipped at ``end``."""
        return self.history.down_intervals(end)

    def up_mask(self, times):
        """Vectorised ``up_at`` over a numpy array of times."""
        return self.history.up_mask(times)

    def up_throughout_mask(self, t0, t1):
        """Vectorised ``up_throughout`` over numpy arrays of interval starts and ends."""
        return self.history.up_throughout_mask(t0, t1)

    def slowdown_at(self, t: float) -> Slowdown | None:
        """The slow-down that was in force at time ``t`` (history query)."""
        s = self.history.slowdown_at(t)
        return None if s is None or s is NO_SLOWDOWN else s

    def watch(self, fn: Callable[[Component], None]) -> None:
        """Call ``fn(component)`` on every change of state, slow-down or error rate."""
        self._watchers.append(fn)

    # -- the mechanism the fault surface drives ------------------------------------------------
    def _changed(self) -> None:
        self.ever_changed = True
        self.nominal = self._slow is NO_SLOWDOWN and not self._error_rates
        for fn in self._watchers:
            fn(self)

    def _set_state(self, t: float, up: bool) -> None:
        if self.history.set_state(t, up):
            self.went_down = True
            self._changed()

    def take_down(self, t: float) -> None:
        """Hold the component down (nested with other holds)."""
        self._down_holds += 1
        self._set_state(t, False)

    def bring_up(self, t: float) -> None:
        """Release one hold; the component is up again when no hold is left and it is not destroyed."""
        self._down_holds = max(0, self._down_holds - 1)
        if self._down_holds == 0 and not self.destroyed:
            self._set_state(t, True)

    def destroy(self, t: float) -> None:
        """Destroy the component for good: down forever, its data gone."""
        if not self.destroyed:
            self.history.destroyed_at = t
        self._down_holds += 1
        self._set_state(t, False)

    def add_slowdown(self, s: Slowdown, t: float = 0.0) -> None:
        """Put a slow-down in force from time ``t``."""
        self._slowdowns.append(s)
        self._recompute_slow(t)

    def remove_slowdown(self, s: Slowdown, t: float = 0.0) -> None:
        """Lift, at time ``t``, a slow-down put in force earlier."""
        self._slowdowns.remove(s)
        self._recompute_slow(t)

    def _recompute_slow(self, t: float) -> None:
        s = NO_SLOWDOWN
        for x in self._slowdowns:
            s = s.combine(x)
        self._slow = s
        self.history.slow.append((t, s))
        self._changed()

    def add_error_rate(self, rate: float) -> None:
        """Make a further fraction of requests fail."""
        self._error_rates.append(rate)
        self._recompute_errors()

    def remove_error_rate(self, rate: float) -> None:
        """Lift an error rate put in force earlier."""
        self._error_rates.remove(rate)
        self._recompute_errors()

    def _recompute_errors(self) -> None:
        ok = 1.0
        for r in self._error_rates:
            ok *= 1.0 - r
        self._error_rate = 1.0 - ok
        self._changed()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'up' if self.is_up else 'down'}>"


@dataclass
class Region:
    """A cloud region: its zones and every component placed in it."""

    name: str
    zones: list[str]
    components: list[Component] = field(default_factory=list)

    def add(self, c: Component) -> Component:
        """Place a component in this region."""
        self.components.append(c)
        return c


def zone_names(region: str, n: int) -> list[str]:
    """AWS-style zone names (``us-east-1a`` ...) for ``n`` zones of ``region``."""
    return [f"{region}{chr(ord('a') + i)}" for i in range(n)]
