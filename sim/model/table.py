"""The multi-region metadata table: MRSC, Spanner, single-region, and eventually consistent.

Each region's control plane talks to the table through its own region's endpoint and keeps no
state of its own. What differs between kinds is *who must take part in a write* (and so how long it
takes and which regions hold it once it returns) and *what a read sees*:

- ``mrsc`` (DynamoDB global table, multi-region strong consistency). Exactly 3 replicas, or 2 plus a
  witness. A write in region R returns once it is replicated to at least one other live replica,
  and the table's internal leader must be in every quorum (AWS docs). So from the leader's region
  it costs the local write plus the RTT to the nearest other live replica; from any other region
  the local write plus the RTT to the leader's region. Concurrent writes to one item from two
  regions: the later fails with a replicated-write conflict. If the leader's replica is lost the
  table elects another after ``leader_failover`` (not published: 10 s, an estimate).
- ``spanner`` (multi-region configuration: two read-write regions with two replicas each and a
  witness region). A write travels to the default leader region, which commits once a majority of
  the 5 voters agree (its own two replicas plus the nearest other voting region), then waits out
  TrueTime's uncertainty (commit wait ~2 epsilon, epsilon 1-7 ms: Corbett et al., OSDI 2012).
- ``single-region`` (a standard DynamoDB table): every write goes to the one home region.
- ``eventual`` (DynamoDB MREC-style: a counter-example). A write is applied to the local replica
  and returns; other replicas get it after a replication lag ("typically within a second or less",
  AWS docs: lognormal p50 300 ms / p99 1 s, an estimate), and concurrent writes to an item are
  resolved last-writer-wins. Conditional writes only see the local replica, so two regions can
  both win an election, and a write not yet replicated is lost with its region.

Local operation latency: DynamoDB single region is "single-digit ms" service-side (AWS) and
10-20 ms as observed by clients (Dynobase); the default local operation is lognormal p50 8 ms /
p99 25 ms, an estimate inside those figures. Operations that cannot reach their quorum fail after
``op_timeout`` (1 s, an estimate).

The table's state is a handful of items: the lease, each region's health record, and the log of
committed metadata batches keyed by first offset. Strong kinds keep one state; ``eventual`` keeps
one per replica and replicates item writes.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from sim.core.latency import LogNormal
from sim.core.rng import Block
from sim.model.component import INF, Component
from sim.model.network import Network

TABLE_KINDS = ("mrsc", "spanner", "single-region", "eventual")
#: A leader replica failing at least this fraction of operations is treated by the table's own
#: health checking as failed: after ``leader_failover`` the table elects a leader elsewhere, as it
#: does for a replica that is down. ESTIMATE (no published figure): a replica that fails most of
#: its operations cannot keep up its part in the replication quorum either. Below it, the errors
#: stay with the leader and reach every region's operations (see ``_error_rate``).
LEADER_FAILING_ERROR_RATE = 0.5


@dataclass
class Lease:
    """The leader lease item: who holds it, its epoch, and when it expires (table time)."""

    holder: str | None = None
    epoch: int = 0
    expires: float = -INF


@dataclass
class LogEntry:
    """One committed metadata batch as stored in the table's log item (the eventually
    consistent kind's replicas; a strong table hands its entries to ``log_sink`` instead)."""

    batch_id: int
    first_offset: int
    n_records: int
    file_ids: tuple[int, ...]
    stamp: tuple[float, str]


class FileSet:
    """The ids of the files a log references, one byte a file id (a Python set of a day's
    three million file ids would cost about 200 MB)."""

    __slots__ = ("b",)

    def __init__(self):
        self.b = bytearray(1 << 14)

    def _room(self, top: int) -> None:
        if top >= len(self.b):
            self.b.extend(bytes(max(top + 1, 2 * len(self.b)) - len(self.b)))

    def __contains__(self, fid: int) -> bool:
        return fid < len(self.b) and self.b[fid] > 0

    def update(self, ids) -> None:
        if ids:
            self._room(max(ids))
            b = self.b
            for f in ids:
                b[f] = 1

    def add(self, fid: int) -> None:
        """``update((fid,))``, without the tuple."""
        b = self.b
        if fid >= len(b):
            self._room(fid)
            b = self.b
        b[fid] = 1

    def difference_update(self, ids) -> None:
        b = self.b
        for f in ids:
            if f < len(b):
                b[f] = 0


@dataclass
class TableState:
    """What one replica (or the one strong state) holds.

    ``log``: the committed metadata batches by first offset. A strong table's log is only ever
    appended to (and read after the run), so it does not keep it: it hands each entry to the
    ledger (``MetadataTable.log_sink``), and keeps what commits read, the next offset and the
    committed file ids (``committed_files``). The eventual kind's replicas keep theirs, to
    resolve replicated entries by last writer."""

    lease: Lease = field(default_factory=Lease)
    lease_stamp: tuple[float, str] = (-INF, "")
    health: dict[str, tuple[float, float, bool]] = field(default_factory=dict)
    next_offset: int = 0
    log: dict[int, LogEntry] = field(default_factory=dict)
    committed_files: FileSet = field(default_factory=FileSet)
    last_write: dict[str, tuple[float, str]] = field(default_factory=dict)


class TableReplica(Component):
    """One region's replica (or endpoint) of the metadata table."""

    part = "table-replica"
    holds_data = True

    def __init__(self, region: str, voting: bool, witness: bool):
        super().__init__(f"table:{region}", region)
        self.voting = voting
        self.witness = witness


class LeaderRole(Component):
    """The table's internal leader role as held in one region (MRSC and Spanner): while it is
    down the leader cannot coordinate writes, and after ``leader_failover`` the table elects a
    leader in another region."""

    part = "table-leader"
    logical = True

    def __init__(self, region: str):
        super().__init__(f"table-leader:{region}", region)


class ReplicationStream(Component):
    """Eventually consistent kind: the asynchronous replication out of one region's replica.
    While it is down, changes made there wait to be shipped (and ship when it comes back)."""

    part = "table-replication"
    logical = True

    def __init__(self, region: str):
        super().__init__(f"table-replication:{region}", region)


class Plan:
    """How one table operation will go: its latency, the regions that take part, and whether
    it ends in an error (a replica failing a fraction of operations answers fast, with an error)."""

    __slots__ = ("latency", "participants", "error", "entry")

    def __init__(
        self,
        latency: float,
        participants: tuple[str, ...],
        error: bool = False,
        entry: str | None = None,
    ):
        self.latency = latency
        self.participants = participants
        self.error = error
        self.entry = entry  # the caller's region when it called another region's endpoint


class MetadataTable:
    """The metadata table of one cluster, of one of ``TABLE_KINDS``."""

    mutant: str | None = None  # a deliberately broken table, for the checkers' tests
    # idempotent producers: a batch carries its producer id and sequence, and the table applies
    # a sequence once (Kafka KIP-98); the duplicates check reads this (sim.run.checks.duplicates)
    recognises_sequences: bool = True

    def __init__(
        self,
        kind: str,
        regions: list[str],
        client_regions: list[str],
        leader_region: str,
        witness: str | None,
        network: Network,
        block: Block,
        local: LogNormal,
        op_timeout: float,
        leader_failover: float,
        replication_lag: LogNormal,
        conflict_window: float,
    ):
        if kind not in TABLE_KINDS:
            raise ValueError(f"unknown table kind {kind!r}")
        self.kind = kind
        self.regions = list(regions)
        self.leader_region = leader_region
        self.witness = witness
        self.net = network
        self.block = block
        self.local = local
        self.op_timeout = op_timeout
        self.leader_failover = leader_failover
        self.replication_lag = replication_lag
        self.conflict_window = conflict_window
        all_regions = sorted(set(regions) | set(client_regions))
        self.replicas: dict[str, TableReplica] = {
            r: TableReplica(r, voting=r in regions, witness=(r == witness)) for r in all_regions
        }
        self.strong = kind != "eventual"
        # regions a write is applied to (what a replicated write is billed for): a witness
        # holds no data
        self._data = [r for r in self.regions if r != witness]  # regions holding data
        self.data_replicas = len(self._data)
        self._shared = TableState()
        self._views = {r: TableState() for r in regions} if not self.strong else {}
        self._pending: list[tuple[float, int, str, str, tuple]] = []
        self._seq = 0
        self.leader_roles = {r: LeaderRole(r) for r in self.regions}
        self.replication_out = {r: ReplicationStream(r) for r in self.regions}
        self.leader_changes: list[tuple[float, str]] = [(0.0, leader_region)]
        # True while no replica or leader role has ever changed state (failed, slowed, erred)
        # and the internal leader never moved: with a pristine network, every operation then
        # goes as planned, and ``plan_write``/``still_valid`` take a short path (a cache, kept
        # by watching the components; it names no fault)
        self.quiet = True
        for c in [*self.replicas.values(), *self.leader_roles.values()]:
            c.watch(self._disturbed)
        self._peers = {r: [o for o in self.regions if o != r] for r in self._data}
        self.on_leader_change = None  # set by the world: callback(t, region) into the ledger
        # a strong table's log entries: log_sink(batch_id, first_offset, n_records, file_ids),
        # set by the world (into the ledger); kept here (``log_entries``) when it is not
        self.log_sink = None
        self.log_entries: list[LogEntry] = []
        self.conflicts = 0

    def _disturbed(self, _component) -> None:
        self.quiet = False

    # -- planning ------------------------------------------------------------------------------
    def _live(self, region: str, src: str) -> bool:
        return self.replicas[region].is_up and self.net.path_ok(src, region)

    def _local_time(self, region: str) -> float:
        return self.local.sample(self.block, self.replicas[region].slowdown)

    def plan_write(self, region: str) -> Plan | None:
        """The latency and participants of a write from ``region`` now; None if it cannot commit."""
        if self.quiet and self.kind == "mrsc" and self.net.pristine and region in self._peers:
            # (``_peers``: the data replicas' regions; a witness cannot write)
            return self.plan_quiet(region)
        return self._plan(region, read=False)

    def writes_quietly(self, region: str) -> bool:
        """Whether ``plan_write`` from ``region`` takes ``plan_quiet`` while the table is
        ``quiet`` and the network pristine (an MRSC table, a region holding its data)."""
        return self.kind == "mrsc" and region in self._peers

    def plan_quiet(self, region: str) -> Plan:
        """``_plan_at`` of an MRSC write (or strong read, planned alike) from a replica region while everything is up and
        nominal (``quiet``, network pristine): the same draws, in the same order, without the
        liveness and error-rate checks that cannot fail then."""
        net = self.net
        base, jitter, uniform = net.base_s, net.jitter_s, net.block.uniform
        leader = self.leader_region
        if region == leader:
            best = None
            for r in self._peers[region]:
                cand = (base[(region, r)] - jitter * math.log1p(-uniform()), r)
                if best is None or cand < best:
                    best = cand
            rtt, partner = best
        else:
            rtt = base[(region, leader)] - jitter * math.log1p(-uniform())
            partner = leader
        loc = self.local
        return Plan(
            loc.median_s * math.exp(loc.sigma * self.block.normal()) + rtt, (region, partner)
        )

    def plan_read(self, region: str) -> Plan | None:
        """A strongly consistent read from ``region`` now (eventual: a local read); None if the
        table cannot serve it. MRSC: "write and strongly consistent read latencies depend on the
        Regions you choose because these operations require cross-Region communication" (AWS,
        global tables, how it works): a read confirms with the internal leader, the same round
        trip as a write. Spanner: a strong read asks the leader for a timestamp (one round trip
        to the leader region). Single-region: the home region. Eventual: the local replica."""
        if self.quiet and self.kind == "mrsc" and self.net.pristine and region in self._peers:
            return self.plan_quiet(region)  # an MRSC read is planned as a write (``_plan_at``)
        return self._plan(region, read=True)

    def strong_read_rtt(self, region: str, leader: str) -> tuple[float, str]:
        """The network part of a strongly consistent read from ``region`` while ``leader`` is
        the internal leader (default leader, home), on base RTTs with every replica up, and
        the region the read reaches last (for the consumers' polls, computed after the run)."""
        base = self.net.base_s
        data = [r for r in self.regions if r != self.witness]
        if self.kind == "single-region":
            return (0.0 if region == leader else base[(region, leader)]), leader
        if self.kind == "eventual":
            if region in self.regions:
                return 0.0, region
            via = self.net.nearest(region, data)[0]
            return base[(region, via)], via
        if self.kind == "spanner":
            return (0.0 if region == leader else base[(region, leader)]), leader
        via = region if region in data else self.net.nearest(region, data)[0]
        hop = 0.0 if via == region else base[(region, via)]
        if via == leader:
            others = [r for r in self.regions if r != leader]
            partner = self.net.nearest(leader, others)[0]
            return hop + base[(leader, partner)], partner
        return hop + base[(via, leader)], leader

    def entry(self, region: str) -> str | None:
        """The replica region whose endpoint a client in ``region`` calls: its own region's
        replica when that holds data; from a witness region (AWS: a witness "does not support
        reads or writes") or a region without a replica, the nearest live data replica (the
        caller pays the round trip to it). None if none is reachable."""
        if self.kind == "single-region":
            return region
        data = self._data
        if region in data:
            return region
        live = [r for r in data if self._live(r, region)]
        return self.net.nearest(region, live)[0] if live else None

    def _plan(self, region: str, read: bool) -> Plan | None:
        via = self.entry(region)
        if via is None:
            return None
        plan = self._plan_at(via, read)
        if plan is None:
            return None
        if via != region:
            # a witness region's (or replica-less region's) client calls another region's
            # endpoint: it pays that round trip, and needs that path
            plan = Plan(
                plan.latency + self.net.rtt(region, via),
                plan.participants,
                plan.error,
                entry=region,
            )
        reps = self.replicas
        if reps[via].nominal and (
            self.kind not in ("mrsc", "spanner") or reps[self.leader_region].nominal
        ):
            return plan  # no error rate in force (see _error_rate)
        error_rate = self._error_rate(via)
        if error_rate and self.block.uniform() < error_rate:
            return Plan(self._local_time(via) * 0.5, plan.participants, True, plan.entry)
        return plan

    def _error_rate(self, via: str) -> float:
        """Fraction of operations failing: the entry replica's, and in MRSC and Spanner also the
        leader replica's, which takes part in every write and strong read."""
        ok = 1.0 - self.replicas[via].error_rate
        if self.kind in ("mrsc", "spanner") and self.leader_region != via:
            ok *= 1.0 - self.replicas[self.leader_region].error_rate
        return 1.0 - ok

    def _leader_local_time(self, region: str) -> float:
        """One local operation at ``region``'s replica that the internal leader also takes part
        in: a slow leader replica slows it (MRSC: the leader is in every quorum)."""
        rep = self.replicas[region].slowdown
        lead = self.replicas[self.leader_region].slowdown
        if lead is None or region == self.leader_region:
            return self.local.sample(self.block, rep)
        return self.local.sample(self.block, lead if rep is None else rep.combine(lead))

    def _plan_at(self, region: str, read: bool) -> Plan | None:
        rep = self.replicas[region]
        if not rep.is_up:
            return None
        kind = self.kind
        if kind in ("mrsc", "spanner") and not self.leader_roles[self.leader_region].is_up:
            return None
        if kind == "mrsc":
            if region not in self.regions or region == self.witness:
                return None
            leader = self.leader_region
            if region == leader:
                # replicate to (or, for a read, confirm leadership with) the other live
                # replicas, and return at the first acknowledgement: a witness takes part in
                # the quorum
                others = [r for r in self.regions if r != region and self._live(r, region)]
                if not others:
                    return None
                rtts = [(self.net.rtt(region, r), r) for r in others]
                rtt, partner = min(rtts)
            else:
                if not self._live(leader, region):
                    return None
                partner = leader
                rtt = self.net.rtt(region, leader)
            return Plan(self._leader_local_time(region) + rtt, (region, partner))
        if kind == "spanner":
            leader = self.leader_region
            if not self._live(leader, region):
                return None
            if read:
                lat = self._local_time(region)
                if region != leader:
                    lat += self.net.rtt(region, leader)
                return Plan(lat, (region, leader))
            voters = [r for r in self.regions if r != leader and self._live(r, leader)]
            if not voters:
                return None
            partner = self.net.nearest(leader, voters)[0]
            lat = 0.0 if region == leader else self.net.rtt(region, leader)
            lat += self._local_time(leader) + self.net.rtt(leader, partner)
            lat += 2 * (0.001 + 0.006 * self.block.uniform())  # commit wait, 2 * epsilon
            return Plan(lat, (region, leader, partner))
        if kind == "single-region":
            home = self.leader_region
            if not self._live(home, region):
                return None
            lat = self._local_time(home) + (0.0 if region == home else self.net.rtt(region, home))
            return Plan(lat, (region, home))
        # eventual: local replica only
        if region not in self.regions:
            return None
        return Plan(self._local_time(region), (region,))

    def still_valid(self, plan: Plan, t0: float, t1: float) -> bool:
        """Whether every replica and path an operation relied on stayed up over [t0, t1]."""
        if self.quiet and self.net.pristine:
            return True  # nothing ever went down, and the internal leader never moved
        first = plan.participants[0]
        if plan.entry is not None and not self.net.path_ok_throughout(plan.entry, first, t0, t1):
            return False
        for r in plan.participants:
            if not self.replicas[r].up_throughout(t0, t1):
                return False
            if r != first and not self.net.path_ok_throughout(first, r, t0, t1):
                return False
        if self.strong and self.kind != "single-region":
            # the internal leader must not have moved under the operation
            if self.leader_changes[-1][0] > t0:
                return False
        return True

    # -- state ---------------------------------------------------------------------------------
    def view(self, region: str, now: float) -> TableState:
        """The state a read from ``region`` sees now."""
        if self.strong:
            return self._shared
        self._replicate_until(now)
        return self._views[region]

    def _targets(self, region: str) -> list[TableState]:
        return [self._shared] if self.strong else [self._views[region]]

    def _ship(self, region: str, now: float, item: str, args: tuple) -> None:
        """Eventual kind: queue the replication of an item write to the other replicas."""
        if self.strong:
            return
        for r in self.regions:
            if r == region:
                continue
            lag = self.replication_lag.sample(self.block) + self.net.base_s[(region, r)] / 2
            self._seq += 1
            heapq.heappush(self._pending, (now + lag, self._seq, r, item, (region,) + args))

    def _replicate_until(self, now: float) -> None:
        pend = self._pending
        while pend and pend[0][0] <= now:
            t, _, dst, item, args = heapq.heappop(pend)
            src = args[0]
            if self.replicas[src].destroyed_at <= t:
                continue  # the source's region was destroyed before the change left it
            if not self.replication_out[src].is_up and now < INF:
                self._seq += 1
                heapq.heappush(pend, (now + 1.0, self._seq, dst, item, args))
                continue
            rep = self.replicas[dst]
            if not rep.up_at(t) or not self.net.path_ok_throughout(src, dst, t, t):
                if rep.destroyed:
                    continue
                # retry once the replica is reachable again (async replication catches up)
                back = max(rep.next_up_after(t), t + 1.0)
                if back < INF:
                    self._seq += 1
                    heapq.heappush(pend, (back, self._seq, dst, item, args))
                continue
            self._apply_item(self._views[dst], item, args[1:])

    @staticmethod
    def _apply_item(st: TableState, item: str, args: tuple) -> None:
        """Apply a replicated item write with last-writer-wins."""
        if item == "lease":
            lease, stamp = args
            if stamp > st.lease_stamp:
                st.lease, st.lease_stamp = lease, stamp
        elif item == "health":
            reg, val = args
            if reg not in st.health or val[0] > st.health[reg][0]:
                st.health[reg] = val
        elif item == "log":
            (entry,) = args
            old = st.log.get(entry.first_offset)
            if old is None or entry.stamp > old.stamp:
                if old is not None:
                    st.committed_files.difference_update(old.file_ids)
                st.log[entry.first_offset] = entry
                st.committed_files.update(entry.file_ids)
            st.next_offset = max(st.next_offset, entry.first_offset + entry.n_records)

    def _conflict(self, st: TableState, item: str, region: str, t0: float, now: float) -> bool:
        """MRSC: a write to ``item`` collides with another region's write applied meanwhile."""
        last = st.last_write.get(item)
        st.last_write[item] = (now, region)
        if self.kind != "mrsc" or last is None:
            return False
        t_last, r_last = last
        if r_last != region and t_last > t0 - self.conflict_window:
            self.conflicts += 1
            st.last_write[item] = last
            return True
        return False

    def write_health(self, region: str, now: float, latency: float, degraded: bool) -> None:
        """Record a region's heartbeat: its measured table latency and soft-failure verdict."""
        val = (now, latency, degraded)
        for st in self._targets(region):
            st.health[region] = val
        self._ship(region, now, "health", (region, val))

    def cas_lease(self, region: str, now: float, expect_epoch: int, new: Lease) -> bool:
        """Conditional write of the lease: succeeds only if its epoch is still ``expect_epoch``."""
        st = self._targets(region)[0]
        if st.lease.epoch != expect_epoch:
            return False
        stamp = (now, region)
        st.lease, st.lease_stamp = new, stamp
        self._ship(region, now, "lease", (new, stamp))
        return True

    def commit(
        self,
        region: str,
        t0: float,
        now: float,
        epoch: int | None,
        batch_id: int,
        file_ids: list[int],
        n_records: list[int],
    ) -> tuple[str, int, list[bool]]:
        """Apply a metadata batch: fenced by the lease epoch (None: active-active, no fence).

        Returns (outcome, first_offset, applied-per-file). Outcome is ``ok``, ``fenced`` or
        ``conflict``. Commits are idempotent per file id: a file already committed is skipped.
        """
        if (
            len(file_ids) == 1
            and self.strong
            and self.log_sink is not None
            and self.mutant != "non-idempotent-commit"
        ):
            outcome, first, one = self.commit_file(
                region, t0, now, epoch, batch_id, file_ids[0], n_records[0]
            )
            return outcome, first, ([one] if outcome == "ok" else [])
        return self._commit_many(region, t0, now, epoch, batch_id, file_ids, n_records)

    def commit_file(
        self,
        region: str,
        t0: float,
        now: float,
        epoch: int | None,
        batch_id: int,
        file_id: int,
        n_records: int,
    ) -> tuple[str, int, bool]:
        """``commit`` of a one-file batch (most batches): (outcome, first_offset, applied).

        A strong table handing its log to ``log_sink`` (and no mutant) does it without lists;
        any other table goes through the general case.
        """
        if not (
            self.strong and self.log_sink is not None and self.mutant != "non-idempotent-commit"
        ):
            outcome, first, applied = self._commit_many(
                region, t0, now, epoch, batch_id, [file_id], [n_records]
            )
            return outcome, first, (applied[0] if applied else False)
        st = self._shared
        if epoch is not None and (st.lease.epoch != epoch or st.lease.holder != region):
            return "fenced", -1, False
        if self._conflict(st, "log", region, t0, now):
            return "conflict", -1, False
        done = st.committed_files
        b = done.b  # ``file_id in done`` and ``done.add(file_id)`` in line
        if file_id < len(b):
            if b[file_id]:
                return "ok", st.next_offset, False
            b[file_id] = 1
        else:
            done.add(file_id)
        first = st.next_offset
        st.next_offset = first + n_records
        self.log_sink(batch_id, first, n_records, (file_id,))
        return "ok", first, True

    def _commit_many(
        self,
        region: str,
        t0: float,
        now: float,
        epoch: int | None,
        batch_id: int,
        file_ids: list[int],
        n_records: list[int],
    ) -> tuple[str, int, list[bool]]:
        """``commit``'s general case."""
        st = self._shared if self.strong else self._views[region]
        if epoch is not None and (st.lease.epoch != epoch or st.lease.holder != region):
            return "fenced", -1, []
        if self._conflict(st, "log", region, t0, now):
            return "conflict", -1, []
        done = st.committed_files
        applied = [f not in done for f in file_ids]
        if self.mutant == "non-idempotent-commit":
            applied = [True] * len(file_ids)
        if all(applied):
            ids = tuple(file_ids)
            total = sum(n_records)
        else:
            ids = tuple(f for f, a in zip(file_ids, applied, strict=True) if a)
            total = sum(n for n, a in zip(n_records, applied, strict=True) if a)
        first = st.next_offset
        if ids:
            st.committed_files.update(ids)
            st.next_offset = first + total
            if self.strong:
                if self.log_sink is not None:
                    self.log_sink(batch_id, first, total, ids)
                else:
                    self.log_entries.append(LogEntry(batch_id, first, total, ids, (now, region)))
            else:
                entry = LogEntry(batch_id, first, total, ids, (now, region))
                st.log[first] = entry
                self._ship(region, now, "log", (entry,))
        return "ok", first, applied

    # -- the table's own leader ----------------------------------------------------------------
    def watch_leader(self, env):
        """Process: elect a new internal leader when the leader's replica stays down too long."""
        if self.kind not in ("mrsc", "spanner"):
            return
        down_since = None
        while True:
            yield env.timeout(1.0)
            rep = self.replicas[self.leader_region]
            role = self.leader_roles[self.leader_region]
            if self._serves(rep) and role.is_up and self._leader_has_quorum():
                down_since = None
                continue
            if down_since is None:
                down_since = env.now if role.is_up else role.since
            if env.now - down_since >= self.leader_failover:
                cands = [
                    r
                    for r in self.regions
                    if r != self.leader_region
                    and r != self.witness
                    and self._serves(self.replicas[r])
                    and self.leader_roles[r].is_up
                    and any(
                        o != r and self.replicas[o].is_up and self.net.path_ok(r, o)
                        for o in self.regions
                    )
                ]
                if cands:
                    new = self.net.nearest(self.leader_region, cands)[0]
                    self.leader_region = new
                    self.leader_changes.append((env.now, new))
                    self.quiet = False
                    if self.on_leader_change is not None:
                        self.on_leader_change(env.now, new)
                    down_since = None

    @staticmethod
    def _serves(rep: TableReplica) -> bool:
        """Up, and not failing most operations (``LEADER_FAILING_ERROR_RATE``)."""
        return rep.is_up and rep.error_rate < LEADER_FAILING_ERROR_RATE

    def _leader_has_quorum(self) -> bool:
        """Whether the internal leader can reach a majority of the replicas (itself included)."""
        leader = self.leader_region
        reach = 1 + sum(
            1
            for r in self.regions
            if r != leader and self.replicas[r].is_up and self.net.path_ok(leader, r)
        )
        return reach >= len(self.regions) // 2 + 1

    # -- after the run -------------------------------------------------------------------------
    def final_log(self, end: float) -> dict[int, LogEntry] | None:
        """The metadata log as the surviving replicas hold it once everything has recovered.
        None for a strong table that handed its entries to ``log_sink`` (they are the log)."""
        if self.strong:
            if self.log_sink is not None:
                return None
            return {e.first_offset: e for e in self.log_entries}
        self._replicate_until(math.inf)
        merged: dict[int, LogEntry] = {}
        for r in self.regions:
            if self.replicas[r].destroyed:
                continue
            for off, e in self._views[r].log.items():
                old = merged.get(off)
                if old is None or e.stamp > old.stamp:
                    merged[off] = e
        return merged

    def final_state(self, end: float) -> FinalMetadata:
        """What the checks after the run need to know of the table (kept in the ledger)."""
        return FinalMetadata(
            kind=self.kind,
            strong=self.strong,
            regions=list(self.regions),
            replica_names={r: rep.name for r, rep in self.replicas.items()},
            log=self.final_log(end),
            local=self.local,
        )


@dataclass
class FinalMetadata:
    """The table's state at the end of a run: its kind, its replicas (histories are in the
    ledger under ``replica_names``), and the metadata log the surviving replicas hold (None:
    the entries the table handed to the ledger as it went, ``Ledger.add_log``)."""

    kind: str
    strong: bool
    regions: list[str]
    replica_names: dict[str, str]
    log: dict[int, LogEntry] | None
    local: LogNormal
