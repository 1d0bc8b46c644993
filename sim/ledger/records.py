"""The ledger: the one sink of everything the run records, columnar, turned into tables at the end.

Nothing in the model keeps a Python object per record or per request. Produce requests live in
growable numpy columns indexed by request id (updated with vectorised assignments when a file is
acknowledged or fails); files, metadata batches, leader changes and faults are appended one row
per event that exists in the real system (a flush, a commit, a lease change). DataFrames are built
only after the run (``requests_frame``, ``files_frame`` ...), so checks and notebooks can cut them
any way they like.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.ledger.history import History
from sim.ledger.tables import Spool, Table
from sim.ledger.window import Column

# request status codes (NEVER_SENT: drawn ahead for a producer that was down, or past a rate
# change; such rows are dropped from the request table; FAILED_BLOCKED: send() found the
# producer's buffer full for max.block and failed the records)
PENDING, ACKED, FAILED_TIMEOUT, PRODUCER_DIED, NEVER_SENT, FAILED_BLOCKED = 0, 1, 2, 3, 4, 5
REQUEST_STATUS = {
    PENDING: "in_flight",
    ACKED: "acked",
    FAILED_TIMEOUT: "failed",
    PRODUCER_DIED: "producer_died",
    FAILED_BLOCKED: "failed_blocked",
}

# file status codes
F_PENDING, F_ACKED, F_FAILED, F_LOST_AGENT = 0, 1, 2, 3
FILE_STATUS = {
    F_PENDING: "in_flight",
    F_ACKED: "acked",
    F_FAILED: "failed",
    F_LOST_AGENT: "agent_died",
}

# per-bucket PUT state codes
# PUT_REPLICA: a copy made by asynchronous bucket replication from the file's first bucket
PUT_OK, PUT_PREDICTED, PUT_FAILED, PUT_NOT_SENT, PUT_REPLICA = 0, 1, 2, 3, 4


class RequestColumns:
    """Produce batches: one row per linger batch of a producer, columns by name.

    ``wire`` is the produce request (Kafka's wire request, several batches when the in-flight
    cap made them wait together) that carried a batch's first attempt, ``dispatch_s`` when it
    left the producer, ``blocked_s`` how long ``send()`` waited for buffer space first.
    Wire requests have their own column, ``wire_answer_s``: when the producer heard the first
    answer (acknowledgement or error) to one, infinite until then."""

    COLS = {
        "producer": (np.int32, -1),
        "region_idx": (np.int16, -1),
        "send_s": (np.float64, np.nan),
        "n_records": (np.int32, 0),
        "bytes": (np.int64, 0),
        "ack_s": (np.float64, np.nan),
        "end_s": (np.float64, np.nan),
        "status": (np.int8, PENDING),
        "attempts": (np.int16, 0),
        "ack_file": (np.int64, -1),
        "leader_at_ack": (np.int16, -1),
        "wire": (np.int64, -1),
        "dispatch_s": (np.float64, np.nan),
        "blocked_s": (np.float64, 0.0),
    }

    def __init__(self, capacity: int = 1 << 16):
        self._c = {k: Column(dt, fill, capacity) for k, (dt, fill) in self.COLS.items()}
        self.cols = {k: c.arr for k, c in self._c.items()}
        self._filled = min(c.filled for c in self._c.values())
        self.n = 0
        self.base = 0  # rows below were written to the requests table (and given back)
        self._wire = Column(np.float64, np.inf, capacity)
        self.wire_answer_s = self._wire.arr
        self.wire_room = self._wire.filled  # wire ids below are backed by the column
        self.n_wire = 0
        self.wire_base = 0  # wire ids below were given back

    def reserve_wires(self, k: int) -> None:
        """Room for ``k`` more wire requests (ids ``n_wire`` on, unanswered); the caller moves
        ``n_wire`` past the ones it uses."""
        end = self.n_wire + k
        if end > self._wire.filled:
            self.wire_answer_s = self._wire.ensure(end)
            self.wire_room = self._wire.filled

    def answered(self, ids: np.ndarray, t) -> None:
        """The producers of batches ``ids`` heard an answer at ``t`` (an acknowledgement or an
        error): it frees the wire request that carried their first attempt (the first answer
        counts; the answers to retries, which are not carried by a wire request, change nothing)."""
        w = self.cols["wire"][ids]
        # a wire below wire_base was answered before the last write of settled rows, so before
        # now: a later answer changes nothing, and its row was given back (not to be touched)
        if isinstance(t, float) and t == t:  # one time (not NaN): a Python loop on a few wires
            wl = w.tolist()
            if not wl:
                return
            base = self.wire_base
            if min(wl) < base:
                wl = [x for x in wl if x >= base]
            a = self.wire_answer_s
            item = a.item
            last = -1
            for x in wl:  # a file's batches share a few wires, mostly next to each other
                if x != last:
                    last = x
                    if t < item(x):
                        a[x] = t
            return
        base = self.wire_base
        if len(w) and min(w.tolist()) < base:  # a Python min: cheaper than numpy's on a few wires
            m = w >= base
            w = w[m]
            t = t[m] if np.ndim(t) else t
        a = self.wire_answer_s
        a[w] = np.minimum(a[w], t)

    def _grow(self, need: int) -> None:
        for k, c in self._c.items():
            self.cols[k] = c.ensure(need)
        self._filled = min(c.filled for c in self._c.values())

    def add(
        self, producer: int, send_s: np.ndarray, n_records: np.ndarray, size: int, region_idx: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Register new requests of one producer (in one region); return their ids and bytes."""
        start = self.n
        end = start + len(send_s)
        if end > self._filled:
            self._grow(end)
        c = self.cols
        c["producer"][start:end] = producer
        c["region_idx"][start:end] = region_idx
        c["send_s"][start:end] = send_s
        c["n_records"][start:end] = n_records
        nbytes = n_records.astype(np.int64, copy=False) * size
        c["bytes"][start:end] = nbytes
        self.n = end
        return np.arange(start, end, dtype=np.int64), nbytes

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def release(self) -> None:
        """Drop the columns once the run's tables are built (the ledger is done)."""
        self.cols = {}
        self._c = {}

    def free_below(self, row: int, wire: int) -> None:
        """Rows below ``row`` and wires below ``wire`` are settled and written: give them back."""
        for c in self._c.values():
            c.release(row)
        self.base = row
        self._wire.release(wire)
        self.wire_base = wire


class AttemptColumns:
    """Attempts: one row per (request, file that carried it), appended a file at a time."""

    COLS = {
        "request_id": np.int64,
        "arrive_s": np.float64,
        "attempt": np.int16,
        "file_id": np.int64,
    }

    def __init__(self, capacity: int = 1 << 16):
        self._c = {k: Column(dt, 0, capacity) for k, dt in self.COLS.items()}
        self.cols = {k: c.arr for k, c in self._c.items()}
        self._filled = min(c.filled for c in self._c.values())
        self.n = 0
        self.base = 0  # rows below were written to the attempts table (and given back)
        self._hot = tuple(self.cols[k] for k in self.COLS)  # the columns, in COLS order

    def add(self, ids: np.ndarray, arrive: np.ndarray, attempt: np.ndarray, file_id: int) -> None:
        """Append the attempts carried by one file."""
        start = self.n
        end = start + len(ids)
        if end > self._filled:
            for k, col in self._c.items():
                self.cols[k] = col.ensure(end)
            self._filled = min(col.filled for col in self._c.values())
            self._hot = tuple(self.cols[k] for k in self.COLS)
        rid, arr, att, fil = self._hot
        rid[start:end] = ids
        arr[start:end] = arrive
        att[start:end] = attempt
        fil[start:end] = file_id
        self.n = end

    def release(self) -> None:
        """Drop the columns once the run's tables are built (the ledger is done)."""
        self.cols = {}
        self._c = {}

    def free_below(self, row: int) -> None:
        """Rows below ``row`` are written to the attempts table: give them back."""
        for c in self._c.values():
            c.release(row)
        self.base = row

    def frame(self, lo: int = 0, hi: int | None = None) -> pd.DataFrame:
        """Rows [lo, hi) as a DataFrame."""
        hi = self.n if hi is None else hi
        return pd.DataFrame({k: self.cols[k][lo:hi].copy() for k in self.COLS})


class FileColumns:
    """Flushed files: one row per file id, written in place as the file goes through its stages."""

    COLS = {
        "file_id": (np.int64, -1), "agent": (np.int32, -1), "region": (np.int16, -1),
        "n_requests": (np.int32, 0), "n_records": (np.int64, 0), "bytes": (np.int64, 0),
        "flush_s": (np.float64, np.nan), "quorum_s": (np.float64, np.nan),
        "commit_start_s": (np.float64, np.nan), "committed_s": (np.float64, np.nan),
        "ack_s": (np.float64, np.nan), "status": (np.int8, F_PENDING), "batch_id": (np.int64, -1),
        "commit_region": (np.int16, -1), "epoch": (np.int64, -1), "commit_tries": (np.int32, 0),
        "reason": (np.int16, 0),
    }  # fmt: skip

    def __init__(self, n_buckets: int, capacity: int = 1 << 14):
        self.nb = n_buckets
        self._c = {k: Column(dt, fill, capacity) for k, (dt, fill) in self.COLS.items()}
        put_fill = np.full(3 * n_buckets, np.nan)
        put_fill[2::3] = PUT_NOT_SENT
        self._puts = Column(np.float64, put_fill, capacity, width=max(3 * n_buckets, 1))
        self.a = {k: c.arr for k, c in self._c.items()}
        self.puts = self._puts.arr
        self._filled = min(c.filled for c in [*self._c.values(), self._puts])
        self.n = 0
        self.base = 0  # rows below were written to the files table (and given back)
        self.reasons: list[str] = [""]
        self._reason_code: dict[str, int] = {"": 0}

    def add(
        self,
        fid: int,
        agent: int,
        region: int,
        n_requests: int,
        n_records: int,
        size: int,
        t: float,
    ) -> None:
        """Record a file at its flush (file ids are consecutive)."""
        assert fid == self.n, "files are recorded in flush order"
        if fid >= self._filled:
            for k, c in self._c.items():
                self.a[k] = c.ensure(fid + 1)
            self.puts = self._puts.ensure(fid + 1)
            self._filled = min(c.filled for c in [*self._c.values(), self._puts])
        a = self.a
        a["file_id"][fid] = fid
        a["agent"][fid] = agent
        a["region"][fid] = region
        a["n_requests"][fid] = n_requests
        a["n_records"][fid] = n_records
        a["bytes"][fid] = size
        a["flush_s"][fid] = t
        self.n = fid + 1

    def set(self, fid: int, col: str, value) -> None:
        """Set one field of a file."""
        self.a[col][fid] = value

    def fail(self, fid: int, status: int, reason: str) -> None:
        """Record how a file ended when it was not acknowledged."""
        code = self._reason_code.get(reason)
        if code is None:
            code = self._reason_code[reason] = len(self.reasons)
            self.reasons.append(reason)
        self.a["status"][fid] = status
        self.a["reason"][fid] = code

    def release(self) -> None:
        """Drop the columns once the run's tables are built (the ledger is done)."""
        self.a = {}
        self._c = {}
        self.puts = self.puts[:0]
        self._puts = None

    def free_below(self, row: int) -> None:
        """Rows below ``row`` are written to the files table: give them back."""
        if self._puts is None:
            return
        for c in [*self._c.values(), self._puts]:
            c.release(row)
        self.base = row

    def raw_frame(self, bucket_regions: list[str], lo: int = 0, hi: int | None = None):
        """Rows [lo, hi) as a DataFrame with integer codes for regions and reasons (see
        ``files_chunk`` for the table's form)."""
        hi = self.n if hi is None else hi
        df = pd.DataFrame({k: self.a[k][lo:hi].copy() for k in self.COLS})
        for j, b in enumerate(bucket_regions):
            df[f"put_start_s[{b}]"] = self.puts[lo:hi, 3 * j].copy()
            df[f"put_end_s[{b}]"] = self.puts[lo:hi, 3 * j + 1].copy()
            df[f"put_state[{b}]"] = self.puts[lo:hi, 3 * j + 2].astype(np.int8)
        return df

    def frame(self, regions: list[str], bucket_regions: list[str]) -> pd.DataFrame:
        """The files as a DataFrame (regions and reasons as categoricals)."""
        return files_chunk(self.raw_frame(bucket_regions), regions, self.reasons)


def files_chunk(raw: pd.DataFrame, regions: list[str], reasons: list[str]) -> pd.DataFrame:
    """The files table's form of raw file rows: regions and reasons as categoricals."""
    df = raw.copy(deep=False)
    for k in ("region", "commit_region"):
        df[k] = pd.Categorical.from_codes(raw[k].to_numpy(), categories=list(regions))
    df["reason"] = pd.Categorical.from_codes(raw["reason"].to_numpy(), categories=list(reasons))
    return df


@dataclass
class SpoolPlan:
    """Where a run's settled rows go (``folder``, created on the first row group) and when.

    ``rows``: rows per row group, the least written at a time (a run shorter than that keeps
    its tables in memory); ``margin_s``: how long a settled row stays in memory before it is
    written (simulated seconds): beyond the rules that keep every pending request, every file
    in flight, the requests those files carry and the batches producers still count in their
    buffers, a margin against a settled row still being looked at (a retry queued at an agent,
    a batch in an agent's buffer). ``end``: the run's duration (rows sent later are dropped)."""

    folder: object  # a callable returning the folder (created on demand)
    end: float
    rows: int = 1 << 18
    margin_s: float = 300.0


BATCH_GROUP_ROWS = 1 << 15  # metadata batches written at a time (at most): 11 MB of tuples


def _settled_prefix(ok: np.ndarray) -> int:
    """Length of the leading run of True in ``ok``."""
    if len(ok) == 0 or ok.all():
        return len(ok)
    return int(np.argmin(ok))


OPS_COLS = ("op", "service", "src", "dst", "src_zone", "dst_zone", "replicas", "count", "bytes")


@dataclass
class Ledger:
    """Everything a run records, for the summary, the checks, the plots and the costs.

    Besides the columnar tables: ``tallies`` (named counts: retries, fenced commits, conflicts,
    failed lease operations ...), ``file_commit`` (when each file's metadata was applied),
    ``leader`` and ``table_leader`` changes, ``faults`` (each fired fault, whole) and
    ``effects`` (what each fault did to which component, from when to when), the components'
    ``histories``, request counts and bytes (``put_tally`` per agent and bucket, ``ops`` for
    the rest) and, at the end, the table's final ``metadata`` state.
    """

    regions: list[str]
    bucket_regions: list[str]  # each bucket's site: its region, or its zone (zonal buckets)
    bucket_region_of: dict[str, str] = field(default_factory=dict)  # site -> region
    requests: RequestColumns = field(default_factory=RequestColumns)
    attempts: AttemptColumns = field(default_factory=lambda: AttemptColumns())
    files: FileColumns | None = None
    batch_rows: list[tuple] = field(default_factory=list)
    leader: list[tuple[float, str, int, str]] = field(default_factory=list)
    table_leader: list[tuple[float, str]] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)
    events: list[tuple[float, str, str]] = field(default_factory=list)
    tallies: dict[str, int] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    ops: dict[tuple, list[int]] = field(default_factory=dict)
    put_counts: list[list[int]] = field(default_factory=list)  # [agent][bucket] PUT requests
    put_bytes: list[list[int]] = field(default_factory=list)  # [agent][bucket] bytes PUT
    metadata: object = None  # the table's final state, set after the run (FinalMetadata)
    n_files: int = 0
    n_batches: int = 0
    spool: SpoolPlan | None = None  # where and when settled rows go to Parquet (None: kept)

    BATCH_COLS = (
        "batch_id", "region", "epoch", "start_s", "applied_s", "first_offset", "n_files",
        "n_records", "holders",
    )  # fmt: skip
    LOG_COLS = ("batch_id", "first_offset", "n_records", "file_id")

    def __post_init__(self):
        for site in self.bucket_regions:
            self.bucket_region_of.setdefault(site, site)
        if self.files is None:
            self.files = FileColumns(len(self.bucket_regions))
        # when each file's metadata was applied (NaN: never), by file id: 8 bytes a file
        self._commit = Column(np.float64, np.nan, 1 << 14)
        # acknowledgement time and leader of the files already written out (for their requests)
        self._f_ack = Column(np.float64, np.nan, 1 << 14)
        self._f_lead = Column(np.int16, -1, 1 << 14)
        self._spools: dict[str, Spool] = {}
        self.batches_written = 0
        # every attempt's bytes by (producer, agent of its file), tallied before its request's
        # and its file's rows may be given back: the producer-to-agent traffic (see
        # ``transfers``)
        self.transfers: dict[tuple[int, int], list[int]] = {}
        self._tallied = 0
        # a strong table's metadata log, one row per (entry, file), columns of LOG_COLS: sent
        # to its own table in row groups like the batches (8 bytes a value, not an object)
        self._log = {k: array("q") for k in self.LOG_COLS}
        self.log_written = 0

    # -- recording ----------------------------------------------------------------------------
    def register(self, component) -> None:
        """Keep a component's history under its name."""
        self.histories[component.name] = component.history

    def new_file_id(self) -> int:
        """The id of the next flushed file."""
        fid = self.n_files
        self.n_files = fid + 1
        return fid

    def new_batch_id(self) -> int:
        """The id of the next metadata batch."""
        bid = self.n_batches
        self.n_batches = bid + 1
        return bid

    def tally(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a named count."""
        self.tallies[name] = self.tallies.get(name, 0) + n

    def put_tally(self) -> tuple[list[int], list[int]]:
        """Per-bucket PUT request and byte counters for one more agent (updated in place)."""
        self.put_counts.append([0] * len(self.bucket_regions))
        self.put_bytes.append([0] * len(self.bucket_regions))
        return self.put_counts[-1], self.put_bytes[-1]

    def count_op(
        self, op: str, service: str, src: str, dst: str, count: int = 1, nbytes: int = 0,
        src_zone: str = "", dst_zone: str = "", replicas: int = 1,
    ) -> None:  # fmt: skip
        """Count requests (and their bytes) of one kind between two places."""
        key = (op, service, src, dst, src_zone, dst_zone, replicas)
        row = self.ops.get(key)
        if row is None:
            self.ops[key] = [count, nbytes]
        else:
            row[0] += count
            row[1] += nbytes

    def op_row(self, op: str, service: str, src: str, dst: str, replicas: int = 1) -> list[int]:
        """The [count, bytes] counter of one kind of request between two regions, to be
        updated in place by a component that counts often (a control plane's table writes)."""
        key = (op, service, src, dst, "", "", replicas)
        row = self.ops.get(key)
        if row is None:
            row = self.ops[key] = [0, 0]
        return row

    def add_attempts(self, req_ids: np.ndarray, arrive_s: np.ndarray, file_id: int) -> None:
        """Record that these requests (one attempt each) went into file ``file_id``."""
        self.attempts.add(req_ids, arrive_s, self.requests.cols["attempts"][req_ids], file_id)

    def add_batch(self, row: tuple, file_ids) -> None:
        """Append one metadata batch (a group commit applied by the table), in BATCH_COLS order,
        and the commit time of each file in it."""
        self.batch_rows.append(row)
        if len(file_ids) == 1:  # most batches in a steady state: no array
            f = file_ids[0]
            self._commit.ensure(f + 1)[f] = row[4]
        elif len(file_ids):
            ids = np.asarray(file_ids, dtype=np.int64)
            self._commit.ensure(int(ids.max()) + 1)[ids] = row[4]

    def add_log(self, batch_id: int, first_offset: int, n_records: int, file_ids) -> None:
        """A strong table appended an entry to its metadata log (``sim.model.table``): the
        batch, its first offset and records, and the files it references (one row each)."""
        lg = self._log
        k = len(file_ids)
        if k == 1:
            lg["batch_id"].append(batch_id)
            lg["first_offset"].append(first_offset)
            lg["n_records"].append(n_records)
            lg["file_id"].append(file_ids[0])
        else:
            lg["batch_id"].extend([batch_id] * k)
            lg["first_offset"].extend([first_offset] * k)
            lg["n_records"].extend([n_records] * k)
            lg["file_id"].extend(file_ids)

    def log_frame(self) -> pd.DataFrame:
        """The log rows not yet written out."""
        return pd.DataFrame(
            {k: np.frombuffer(v, dtype=np.int64).copy() for k, v in self._log.items()}
        )

    @property
    def file_commit(self) -> pd.Series:
        """When each committed file's metadata was applied, by file id."""
        c = self._commit.ensure(self.n_files)[: self.n_files]
        ids = np.flatnonzero(~np.isnan(c))
        return pd.Series(c[ids], index=ids)

    def commit_times(self) -> np.ndarray:
        """When each file's metadata was applied (NaN: never), indexed by file id."""
        self._commit.ensure(self.n_files)
        return self._commit.arr[: self.n_files].copy()

    def n_committed(self) -> int:
        """How many files' metadata was applied."""
        return int(np.count_nonzero(~np.isnan(self._commit.ensure(self.n_files)[: self.n_files])))

    def note(self, t: float, kind: str, text: str) -> None:
        """A line of the run's event log (elections, handovers, failovers, fault actions)."""
        self.events.append((t, kind, text))

    # -- writing settled rows out as the run goes ---------------------------------------------
    def _spool(self, name: str) -> Spool:
        sp = self._spools.get(name)
        if sp is None:
            sp = self._spools[name] = Spool(self.spool.folder() / f"{name}.parquet")
        return sp

    def _tally_transfers(self) -> None:
        """Fold the attempts recorded since the last call into ``transfers``."""
        a = self.attempts
        lo, hi = self._tallied, a.n
        if hi <= lo:
            return
        rid = a.cols["request_id"][lo:hi]
        prod = self.requests["producer"][rid].astype(np.int64)
        nbytes = self.requests["bytes"][rid]
        agent = self.files.a["agent"][a.cols["file_id"][lo:hi]].astype(np.int64)
        key = prod * (1 << 32) + agent
        uniq, inv = np.unique(key, return_inverse=True)
        counts = np.bincount(inv)
        sums = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(sums, inv, nbytes)
        t = self.transfers
        for k, n, b in zip(uniq.tolist(), counts.tolist(), sums.tolist(), strict=True):
            row = t.setdefault((k >> 32, k & 0xFFFFFFFF), [0, 0])
            row[0] += n
            row[1] += b
        self._tallied = hi

    def spill(self, now: float, floor: int | None = None, wire_floor: int | None = None) -> int:
        """Write the rows settled by ``now`` to the tables' Parquet files, in row groups of at
        least ``spool.rows``, and give their memory back; returns how many rows were written.
        ``floor``: no request id at or above it is written (ids the producers still hold in
        their buffers); ``wire_floor``: no wire id at or above it is given back (wires the
        producers still count on their connections). Both from ``World.held_floors``.

        A row is settled when nothing in the model writes or reads it any more: a file once it
        is acknowledged or failed (its process has ended), an attempt with its file, a request
        once it is answered or failed, no file still in flight carries it, and no producer
        counts it in its buffer; a wire once answered and no producer counts it on its
        connection; each also ``margin_s`` after it settled (a safety margin: the rules alone
        keep the results, ``tests/test_spool.py``). A row given back and read again stops the
        run (``sim.ledger.window``): it never reads as zeros."""
        plan = self.spool
        if plan is None:
            return 0
        self._tally_transfers()
        written = 0
        cut = now - plan.margin_s
        g = plan.rows
        f, a, r = self.files, self.attempts, self.requests
        # files
        fb, fn = f.base, f.n
        ok = (f.a["status"][fb:fn] != F_PENDING) & (f.a["flush_s"][fb:fn] < cut)
        fmark = fb + _settled_prefix(ok)
        # attempts go with their files (appended in file order); the requests carried by files
        # still in flight may still be written to
        ab, an = a.base, a.n
        afid = a.cols["file_id"][ab:an]
        amark = ab + int(np.searchsorted(afid, fmark, side="left"))
        live = f.a["status"][afid[amark - ab :]] == F_PENDING
        rfloor = r.n
        if live.any():
            rfloor = int(a.cols["request_id"][amark:an][live].min())
        if floor is not None:
            rfloor = min(rfloor, floor)
        # requests: answered or failed (never sent: drawn for a time now past) before the cut
        rb, rn = r.base, r.n
        st = r["status"][rb:rn]
        ok = np.where(
            st == NEVER_SENT, r["send_s"][rb:rn] < cut, (st != PENDING) & (r["end_s"][rb:rn] < cut)
        )
        rmark = min(rb + _settled_prefix(ok), max(rfloor, rb))
        wb = r.wire_base
        wmark = wb + _settled_prefix(r.wire_answer_s[wb : r.n_wire] < cut)
        if wire_floor is not None:
            wmark = min(wmark, max(int(wire_floor), wb))
        if fmark - fb >= g:
            self._write_files(fb, fmark)
            written += fmark - fb
        if amark - ab >= g:
            self._spool("attempts").write(a.frame(ab, amark))
            a.free_below(amark)
            written += amark - ab
        if rmark - rb >= g:
            self._spool("requests").write(self.requests_frame(plan.end, None, None, rb, rmark))
            r.free_below(rmark, wmark)
            written += rmark - rb
        # a batch is a Python tuple until written (about 350 bytes): a smaller row group
        if len(self.batch_rows) >= min(g, BATCH_GROUP_ROWS):
            self._spool("batches").write(self.batches_frame())
            self.batches_written += len(self.batch_rows)
            written += len(self.batch_rows)
            self.batch_rows = []
        if len(self._log["file_id"]) >= g:
            self._spool("log").write(self.log_frame())
            self.log_written += len(self._log["file_id"])
            written += len(self._log["file_id"])
            self._log = {k: array("q") for k in self.LOG_COLS}
        return written

    def _write_files(self, lo: int, hi: int) -> None:
        f = self.files
        self._spool("files_raw").write(f.raw_frame(self.bucket_regions, lo, hi))
        self._f_ack.ensure(hi)[lo:hi] = f.a["ack_s"][lo:hi]
        self._f_lead.ensure(hi)[lo:hi] = f.a["commit_region"][lo:hi]
        f.free_below(hi)

    def close_tables(self, end: float) -> dict[str, Table]:
        """The per-row tables after the run (the ledger's columns are dropped): ``requests``,
        ``attempts``, ``files_raw`` (regions and reasons as codes, see ``files_chunk``),
        ``batches`` and ``log`` (a strong table's metadata log, ``add_log``; not a run folder
        table); a table with rows already written is completed in its file."""
        out = {}
        self._tally_transfers()
        f, a, r = self.files, self.attempts, self.requests
        out["requests"] = self._last_rows(
            "requests", self.requests_frame(end, None, None, r.base, r.n)
        )
        r.release()
        out["attempts"] = self._last_rows("attempts", a.frame(a.base, a.n))
        a.release()
        if "files_raw" in self._spools:
            if f.n > f.base:
                self._write_files(f.base, f.n)
            out["files_raw"] = self._spools["files_raw"].close()
        else:
            out["files_raw"] = Table(f.raw_frame(self.bucket_regions))
        f.release()
        out["batches"] = self._last_rows("batches", self.batches_frame())
        self.batch_rows = []
        out["log"] = self._last_rows("log", self.log_frame())
        self._log = {k: array("q") for k in self.LOG_COLS}
        return out

    def _last_rows(self, name: str, df: pd.DataFrame) -> Table:
        """The table ``name`` with its last rows ``df``: completed in its file if rows were
        already written out, else the frame itself."""
        if name not in self._spools:
            return Table(df)
        if len(df):
            self._spool(name).write(df)
        return self._spools[name].close()

    # -- tables after the run -----------------------------------------------------------------
    def requests_frame(
        self, end: float, file_ack_s: np.ndarray, file_leader: np.ndarray, lo: int = 0,
        hi: int | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """One row per produce request sent by ``end`` (of ids [lo, hi)); an acknowledged request
        takes its acknowledgement time and leader from its file (``file_*`` arrays indexed by
        file id, or None: from the ledger's files)."""
        r = self.requests
        hi = r.n if hi is None else hi
        keep = (r["send_s"][lo:hi] <= end) & (r["status"][lo:hi] != NEVER_SENT)
        df = pd.DataFrame({k: r[k][lo:hi][keep] for k in RequestColumns.COLS})
        df.insert(0, "request_id", np.arange(lo, hi, dtype=np.int64)[keep])
        acked = (df["status"] == ACKED).to_numpy()
        f = df["ack_file"].to_numpy()[acked]
        if file_ack_s is None:
            f_ack, f_lead = self._file_ack_leader(f)
        else:
            f_ack, f_lead = file_ack_s[f], file_leader[f]
        ack = df["ack_s"].to_numpy().copy()
        ack[acked] = f_ack
        df["ack_s"] = ack
        end_s = df["end_s"].to_numpy().copy()
        end_s[acked] = ack[acked]
        df["end_s"] = end_s
        lead = df["leader_at_ack"].to_numpy().copy()
        lead[acked] = f_lead
        df["leader_at_ack"] = lead
        df["region"] = pd.Categorical.from_codes(
            df["region_idx"].to_numpy(), categories=list(self.regions)
        )
        return df

    def _file_ack_leader(self, fids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Acknowledgement time and leader region code of files (written out or not)."""
        f = self.files
        old = fids < f.base
        if not old.any():
            return f.a["ack_s"][fids], f.a["commit_region"][fids]
        ack = self._f_ack.ensure(f.base)[np.where(old, fids, 0)]
        lead = self._f_lead.ensure(f.base)[np.where(old, fids, 0)]
        new = ~old
        ack[new] = f.a["ack_s"][fids[new]]  # rows given back are not read (they are protected)
        lead[new] = f.a["commit_region"][fids[new]]
        return ack, lead

    def attempts_frame(self) -> pd.DataFrame:
        """One row per attempt of a request (which file carried it)."""
        return self.attempts.frame()

    def files_frame(self) -> pd.DataFrame:
        """One row per flushed file, with its PUT outcome per bucket in wide columns."""
        return self.files.frame(self.regions, self.bucket_regions)

    def batches_frame(self) -> pd.DataFrame:
        """One row per metadata batch the table applied."""
        return pd.DataFrame(self.batch_rows, columns=list(self.BATCH_COLS))

    def leader_frame(self) -> pd.DataFrame:
        """Lease changes: when, which region, epoch, and why."""
        return pd.DataFrame(self.leader, columns=["t_s", "region", "epoch", "cause"])

    def ops_frame(self, agent_regions: list[str], storage: str) -> pd.DataFrame:
        """Request counts and bytes, one row per (op, service, src, dst, zones, replicas):
        the agents' PUTs (retries, late PUTs and replica copies included) folded in."""
        rows = {k: list(v) for k, v in self.ops.items()}
        for a, (counts, nbytes) in enumerate(zip(self.put_counts, self.put_bytes, strict=True)):
            for j, site in enumerate(self.bucket_regions):
                if counts[j]:
                    dst = self.bucket_region_of[site]
                    key = ("put", storage, agent_regions[a], dst, "", "", 1)
                    row = rows.setdefault(key, [0, 0])
                    row[0] += counts[j]
                    row[1] += nbytes[j]
        out = [k + tuple(v) for k, v in sorted(rows.items())]
        return pd.DataFrame(out, columns=list(OPS_COLS))

    def components_frame(self) -> pd.DataFrame:
        """Every component's transitions: name, time, up (destroyed components: last row)."""
        rows = []
        for name in sorted(self.histories):
            h = self.histories[name]
            for t, up in zip(h.t[1:], h.up[1:], strict=True):
                rows.append((name, t, up, t >= h.destroyed_at))
        return pd.DataFrame(rows, columns=["component", "t_s", "up", "destroyed"])
