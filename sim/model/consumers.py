"""Kafka consumers: when each consumer receives each committed file.

One consumer per region by default. A consumer learns of a committed file when its agent next
polls the control plane (every ``poll_interval``, uniformly out of phase: 400 ms, an estimate
calibrated against the published end-to-end latency) plus one strongly consistent metadata read
(what that read costs in the table's kind: in MRSC a round trip to the table's internal leader,
:meth:`sim.model.table.MetadataTable.strong_read_rtt`), then GETs it from a bucket that holds
it, chosen by ``read_from`` (if none holding it is up then, it fetches again at its first poll
after one is back):

- ``first-listed`` (default): the first bucket of the storage list that holds the file, wherever
  the consumer is. The vendor names reading from the co-located bucket as future work (to make
  the multi-region setup cheaper), which suggests reads are not placed by proximity today; which
  bucket it does read is not published, so this is an estimate of the shipping behaviour.
- ``nearest``: the nearest bucket that holds the file (the future work).

Receipts are computed after the run, vectorised, from the commit times, the table leader's
timeline and the buckets' histories in the ledger: no event per file. Each GET is counted in the
ledger with its bytes, and each metadata poll as one table read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.component import Component


class Consumer(Component):
    """A consumer in one zone; it may move between regions (its region history is kept)."""

    part = "consumer"

    def __init__(self, name: str, region: str, zone: str):
        super().__init__(name, region, zone)
        self._moves_t: list[float] = [0.0]
        self._moves_r: list[str] = [region]

    def move(self, t: float, region: str) -> None:
        """From time ``t`` on, the consumer reads from ``region``."""
        self._moves_t.append(t)
        self._moves_r.append(region)
        self.region = region

    def current_region(self, t: float) -> str:
        """The region the consumer was in at time ``t``."""
        i = int(np.searchsorted(self._moves_t, t, side="right")) - 1
        return self._moves_r[max(i, 0)]

    def region_segments(self, end: float) -> list[tuple[float, float, str]]:
        """(start, end, region) of each stay."""
        ts = self._moves_t + [max(end, self._moves_t[-1]) + 1e9]
        return [(ts[i], ts[i + 1], self._moves_r[i]) for i in range(len(self._moves_r))]


READ_FROM = ("first-listed", "nearest")


def receipts(
    consumers: list[Consumer], files: pd.DataFrame, copy: np.ndarray, ledger, net, buckets,
    poll_interval: float, table, gen: np.random.Generator, duration: float,
    read_from: str = "first-listed",
) -> pd.DataFrame:  # fmt: skip
    """When each consumer received each committed file, and from which bucket (vectorised,
    after the run); every GET is counted in the ledger with its bytes, every metadata poll as a
    table read."""
    if read_from not in READ_FROM:
        raise ValueError(f"unknown read placement {read_from!r}")
    local = table.local
    lead_t = np.array([t for t, _ in ledger.table_leader] or [0.0])
    lead_r = [r for _, r in ledger.table_leader] or [table.leader_region]
    empty = pd.DataFrame({"file_id": [], "consumer": [], "receipt_s": [], "bucket": []})
    if len(files) == 0:
        return empty
    committed = files["file_id"].map(ledger.file_commit).to_numpy(dtype=np.float64)
    idx = np.where(np.isfinite(committed))[0]
    if len(idx) == 0:
        return empty
    tcommit = committed[idx]
    size = files["bytes"].to_numpy()[idx]
    bucket_regions = [b.region for b in buckets]
    rows = []
    for ci, c in enumerate(consumers):
        disc = tcommit + gen.random(len(idx)) * poll_interval
        disc += local.median_s * np.exp(local.sigma * gen.standard_normal(len(idx)))
        # the poll's strongly consistent read: its round trip depends on the table leader then
        li = np.maximum(np.searchsorted(lead_t, disc, side="right") - 1, 0)
        for seg_start, seg_end, region in c.region_segments(duration):
            seg = (disc >= seg_start) & (disc < seg_end)
            for k in np.unique(li[seg]):
                m = seg & (li == k)
                disc[m] += table.strong_read_rtt(region, lead_r[k])[0]
            span = max(0.0, min(seg_end, duration) - max(seg_start, 0.0))
            dst = table.strong_read_rtt(region, table.leader_region)[1]
            ledger.count_op("table_read", table.kind, region, dst, int(span / poll_interval))
        alive = c.up_mask(disc)
        if getattr(c, "mutant", None) == "consumer-skips":
            # advances past a file whose commit was retried (not yet committed when it looked)
            alive &= files["commit_tries"].to_numpy()[idx] <= 1
        receipt = np.full(len(idx), np.nan)
        source = np.full(len(idx), -1, dtype=np.int16)
        for seg_start, seg_end, region in c.region_segments(duration):
            todo = alive & (disc >= seg_start) & (disc < seg_end)
            # bucket indices in read order (zonal buckets share a region: a stable sort keeps
            # the listed order among them)
            if read_from == "nearest":
                near = net.nearest(region, sorted(set(bucket_regions)))
                order = sorted(range(len(buckets)), key=lambda j: near.index(bucket_regions[j]))
            else:
                order = list(range(len(buckets)))
            for _ in range(4):  # a read that found no holder up is tried again (below)
                for j in order:
                    b = buckets[j]
                    br = bucket_regions[j]
                    have = todo & (copy[idx, j] <= disc) & b.up_mask(disc)
                    if not have.any():
                        continue
                    n = int(have.sum())
                    base = net.base_s[(region, br)]
                    rtt = base - net.jitter_s * np.log1p(-gen.random(n))
                    get = b.profile.get.median_s * np.exp(
                        b.profile.get.sigma * gen.standard_normal(n)
                    )
                    receipt[have] = disc[have] + rtt + get + size[have] / b.profile.throughput_bps
                    source[have] = j
                    got = have & (receipt <= duration)
                    ledger.count_op(
                        "get", b.profile.name, region, br, int(got.sum()), int(size[got].sum())
                    )
                    todo &= ~have
                if not todo.any():
                    break
                # no bucket holding the file was up: the consumer fetches it again at its first
                # poll after one holding it is back (within this stay in the region)
                for i in np.where(todo)[0]:
                    back = min(
                        (max(copy[idx[i], j], buckets[j].next_up_after(disc[i]))
                         for j in range(len(buckets)) if np.isfinite(copy[idx[i], j])),
                        default=np.inf,
                    )  # fmt: skip
                    nxt = disc[i] + poll_interval * np.ceil((back - disc[i]) / poll_interval)
                    if not nxt < min(seg_end, duration):
                        todo[i] = False
                    else:
                        disc[i] = nxt
                todo &= c.up_mask(disc)
        rows.append(
            pd.DataFrame(
                {
                    "file_id": files["file_id"].to_numpy()[idx],
                    "consumer": ci,
                    "receipt_s": receipt,
                    "bucket": source,
                }
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else empty
