"""Small helpers over SimPy's public API.

``deliver`` answers a process that waits on a plain event, ``delay`` seconds from now, with one
scheduled event: a ``Timeout`` carrying the value takes over the waiting event's callbacks (the
waiting process's resume), so the answer costs no event more than a timeout would. Only public
SimPy attributes are used (``Event.callbacks``, ``Environment.timeout``).

``drive`` runs a generator of events the way a SimPy process does (it resumes when the event
it yielded is processed, with that event's value), without the process's own two events (its
start and its end): for short-lived work started many times (an agent's file), where those two
events were a third of the model's events.

``Horizon`` is the model's lookahead: no fault touches the world before ``until``; an answer
acted on before its arrival (see ``deliver``) promises its arrival time, and a fault effect made
before a promised time is an error (``check``), not a silently different result.

``CountingEnvironment`` counts the events it schedules (``events``), for the run summary and the
benchmarks: SimPy keeps no public count.
"""

from __future__ import annotations

import math

import simpy


def deliver(env: simpy.Environment, waiting: simpy.Event, value, delay: float) -> None:
    """Trigger ``waiting``'s callbacks with ``value`` at ``now + delay`` (one event).

    A lone waiter with an ``early(value, at)`` method may take the answer now instead: if it
    returns True it has acted on it as of its arrival ``at`` (it is never triggered, and no event
    is scheduled); see ``sim.model.agent``'s file in flight.
    """
    cbs = waiting.callbacks
    if cbs and len(cbs) == 1:
        early = getattr(cbs[0], "early", None)
        if early is not None and early(value, env.now + delay):
            return
    t = env.timeout(delay, value)
    if cbs:
        t.callbacks, waiting.callbacks = cbs, []
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


class Horizon:
    """How far the model may look ahead: no fault changes the world before ``until`` (-inf: no
    lookahead at all), kept by whatever schedules the faults. ``promised`` is the latest time the
    model has acted on as if already reached."""

    __slots__ = ("until", "promised")

    def __init__(self) -> None:
        self.until = -math.inf
        self.promised = -math.inf

    def promise(self, t: float) -> None:
        """The model has acted on time ``t`` in advance."""
        if t > self.promised:
            self.promised = t

    def check(self, t: float) -> None:
        """A fault touches the world at ``t``: an error if the model acted beyond it already."""
        if t < self.promised:
            raise RuntimeError(
                f"a fault at t={t!r} s inside the model's lookahead (acted on up to "
                f"t={self.promised!r} s): the fault schedule's horizon was wrong"
            )


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts scheduled events."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.events = 0

    def schedule(self, event, priority=1, delay=0) -> None:  # noqa: D102 - SimPy's signature
        self.events += 1
        super().schedule(event, priority, delay)
