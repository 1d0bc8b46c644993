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

from sim.core.events import Horizon, drive
from sim.ledger import ACKED, F_ACKED, F_FAILED, F_LOST_AGENT, PENDING, PRODUCER_DIED, Ledger
from sim.model.commit import CommitRouter
from sim.model.component import INF, Component
from sim.model.producers import _NO_IDS, _NO_TIMES, Producer, RetryRouter
from sim.model.quorum import QuorumWriter, put_rows_ok


class Agent(Component):
    """One agent in one zone."""

    part = "agent"
    mutant: str | None = None  # a deliberately broken agent, for the checkers' tests
    fast_files = True  # quiet-world files as ``_FileInFlight`` (False: all on the general path)

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
        self.horizon = Horizon()  # the fault schedule's lookahead (none unless a world sets it)

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
                self._start_file(fid, f_ids, f_arrive, f_size, first)

    # -- one file ------------------------------------------------------------------------------
    def _start_file(self, fid: int, ids: np.ndarray, arrive: np.ndarray, size: int, first: float):
        """One file from its flush to its acknowledgement (or failure); ``first`` is the earliest
        of its requests' arrivals.

        The file is recorded, the commit's first hop chosen (the control plane believed to lead)
        and its PUTs planned now. In a quiet world (no bucket or link ever failed or degraded, no
        deliberately broken part) a file whose PUTs all succeed goes on as a ``_FileInFlight``:
        callbacks on the same events as the general path, which it hands over to
        (``_write_file``) at the first thing it does not expect.
        """
        t0 = self.env.now
        rcfg = self.router.cfg
        n_records = size // rcfg.record_size
        self.ledger.add_attempts(ids, arrive, fid)
        deadline = first + min(self.cfg.request_bound, rcfg.request_timeout)  # self.bound
        self.ledger.files.add(fid, self.idx, self._region_idx, len(ids), n_records, size, t0)
        # the commit's first hop, to the control plane believed to lead (chosen at flush)
        target, hop = self.commits.first_hop(t0)
        quorum = self.quorum
        plans = None
        if not self._asynchronous and self.mutant is None and quorum.mutant is None:
            plans = quorum._plan_all(t0, size)  # as ``QuorumWriter.write`` would, at once
            if hop > 0 and self.fast_files and quorum._quiet():
                ends = [e for e, ok in plans if ok]
                nb = len(plans)
                k = quorum.scfg.quorum
                if len(ends) == nb and k <= nb:
                    q = sorted(ends)[k - 1]
                    if q + hop < deadline:  # (``write``'s wake-up, the same event)
                        f = _FileInFlight(self, fid, ids, arrive, size, t0, deadline, target, q)
                        f.plans = plans
                        f.hop = hop
                        f.n_records = n_records
                        self.env.timeout(q + hop - t0).callbacks.append(f.woke)
                        return
        drive(self._write_file(fid, ids, arrive, size, t0, deadline, target, hop, plans))

    def _write_file(
        self, fid: int, ids: np.ndarray, arrive: np.ndarray, size: int, t0: float,
        deadline: float, target: str, hop: float, plans: list | None = None, woken: bool = False,
        resume: tuple | None = None,
    ):  # fmt: skip
        """Process: the general path of a file from its PUTs (``plans``: the first attempts,
        planned at the flush ``t0``) to its acknowledgement or failure. A file in flight hands
        over with ``woken`` (its quorum wake-up has happened) or ``resume`` (its PUTs are
        through and its commit's first try submitted: see ``CommitRouter.commit``)."""
        env = self.env
        n_records = size // self.router.cfg.record_size
        if resume is None:
            only = self.quorum.home_bucket if self._asynchronous else None
            q, puts = yield from self.quorum.write(t0, size, deadline, only, hop, plans, woken)
            if not self._quorum_done(fid, ids, arrive, size, q, puts):
                return
            now = env.now
            arrived = (target, q) if hop > 0 and now >= q + hop - 1e-9 else None
            if self.mutant == "ack-before-commit":
                # acknowledged at the quorum, before the commit (which goes on in the background)
                env.process(self.commits.commit(fid, n_records, deadline, arrived))
                files, req = self.ledger.files, self.ledger.requests
                t_ack = q + self._half_zone
                files.set(fid, "status", F_ACKED)
                files.set(fid, "ack_s", t_ack)
                ids = ids[req["status"][ids] == PENDING]
                req["status"][ids] = ACKED
                req["ack_file"][ids] = fid
                return
        else:
            arrived = None
        res, tries = yield from self.commits.commit(fid, n_records, deadline, arrived, resume)
        self._committed(fid, ids, arrive, t0, deadline, res, tries, env.now)

    def _quorum_done(self, fid, ids, arrive, size, q, puts) -> bool:
        """Record a file's PUTs (``write``'s result); whether its commit goes on."""
        files = self.ledger.files
        if puts is None:  # the agent died
            files.fail(fid, F_LOST_AGENT, "agent died during PUT")
            self._abandon(ids, arrive)
            return False
        if self._asynchronous:
            self.quorum.async_replicas(q, puts, size)
        files.puts[fid] = puts
        if q is None:
            files.fail(fid, F_FAILED, "no PUT quorum")
            self.router.retry(ids, np.full(len(ids), self.env.now + 0.001))
            return False
        fa = files.a
        fa["quorum_s"][fid] = q
        fa["commit_start_s"][fid] = self.env.now
        return True

    def _committed(self, fid, ids, arrive, t0, deadline, res, tries, now) -> None:
        """The commit's outcome reached the agent at ``now``: acknowledge the file's requests,
        or answer them with an error (the producers retry)."""
        led = self.ledger
        files, req = led.files, led.requests
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


class _FileInFlight:
    """A file of a quiet world between its flush and its acknowledgement, moved along by
    callbacks on the events the general path (``Agent._write_file``) waits on, in the same
    order and with the same draws; it hands over to that path at the first thing it does not
    expect.

    1. ``woke``, at the predicted quorum plus the commit's first hop: the PUTs are verified
       (nothing can have failed in a quiet world if the agent stayed up) and the commit request,
       arrived at the control plane, is submitted (``CommitRouter.submit_now``).
    2. The answer: ``early``, when the control plane sends it, acts on it as of its arrival if
       nothing can happen to the agent before then (no fault before its arrival: the fault
       schedule's ``Horizon``; the agent up; every commit answer it awaits from the same control
       plane, which it already takes for the leader), so no event carries it; else ``__call__``
       at its arrival.
    """

    __slots__ = (
        "agent", "fid", "ids", "arrive", "size", "t0", "deadline", "target", "q", "plans",
        "hop", "n_records",
    )  # fmt: skip

    def __init__(self, agent, fid, ids, arrive, size, t0, deadline, target, q):
        self.agent = agent
        self.fid = fid
        self.ids = ids
        self.arrive = arrive
        self.size = size
        self.t0 = t0
        self.deadline = deadline
        self.target = target
        self.q = q

    def woke(self, _ev) -> None:
        a = self.agent
        now = a.env.now
        if not (a.quorum._quiet() and a.up_throughout(self.t0, now)):
            drive(
                a._write_file(self.fid, self.ids, self.arrive, self.size, self.t0, self.deadline,
                              self.target, self.hop, self.plans, woken=True)
            )  # fmt: skip
            return
        q = self.q
        rows = put_rows_ok(self.t0, [e for e, _ in self.plans], q)
        a._quorum_done(self.fid, self.ids, self.arrive, self.size, q, rows)
        if now < self.deadline and now >= q + self.hop - 1e-9:  # (``_write_file``'s ``arrived``)
            sent = a.commits.submit_now(self.fid, self.n_records, self.target, q)
            if sent is None:  # the commit's first try as the general path makes it
                drive(self._commit_generally((self.target, q), None))
                return
        else:
            drive(self._commit_generally(None, None))
            return
        ev, res, back = sent
        if ev is None:  # an answer at once, arriving ``back`` later
            drive(self._commit_generally(None, (back, res, self.target, 1)))
            return
        ev.callbacks.append(self)

    def _commit_generally(self, arrived, resume):
        a = self.agent
        res, tries = yield from a.commits.commit(
            self.fid, self.n_records, self.deadline, arrived, resume
        )
        a._committed(self.fid, self.ids, self.arrive, self.t0, self.deadline, res, tries, a.env.now)

    def early(self, res, at: float) -> bool:
        """The answer ``res``, sent now, arrives at ``at``: act on it now if nothing can change
        before (see the class); whether it did."""
        a = self.agent
        commits = a.commits
        if not (
            at < a.horizon.until
            and at <= self.deadline
            and res.outcome == "ok"
            and commits.leader_hint == self.target
            and len(commits.in_flight) == 1
            and a.is_up
            and not a.router.clients_disturbed
        ):
            return False
        a.horizon.promise(at)
        commits.answered(self.target)
        commits.accepted(res, self.target)
        a._committed(self.fid, self.ids, self.arrive, self.t0, self.deadline, res, 1, at)
        return True

    def __call__(self, ev) -> None:
        """The answer arrives (``ev``'s value)."""
        a = self.agent
        res = ev.value
        commits = a.commits
        if res.outcome == "ok" and a.is_up:
            commits.answered(self.target)
            commits.accepted(res, self.target)
            a._committed(self.fid, self.ids, self.arrive, self.t0, self.deadline, res, 1, a.env.now)
            return
        drive(self._commit_generally(None, (0.0, res, self.target, 1)))
