"""Regions, availability zones, and the component base class that faults act on.

Every piece of the model that can fail (a bucket, a table replica, a control plane, an agent, a
producer, a network link) is a ``Component``. Faults reach the model only through this small
surface: ``take_down`` / ``bring_up`` (nested: a component is down while any fault holds it down),
``destroy`` (permanent, its data gone), ``add_slowdown`` / ``remove_slowdown`` and
``add_error_rate`` / ``remove_error_rate``. Model code never names a fault: it asks ``is_up``,
``up_throughout(t0, t1)``, ``slowdown`` and ``error_rate``, as a real service only sees timeouts and
errors. Each component keeps the full history of its up/down transitions, so checks after the run
can ask what was up when.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from sim.core.latency import NO_SLOWDOWN, Slowdown

INF = math.inf


class Component:
    """A named thing that can be down, destroyed, slow or erroring; keeps its up/down history."""

    def __init__(self, name: str, region: str, zone: str | None = None):
        self.name = name
        self.region = region
        self.zone = zone
        self._down_holds = 0
        self._hist_t: list[float] = [0.0]
        self._hist_up: list[bool] = [True]
        self.destroyed_at = INF
        self._slowdowns: list[Slowdown] = []
        self._slow = NO_SLOWDOWN
        self.slow_history: list[tuple[float, Slowdown]] = []
        self._error_rates: list[float] = []
        self._error_rate = 0.0

    # -- what the model sees -------------------------------------------------------------------
    @property
    def is_up(self) -> bool:
        """Whether the component serves requests now."""
        return self._hist_up[-1]

    @property
    def destroyed(self) -> bool:
        """Whether the component and its data are gone for good."""
        return self.destroyed_at < INF

    @property
    def slowdown(self) -> Slowdown | None:
        """The slow-down in force, or None."""
        return None if self._slow is NO_SLOWDOWN else self._slow

    @property
    def error_rate(self) -> float:
        """Fraction of requests that fail now."""
        return self._error_rate

    def up_at(self, t: float) -> bool:
        """Whether the component was up at time ``t`` (history query)."""
        if len(self._hist_t) == 1:
            return True
        i = bisect.bisect_right(self._hist_t, t) - 1
        return self._hist_up[max(i, 0)]

    def up_throughout(self, t0: float, t1: float) -> bool:
        """Whether the component was up for the whole of [t0, t1]."""
        ht = self._hist_t
        if len(ht) == 1:
            return True
        i = bisect.bisect_right(ht, t0) - 1
        if not self._hist_up[max(i, 0)]:
            return False
        return bisect.bisect_right(ht, t1) - 1 == max(i, 0)

    def first_down_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is down (INF if never)."""
        if not self.up_at(t0):
            return t0
        ht, hu = self._hist_t, self._hist_up
        for j in range(bisect.bisect_right(ht, t0), len(ht)):
            if not hu[j]:
                return ht[j]
        return INF

    def next_up_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is up (INF if never again)."""
        if self.up_at(t0):
            return t0
        ht, hu = self._hist_t, self._hist_up
        for j in range(bisect.bisect_right(ht, t0), len(ht)):
            if hu[j]:
                return ht[j]
        return INF

    def down_intervals(self, end: float) -> list[tuple[float, float]]:
        """The intervals in which the component was down, clipped at ``end``."""
        out: list[tuple[float, float]] = []
        start = None
        for t, up in zip(self._hist_t, self._hist_up, strict=True):
            if not up and start is None:
                start = t
            elif up and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, end))
        return out

    # -- the fault surface ---------------------------------------------------------------------
    def _set_state(self, t: float, up: bool) -> None:
        if up != self._hist_up[-1]:
            self._hist_t.append(t)
            self._hist_up.append(up)

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
            self.destroyed_at = t
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
        self.slow_history.append((t, s))

    def slowdown_at(self, t: float) -> Slowdown | None:
        """The slow-down that was in force at time ``t`` (history query)."""
        h = self.slow_history
        if not h:
            return None
        i = bisect.bisect_right([x[0] for x in h], t) - 1
        if i < 0 or h[i][1] is NO_SLOWDOWN:
            return None
        return h[i][1]

    def up_throughout_mask(self, t0, t1):
        """Vectorised ``up_throughout`` over numpy arrays of interval starts and ends."""
        import numpy as np

        if len(self._hist_t) == 1:
            return np.ones(len(t0), dtype=bool)
        ht = np.asarray(self._hist_t)
        hu = np.asarray(self._hist_up)
        i0 = np.clip(np.searchsorted(ht, t0, side="right") - 1, 0, None)
        i1 = np.clip(np.searchsorted(ht, t1, side="right") - 1, 0, None)
        return hu[i0] & (i0 == i1)

    def up_mask(self, times):
        """Vectorised ``up_at`` over a numpy array of times."""
        import numpy as np

        ht = np.asarray(self._hist_t)
        hu = np.asarray(self._hist_up)
        idx = np.searchsorted(ht, times, side="right") - 1
        return hu[np.clip(idx, 0, None)]

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
