"""Small helpers over SimPy's public API.

``deliver`` answers a process that waits on a plain event, ``delay`` seconds from now, with one
scheduled event: a ``Timeout`` carrying the value takes over the waiting event's callbacks (the
waiting process's resume), so the answer costs no event more than a timeout would. Only public
SimPy attributes are used (``Event.callbacks``, ``Environment.timeout``).

``drive`` runs a generator of events the way a SimPy process does (it resumes when the event
it yielded is processed, with that event's value), without the process's own two events (its
start and its end): for short-lived work started many times (an agent's file), where those two
events were a third of the model's events.

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


def drive(gen) -> None:
    """Run ``gen`` (a generator yielding SimPy events) from now, like ``env.process(gen)`` but
    in line: it runs at once up to its first yield, and nothing waits on its end.

    A yielded event already processed resumes at once; a failed one is thrown into the
    generator, as SimPy's ``Process`` does.
    """

    def step(ev) -> None:
        while True:
            try:
                if ev is None:
                    nxt = gen.send(None)
                elif ev.ok:
                    nxt = gen.send(ev.value)
                else:
                    ev.defused = True
                    nxt = gen.throw(ev.value)
            except StopIteration:
                return
            if nxt.callbacks is not None:
                nxt.callbacks.append(step)
                return
            ev = nxt

    step(None)


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts scheduled events."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.events = 0

    def schedule(self, event, priority=1, delay=0) -> None:  # noqa: D102 - SimPy's signature
        self.events += 1
        super().schedule(event, priority, delay)
