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

    def commit(self, fid: int, n_records: int, deadline: float, arrived: tuple | None = None):
        """Process part: get the file's metadata committed; returns (result or None, tries).

        ``arrived``: (region, send time) of a first request that has already travelled to that
        region's control plane (see ``QuorumWriter.write``'s ``lead``).
        """
        env, cfg, net, owner = self.env, self.cfg, self.net, self.owner
        target = self.leader_hint or self.cp_order[0]
        tries = 0
        waits = 0
        while env.now < deadline:
            tries += 1
            if arrived is not None:
                target, t_send = arrived
                cp = self.cps[target]
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
            if not owner.is_up:
                return None, tries
            if not cp.is_up or not net.path_ok(self.region, target):
                yield env.timeout(max(0.0, cfg.commit_timeout - (env.now - t_send)))
                self.suspect_until[target] = env.now + cfg.suspect_period
                target = self._next_cp(target)
                continue
            back = net.one_way(target, self.region)
            ev, res = cp.submit(fid, n_records, back, t_send + cfg.commit_timeout)
            if ev is not None:
                res = yield ev  # the answer arrives 'back' later (or at the timeout if lost)
                if res.outcome == "lost":
                    self.suspect_until[target] = env.now + cfg.suspect_period
                    target = self._next_cp(target)
                    continue
            else:
                yield env.timeout(back)
            if not owner.is_up:
                return (res if res.outcome == "ok" else None), tries
            if res.outcome == "ok":
                self.leader_hint = target
                return res, tries
            if res.outcome in ("not_leader", "fenced"):
                hint = res.hint
                if (
                    hint is not None
                    and hint != target
                    and self.suspect_until.get(hint, -INF) <= env.now
                ):
                    target = hint
                    continue
                if hint is None or hint == target:
                    waits += 1
                    yield env.timeout(self._backoff(waits))
                    if hint is None:
                        target = self._next_cp(None) if waits % 2 == 0 else target
                    continue
                # the hint points at a suspect region: wait for a new leader
                waits += 1
                yield env.timeout(self._backoff(waits))
                target = self._next_cp(hint)
                continue
            # unavailable / conflict / overloaded: back off and retry
            waits += 1
            yield env.timeout(self._backoff(waits))
        return None, tries
