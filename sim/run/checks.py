"""Checks after the run: what survived, acknowledged records lost, duplicates, stalls, latency.

Everything here reads the ledger (its tables, the components' histories kept in it, and the
table's final state); nothing here imports or runs the model. The
durability check is deliberately independent of how the model decided to acknowledge: it
recomputes, from PUT outcomes, bucket histories and the table's final log, whether each
acknowledged request is still readable once every surviving component has recovered.

- A **file's data** survives if some bucket that is not destroyed holds a copy: a PUT that
  completed while the bucket (and the path to it) was up, or a background repair, which copies the
  file from a surviving holder ``repair_delay`` after the bucket is back.
- A **file's metadata** survives if the surviving table replicas still reference it: for strong
  kinds, a batch is held by the regions that took part in its quorum plus every other replica
  that was up to receive it (or came back while a holder survived); for the eventual kind, the
  final log merged from the surviving replicas, last writer wins.
- A **lost acknowledged record** is one acknowledged to its producer and readable from no
  surviving committed file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.ledger import ACKED, FAILED_BLOCKED, PUT_NOT_SENT, PUT_OK, PUT_PREDICTED, PUT_REPLICA
from sim.ledger.tables import Table

INF = np.inf


def as_table(t) -> Table:
    """A run table (``Table``, streamed in row groups) or a DataFrame (one chunk)."""
    return t if isinstance(t, Table) else Table(t)


def _bucket(ledger, region: str):
    return ledger.histories[f"bucket:{region}"]


def _region(ledger, site: str) -> str:
    return ledger.bucket_region_of.get(site, site)


def _link(ledger, a: str, b: str):
    return ledger.histories[f"link:{a}->{b}"]


def file_copies(files: pd.DataFrame, ledger, repair_delay: float) -> np.ndarray:
    """When each file landed in each bucket (files x buckets, inf if never)."""
    regions = ledger.bucket_regions
    buckets = [_bucket(ledger, r) for r in regions]
    n, nb = len(files), len(buckets)
    copy = np.full((n, nb), INF)
    if n == 0:
        return copy
    # the producing region of each file as an integer code into ``names``: the regions a
    # bucket's predicted PUTs came from are told apart on integers, not strings
    reg = files["region"]
    if isinstance(reg.dtype, pd.CategoricalDtype) and not reg.isna().any():
        names, src = np.asarray(reg.cat.categories.astype(str)), reg.cat.codes.to_numpy()
    else:
        names, src = np.unique(np.asarray(reg.astype(str)), return_inverse=True)
    for j, b in enumerate(buckets):
        br = regions[j]
        st = files[f"put_state[{br}]"].to_numpy()
        s = files[f"put_start_s[{br}]"].to_numpy()
        e = files[f"put_end_s[{br}]"].to_numpy()
        copy[st == PUT_OK, j] = e[st == PUT_OK]
        pred = np.where(st == PUT_PREDICTED)[0]
        if len(pred):
            ok = b.up_throughout_mask(s[pred], e[pred])
            b_reg = _region(ledger, br)
            for k in np.unique(src[pred]):
                r = names[k]
                if r == b_reg:
                    continue
                m = src[pred] == k
                ok[m] &= _link(ledger, r, b_reg).up_throughout_mask(s[pred][m], e[pred][m])
                ok[m] &= _link(ledger, b_reg, r).up_throughout_mask(s[pred][m], e[pred][m])
            copy[pred[ok], j] = e[pred[ok]]
    destroyed = np.array([b.destroyed_at for b in buckets])
    # asynchronous replication: a copy lands only if its source bucket still exists by then
    src_alive_until = np.where(np.isfinite(copy), destroyed[None, :], -INF).max(axis=1)
    for j, b in enumerate(buckets):
        st = files[f"put_state[{regions[j]}]"].to_numpy()
        e = files[f"put_end_s[{regions[j]}]"].to_numpy()
        rep = np.where(st == PUT_REPLICA)[0]
        if len(rep):
            ok = (src_alive_until[rep] > e[rep]) & (b.destroyed_at > e[rep])
            copy[rep[ok], j] = e[rep[ok]]
    # background repair of missing copies, from a holder that still exists at repair time
    first = copy.min(axis=1)
    for j, b in enumerate(buckets):
        st = files[f"put_state[{regions[j]}]"].to_numpy()
        cand = np.where(
            ~np.isfinite(copy[:, j])
            & np.isfinite(first)
            & (st != PUT_NOT_SENT)
            & (st != PUT_REPLICA)
        )[0]
        for i in cand:
            back = b.next_up_after(first[i])
            if back == INF:
                continue
            r = back + repair_delay
            if ((copy[i] <= r) & (destroyed > r)).any() and b.destroyed_at > r:
                copy[i, j] = r
    return copy


def repairs(files: pd.DataFrame, copy: np.ndarray, ledger) -> list[tuple[str, str, int, int]]:
    """The copies the background repair made: (from region, to region, copies, bytes), the
    source being the bucket that held the file first (PUTs and bytes, counted for the cost)."""
    regions = ledger.bucket_regions
    out = []
    if len(files) == 0:
        return out
    size = files["bytes"].to_numpy()
    first = np.argmin(np.where(np.isfinite(copy), copy, INF), axis=1)
    for j, r in enumerate(regions):
        st = files[f"put_state[{r}]"].to_numpy()
        e = files[f"put_end_s[{r}]"].to_numpy()
        landed = np.isfinite(copy[:, j])
        by_put = ((st == PUT_OK) | (st == PUT_PREDICTED) | (st == PUT_REPLICA)) & (copy[:, j] == e)
        rep = landed & ~by_put
        for k, src in enumerate(regions):
            m = rep & (first == k)
            if m.any():
                out.append(
                    (_region(ledger, src), _region(ledger, r), int(m.sum()), int(size[m].sum()))
                )
    return out


def data_survives(copy: np.ndarray, ledger) -> np.ndarray:
    """Per file: does a bucket that is not destroyed hold it once everything recovered?"""
    destroyed = np.array([_bucket(ledger, r).destroyed_at for r in ledger.bucket_regions])
    return (
        ((copy < destroyed) & np.isfinite(copy) & ~np.isfinite(destroyed)).any(axis=1)
        if len(copy)
        else np.zeros(0, bool)
    )


def batch_survives(meta, ledger, holders: set[str], t: float) -> bool:
    """Strong kinds: is a batch applied at ``t`` by the quorum ``holders`` still held somewhere?"""
    reps = {r: ledger.histories[name] for r, name in meta.replica_names.items()}
    if any(reps[h].destroyed_at == INF for h in holders):
        return True
    last_holder = max(reps[h].destroyed_at for h in holders)
    for r in meta.regions:
        rep = reps[r]
        if r in holders or rep.destroyed_at < INF:
            continue
        # outside the quorum: it received the write at once if up, or catches up on return
        if rep.up_at(t) or rep.next_up_after(t) < last_holder:
            return True
    return False


def final_log(meta, ledger_log: Table) -> Table:
    """The metadata log the surviving replicas hold at the end, one row per (entry, file)
    (``Ledger.LOG_COLS``) in offset order: the ledger's rows for a strong table (it handed
    them over as it went), else the entries the table kept (``FinalMetadata.log``)."""
    if meta.log is None:
        return ledger_log
    rows = [
        (e.batch_id, e.first_offset, e.n_records, f)
        for _, e in sorted(meta.log.items())
        for f in e.file_ids
    ]
    cols = ["batch_id", "first_offset", "n_records", "file_id"]
    return Table(pd.DataFrame(rows, columns=cols, dtype=np.int64))


def metadata_survivors(ledger, batches, log) -> np.ndarray:
    """Ids of the committed files whose metadata the surviving replicas still reference
    (sorted, each once); ``log``: the final log (``final_log``)."""
    meta = ledger.metadata
    log = as_table(log)
    if not meta.strong or not any(
        ledger.histories[n].destroyed_at < INF for n in meta.replica_names.values()
    ):
        return np.unique(log.column("file_id"))
    # whether each batch is still held, by batch id (a byte a batch), a row group at a time
    held = np.zeros(ledger.n_batches + 1, dtype=bool)
    memo: dict[str, tuple[set[str], float]] = {}
    for ch in as_table(batches).chunks(["batch_id", "applied_s", "holders"]):
        for b, t, h in zip(ch["batch_id"], ch["applied_s"], ch["holders"], strict=True):
            hs = memo.get(h)
            if hs is None:
                hs = memo[h] = set(h.split(","))
            held[int(b)] = batch_survives(meta, ledger, hs, float(t))
    kept = [
        ch["file_id"].to_numpy()[held[ch["batch_id"].to_numpy()]]
        for ch in log.chunks(["batch_id", "file_id"])
    ]
    return np.unique(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def lost_acked(requests, attempts, readable: np.ndarray) -> pd.DataFrame:
    """Acknowledged requests readable from no surviving committed file.

    ``readable`` is a boolean array indexed by file id; ``requests`` and ``attempts`` are
    tables or DataFrames (read a row group at a time).
    """
    parts = []
    requests = as_table(requests)
    for i, ch in enumerate(requests.chunks(["status", "ack_file"])):
        m = (ch["status"] == ACKED).to_numpy()
        ok = readable[ch["ack_file"].to_numpy()[m]]
        # every column is read only for a row group with a loss (and the first: the empty
        # result has the table's columns); copies: a slice (even an empty one) would keep the
        # whole row group alive
        if not parts or not ok.all():
            parts.append(requests.row_group(i)[m][~ok].copy())
    cand = pd.concat(parts, ignore_index=False) if len(parts) > 1 else parts[0]
    if cand.empty:
        return cand
    # a request whose acknowledged file is gone may still be readable from another attempt
    ids = cand["request_id"].to_numpy()
    saved = []
    for att in as_table(attempts).chunks(["request_id", "file_id"]):
        rid, fid = att["request_id"].to_numpy(), att["file_id"].to_numpy()
        saved.append(rid[np.isin(rid, ids) & readable[fid]])
    saved = np.unique(np.concatenate(saved)) if saved else np.zeros(0, np.int64)
    return cand[~cand["request_id"].isin(saved)]


def duplicates(
    attempts, readable: np.ndarray, n_requests: int, idempotent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(duplicated, deduplicated): ids of requests present in more than one readable committed
    file (their records appear twice), and of those an idempotent producer's sequence numbers
    kept out of the log.

    With Kafka's idempotent producer (``enable.idempotence``, default since 3.0) every attempt
    of a request carries the same producer id and sequence number, and the broker (here the
    control plane, which assigns offsets) drops a batch whose sequence it has already committed:
    only the first committed copy is in the log. So with ``idempotent`` the first list is empty
    and the second holds the retries it dropped; without, the first holds them.
    """
    seen = np.zeros(n_requests, dtype=bool)
    twice_m = np.zeros(n_requests, dtype=bool)
    for att in as_table(attempts).chunks(["request_id", "file_id"]):
        rid = att["request_id"].to_numpy()
        rid = rid[readable[att["file_id"].to_numpy()]]
        u, c = np.unique(rid, return_counts=True)
        twice_m[u[c > 1]] = True
        twice_m[u[seen[u]]] = True
        seen[u] = True
    twice = np.flatnonzero(twice_m)
    if idempotent:
        return twice[:0], twice
    return twice, twice[:0]


def blocked_time(requests, n_producers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per producer: seconds its application was blocked in ``send()`` on a full buffer (Kafka
    ``buffer.memory``), the union of its batches' waits for buffer space; and how many batches
    waited ``max_block`` in vain and failed their records (Kafka ``max.block.ms``). The model
    holds the batches back (``sim.model.producers``); this reads what it recorded."""
    blocked = np.zeros(n_producers)
    timeouts = np.zeros(n_producers, dtype=np.int64)
    cols = ["blocked_s", "producer", "send_s", "status"]
    parts = []
    for ch in as_table(requests).chunks(cols):
        m = ch["blocked_s"].to_numpy() > 0
        if m.any():
            parts.append(ch[m])
    if not parts:
        return blocked, timeouts
    w = pd.concat(parts) if len(parts) > 1 else parts[0]
    wait = w["blocked_s"].to_numpy()
    prod = w["producer"].to_numpy()
    start = w["send_s"].to_numpy()
    stop = start + wait
    failed = w["status"].to_numpy() == FAILED_BLOCKED
    np.add.at(timeouts, prod[failed], 1)
    for p in np.unique(prod):
        sel = prod == p
        order = np.argsort(start[sel], kind="stable")
        a, b = start[sel][order], stop[sel][order]
        reach = np.maximum.accumulate(b)
        new = np.ones(len(a), dtype=bool)
        new[1:] = a[1:] > reach[:-1]
        starts = a[new]
        ends = np.append(reach[np.where(new)[0][1:] - 1], reach[-1])
        blocked[p] = float((ends - starts).sum())
    return blocked, timeouts


def clients_down(down: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Intervals in which every client (producer) was down, from each one's down intervals: no
    acknowledgement is possible then, whatever the service does (a region outage that takes the
    only region's clients down with it). Empty when any client has no down interval."""
    if not down or any(not d for d in down):
        return []
    out = [tuple(iv) for iv in down[0]]
    for d in down[1:]:
        nxt = []
        for a, b in out:
            for c, e in d:
                lo, hi = max(a, c), min(b, e)
                if hi > lo:
                    nxt.append((lo, hi))
        out = nxt
        if not out:
            break
    return out


def _union(s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals [s, e] as disjoint segments in time order: a new segment starts
    where an interval starts after every earlier one (by start) has ended."""
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    starts = s[new]
    ends = np.append(reach[np.where(new)[0][1:] - 1], reach[-1])
    return starts, ends


def unavailability_windows(
    requests,
    threshold: float,
    t_end: float,
    clients_down: list[tuple[float, float]] = (),
) -> list[list[float]]:
    """Intervals of at least ``threshold`` in which requests were outstanding, or no client was up
    to send any (``clients_down``, measured from the clients' side: a request would fail), and none
    was acked.

    The outstanding intervals' union is taken a row group at a time and the groups' segments
    merged (a union of unions is the union); of the acknowledgement times only those that can
    bound a gap are kept (``_gap_points``)."""
    extra = np.array(clients_down, dtype=np.float64).reshape(-1, 2)
    requests = as_table(requests)
    if len(requests) == 0 and not len(extra):
        return []
    seg_s, seg_e = [extra[:, 0]], [extra[:, 1]]
    for ch in requests.chunks(["send_s", "end_s"]):
        if len(ch) == 0:
            continue
        end = ch["end_s"].to_numpy(dtype=np.float64)
        a, b = _union(
            ch["send_s"].to_numpy(dtype=np.float64), np.where(np.isfinite(end), end, t_end)
        )
        seg_s.append(a)
        seg_e.append(b)
    s, e = np.concatenate(seg_s), np.concatenate(seg_e)
    extra_end = np.where(np.isfinite(e[: len(extra)]), e[: len(extra)], t_end)
    e[: len(extra)] = extra_end
    if len(s) == 0:
        return []
    starts, ends = _union(s, e)
    long = (ends - starts) >= threshold
    if not long.any():
        return []
    acks = _gap_points(requests, starts[long], ends[long], threshold, t_end)
    out: list[list[float]] = []
    for a, b in zip(starts[long], ends[long], strict=True):
        lo, hi = np.searchsorted(acks, a, side="right"), np.searchsorted(acks, b, side="left")
        points = np.concatenate([[a], acks[lo:hi], [b]])
        gaps = np.diff(points)
        for i in np.where(gaps >= threshold)[0]:
            out.append([round(float(points[i]), 6), round(float(points[i + 1]), 6)])
    return out


def _gap_points(requests: Table, starts, ends, threshold: float, t_end: float) -> np.ndarray:
    """The acknowledgement times (sorted) that can bound a gap of ``threshold`` or more within
    the windows [starts, ends], read a row group at a time: in bins a third of ``threshold``
    wide, each bin's first and last. Two consecutive times at least ``threshold`` apart lie in
    different bins with an empty one between, so they are a bin's last and the next non-empty
    bin's first, and stay consecutive here; every other gap, here and in the full sequence (a
    window's end to its nearest time included), is shorter than a bin. So the gaps found are
    those of the full sequence, and a day's 30 million acknowledgements are not held."""
    w = threshold / 3.0
    top = max(float(t_end), float(np.max(ends))) if len(ends) else float(t_end)
    nb = int(np.ceil(top / w)) + 2 if w > 0 else 0
    if not 0 < nb <= 1 << 24:  # no binning (a zero threshold), or bins larger than the times
        acks = requests.column("ack_s")
        acks.sort()
        return acks[: np.count_nonzero(~np.isnan(acks))]
    lo = np.full(nb, INF)
    hi = np.full(nb, -INF)
    for ch in requests.chunks(["ack_s"]):
        t = ch["ack_s"].to_numpy(dtype=np.float64)
        t = t[~np.isnan(t)]
        if not len(t):
            continue
        b = np.clip(np.floor(t / w), 0, nb - 1).astype(np.int64)
        np.minimum.at(lo, b, t)
        np.maximum.at(hi, b, t)
    pts = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
    return np.unique(pts)


def latency_stats(values_ms: np.ndarray, overwrite: bool = False) -> dict:
    """count, mean, p50, p90, p99, p999, max of a latency sample in ms (exact; ``overwrite``:
    the percentiles may reorder ``values_ms`` in place instead of copying it)."""
    v = np.asarray(values_ms, dtype=np.float64)
    fin = np.isfinite(v)
    if not fin.all():
        v = v[fin]
        overwrite = True
    if len(v) == 0:
        return {
            "count": 0,
            "mean": None,
            "p50": None,
            "p90": None,
            "p99": None,
            "p999": None,
            "max": None,
        }
    mean, top = v.mean(), v.max()  # before the percentiles may reorder v
    q = np.percentile(v, [50, 90, 99, 99.9], overwrite_input=overwrite)
    r = lambda x: round(float(x), 3)  # noqa: E731
    return {
        "count": int(len(v)),
        "mean": r(mean),
        "p50": r(q[0]),
        "p90": r(q[1]),
        "p99": r(q[2]),
        "p999": r(q[3]),
        "max": r(top),
    }


# -- exact percentiles of values streamed a row group at a time --------------------------------
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
STREAM_ABOVE = 1 << 23  # values: a sample this large is not held whole (64 MiB of floats)
_BIN_SHIFT = 46  # histogram bins: the top 18 bits of a float's order-preserving bit pattern


def _order_bits(v: np.ndarray) -> np.ndarray:
    """Unsigned integers ordered as the floats ``v`` are (IEEE 754 bit patterns, sign fixed)."""
    b = np.ascontiguousarray(v, dtype=np.float64).view(np.int64)
    return np.where(b < 0, ~b, b | np.int64(-(1 << 63))).view(np.uint64)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation between two order statistics (``np.percentile``)."""
    d = b - a
    return b - d * (1.0 - t) if t >= 0.5 else a + d * t


class StreamedStats:
    """count, mean, max and ``PERCENTILES`` of a sample read in chunks, the percentiles equal to
    ``np.percentile``'s on the whole sample (linear interpolation between the same two order
    statistics), without holding it: a first pass (``add``) counts the values in 2^18 bins of
    their bit patterns (1.6% of a value wide), a second (``collect``) keeps only the values in
    the bins that hold the order statistics wanted, which are then sorted. The mean is the sum
    of the chunks' sums over the count (in the last bits it may differ from ``np.mean``'s
    pairwise sum over the whole sample)."""

    def __init__(self):
        self.n = 0
        self.total = 0.0
        self.top = -INF
        self.hist = np.zeros(1 << (64 - _BIN_SHIFT), dtype=np.int64)
        self._want: dict[int, int] | None = None  # rank -> bin
        self._parts: dict[int, list[np.ndarray]] = {}

    def add(self, v: np.ndarray) -> None:
        """First pass: finite values of one chunk."""
        if len(v) == 0:
            return
        self.n += len(v)
        self.total += float(v.sum())
        self.top = max(self.top, float(v.max()))
        self.hist += np.bincount(
            (_order_bits(v) >> np.uint64(_BIN_SHIFT)).astype(np.int64), minlength=len(self.hist)
        )

    def _ranks(self) -> list[tuple[int, int, float]]:
        """(previous rank, next rank, gamma) per percentile, as ``np.percentile`` computes them."""
        n = self.n
        q = np.true_divide(np.asarray(PERCENTILES), 100)
        h = (n - 1) * q
        out = []
        for x in h.tolist():
            if x >= n - 1:
                out.append((n - 1, n - 1, 0.0))
            else:
                p = int(np.floor(x))
                out.append((p, p + 1, x - p))
        return out

    def plan(self) -> bool:
        """After the first pass: whether a second is needed (no values: none)."""
        if self.n == 0:
            return False
        cum = np.cumsum(self.hist)
        ranks = sorted({r for p, nx, _ in self._ranks() for r in (p, nx)})
        bins = np.searchsorted(cum, np.asarray(ranks), side="right")
        self._want = dict(zip(ranks, bins.tolist(), strict=True))
        self._cum = cum
        self._parts = {b: [] for b in set(self._want.values())}
        return True

    def collect(self, v: np.ndarray) -> None:
        """Second pass: the same chunks again (finite values), in any order."""
        if len(v) == 0:
            return
        b = (_order_bits(v) >> np.uint64(_BIN_SHIFT)).astype(np.int64)
        for k, parts in self._parts.items():
            m = b == k
            if m.any():
                parts.append(v[m])

    def result(self) -> dict:
        """The figures, as ``latency_stats`` gives them."""
        if self.n == 0:
            return latency_stats(np.zeros(0))
        vals = {k: np.sort(np.concatenate(p)) for k, p in self._parts.items()}

        def at(rank: int) -> float:
            k = self._want[rank]
            below = int(self._cum[k - 1]) if k > 0 else 0
            return float(vals[k][rank - below])

        q = [_lerp(at(p), at(nx), g) for p, nx, g in self._ranks()]
        r = lambda x: round(float(x), 3)  # noqa: E731
        return {
            "count": int(self.n),
            "mean": r(self.total / self.n),
            "p50": r(q[0]),
            "p90": r(q[1]),
            "p99": r(q[2]),
            "p999": r(q[3]),
            "max": r(self.top),
        }


def streamed_stats(chunks, families: tuple[int, ...] = ()) -> tuple[dict, list[list[dict]]]:
    """``latency_stats`` of a sample too large to hold, and of its groups: ``chunks()`` yields
    (values, a group code array per family) a chunk at a time, the same chunks each time it is
    called (twice); ``families`` gives each family's number of groups (codes 0 .. n - 1; other
    codes count only in the whole). Returns the whole sample's figures and, per family, each
    group's."""
    whole = StreamedStats()
    fams = [[StreamedStats() for _ in range(n)] for n in families]

    def finite():
        for v, codes in chunks():
            fin = np.isfinite(v)
            if not fin.all():
                v = v[fin]
                codes = [c[fin] for c in codes]
            yield v, codes

    for v, codes in finite():
        whole.add(v)
        for fam, c in zip(fams, codes, strict=True):
            for g, st in enumerate(fam):
                st.add(v[c == g])
    if any([st.plan() for st in [whole, *(st for fam in fams for st in fam)]]):
        for v, codes in finite():
            whole.collect(v)
            for fam, c in zip(fams, codes, strict=True):
                for g, st in enumerate(fam):
                    if st.n:
                        st.collect(v[c == g])
    return whole.result(), [[st.result() for st in fam] for fam in fams]
