"""Agents: buffer produce requests, flush them as files, and see each file through.

An agent is stateless. Every ``batch_timeout`` (default 250 ms, WarpStream docs, write path) or
when its buffer reaches ``max_file_size`` (default 8 MiB, same source), whichever comes first, it
flushes everything buffered as one file. Each file then goes through, in its own process
(``_write_file``):

1. **Quorum PUT** (:mod:`sim.model.quorum`): parallel PUTs to every bucket, durable at the
   ``quorum``-th success; late PUTs go on in the background.
2. **Metadata commit** (:mod:`sim.model.commit`) to the leader's control plane, which assigns
   the offsets in a fenced group commit.
3. **Acknowledgement** to the producers, only once both the quorum and the commit succeeded.

If the file cannot complete within the agent's own bound (``request_bound``, 5 s, an estimate;
never longer than the producers' ``request_timeout``) from its oldest request's arrival, the
agent answers its requests with an error and the producers retry
(:class:`sim.model.producers.RetryRouter`); a commit that lands after that still counts in the
log (a duplicate if the retry lands too, unless the producers are idempotent: see
``sim.run.checks.duplicates``). Model time is spent only per
file, never per request or record: a file's requests are numpy arrays updated in one assignment.
"""

from __future__ import annotations

import numpy as np

from sim.core.events import drive
from sim.ledger import ACKED, F_ACKED, F_FAILED, F_LOST_AGENT, PENDING, PRODUCER_DIED, Ledger
from sim.model.commit import CommitRouter
from sim.model.component import INF, Component
from sim.model.producers import _NO_IDS, _NO_TIMES, Producer, RetryRouter
from sim.model.quorum import QuorumWriter


class Agent(Component):
    """One agent in one zone."""

    part = "agent"
    mutant: str | None = None  # a deliberately broken agent, for the checkers' tests

    def __init__(
        self, env, idx: int, region: str, zone: str, cfg, storage_cfg, net, buckets, cps,
        ledger: Ledger, block,
    ):  # fmt: skip
        super().__init__(f"agent:{zone}:{idx}", region, zone)
        self.env = env
        self.idx = idx
        self.cfg = cfg
        self.scfg = storage_cfg
        self.net = net
        self.ledger = ledger
        self.block = block
        self.router: RetryRouter | None = None
        self.producers: list[Producer] = []
        self.retry_in: list[tuple[np.ndarray, np.ndarray]] = []
        self.quorum = QuorumWriter(self, env, net, buckets, storage_cfg, block, ledger)
        self.commits = CommitRouter(self, env, cfg, net, cps)
        self.region_index = {r: i for i, r in enumerate(ledger.regions)}
        self._region_idx = self.region_index[region]
        self._asynchronous = storage_cfg.replication == "async"
        self._half_zone = 0.5 * net.zone_rtt(zone, zone)  # agent to producer (same zone)
        self._half_rtt = {zone: self._half_zone}  # one way from a producer, by its zone

    def start(self) -> None:
        """Start the flush loop."""
        self.env.process(self._flush_loop())

    @property
    def request_timeout(self) -> float:
        """The producers' request timeout (their view of how long a file may take)."""
        return self.router.cfg.request_timeout

    @property
    def bound(self) -> float:
        """How long after a request's arrival the agent answers it with an error if its file
        is not durable and committed by then: its own bound, or the producers' timeout."""
        return min(self.cfg.request_bound, self.router.cfg.request_timeout)

    # -- buffering -----------------------------------------------------------------------------
    def _collect(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Requests that reached this agent by ``now``: (ids, arrival times)."""
        ids_l, arr_l = [], []
        sent_by = now - self._half_zone  # sent by then: reached this agent by now
        halves = self._half_rtt
        for p in self.producers:
            if p.agent is not self:
                continue
            half = halves.get(p.zone)  # a producer may move to another zone
            if half is None:
                half = halves[p.zone] = 0.5 * self.net.zone_rtt(p.zone, self.zone)
            ids, arr = p.take_until(sent_by, half)  # arrival times
            if len(ids):
                ids_l.append(ids)
                arr_l.append(arr)
        had_retries = bool(self.retry_in)
        if had_retries:
            keep = []
            for t, ids in self.retry_in:
                m = t <= now
                if m.all():
                    ids_l.append(ids)
                    arr_l.append(t)
                elif m.any():
                    ids_l.append(ids[m])
                    arr_l.append(t[m])
                    keep.append((t[~m], ids[~m]))
                else:
                    keep.append((t, ids))
            self.retry_in = keep
        if not ids_l:
            return _NO_IDS, _NO_TIMES
        if len(ids_l) == 1:
            ids, arr = ids_l[0], arr_l[0]
        else:
            ids = np.concatenate(ids_l)
            arr = np.concatenate(arr_l)
        if had_retries:
            alive = self.ledger.requests["status"][ids] == PENDING
            if not alive.all():
                return ids[alive], arr[alive]
        return ids, arr

    def _bounce(self, ids: np.ndarray, arrive: np.ndarray) -> None:
        """Requests sent to this agent while it is down: the producers time out and retry."""
        if len(ids) == 0:
            return
        self._abandon(ids, arrive)
        req = self.ledger.requests
        for pi in np.unique(req["producer"][ids]):
            p = self.router.producers[pi]
            if p.agent is self:
                p.switch_at = min(p.switch_at, float(arrive.min()) + self.request_timeout)

    def _reroute_producers(self, now: float) -> None:
        """Producers notice a dead agent after their request timeout, and come back when it is up."""
        for p in self.router.producers:
            if p.agent is self and not self.is_up and now >= p.switch_at:
                new = self.router.fallback_agent(p)
                if new is not self:
                    p.agent = new
                    p.reconnect()
                    new.producers.append(p)
                    p.switch_at = INF
            elif p.home_agent is self and p.agent is not self and self.is_up:
                p.agent = self
                p.reconnect()
                p.switch_at = INF
                if p not in self.producers:
                    self.producers.append(p)

    def _flush_loop(self):
        """Process: flush the buffer every batch_timeout, or sooner when it would exceed max_file_size."""
        env, cfg = self.env, self.cfg
        max_size = cfg.max_file_size
        yield env.timeout(cfg.batch_timeout * self.block.uniform())  # agents out of phase
        while True:
            rate = 0.0
            for p in self.producers:
                if p.agent is self:
                    rate += p.byte_rate()
            interval = cfg.batch_timeout
            if rate > 0:
                interval = min(interval, cfg.max_file_size / rate)
            yield env.timeout(interval)
            now = env.now
            if self.router.clients_disturbed:
                self._reroute_producers(now)
            ids, arrive = self._collect(now)
            if not self.is_up:
                self._bounce(ids, arrive)
                continue
            if len(ids) == 0:
                continue
            nbytes = self.ledger.requests["bytes"][ids]
            total = sum(nbytes.tolist())  # a Python sum: faster than numpy's on a few values
            if total <= max_size:
                parts = [(ids, arrive, total)]
            else:  # split at max_file_size
                part = (nbytes.cumsum() - 1) // max_size
                parts = []
                for k in np.unique(part):
                    sel = part == k
                    parts.append((ids[sel], arrive[sel], int(nbytes[sel].sum())))
            for f_ids, f_arrive, f_size in parts:
                fid = self.ledger.new_file_id()
                first = min(f_arrive.tolist())
                drive(self._write_file(fid, f_ids, f_arrive, f_size, first))

    # -- one file ------------------------------------------------------------------------------
    def _write_file(self, fid: int, ids: np.ndarray, arrive: np.ndarray, size: int, first: float):
        """Process: one file from flush to acknowledgement (or failure); ``first`` is the
        earliest of its requests' arrivals."""
        env, led = self.env, self.ledger
        files = led.files
        req = led.requests
        t0 = env.now
        rcfg = self.router.cfg
        n_records = size // rcfg.record_size
        led.add_attempts(ids, arrive, fid)
        deadline = first + min(self.cfg.request_bound, rcfg.request_timeout)  # self.bound
        files.add(fid, self.idx, self._region_idx, len(ids), n_records, size, t0)
        # the commit's first hop, to the control plane believed to lead (chosen at flush)
        target, hop = self.commits.first_hop(t0)
        asynchronous = self._asynchronous
        only = self.quorum.home_bucket if asynchronous else None
        q, puts = yield from self.quorum.write(t0, size, deadline, only, hop)
        if puts is None:  # the agent died
            files.fail(fid, F_LOST_AGENT, "agent died during PUT")
            self._abandon(ids, arrive)
            return
        if asynchronous:
            self.quorum.async_replicas(q, puts, size)
        files.puts[fid] = puts
        if q is None:
            files.fail(fid, F_FAILED, "no PUT quorum")
            self.router.retry(ids, np.full(len(ids), env.now + 0.001))
            return
        now = env.now
        fa = files.a
        fa["quorum_s"][fid] = q
        fa["commit_start_s"][fid] = now
        arrived = (target, q) if hop > 0 and now >= q + hop - 1e-9 else None
        if self.mutant == "ack-before-commit":
            # acknowledged at the quorum, before the commit (which goes on in the background)
            env.process(self.commits.commit(fid, n_records, deadline, arrived))
            t_ack = q + self._half_zone
            files.set(fid, "status", F_ACKED)
            files.set(fid, "ack_s", t_ack)
            ids = ids[req["status"][ids] == PENDING]
            req["status"][ids] = ACKED
            req["ack_file"][ids] = fid
            return
        res, tries = yield from self.commits.commit(fid, n_records, deadline, arrived)
        now = env.now
        fa = files.a  # (the columns grow while the file is in flight)
        fa["commit_tries"][fid] = tries
        if res is not None and res.applied:
            fa["batch_id"][fid] = res.batch_id
            fa["commit_region"][fid] = self.region_index.get(res.hint, -1)
            fa["epoch"][fid] = res.epoch
            fa["committed_s"][fid] = now
        if not self.is_up or not self.up_throughout(t0, now):
            files.fail(fid, F_LOST_AGENT, "agent died during commit")
            self._abandon(ids, arrive)
            return
        if res is None or res.outcome != "ok" or now > deadline:
            reason = "commit timed out" if res is None else f"commit {res.outcome}"
            if res is not None and res.outcome == "ok":
                reason = "committed after the agent's bound"
            files.fail(fid, F_FAILED, reason)
            # the agent answers with an error (at its bound at the latest); the producer retries
            t_err = max(now, deadline) + self._half_zone
            self.router.retry(ids, np.full(len(ids), t_err))
            return
        t_ack = now + self._half_zone
        fa["status"][fid] = F_ACKED
        fa["ack_s"][fid] = t_ack
        req.answered(ids, t_ack)  # frees the producers' in-flight slots and buffer bytes
        cols = req.cols
        cols["end_s"][ids] = t_ack
        if self.router.clients_disturbed:
            ids = ids[cols["status"][ids] == PENDING]
            prods = cols["producer"][ids]
            alive = np.array([self.router.producers[p].is_up for p in prods], dtype=bool)
            gone = ids[~alive]
            cols["status"][gone] = PRODUCER_DIED
            cols["end_s"][gone] = t_ack
            ids = ids[alive]
        # the acknowledgement time and leader of a request are its file's (filled in at the end)
        cols["status"][ids] = ACKED
        cols["ack_file"][ids] = fid

    def _abandon(self, ids: np.ndarray, arrive: np.ndarray) -> None:
        """The agent died with these requests: producers time out, then retry elsewhere."""
        t_err = np.maximum(arrive + self.request_timeout, self.env.now)
        self.router.retry(ids, t_err)
