"""Component histories: when each component of a run was up, down, destroyed or slow.

The model writes a component's transitions here as they happen (``Component`` owns one
``History`` and the ledger keeps every one by component name); the checks after the run, the
summary and the plots read them from the ledger. Queries answer "was it up at t", "up for the
whole of [t0, t1]", "first down after t", vectorised over numpy arrays where the checks need it.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

INF = math.inf


class History:
    """Up/down transitions (the first at t=0, up), the destruction time and slow-down changes."""

    __slots__ = ("t", "up", "destroyed_at", "slow")

    def __init__(self) -> None:
        self.t: list[float] = [0.0]
        self.up: list[bool] = [True]
        self.destroyed_at = INF
        self.slow: list[tuple[float, object]] = []  # (time, Slowdown or None) of each change

    # -- recording -----------------------------------------------------------------------------
    def set_state(self, t: float, up: bool) -> bool:
        """Record a transition at ``t`` (no-op if unchanged); returns whether it changed."""
        if up != self.up[-1]:
            self.t.append(t)
            self.up.append(up)
            return True
        return False

    @property
    def changed(self) -> bool:
        """Whether the component has ever left its initial up state."""
        return len(self.t) > 1

    @property
    def since(self) -> float:
        """Time of the last transition (0 if none)."""
        return self.t[-1]

    # -- queries -------------------------------------------------------------------------------
    def up_at(self, t: float) -> bool:
        """Whether the component was up at time ``t``."""
        if len(self.t) == 1:
            return True
        i = bisect.bisect_right(self.t, t) - 1
        return self.up[max(i, 0)]

    def up_throughout(self, t0: float, t1: float) -> bool:
        """Whether the component was up for the whole of [t0, t1]."""
        ht = self.t
        if len(ht) == 1:
            return True
        i = max(bisect.bisect_right(ht, t0) - 1, 0)
        if not self.up[i]:
            return False
        return bisect.bisect_right(ht, t1) - 1 == i

    def first_down_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is down (INF if never)."""
        if not self.up_at(t0):
            return t0
        for j in range(bisect.bisect_right(self.t, t0), len(self.t)):
            if not self.up[j]:
                return self.t[j]
        return INF

    def next_up_after(self, t0: float) -> float:
        """The first time at or after ``t0`` when the component is up (INF if never again)."""
        if self.up_at(t0):
            return t0
        for j in range(bisect.bisect_right(self.t, t0), len(self.t)):
            if self.up[j]:
                return self.t[j]
        return INF

    def down_intervals(self, end: float) -> list[tuple[float, float]]:
        """The intervals in which the component was down, clipped at ``end``."""
        out: list[tuple[float, float]] = []
        start = None
        for t, up in zip(self.t, self.up, strict=True):
            if not up and start is None:
                start = t
            elif up and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, end))
        return out

    def up_mask(self, times) -> np.ndarray:
        """Vectorised ``up_at`` over an array of times."""
        ht = np.asarray(self.t)
        hu = np.asarray(self.up)
        idx = np.searchsorted(ht, times, side="right") - 1
        return hu[np.clip(idx, 0, None)]

    def up_throughout_mask(self, t0, t1) -> np.ndarray:
        """Vectorised ``up_throughout`` over arrays of interval starts and ends."""
        if len(self.t) == 1:
            return np.ones(len(t0), dtype=bool)
        ht = np.asarray(self.t)
        hu = np.asarray(self.up)
        i0 = np.clip(np.searchsorted(ht, t0, side="right") - 1, 0, None)
        i1 = np.clip(np.searchsorted(ht, t1, side="right") - 1, 0, None)
        return hu[i0] & (i0 == i1)

    def slowdown_at(self, t: float):
        """The slow-down in force at ``t`` (None if none)."""
        h = self.slow
        if not h:
            return None
        i = bisect.bisect_right([x[0] for x in h], t) - 1
        return None if i < 0 else h[i][1]
