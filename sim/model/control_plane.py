"""Regional control planes: leader election through the table, rigged preference, group commit.

One ``ControlPlane`` per region: a pool of stateless instances (``instances`` x ``concurrency``
requests at once, each with a service time) that read and write the metadata table through the
region's own endpoint. Two processes run in each:

- ``_elect`` every ``renew_interval``: one strongly consistent table read (the lease, the
  health records and the log's tail: how a follower keeps up, priced and timed as the table
  kind's strong read), then one conditional table write that publishes the region's
  health (its measured table latency, an EWMA) and reads or updates the lease item. The holder
  renews; a follower takes an expired lease with ``epoch + 1``; the election is *rigged*: the
  preferred region may take an expired lease at once, others only ``non_preferred_delay`` later;
  and a leader that is not the preferred region hands the lease over (epoch + 1) once the
  preference has held for ``handover_hold``. Preference is ``auto`` (the responsive region with
  the lowest measured table latency, with a ``auto_margin`` hysteresis), a pinned region (falls
  back to ``auto`` among the responsive when that region is not), or ``none`` (no rigging).
- ``_kick`` / ``_after_write``: group commit. Commit requests that arrive while a table write is in flight are
  sent together in the next one (up to ``max_batch`` files). Each batch is one fenced conditional
  write (``ops_per_commit`` sequential table operations): it applies only if the lease epoch in the
  table is still this leader's. A deposed leader can therefore never commit.

A control plane believes it leads until ``lease_duration`` after the *start* of its last
successful renewal, judged on its own clock (``clock_offset``), minus ``clock_margin``.

Lease timings of the real system are not published: ``lease_duration`` 5 s, ``renew_interval``
1 s, ``non_preferred_delay`` 2 s, ``handover_hold`` 10 s, service time lognormal p50 1 ms /
p99 5 ms, 8 instances x 64 concurrent requests: all estimates.
"""

from __future__ import annotations

import math

from sim.core.events import deliver
from sim.core.latency import LogNormal
from sim.core.rng import Block
from sim.ledger import Ledger
from sim.model.component import INF, NO_SLOWDOWN, Component
from sim.model.network import Network
from sim.model.table import Lease, MetadataTable


class CommitRequest:
    """A file's metadata sent by an agent to be committed.

    ``reply_delay`` is the network delay of the answer back to the agent, and ``give_up_at`` the
    time the agent stops waiting for an answer that never comes: the answer event is scheduled
    that far ahead, so the agent's wait costs no extra event. (A plain class with slots: one is
    made per file, where a dataclass costs several times more.)
    """

    __slots__ = ("file_id", "n_records", "event", "arrived", "reply_delay", "give_up_at")

    def __init__(self, file_id, n_records, event, arrived, reply_delay, give_up_at):
        self.file_id = file_id
        self.n_records = n_records
        self.event = event
        self.arrived = arrived
        self.reply_delay = reply_delay
        self.give_up_at = give_up_at


class CommitResult:
    """What a control plane answers: ``ok``, ``not_leader``, ``fenced``, ``conflict``,
    ``unavailable``, ``overloaded``, or ``lost`` (no answer ever comes). Read-only by
    convention (one is made per metadata batch: a frozen dataclass costs several times more)."""

    __slots__ = ("outcome", "batch_id", "epoch", "hint", "applied")

    def __init__(
        self,
        outcome: str,
        batch_id: int = -1,
        epoch: int = -1,
        hint: str | None = None,
        applied: bool = False,
    ):
        self.outcome = outcome
        self.batch_id = batch_id
        self.epoch = epoch
        self.hint = hint
        self.applied = applied

    def __repr__(self) -> str:
        return (
            f"CommitResult({self.outcome!r}, batch_id={self.batch_id}, epoch={self.epoch}, "
            f"hint={self.hint!r}, applied={self.applied})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, CommitResult):
            return NotImplemented
        return (self.outcome, self.batch_id, self.epoch, self.hint, self.applied) == (
            other.outcome, other.batch_id, other.epoch, other.hint, other.applied
        )  # fmt: skip

    __hash__ = None


class ControlPlane(Component):
    """The control plane of one region."""

    part = "control-plane"

    def __init__(
        self,
        env,
        region: str,
        regions: list[str],
        table: MetadataTable,
        net: Network,
        ledger: Ledger,
        block: Block,
        cfg,
    ):
        super().__init__(f"control-plane:{region}", region)
        self.env = env
        self.regions = regions
        self.table = table
        self.net = net
        self.ledger = ledger
        self.block = block
        self.cfg = cfg
        self.service = LogNormal.from_percentiles(cfg.service_p50_ms, cfg.service_p99_ms)
        self.capacity = cfg.instances * cfg.concurrency
        self.clock_offset = 0.0  # local clock = true time + offset (clock faults set it)
        self.clock_drift = 0.0  # seconds of offset gained per second
        self._drift_from = 0.0
        self._leader = False
        self.epoch = -1
        self.lease_valid_until = -INF
        self.leader_hint: str | None = None
        self.latency_ewma: float | None = None
        self._better_since: float | None = None
        self.queue: list[CommitRequest] = []
        self._busy = False  # a group-commit table write is in flight
        self.preference: str = cfg.preference
        self._capacity_factors: list[float] = []
        self._write_rows: dict[str, list[int]] = {}  # the ledger's table-write counters
        self._holders: dict[tuple, str] = {}  # a batch's participants, as the ledger writes them
        self.capacity_factor = 1.0  # share of instances alive (a zone outage lowers it)
        self.error_ewma = 0.0
        self._last_obs = 0.0
        self.degraded = False  # soft-failure detector's verdict on this region
        self._bad_since: float | None = None
        self._good_since: float | None = None
        # the table write in flight: (requests, plans, start, epoch), read by ``_after_write``
        # (a bound method kept once, rather than a closure per write)
        self._w: tuple | None = None
        self._on_written = self._after_write
        # what never changes and the quiet short path of ``submit`` needs: one leader, one
        # table operation per commit, an MRSC table this region holds data of
        self._plain = (
            cfg.coordination == "leader"
            and cfg.ops_per_commit == 1
            and cfg.max_batch >= 1
            and table.writes_quietly(region)
        )

    # -- what others see -----------------------------------------------------------------------
    def local_time(self, now: float) -> float:
        """This region's clock reading at true time ``now``."""
        return now + self.clock_offset + self.clock_drift * (now - self._drift_from)

    def set_clock(self, t: float, offset: float, drift: float) -> None:
        """From true time ``t``, this region's clock reads ``offset`` off and drifts ``drift`` s/s."""
        self.clock_offset = offset
        self.clock_drift = drift
        self._drift_from = t

    def add_capacity_factor(self, f: float) -> None:
        """Only a fraction ``f`` of the instances is left (nested with other reductions)."""
        self._capacity_factors.append(f)
        self._recompute_capacity()

    def remove_capacity_factor(self, f: float) -> None:
        """Lift a capacity reduction put in force earlier."""
        self._capacity_factors.remove(f)
        self._recompute_capacity()

    def _recompute_capacity(self) -> None:
        c = 1.0
        for f in self._capacity_factors:
            c *= f
        self.capacity_factor = c

    mutant: str | None = None  # a deliberately broken control plane, for the checkers' tests

    def leads(self, now: float) -> bool:
        """Whether this control plane believes it holds the lease now."""
        if self.mutant == "lease-overrun":
            return self._leader and self.is_up  # keeps committing past its lease
        return (
            self._leader
            and self.is_up
            and self.local_time(now) < self.lease_valid_until - self.cfg.clock_margin
        )

    def service_time(self) -> float:
        """One request's service time at an instance."""
        if self._slow is NO_SLOWDOWN:  # ``LogNormal.sample`` in line
            sv = self.service
            return sv.median_s * math.exp(sv.sigma * self.block.normal())
        return self.service.sample(self.block, self._slow)

    def start(self) -> None:
        """Start the election and commit processes."""
        self.env.process(self._elect())

    # -- election ------------------------------------------------------------------------------
    def _observe(self, latency: float, error: bool = False, now: float | None = None) -> None:
        """Fold one table operation's latency (and whether it failed) into this region's
        time-weighted averages: a sample's weight is 1 - exp(-dt / tau), dt since the last one,
        so a leader sampling every commit and a follower sampling once a second average over the
        same span of time. (``now``: the simulation's time, when the caller has it.)"""
        if now is None:
            now = self.env.now
        e = self.latency_ewma
        if e is None:
            self.latency_ewma = latency
        else:
            a = -math.expm1(-max(now - self._last_obs, 1e-3) / self.cfg.latency_ewma_tau)
            self.latency_ewma = (1 - a) * e + a * latency
            self.error_ewma = (1 - a) * self.error_ewma + a * (1.0 if error else 0.0)
        self._last_obs = now

    def _detect_soft_failure(self, now: float) -> None:
        """Soft-failure detector: table operations too slow (or failing) for long enough.

        The region is *degraded* once its latency EWMA stays above ``soft_failure_threshold`` (or
        its error EWMA above ``soft_failure_error_rate``) for ``soft_failure_window``, and healthy
        again after as long below. A degraded region is never preferred, and a degraded leader
        hands the lease over at once.
        """
        cfg = self.cfg
        if not cfg.soft_failure_detection:
            return
        bad = (self.latency_ewma or 0.0) > cfg.soft_failure_threshold or (
            self.error_ewma > cfg.soft_failure_error_rate
        )
        if bad:
            self._good_since = None
            if self._bad_since is None:
                self._bad_since = now
            if not self.degraded and now - self._bad_since >= cfg.soft_failure_window:
                self.degraded = True
                self.ledger.note(
                    now, "detector", f"{self.region} degraded: table ops too slow or failing"
                )
        else:
            self._bad_since = None
            if self._good_since is None:
                self._good_since = now
            if self.degraded and now - self._good_since >= cfg.soft_failure_window:
                self.degraded = False
                self.ledger.note(now, "detector", f"{self.region} healthy again")

    def preferred(self, health: dict[str, tuple], now: float) -> str | None:
        """The region the rigged election favours now, from the table's health records.

        Only responsive regions (a fresh heartbeat) that the soft-failure detector does not call
        degraded are candidates (all responsive ones if every one is degraded).
        """
        mode = self.preference
        if mode == "none":
            return None
        fresh = self.cfg.responsive_window
        responsive = sorted(r for r, h in health.items() if now - h[0] <= fresh)
        healthy = [r for r in responsive if not health[r][2]]
        responsive = healthy or responsive
        if mode != "auto" and mode in responsive:
            return mode
        if not responsive:
            return None
        return min(responsive, key=lambda r: (health[r][1], r))

    def _elect(self):
        """Process: heartbeat, renew or take the lease, hand it over to the preferred region."""
        env, cfg, table = self.env, self.cfg, self.table
        # stagger the regions' loops deterministically
        yield env.timeout(
            cfg.renew_interval * (1 + self.regions.index(self.region)) / (len(self.regions) + 1)
        )
        while True:
            if not self.is_up:
                self._leader = False
                yield env.timeout(cfg.renew_interval)
                continue
            t_loop = env.now
            # keep up: one strongly consistent read of the lease, the health records and the
            # log's tail (what a follower needs to take over at once), priced as such a read
            read = table.plan_read(self.region)
            self._count_reads(read, 1)
            if read is None or read.error:
                wait = table.op_timeout if read is None else read.latency
                yield env.timeout(wait)
                self._renew_failed(None if read is None else read.latency)
                yield env.timeout(max(0.0, cfg.renew_interval - wait))
                continue
            yield env.timeout(read.latency)
            t0 = env.now
            plan = table.plan_write(self.region)
            self._count_writes(plan, 1)
            if plan is None:
                yield env.timeout(table.op_timeout)
                self._renew_failed(None)
                yield env.timeout(max(0.0, cfg.renew_interval - (env.now - t_loop)))
                continue
            yield env.timeout(plan.latency)
            now = env.now
            if (
                plan.error
                or not self.up_throughout(t0, now)
                or not table.still_valid(plan, t0, now)
            ):
                self._renew_failed(plan.latency if plan.error else None)
                yield env.timeout(max(0.0, cfg.renew_interval - (env.now - t_loop)))
                continue
            self._observe(plan.latency)
            self._detect_soft_failure(now)
            table.write_health(self.region, now, self.latency_ewma, self.degraded)
            self._lease_step(t0, now)
            yield env.timeout(max(0.0, cfg.renew_interval - (env.now - t_loop)))

    def _count_writes(self, plan, n: int) -> None:
        """Record ``n`` table writes from this region (to the last region that took part)."""
        table = self.table
        dst = plan.participants[-1] if plan is not None else table.leader_region
        row = self._write_rows.get(dst)
        if row is None:
            row = self.ledger.op_row(
                "table_write", table.kind, self.region, dst, table.data_replicas
            )
            self._write_rows[dst] = row
        row[0] += n

    def _count_reads(self, plan, n: int) -> None:
        """Record ``n`` strongly consistent table reads from this region."""
        table = self.table
        dst = plan.participants[-1] if plan is not None else table.leader_region
        self.ledger.count_op("table_read", table.kind, self.region, dst, n)

    def _renew_failed(self, error_latency: float | None) -> None:
        """A lease operation failed: keep believing only until the last lease runs out.

        Only an operation the replica answered with an error feeds the soft-failure detector
        (``error_latency``); one that could not reach its quorum at all is a hard failure, seen
        by every region alike, and left to the lease.
        """
        self.ledger.tally("lease_op_failures")
        if self.is_up and error_latency is not None:
            latency = error_latency
            self._observe(latency, error=True)
            self._detect_soft_failure(self.env.now)

    def _lease_step(self, t0: float, now: float) -> None:
        """Decide, within the table operation just applied, what to do with the lease."""
        cfg, table, me = self.cfg, self.table, self.region
        st = table.view(me, now)
        lease = st.lease
        pref = self.preferred(st.health, now)
        local_now = self.local_time(now)
        if lease.holder == me and (lease.epoch == self.epoch or not self._leader):
            if lease.epoch != self.epoch:
                self.epoch = lease.epoch  # handed over to us
            if pref is not None and pref != me and self._should_hand_over(st.health, pref, now):
                new = Lease(pref, lease.epoch + 1, now + cfg.lease_duration)
                if table.cas_lease(me, now, lease.epoch, new):
                    self._leader = False
                    self.leader_hint = pref
                    self._record_lease(now, pref, new.epoch, f"handover from {me}")
                return
            new = Lease(me, lease.epoch, now + cfg.lease_duration)
            if table.cas_lease(me, now, lease.epoch, new):
                if not self._leader:
                    self.ledger.note(
                        now, "lease", f"{me} takes up the lease handed to it (epoch {lease.epoch})"
                    )
                self._leader = True
                self.lease_valid_until = self.local_time(t0) + cfg.lease_duration
                self.leader_hint = me
            return
        self._leader = False
        self._better_since = None
        expired = lease.holder is None or local_now > lease.expires
        if not expired:
            self.leader_hint = lease.holder
            return
        waited = local_now - max(lease.expires, 0.0)
        if pref is None or pref == me or waited >= cfg.non_preferred_delay:
            new = Lease(me, lease.epoch + 1, now + cfg.lease_duration)
            if table.cas_lease(me, now, lease.epoch, new):
                self._leader = True
                self.epoch = new.epoch
                self.lease_valid_until = self.local_time(t0) + cfg.lease_duration
                self.leader_hint = me
                cause = (
                    "initial election"
                    if lease.holder is None
                    else f"lease of {lease.holder} expired"
                )
                self._record_lease(now, me, new.epoch, cause)
        else:
            self.leader_hint = None

    def _take_up(self, lease: Lease, now: float) -> None:
        """Start leading under a lease another region handed over to this one."""
        self._leader = True
        self.epoch = lease.epoch
        self.leader_hint = self.region
        # the handing-over leader wrote the expiry in table time; judge it on our own clock
        self.lease_valid_until = self.local_time(now) + (lease.expires - now)
        self.ledger.note(
            now, "lease", f"{self.region} takes up the lease handed to it (epoch {lease.epoch})"
        )

    def _should_hand_over(self, health: dict, pref: str, now: float) -> bool:
        """Whether the preference for ``pref`` is clear and has held long enough."""
        cfg = self.cfg
        if self.degraded and not health[pref][2]:
            return True  # a degraded leader hands over at once to a healthy region
        if pref != self.preference:  # chosen by latency (auto, or the pinned region is away)
            mine = health.get(self.region, (now, INF))[1]
            theirs = health[pref][1]
            if not theirs < mine * (1 - cfg.auto_margin):
                self._better_since = None
                return False
            hold = cfg.handover_hold
        else:
            hold = cfg.pinned_handover_hold
        if self._better_since is None:
            self._better_since = now
        return now - self._better_since >= hold

    def _record_lease(self, now: float, region: str, epoch: int, cause: str) -> None:
        self.ledger.leader.append((now, region, epoch, cause))
        self.ledger.note(now, "lease", f"{region} holds the lease, epoch {epoch} ({cause})")

    # -- commits -------------------------------------------------------------------------------
    def submit(
        self, file_id: int, n_records: int, reply_delay: float, give_up_at: float
    ) -> tuple[object, CommitResult | None]:
        """Take a commit request now; returns (event to wait on, or an immediate answer)."""
        env = self.env
        now = env.now
        table = self.table
        if self._leads_quietly(now):
            # Quiet short paths (``_leads_quietly``: this region leads, has never gone down,
            # slowed or erred, so no error-rate draw): the general path below with its checks
            # hoisted; the same draws and the same timeouts, in the same order.
            queue = self.queue
            if self._busy:  # a write is in flight: queue (``_kick`` would return at once)
                if len(queue) < self.capacity * self.capacity_factor:
                    ev = env.event()
                    queue.append(
                        CommitRequest(file_id, n_records, ev, now, reply_delay, give_up_at)
                    )
                    return ev, None
            elif (
                not queue
                and table.quiet
                and table.net.pristine
                and self.capacity * self.capacity_factor > 0
            ):  # nothing queued, the table quiet: ``_kick``'s write of this one request
                ev = env.event()
                self._write_quiet(
                    [CommitRequest(file_id, n_records, ev, now, reply_delay, give_up_at)], now
                )
                return ev, None
        if self.cfg.coordination == "leader" and not self.leads(now):
            st = self.table.view(self.region, now)
            lease = st.lease
            if lease.holder == self.region and lease.epoch > self.epoch and self.is_up:
                # a lease handed to this region: a follower is ready to take over at once, so it
                # takes the lease up on the first commit it is sent, not at its next renewal
                self._take_up(lease, now)
            else:
                hint = lease.holder if lease.expires > self.local_time(now) else None
                return None, CommitResult("not_leader", hint=hint)
        if len(self.queue) >= self.capacity * self.capacity_factor:
            return None, CommitResult("overloaded")
        if self.error_rate and self.block.uniform() < self.error_rate:
            return None, CommitResult("unavailable")
        ev = self.env.event()
        self.queue.append(CommitRequest(file_id, n_records, ev, now, reply_delay, give_up_at))
        self._kick()
        return ev, None

    def _answer(self, reqs: list[CommitRequest], res: CommitResult) -> None:
        """Send an answer to each request; it reaches the agent after the network delay.

        A ``lost`` answer stands for silence: the agent notices at its own timeout.
        """
        env = self.env
        if res.outcome == "lost":
            now = env.now
            for r in reqs:
                deliver(env, r.event, res, max(0.0, r.give_up_at - now))
        else:
            for r in reqs:
                deliver(env, r.event, res, r.reply_delay)

    def _leads_quietly(self, now: float) -> bool:
        """``leads(now)`` of a control plane that has never gone down, slowed or erred (so
        up, with no error rate) and has no mutant, under the static conditions of the quiet
        short paths (``_plain``). False sends the caller down the general path."""
        return (
            self._plain
            and self.mutant is None
            and not self.ever_changed
            and self._leader
            and now + self.clock_offset + self.clock_drift * (now - self._drift_from)
            < self.lease_valid_until - self.cfg.clock_margin
        )

    def _write_quiet(self, reqs: list[CommitRequest], now: float) -> None:
        """``_kick``'s table write of ``reqs`` while ``_leads_quietly`` and the table is quiet
        (network pristine): one operation planned by ``plan_quiet`` (the same draws as
        ``plan_write``), counted, and its one timeout."""
        p = self.table.plan_quiet(self.region)
        row = self._write_rows.get(p.participants[-1])
        if row is None:
            self._count_writes(p, 1)
        else:
            row[0] += 1
        self._busy = True
        self._w = (reqs, [p], now, self.epoch)
        self.env.timeout(p.latency).callbacks.append(self._on_written)

    def _kick(self) -> None:
        """Group commit: start the next table write if none is in flight.

        Commit requests that queue while a write is in flight go together into the next one (up
        to ``max_batch``). Written as callbacks rather than a process: one SimPy event per
        metadata batch.
        """
        queue = self.queue
        if self._busy or not queue:
            return
        env, cfg, table = self.env, self.cfg, self.table
        now = env.now
        if self._leads_quietly(now) and table.quiet and table.net.pristine:
            # the checks below hold (up, leading, one operation, no mutant): the same write
            mb = cfg.max_batch
            if len(queue) <= mb:
                reqs, self.queue = queue, []
            else:
                reqs = queue[:mb]
                del queue[:mb]
            self._write_quiet(reqs, now)
            return
        if not self.is_up:
            reqs, self.queue = self.queue, []
            self._answer(reqs, CommitResult("lost"))
            return
        leader_mode = cfg.coordination == "leader"
        if leader_mode and not self.leads(env.now):
            reqs, self.queue = self.queue, []
            self._answer(reqs, CommitResult("not_leader", hint=None))
            return
        reqs = self.queue[: cfg.max_batch]
        del self.queue[: cfg.max_batch]
        if cfg.ops_per_commit == 1:
            p = table.plan_write(self.region)
            plans = [] if p is None else [p]
        else:
            plans = []
            for _ in range(cfg.ops_per_commit):
                p = table.plan_write(self.region)
                if p is None:
                    break
                plans.append(p)
        self._count_writes(plans[-1] if plans else None, max(len(plans), 1))
        self._busy = True
        if len(plans) < cfg.ops_per_commit:
            ev = env.timeout(table.op_timeout)
            ev.callbacks.append(lambda _e: self._after_unavailable(reqs))
            return
        t0 = env.now
        epoch = self.epoch if leader_mode else None
        if self.mutant == "lease-overrun" and leader_mode:
            # the lease checked when the write starts, not when it applies
            lease = table.view(self.region, t0).lease
            if lease.epoch != epoch or lease.holder != self.region:
                self._busy = False
                self._leader = False
                self._answer(reqs, CommitResult("fenced"))
                self._kick()
                return
        self._w = (reqs, plans, t0, epoch)
        env.timeout(sum(p.latency for p in plans)).callbacks.append(self._on_written)

    def _after_unavailable(self, reqs: list[CommitRequest]) -> None:
        """The table could not take the write: tell the agents, go on with the queue."""
        self._busy = False
        self._answer(reqs, CommitResult("unavailable"))
        self._kick()

    def _after_write(self, _ev=None) -> None:
        """A batch's table write came back (``_w``): apply it (fenced by the epoch) and answer."""
        reqs, plans, t0, epoch = self._w
        self._w = None
        self._busy = False
        env, cfg, table = self.env, self.cfg, self.table
        now = env.now
        lat = now - t0
        # never down, slowed or erred, the table quiet and the network pristine: every
        # ``still_valid`` and ``up_throughout`` below holds, and is not asked
        quiet = not self.ever_changed and table.quiet and table.net.pristine
        try:
            if len(plans) == 1:
                p = plans[0]
                error = p.error
                valid = error or quiet or table.still_valid(p, t0, now)
            else:
                error = False
                valid = True
                for p in plans:
                    error = error or p.error
                    valid = valid and table.still_valid(p, t0, now)
            if error or not valid:
                if error:
                    self._observe(lat / cfg.ops_per_commit, error=True)
                self._answer(reqs, CommitResult("unavailable"))
                return
            self._observe(lat / cfg.ops_per_commit, False, now)
            ledger = self.ledger
            batch_id = ledger.n_batches  # ``Ledger.new_batch_id`` in line
            ledger.n_batches = batch_id + 1
            fence = None if self.mutant in ("no-fencing", "lease-overrun") else epoch
            if len(reqs) == 1:  # most batches: ``table.commit`` of one file, without lists
                r = reqs[0]
                outcome, first, one = table.commit_file(
                    self.region, t0, now, fence, batch_id, r.file_id, r.n_records
                )
                files = (r.file_id,) if one else ()
                n_records = r.n_records if one else 0
            else:
                file_ids = [r.file_id for r in reqs]
                n_recs = [r.n_records for r in reqs]
                outcome, first, applied = table.commit(
                    self.region, t0, now, fence, batch_id, file_ids, n_recs
                )
                if outcome == "ok":
                    if all(applied):
                        files = file_ids
                        n_records = sum(n_recs)
                    else:
                        files = [f for f, a in zip(file_ids, applied, strict=True) if a]
                        n_records = sum(n for n, a in zip(n_recs, applied, strict=True) if a)
            if outcome == "ok":
                parts = plans[-1].participants
                holders = self._holders.get(parts)
                if holders is None:
                    holders = self._holders[parts] = ",".join(sorted(set(parts)))
                ledger.add_batch(
                    (batch_id, self.region, -1 if epoch is None else epoch, t0, now, first,
                     len(files), n_records, holders),
                    files,
                )  # fmt: skip
            elif outcome == "conflict":
                # replicated-write conflict: roll back and retry at once with what has queued
                ledger.tally("conflicts")
                if quiet or self.up_throughout(t0, now):
                    self.queue[:0] = reqs
                    return
            elif outcome == "fenced":
                ledger.tally("fenced")
                self._leader = False
            if not (quiet or self.up_throughout(t0, now)):
                self._answer(reqs, CommitResult("lost"))
                return
            res = (
                CommitResult(outcome, batch_id, self.epoch, self.region, True)
                if outcome == "ok"
                else CommitResult(outcome, -1, self.epoch, None, False)
            )
            if len(reqs) == 1:  # ``_answer`` of one request (not lost)
                r = reqs[0]
                deliver(env, r.event, res, r.reply_delay)
            else:
                self._answer(reqs, res)
        finally:
            self._kick()
