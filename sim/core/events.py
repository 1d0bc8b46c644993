"""Small helpers over SimPy's public API.

``deliver`` answers a process that waits on a plain event, ``delay`` seconds from now, with one
scheduled event: a ``Timeout`` carrying the value takes over the waiting event's callbacks (the
waiting process's resume), so the answer costs no event more than a timeout would. Only public
SimPy attributes are used (``Event.callbacks``, ``Environment.timeout``).

``CountingEnvironment`` counts the events it schedules (``events``), for the run summary and the
benchmarks: SimPy keeps no public count.
"""

from __future__ import annotations

import simpy


def deliver(env: simpy.Environment, waiting: simpy.Event, value, delay: float) -> None:
    """Trigger ``waiting``'s callbacks with ``value`` at ``now + delay`` (one event)."""
    t = env.timeout(delay, value)
    if waiting.callbacks:
        t.callbacks, waiting.callbacks = waiting.callbacks, []
    else:  # nobody waits yet: trigger the event itself when the timeout fires
        t.callbacks.append(lambda _t: waiting.succeed(value))


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts scheduled events."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.events = 0

    def schedule(self, event, priority=1, delay=0) -> None:  # noqa: D102 - SimPy's signature
        self.events += 1
        super().schedule(event, priority, delay)
