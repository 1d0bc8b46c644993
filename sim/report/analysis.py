"""Helpers for the study notebooks: cut a run's tables into the figures the studies need.

Nothing here runs the model; every function reads what ``sim.run.runner.run`` returned (a
``RunResult``) or a run folder read back with ``sim.report.results.load_run`` (a dict with the same
tables), except the region-set helpers, which ask the model's own network and metadata table what
a write would cost (no latency rule is copied here).

- **Latency anatomy** (``anatomy``, ``anatomy_table``): where each acknowledged produce request's
  time went, from the requests, attempts, files and metadata-batch tables. The parts add up to the
  request's latency exactly.
- **Around a fault** (``timeline``, ``outage_metrics``, ``window_cost``, ``leader_change_after``):
  per-window sends, acknowledgements, failures and latency quantiles, the stall and the failures a
  fault caused, and the latency paid over a window.
- **Safety of the metadata** (``split_brain_epochs``, ``overlapping_leadership``): epochs committed
  from two regions, and time in which two regions committed at once.
- **Region sets** (``rtt_frame``, ``implied_write_ms``, ``quorum_partners``, ``triad_candidates``,
  ``loss_outlook``): what the latency matrix implies for candidate region sets.
- **Paired statistics** (``paired_table``): per-seed differences of two designs with 95%
  confidence intervals (``sim.ensemble.compare.paired``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from sim.core.latency import LogNormal
from sim.core.rng import Streams
from sim.ledger import ACKED, FAILED_TIMEOUT, PRODUCER_DIED
from sim.model.network import Network, base_rtt_ms
from sim.model.table import MetadataTable
from sim.scenario import StorageConfig, TableConfig

# the parts of a produce request's latency, in the order they happen, with a label for figures
PARTS: tuple[tuple[str, str], ...] = (
    ("to_agent", "to the agent (and earlier attempts)"),
    ("batch_wait", "batch wait in the agent buffer"),
    ("quorum_put", "quorum PUT"),
    ("commit_routing", "commit: to the leader and back"),
    ("table_write", "commit: metadata table write"),
    ("ack", "acknowledgement"),
)
PART_NAMES = tuple(p for p, _ in PARTS)


# -- reading a run --------------------------------------------------------------------------------
def _get(res, name: str):
    return res[name] if isinstance(res, dict) else getattr(res, name)


def _warmup(res) -> float:
    if isinstance(res, dict):
        import yaml

        text = res.get("scenario_yaml")
        return float(yaml.safe_load(text)["run"]["warmup"]) if text else 0.0
    return float(res.scenario.run.warmup)


def _summary(res) -> dict:
    return _get(res, "summary")


# -- latency anatomy ------------------------------------------------------------------------------
def anatomy(res, warmup: float | None = None) -> pd.DataFrame:
    """One row per acknowledged request sent at or after ``warmup`` (default: the scenario's),
    with its latency split into ``PART_NAMES`` (ms); the parts sum to ``latency_ms``.

    - ``to_agent``: send to arrival at the agent of the acknowledged attempt (for a retried
      request this includes the earlier attempts and the backoff);
    - ``batch_wait``: arrival to the flush of the file that carried it (agent buffer);
    - ``quorum_put``: flush to the quorum of PUTs;
    - ``commit_routing`` and ``table_write``: quorum to the commit's answer at the agent, split
      into the metadata table write of the file's group commit (batch start to applied) and the
      rest (network to the control plane and back, redirects, queueing for the group commit);
    - ``ack``: commit answer to the acknowledgement at the producer.

    Columns also say who was involved: ``producer_region``, ``agent_region`` (the agent that
    wrote the file), ``leader`` (the region whose control plane committed it) and ``attempt``.
    """
    req = _get(res, "requests")
    att = _get(res, "attempts")
    files = _get(res, "files")
    batches = _get(res, "batches")
    if warmup is None:
        warmup = _warmup(res)
    cols = ["request_id", "send_s", "ack_s", "ack_file", "region", "attempts", "n_records"]
    ok = (req["status"] == ACKED) & (req["send_s"] >= warmup)
    r = req.loc[ok, cols]
    if r.empty:
        return pd.DataFrame(
            columns=["request_id", "send_s", "producer_region", "agent_region", "leader",
                     "attempt", "n_records", "latency_ms", *PART_NAMES]
        )  # fmt: skip
    a = att[["request_id", "file_id", "arrive_s"]]
    m = r.merge(a, left_on=["request_id", "ack_file"], right_on=["request_id", "file_id"])
    f = files.set_index("file_id")
    fid = m["ack_file"].to_numpy()
    flush = f["flush_s"].reindex(fid).to_numpy()
    quorum = f["quorum_s"].reindex(fid).to_numpy()
    committed = f["committed_s"].reindex(fid).to_numpy()
    batch = f["batch_id"].reindex(fid).to_numpy()
    b = batches.set_index("batch_id")
    table = (b["applied_s"] - b["start_s"]).reindex(batch).to_numpy()
    send, arrive, ack = m["send_s"].to_numpy(), m["arrive_s"].to_numpy(), m["ack_s"].to_numpy()
    out = pd.DataFrame(
        {
            "request_id": m["request_id"].to_numpy(),
            "send_s": send,
            "producer_region": m["region"].to_numpy(),
            "agent_region": f["region"].reindex(fid).to_numpy(),
            "leader": f["commit_region"].reindex(fid).to_numpy(),
            "attempt": m["attempts"].to_numpy(),
            "n_records": m["n_records"].to_numpy(),
            "latency_ms": (ack - send) * 1000.0,
            "to_agent": (arrive - send) * 1000.0,
            "batch_wait": (flush - arrive) * 1000.0,
            "quorum_put": (quorum - flush) * 1000.0,
            "commit_routing": (committed - quorum - table) * 1000.0,
            "table_write": table * 1000.0,
            "ack": (ack - committed) * 1000.0,
        }
    )
    return out.sort_values("request_id", kind="stable").reset_index(drop=True)


def anatomy_table(anat: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Per group of ``by`` (all requests when None): the mean of each part (ms; means add up to
    the mean latency, medians would not), the mean, p50 and p99 of the latency, and the count."""
    df = anat.assign(_all="all") if by is None else anat
    key = "_all" if by is None else by
    g = df.groupby(key, sort=True)
    out = g[list(PART_NAMES)].mean()
    out["mean_ms"] = g["latency_ms"].mean()
    out["p50_ms"] = g["latency_ms"].quantile(0.5)
    out["p99_ms"] = g["latency_ms"].quantile(0.99)
    out["count"] = g["latency_ms"].size()
    if by is None:
        out.index.name = None
    return out


# -- around a fault -------------------------------------------------------------------------------
def timeline(requests: pd.DataFrame, t0: float, t1: float, width: float = 1.0) -> pd.DataFrame:
    """Per window of ``width`` seconds over [t0, t1): requests sent, acknowledged (by ack time)
    and failed (by the time they failed), and p50 / p99 / max latency of the acknowledged
    requests by send time (NaN where none). ``t`` is each window's start."""
    n = max(1, math.ceil((t1 - t0) / width - 1e-9))
    edges = t0 + width * np.arange(n + 1)

    def count(t: np.ndarray) -> np.ndarray:
        t = t[np.isfinite(t) & (t >= t0) & (t < edges[-1])]
        return np.bincount(((t - t0) // width).astype(np.int64), minlength=n)[:n]

    st = requests["status"].to_numpy()
    send = requests["send_s"].to_numpy()
    ack = requests["ack_s"].to_numpy()
    end = requests["end_s"].to_numpy()
    failed = (st == FAILED_TIMEOUT) | (st == PRODUCER_DIED)
    out = pd.DataFrame(
        {
            "t": edges[:-1],
            "sent": count(send),
            "acked": count(ack[st == ACKED]),
            "failed": count(end[failed]),
        }
    )
    acked = st == ACKED
    s = send[acked]
    lat = (ack[acked] - s) * 1000.0
    inside = (s >= t0) & (s < edges[-1])
    b = ((s[inside] - t0) // width).astype(np.int64)
    g = pd.Series(lat[inside]).groupby(b)
    q = pd.DataFrame(
        {"p50_ms": g.quantile(0.5), "p99_ms": g.quantile(0.99), "max_ms": g.max()}
    ).reindex(range(n))
    return pd.concat([out, q.reset_index(drop=True)], axis=1)


def latency_in(requests: pd.DataFrame, t0: float, t1: float) -> dict:
    """Count, mean, p50, p99 and max (ms) of the acknowledged requests sent in [t0, t1)."""
    ok = (requests["status"] == ACKED) & (requests["send_s"] >= t0) & (requests["send_s"] < t1)
    lat = ((requests.loc[ok, "ack_s"] - requests.loc[ok, "send_s"]) * 1000.0).to_numpy()
    if len(lat) == 0:
        return {"count": 0, "mean": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan}
    q = np.percentile(lat, [50, 99])
    return {
        "count": int(len(lat)),
        "mean": float(lat.mean()),
        "p50": float(q[0]),
        "p99": float(q[1]),
        "max": float(lat.max()),
    }


def leader_change_after(leader: pd.DataFrame, t: float) -> tuple[float, str] | None:
    """(time, region) of the first lease change strictly after ``t``, or None."""
    later = leader[leader["t_s"] > t]
    if later.empty:
        return None
    row = later.iloc[0]
    return float(row["t_s"]), str(row["region"])


def leader_at(leader: pd.DataFrame, t: float) -> str | None:
    """The region that last took the lease at or before ``t`` (None before the first election)."""
    before = leader[leader["t_s"] <= t]
    return None if before.empty else str(before.iloc[-1]["region"])


def outage_metrics(
    res,
    t_fault: float,
    horizon: float = 60.0,
    spike_factor: float = 2.0,
    warmup: float | None = None,
    guard: float = 2.0,
) -> dict:
    """What a fault at ``t_fault`` cost, from one run.

    - ``baseline_p50_ms`` / ``baseline_p99_ms``: latency of requests sent from the warm-up to
      ``guard`` seconds before the fault (requests sent just before it are caught by it);
    - ``stall_s``: total unavailability (the summary's windows) in windows ending after the fault;
      ``longest_stall_s`` the longest of them and ``stall_end_s`` the end of the last one, from
      the fault (0 when there is none);
    - ``slow_requests``: acknowledged requests sent from ``horizon`` before to ``horizon`` after
      the fault slower than ``spike_factor`` times the baseline p99, and ``spike_end_s`` the send
      time (after the fault) of the last of them; ``spike_max_ms`` the slowest;
    - ``failed_records`` / ``failed_requests``: records and requests that failed (delivery timeout,
      or lost with a producer that died), with ``died_with_producer_records`` the latter part;
    - ``lost_acked_records`` and ``duplicated_records`` from the summary (the RPO check);
    - ``leader_moved_s``: time from the fault to the next lease change (None if none) and
      ``new_leader``;
    - ``after_p50_ms`` / ``after_p99_ms``: latency of requests sent from ``horizon`` after the
      fault to the end of the run (the new steady state).
    """
    req = _get(res, "requests")
    s = _summary(res)
    if warmup is None:
        warmup = _warmup(res)
    end = float(s["sim_duration_s"])
    base = latency_in(req, warmup, t_fault - guard)
    after = latency_in(req, t_fault + horizon, end)
    windows = [w for w in s["unavailability"]["windows"] if w[1] > t_fault]
    stalls = [b - a for a, b in windows]
    st = req["status"].to_numpy()
    send = req["send_s"].to_numpy()
    lat = (req["ack_s"].to_numpy() - send) * 1000.0
    near = (st == ACKED) & (send >= t_fault - horizon) & (send < t_fault + horizon)
    limit = spike_factor * base["p99"] if np.isfinite(base["p99"]) else math.inf
    slow = near & (lat > limit)
    failed = (st == FAILED_TIMEOUT) | (st == PRODUCER_DIED)
    nrec = req["n_records"].to_numpy()
    moved = leader_change_after(_get(res, "leader"), t_fault)
    return {
        "baseline_p50_ms": base["p50"],
        "baseline_p99_ms": base["p99"],
        "stall_s": float(sum(stalls)),
        "longest_stall_s": float(max(stalls)) if stalls else 0.0,
        "stall_end_s": float(windows[-1][1] - t_fault) if windows else 0.0,
        "slow_requests": int(slow.sum()),
        "spike_end_s": float(send[slow].max() - t_fault) if slow.any() else 0.0,
        "spike_max_ms": float(lat[near].max()) if near.any() else math.nan,
        "failed_requests": int(failed.sum()),
        "failed_records": int(nrec[failed].sum()),
        "died_with_producer_records": int(nrec[st == PRODUCER_DIED].sum()),
        "lost_acked_records": int(s["rpo"]["lost_acked_records"]),
        "duplicated_records": int(s["records"]["duplicated"]),
        "leader_moved_s": None if moved is None else moved[0] - t_fault,
        "new_leader": None if moved is None else moved[1],
        "after_p50_ms": after["p50"],
        "after_p99_ms": after["p99"],
    }


def window_cost(requests: pd.DataFrame, t0: float, t1: float, baseline_mean_ms: float) -> dict:
    """The latency paid by requests sent in [t0, t1) over a baseline mean: their count, mean,
    p99, the mean excess per request (ms) and the total excess (request-seconds: the sum over
    requests of latency minus the baseline mean)."""
    ok = (requests["status"] == ACKED) & (requests["send_s"] >= t0) & (requests["send_s"] < t1)
    lat = ((requests.loc[ok, "ack_s"] - requests.loc[ok, "send_s"]) * 1000.0).to_numpy()
    if len(lat) == 0:
        return {"count": 0, "mean_ms": math.nan, "p99_ms": math.nan, "excess_mean_ms": 0.0,
                "excess_total_s": 0.0}  # fmt: skip
    excess = lat - baseline_mean_ms
    return {
        "count": int(len(lat)),
        "mean_ms": float(lat.mean()),
        "p99_ms": float(np.percentile(lat, 99)),
        "excess_mean_ms": float(excess.mean()),
        "excess_total_s": float(excess.sum() / 1000.0),
    }


# -- safety of the metadata -----------------------------------------------------------------------
def split_brain_epochs(batches: pd.DataFrame) -> int:
    """Lease epochs whose metadata batches were committed from more than one region (a safe
    election never has one; active-active batches, epoch -1, are left out)."""
    b = batches[batches["epoch"] >= 0]
    if b.empty:
        return 0
    return int((b.groupby("epoch")["region"].nunique() > 1).sum())


def overlapping_leadership(batches: pd.DataFrame) -> float:
    """Seconds in which two regions were both committing as leaders: the total overlap of the
    spans [first, last applied batch] of each (epoch, region), between different regions."""
    b = batches[batches["epoch"] >= 0]
    if b.empty:
        return 0.0
    spans = b.groupby(["epoch", "region"])["applied_s"].agg(["min", "max"]).reset_index()
    total = 0.0
    rows = list(spans.itertuples(index=False))
    for x, y in itertools.combinations(rows, 2):
        if x.region == y.region:
            continue
        total += max(0.0, min(x.max, y.max) - max(x.min, y.min))
    return float(total)


# -- region sets ----------------------------------------------------------------------------------
def rtt_frame(regions: Sequence[str]) -> pd.DataFrame:
    """The steady-state RTT matrix (ms) the model uses between ``regions`` (rows: from)."""
    return pd.DataFrame(
        [[base_rtt_ms(a, b) for b in regions] for a in regions],
        index=list(regions),
        columns=list(regions),
    )


def _table(regions: Sequence[str], leader: str, kind: str, local_ms: float) -> MetadataTable:
    """A metadata table of the model on a jitter-free network, with a constant local operation
    (the median), so its planned writes are the latency the design implies."""
    streams = Streams(0)
    net = Network(list(regions), streams.block("network"), jitter_ms=0.0)
    cfg = TableConfig()
    return MetadataTable(
        kind, list(regions), list(regions), leader, None, net, streams.block("table"),
        LogNormal(local_ms / 1000.0, 0.0), cfg.op_timeout, cfg.leader_failover,
        LogNormal(cfg.replication_lag_p50_ms / 1000.0, 0.0), cfg.conflict_window,
    )  # fmt: skip


def _table_after_loss(
    regions: list[str], leader: str, kind: str, lost: set[str], local_ms: float
) -> MetadataTable | None:
    """The table with the ``lost`` regions' replicas destroyed and, when its leader was lost,
    the failover's choice leading (the model's rule: the nearest surviving region)."""
    t = _table(regions, leader, kind, local_ms)
    for r in lost:
        t.replicas[r].destroy(0.0)
    if leader in lost:
        left = [r for r in regions if r not in lost]
        if not left:
            return None
        t.leader_region = t.net.nearest(leader, left)[0]
    return t


def implied_write_ms(
    regions: Sequence[str],
    writer: str,
    table_leader: str | None = None,
    kind: str = "mrsc",
    lost: Iterable[str] = (),
    local_ms: float | None = None,
) -> float | None:
    """Milliseconds of one metadata write from ``writer`` in a table over ``regions`` whose
    internal (or default) leader is ``table_leader`` (default: the first region), as the model's
    ``MetadataTable`` plans it with no jitter and the median local operation (default: the
    scenario default ``table.local_p50_ms``). ``lost`` regions are destroyed; when the table's
    leader is among them, the table's failover choice (the nearest survivor) leads. None when the
    write cannot commit."""
    regions = list(regions)
    lost = set(lost)
    if writer in lost:
        return None
    local = TableConfig().local_p50_ms if local_ms is None else local_ms
    t = _table_after_loss(regions, table_leader or regions[0], kind, lost, local)
    if t is None:
        return None
    plan = t.plan_write(writer)
    return None if plan is None else plan.latency * 1000.0


def quorum_partners(regions: Sequence[str]) -> pd.DataFrame:
    """For each region: its nearest other region of the set (its quorum partner for a 2-of-3
    PUT or an MRSC write from the table's leader) and the RTT to it, and the farthest one."""
    rows = []
    for r in regions:
        others = sorted((base_rtt_ms(r, o), o) for o in regions if o != r)
        if not others:
            rows.append({"region": r, "partner": None, "partner_rtt_ms": math.nan,
                         "farthest": None, "farthest_rtt_ms": math.nan})  # fmt: skip
            continue
        rows.append(
            {
                "region": r,
                "partner": others[0][1],
                "partner_rtt_ms": others[0][0],
                "farthest": others[-1][1],
                "farthest_rtt_ms": others[-1][0],
            }
        )
    return pd.DataFrame(rows).set_index("region")


def triad_candidates(pool: Sequence[str], size: int = 3) -> pd.DataFrame:
    """Every ``size``-region set from ``pool`` with what the latency matrix implies for an MRSC
    table (control-plane leader and table leader in the same region):

    - ``best_leader`` and ``write_ms``: the leader region with the fastest metadata write;
    - ``worst_write_ms``: the write with the worst choice of leader;
    - ``after_loss_ms``: the best write left after the worst single-region loss;
    - ``max_rtt_ms``: the longest RTT inside the set (a lower bound on how far apart it spreads).

    Sorted by ``write_ms``, then ``after_loss_ms``."""
    rows = []
    for combo in itertools.combinations(pool, size):
        writes = {r: implied_write_ms(combo, r, r) for r in combo}
        best = min(combo, key=lambda r: (writes[r], r))
        after = []
        for lost in combo:
            left = [r for r in combo if r != lost]
            w = [implied_write_ms(combo, r, r, lost=[lost]) for r in left]
            w = [x for x in w if x is not None]
            after.append(min(w) if w else math.inf)
        rows.append(
            {
                "regions": ", ".join(combo),
                "best_leader": best,
                "write_ms": writes[best],
                "worst_write_ms": max(writes.values()),
                "after_loss_ms": max(after),
                "max_rtt_ms": max(base_rtt_ms(a, b) for a in combo for b in combo if a != b),
            }
        )
    return (
        pd.DataFrame(rows)
        .sort_values(["write_ms", "after_loss_ms", "regions"], kind="stable")
        .reset_index(drop=True)
    )


def loss_outlook(
    regions: Sequence[str], table_leader: str | None = None, quorum: int | None = None
) -> pd.DataFrame:
    """For each single-region loss of a set with one bucket per region, a ``quorum``-of-n PUT
    (default: a majority, as ``storage.quorum``) and an MRSC table led from ``table_leader``:
    whether files still reach their quorum, whether the table still commits, the table's leader
    afterwards, the best metadata write left (ms) with the region that gives it, and the RTT
    between the survivors (the longer direction)."""
    regions = list(regions)
    leader = table_leader or regions[0]
    if quorum is None:
        quorum = StorageConfig().quorum or len(regions) // 2 + 1
    rows = []
    for lost in regions:
        left = [r for r in regions if r != lost]
        writes = {r: implied_write_ms(regions, r, leader, lost=[lost]) for r in left}
        ok = {r: w for r, w in writes.items() if w is not None}
        t = _table_after_loss(regions, leader, "mrsc", {lost}, TableConfig().local_p50_ms)
        rows.append(
            {
                "lost": lost,
                "data_quorum": len(left) >= quorum,
                "table_commits": bool(ok),
                "best_writer": min(ok, key=ok.get) if ok else None,
                "best_write_ms": min(ok.values()) if ok else math.nan,
                "survivor_rtt_ms": max(base_rtt_ms(a, b) for a in left for b in left if a != b)
                if len(left) > 1
                else math.nan,
                "table_leader_after": t.leader_region if t is not None else None,
            }
        )
    return pd.DataFrame(rows).set_index("lost")


# -- paired statistics ----------------------------------------------------------------------------
def paired_table(
    per_seed: dict[str, dict[str, Sequence[float | None]]],
    baseline: str,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each design against ``baseline`` on the same seeds: for every metric, the baseline's and
    the design's means over seeds, the mean per-seed difference (design - baseline) with its 95%
    confidence interval (Student's t, ``sim.ensemble.compare.paired``; NaN with fewer than two seeds),
    and whether the interval excludes 0.

    ``per_seed[design][metric]`` is the list of values by seed, in the same seed order for every
    design."""
    from sim.core.stats import paired

    base = per_seed[baseline]
    metrics = list(metrics) if metrics is not None else list(base)
    rows = []
    for design, vals in per_seed.items():
        if design == baseline:
            continue
        for m in metrics:
            p = paired(list(base[m]), list(vals[m]))
            lo, hi = p["diff_ci95"] if p["diff_ci95"] is not None else (math.nan, math.nan)
            rows.append(
                {
                    "design": design,
                    "metric": m,
                    "baseline_mean": _nan(p["a_mean"]),
                    "design_mean": _nan(p["b_mean"]),
                    "diff_mean": _nan(p["diff_mean"]),
                    "ci_low": lo,
                    "ci_high": hi,
                    "pairs": p["pairs"],
                    "excludes_0": bool(np.isfinite(lo) and (lo > 0 or hi < 0)),
                }
            )
    return pd.DataFrame(rows)


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)
