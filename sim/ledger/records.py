"""The ledger: the one sink of everything the run records, columnar, turned into tables at the end.

Nothing in the model keeps a Python object per record or per request. Produce requests live in
growable numpy columns indexed by request id (updated with vectorised assignments when a file is
acknowledged or fails); files, metadata batches, leader changes and faults are appended one row
per event that exists in the real system (a flush, a commit, a lease change). DataFrames are built
only after the run (``requests_frame``, ``files_frame`` ...), so checks and notebooks can cut them
any way they like.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.ledger.history import History

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
        self.cap = capacity
        self.cols = {k: np.full(capacity, fill, dtype=dt) for k, (dt, fill) in self.COLS.items()}
        self.n = 0
        self.wire_answer_s = np.full(capacity, np.inf)
        self.n_wire = 0

    def reserve_wires(self, k: int) -> None:
        """Room for ``k`` more wire requests (ids ``n_wire`` on, unanswered); the caller moves
        ``n_wire`` past the ones it uses."""
        end = self.n_wire + k
        if end > len(self.wire_answer_s):
            grown = np.full(max(end, 2 * len(self.wire_answer_s)), np.inf)
            grown[: self.n_wire] = self.wire_answer_s[: self.n_wire]
            self.wire_answer_s = grown

    def answered(self, ids: np.ndarray, t) -> None:
        """The producers of batches ``ids`` heard an answer at ``t`` (an acknowledgement or an
        error): it frees the wire request that carried their first attempt (the first answer
        counts; the answers to retries, which are not carried by a wire request, change nothing)."""
        w = self.cols["wire"][ids]
        m = w >= 0
        if not m.all():
            w = w[m]
            t = t[m] if np.ndim(t) else t
        a = self.wire_answer_s
        a[w] = np.minimum(a[w], t)

    def _grow(self, need: int) -> None:
        cap = self.cap
        while cap < need:
            cap *= 2
        for k, (dt, fill) in self.COLS.items():
            b = np.full(cap, fill, dtype=dt)
            b[: self.n] = self.cols[k][: self.n]
            self.cols[k] = b
        self.cap = cap

    def add(
        self, producer: int, send_s: np.ndarray, n_records: np.ndarray, size: int, region_idx: int
    ) -> np.ndarray:
        """Register new requests of one producer (in one region); return their ids."""
        start = self.n
        end = start + len(send_s)
        if end > self.cap:
            self._grow(end)
        c = self.cols
        c["producer"][start:end] = producer
        c["region_idx"][start:end] = region_idx
        c["send_s"][start:end] = send_s
        c["n_records"][start:end] = n_records
        c["bytes"][start:end] = n_records.astype(np.int64) * size
        self.n = end
        return np.arange(start, end, dtype=np.int64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def release(self) -> None:
        """Drop the columns once the run's tables are built (the ledger is done)."""
        self.cols = {}


class AttemptColumns:
    """Attempts: one row per (request, file that carried it), appended a file at a time."""

    COLS = {
        "request_id": np.int64,
        "arrive_s": np.float64,
        "attempt": np.int16,
        "file_id": np.int64,
    }

    def __init__(self, capacity: int = 1 << 16):
        self.cap = capacity
        self.cols = {k: np.empty(capacity, dtype=dt) for k, dt in self.COLS.items()}
        self.n = 0

    def add(self, ids: np.ndarray, arrive: np.ndarray, attempt: np.ndarray, file_id: int) -> None:
        """Append the attempts carried by one file."""
        start = self.n
        end = start + len(ids)
        if end > self.cap:
            cap = self.cap
            while cap < end:
                cap *= 2
            for k, dt in self.COLS.items():
                b = np.empty(cap, dtype=dt)
                b[:start] = self.cols[k][:start]
                self.cols[k] = b
            self.cap = cap
        c = self.cols
        c["request_id"][start:end] = ids
        c["arrive_s"][start:end] = arrive
        c["attempt"][start:end] = attempt
        c["file_id"][start:end] = file_id
        self.n = end

    def release(self) -> None:
        """Drop the columns once the run's tables are built (the ledger is done)."""
        self.cols = {}


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
        self.cap = capacity
        self.a = {k: np.full(capacity, fill, dtype=dt) for k, (dt, fill) in self.COLS.items()}
        self.puts = self._new_puts(capacity)
        self.n = 0
        self.reasons: list[str] = [""]
        self._reason_code: dict[str, int] = {"": 0}

    def _new_puts(self, cap: int) -> np.ndarray:
        p = np.full((cap, 3 * self.nb), np.nan)
        p[:, 2::3] = PUT_NOT_SENT
        return p

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
        if fid >= self.cap:
            cap = self.cap * 2
            for k, (dt, fill) in self.COLS.items():
                b = np.full(cap, fill, dtype=dt)
                b[: self.n] = self.a[k][: self.n]
                self.a[k] = b
            p = self._new_puts(cap)
            p[: self.n] = self.puts[: self.n]
            self.puts = p
            self.cap = cap
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
        self.puts = self.puts[:0]

    def frame(self, regions: list[str], bucket_regions: list[str]) -> pd.DataFrame:
        """The files as a DataFrame (regions and reasons as categoricals)."""
        n = self.n
        data = {}
        for k in self.COLS:
            col = self.a[k][:n].copy()
            if k in ("region", "commit_region"):
                col = pd.Categorical.from_codes(col, categories=list(regions))
            elif k == "reason":
                col = pd.Categorical.from_codes(col, categories=list(self.reasons))
            data[k] = col
        df = pd.DataFrame(data)
        for j, b in enumerate(bucket_regions):
            df[f"put_start_s[{b}]"] = self.puts[:n, 3 * j]
            df[f"put_end_s[{b}]"] = self.puts[:n, 3 * j + 1]
            df[f"put_state[{b}]"] = self.puts[:n, 3 * j + 2].astype(np.int8)
        return df


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
    file_commit: dict[int, float] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    ops: dict[tuple, list[int]] = field(default_factory=dict)
    put_counts: list[list[int]] = field(default_factory=list)  # [agent][bucket] PUT requests
    put_bytes: list[list[int]] = field(default_factory=list)  # [agent][bucket] bytes PUT
    metadata: object = None  # the table's final state, set after the run (FinalMetadata)
    n_files: int = 0
    n_batches: int = 0

    BATCH_COLS = (
        "batch_id", "region", "epoch", "start_s", "applied_s", "first_offset", "n_files",
        "n_records", "holders",
    )  # fmt: skip

    def __post_init__(self):
        for site in self.bucket_regions:
            self.bucket_region_of.setdefault(site, site)
        if self.files is None:
            self.files = FileColumns(len(self.bucket_regions))

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
        self.attempts.add(req_ids, arrive_s, self.requests["attempts"][req_ids], file_id)

    def add_batch(self, row: tuple, file_ids) -> None:
        """Append one metadata batch (a group commit applied by the table), in BATCH_COLS order,
        and the commit time of each file in it."""
        self.batch_rows.append(row)
        fc = self.file_commit
        t_apply = row[4]
        for f in file_ids:
            fc[f] = t_apply

    def note(self, t: float, kind: str, text: str) -> None:
        """A line of the run's event log (elections, handovers, failovers, fault actions)."""
        self.events.append((t, kind, text))

    # -- tables after the run -----------------------------------------------------------------
    def requests_frame(
        self, end: float, file_ack_s: np.ndarray, file_leader: np.ndarray
    ) -> pd.DataFrame:
        """One row per produce request sent by ``end``; an acknowledged request takes its
        acknowledgement time and leader from its file (``file_*`` arrays indexed by file id)."""
        r = self.requests
        n = r.n
        keep = (r["send_s"][:n] <= end) & (r["status"][:n] != NEVER_SENT)
        df = pd.DataFrame({k: r[k][:n][keep] for k in RequestColumns.COLS})
        df.insert(0, "request_id", np.arange(n, dtype=np.int64)[keep])
        acked = (df["status"] == ACKED).to_numpy()
        f = df["ack_file"].to_numpy()[acked]
        ack = df["ack_s"].to_numpy().copy()
        ack[acked] = file_ack_s[f]
        df["ack_s"] = ack
        end_s = df["end_s"].to_numpy().copy()
        end_s[acked] = ack[acked]
        df["end_s"] = end_s
        lead = df["leader_at_ack"].to_numpy().copy()
        lead[acked] = file_leader[f]
        df["leader_at_ack"] = lead
        return df

    def attempts_frame(self) -> pd.DataFrame:
        """One row per attempt of a request (which file carried it)."""
        a = self.attempts
        n = a.n
        return pd.DataFrame(
            {
                "request_id": a.cols["request_id"][:n].copy(),
                "arrive_s": a.cols["arrive_s"][:n].copy(),
                "attempt": a.cols["attempt"][:n].copy(),
                "file_id": a.cols["file_id"][:n].copy(),
            }
        )

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
