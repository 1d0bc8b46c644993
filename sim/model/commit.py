"""Commit routing: how an agent gets a file's metadata committed by the leader's control plane.

The agent sends the commit to the control plane it believes leads (its hint, else the nearest).
A control plane that is down or unreachable costs ``commit_timeout`` (2 s, an estimate) and is
suspected for ``suspect_period``; an answer "not leader" redirects to the hinted leader; "no
leader yet", "unavailable", "overloaded" or a conflict back off exponentially
(``commit_backoff`` up to ``commit_backoff_max``). The control plane assigns the offsets.
"""

from __future__ import annotations

from sim.model.component import INF


class CommitRouter:
    """One agent's routing of commit requests to the control planes."""

    def __init__(self, owner, env, cfg, net, cps: dict):
        self.owner = owner
        self.env = env
        self.cfg = cfg
        self.net = net
        self.cps = cps
        self.region = owner.region
        self.leader_hint: str | None = None
        self.suspect_until: dict[str, float] = {}
        self.cp_order = net.nearest(owner.region, sorted(cps))
        # commit requests submitted and not answered yet, by control plane: while all go to one,
        # their answers all leave the same leader hint, in whatever order they are taken
        self.in_flight: dict[str, int] = {}

    def first_hop(self, t0: float) -> tuple[str, float]:
        """The control plane a commit would go to now, and its first hop (network one way
        plus service time; 0 if that control plane is unreachable or suspected)."""
        target = self.leader_hint or self.cp_order[0]
        cp = self.cps[target]
        if (
            cp.is_up
            and self.net.path_ok(self.region, target)
            and self.suspect_until.get(target, -INF) <= t0
        ):
            return target, self.net.one_way(self.region, target) + cp.service_time()
        return target, 0.0

    def _next_cp(self, avoid: str | None) -> str:
        """The nearest control plane not under suspicion (least recently suspected if all are)."""
        now = self.env.now
        ok = [r for r in self.cp_order if self.suspect_until.get(r, -INF) <= now and r != avoid]
        if ok:
            return ok[0]
        return min(self.cp_order, key=lambda r: (r == avoid, self.suspect_until.get(r, -INF)))

    def _backoff(self, waits: int) -> float:
        cfg = self.cfg
        return min(cfg.commit_backoff * 2 ** min(waits - 1, 4), cfg.commit_backoff_max)

    def submit_now(self, fid: int, n_records: int, target: str, t_send: float):
        """A commit request sent at ``t_send`` reaches ``target``'s control plane now: if the
        agent, that control plane and the path are up, submit it there and return (event to wait
        on or None, immediate answer or None, the answer's way back); else None (nothing drawn)."""
        cp = self.cps[target]
        if not (self.owner.is_up and cp.is_up and self.net.path_ok(self.region, target)):
            return None
        back = self.net.one_way(target, self.region)
        ev, res = cp.submit(fid, n_records, back, t_send + self.cfg.commit_timeout)
        self.in_flight[target] = self.in_flight.get(target, 0) + 1
        return ev, res, back

    def answered(self, target: str) -> None:
        """An answer from ``target`` has been taken (counted out of ``in_flight``)."""
        n = self.in_flight[target] - 1
        if n:
            self.in_flight[target] = n
        else:
            del self.in_flight[target]

    def accepted(self, res, target: str) -> bool:
        """Whether an answer from ``target`` ends the commit with success now (the agent is up
        and it committed); ``target`` then becomes the leader hint."""
        if res.outcome == "ok" and self.owner.is_up:
            self.leader_hint = target
            return True
        return False

    def _handle(self, res, target: str, waits: int):
        """Process part: act on an answer from ``target`` at its arrival; returns (over, result,
        target, waits): ``over`` when the commit ends (``result`` the answer if it committed,
        else None), otherwise the next try goes to ``target``."""
        env = self.env
        self.answered(target)
        if res.outcome == "lost":
            self.suspect_until[target] = env.now + self.cfg.suspect_period
            return False, None, self._next_cp(target), waits
        if self.accepted(res, target):
            return True, res, target, waits
        if not self.owner.is_up:
            return True, (res if res.outcome == "ok" else None), target, waits
        if res.outcome in ("not_leader", "fenced"):
            hint = res.hint
            if (
                hint is not None
                and hint != target
                and self.suspect_until.get(hint, -INF) <= env.now
            ):
                return False, None, hint, waits
            waits += 1
            yield env.timeout(self._backoff(waits))
            if hint is None:
                target = self._next_cp(None) if waits % 2 == 0 else target
            elif hint != target:  # the hint points at a suspect region: wait for a new leader
                target = self._next_cp(hint)
            return False, None, target, waits
        # unavailable / conflict / overloaded: back off and retry
        waits += 1
        yield env.timeout(self._backoff(waits))
        return False, None, target, waits

    def commit(
        self, fid: int, n_records: int, deadline: float, arrived: tuple | None = None,
        resume: tuple | None = None,
    ):  # fmt: skip
        """Process part: get the file's metadata committed; returns (result or None, tries).

        ``arrived``: (region, send time) of a first request that has already travelled to that
        region's control plane (see ``QuorumWriter.write``'s ``lead``). ``resume``: (wait, answer,
        target, tries) of a first try already submitted by ``submit_now``, whose answer comes
        ``wait`` from now (see ``sim.model.agent``'s file in flight).
        """
        env, cfg, net, owner = self.env, self.cfg, self.net, self.owner
        target = self.leader_hint or self.cp_order[0]
        tries = 0
        waits = 0
        if resume is not None:
            wait, res, target, tries = resume
            if wait > 0:
                yield env.timeout(wait)
            over, result, target, waits = yield from self._handle(res, target, waits)
            if over:
                return result, tries
        while env.now < deadline:
            tries += 1
            if arrived is not None:
                target, t_send = arrived
                arrived = None
            else:
                if self.suspect_until.get(target, -INF) > env.now:
                    target = self._next_cp(target)
                cp = self.cps[target]
                t_send = env.now
                if not (cp.is_up and net.path_ok(self.region, target)):
                    yield env.timeout(min(cfg.commit_timeout, max(0.0, deadline - env.now)))
                    self.suspect_until[target] = env.now + cfg.suspect_period
                    target = self._next_cp(target)
                    continue
                yield env.timeout(net.one_way(self.region, target) + cp.service_time())
            sent = self.submit_now(fid, n_records, target, t_send)
            if sent is None:
                if not owner.is_up:
                    return None, tries
                yield env.timeout(max(0.0, cfg.commit_timeout - (env.now - t_send)))
                self.suspect_until[target] = env.now + cfg.suspect_period
                target = self._next_cp(target)
                continue
            ev, res, back = sent
            if ev is not None:
                res = yield ev  # the answer arrives 'back' later (or at the timeout if lost)
            else:
                yield env.timeout(back)
            over, result, target, waits = yield from self._handle(res, target, waits)
            if over:
                return result, tries
        return None, tries
