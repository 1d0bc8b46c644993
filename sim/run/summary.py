"""The summary of a run, derived from its ledger after the run.

``derive`` turns the ledger into the run's tables (requests, attempts, files, batches, receipts,
leader changes, events, request counts, component histories, fault effects) and its
``summary.json``: latency, records, RPO, unavailability, leader changes, faults, requests,
files, metadata, and the model's own figures. The checks it relies on (what survived, losses,
duplicates, stalls) live in :mod:`sim.run.checks`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from sim.ledger import ACKED, FAILED_BLOCKED, FAILED_TIMEOUT, PENDING, PRODUCER_DIED
from sim.ledger.records import files_chunk
from sim.ledger.tables import Spool, Table
from sim.model import consumers
from sim.run import checks


def _by(values_ms: np.ndarray, codes: np.ndarray, names: list[str]) -> dict:
    """count, p50 and p99 of ``values_ms`` per region (``codes`` index ``names``; -1: none)."""
    out = {}
    for k in sorted(set(np.unique(codes).tolist()) - {-1}, key=lambda c: names[c]):
        st = checks.latency_stats(values_ms[codes == k])
        out[names[k]] = {"count": st["count"], "p50": st["p50"], "p99": st["p99"]}
    return out


def derive(
    world, sc, seed: int, n_events: int, sim_wall: float, wall0: float, prices=None,
    on_requests=None,
) -> dict:  # fmt: skip
    """The run's tables and summary, from the ledger (and the world's consumers, which read
    after the run); ``on_requests``: called with the requests ``Table`` once it is complete,
    before the checks read it.

    The per-row tables (requests, attempts, files, batches) leave the ledger as ``Table``s: in
    memory for a short run, Parquet files written as the run went for a long one. Everything
    below reads them a column or a row group at a time, with per-file arrays (a few bytes a
    file) for the lookups, so the memory after the run is bounded by one column of requests, not
    by every table at once."""
    led = world.ledger
    end = sc.run.duration
    n_files = led.n_files
    n_req_ids = led.requests.n
    commit_t = led.commit_times()  # by file id (NaN: never committed)
    n_committed = led.n_committed()
    tabs = led.close_tables(end)
    requests, attempts, batches = tabs["requests"], tabs["attempts"], tabs["batches"]
    if on_requests is not None:
        on_requests(requests)
    files_raw = tabs["files_raw"]
    # the per-file columns the checks and the consumers read (files are in file id order)
    put_cols = [
        f"put_{k}[{b}]" for b in led.bucket_regions for k in ("start_s", "end_s", "state")
    ]  # fmt: skip
    keep = ["file_id", "region", "bytes", "commit_tries", "agent"]
    fx = None
    repaired: dict[tuple[str, str], list[int]] = {}
    if len(files_raw):
        # where each file's data landed, a row group at a time (a file's copies depend on its
        # own PUTs only); the PUT columns are not kept beyond their row group
        parts, copies = [], []
        for ch in files_raw.chunks([*keep, *put_cols]):
            ch = ch[[*keep, *put_cols]].copy() if files_raw.in_memory else ch
            ch["region"] = pd.Categorical.from_codes(
                ch["region"].to_numpy(), categories=list(world.regions)
            )
            cp = checks.file_copies(ch, led, sc.storage.repair_delay)
            for src, dst, n, nbytes in checks.repairs(ch, cp, led):
                row = repaired.setdefault((src, dst), [0, 0])
                row[0] += n
                row[1] += nbytes
            copies.append(cp)
            parts.append(ch[keep])
        fx = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        copy = np.concatenate(copies) if len(copies) > 1 else copies[0]
        del parts, copies
        data_ok = checks.data_survives(copy, led)
    else:
        copy = np.zeros((0, len(world.buckets)))
        data_ok = np.zeros(0, dtype=bool)
    log = checks.final_log(led.metadata, tabs["log"])
    meta_ok = checks.metadata_survivors(led, batches, log)
    readable = np.zeros(n_files + 1, dtype=bool)  # indexed by file id (the last: "no file")
    if fx is not None:
        fid = fx["file_id"].to_numpy()
        in_meta = np.zeros(n_files + 1, dtype=bool)
        in_meta[meta_ok] = True
        readable[fid] = data_ok & in_meta[fid]
    files = _files_table(led, files_raw, readable, commit_t, world.regions)
    receipts = consumers.receipts(
        world.consumers, fx if fx is not None else files.frame(), copy, led, world.net,
        world.buckets, sc.workload.poll_interval, world.table, world.streams.gen("consumers"),
        end, sc.workload.read_from,
    )  # fmt: skip
    for (src, dst), (n, nbytes) in repaired.items():
        led.count_op("put", sc.storage.profile, src, dst, n, nbytes)
    _count_zone_traffic(world)
    lost = checks.lost_acked(requests, attempts, readable)
    # idempotent producers: the table recognises a retried batch's producer id and sequence
    # (a mutant's table does not, and applies it again)
    dups, deduped = checks.duplicates(
        attempts, readable, n_req_ids,
        sc.workload.idempotence and world.table.recognises_sequences,
    )  # fmt: skip
    blocked, block_timeouts = checks.blocked_time(requests, len(world.producers))
    all_down = checks.clients_down([p.down_intervals(end) for p in world.producers])
    windows = checks.unavailability_windows(
        requests, sc.run.unavailability_threshold, end, all_down
    )
    lost_in_quorum = _lost_in_quorum(lost, fx, copy, led, sc)
    del fx, copy  # the per-file columns are not needed below: free them before the latencies
    counts = _request_counts(requests, sc.run.warmup, dups, deduped)
    lat_block = _latencies(requests, counts["steady"], sc.run.warmup, world.regions)
    e2e_stats = _e2e_stats(
        requests, counts["steady"], receipts, n_files, len(world.consumers), sc.run.warmup
    )

    lost_records = int(lost["n_records"].sum()) if len(lost) else 0
    ops = _ops_frame(world, led, sc)
    cost = _cost(world, sc, ops, counts["bytes"], prices)
    from sim.run.invariants import check_all, inputs_from_ledger

    effects = pd.DataFrame(
        led.effects, columns=["fault", "component", "effect", "start_s", "end_s"]
    )
    leader = led.leader_frame()
    events = pd.DataFrame(led.events, columns=["t_s", "kind", "text"])
    checks_block = check_all(
        sc, requests, files, batches, receipts, lost_records, counts["dup_records"], led.faults,
        effects, leader=led.leader_frame(), lost_in_quorum=lost_in_quorum,
        **inputs_from_ledger(led, log),
    )  # fmt: skip
    c = counts
    summary = {
        "scenario": sc.name,
        "seed": int(seed),
        "sim_duration_s": float(end),
        "wall_time_s": round(time.perf_counter() - wall0, 3),
        **lat_block,
        "e2e_latency_ms": {
            k: v for k, v in e2e_stats.items() if k in ("count", "p50", "p99", "max")
        },
        "records": {
            "sent": c["sent"],
            "acked": c["acked"],
            "failed": c["failed_timeout"] + c["producer_died"] + c["failed_blocked"],
            "lost_acked": lost_records,
            "duplicated": c["dup_records"],
            "deduplicated": c["dedup_records"],
            "in_flight_at_end": c["pending"],
            "failed_delivery_timeout": c["failed_timeout"],
            "lost_with_producer": c["producer_died"],
            "failed_max_block": c["failed_blocked"],
        },
        "rpo": {
            "lost_acked_records": lost_records,
            "lost_window_s": round(float(lost["ack_s"].max() - lost["ack_s"].min()), 6)
            if len(lost)
            else 0.0,
        },
        "unavailability": {"total_s": round(sum(b - a for a, b in windows), 6), "windows": windows},
        "leader": {
            "changes": max(0, len(leader) - 1),
            "timeline": [
                [round(float(t), 6), r]
                for t, r in zip(leader["t_s"], leader["region"], strict=True)
            ],
            "epochs": [int(e) for e in leader["epoch"]],
        },
        "faults": [
            {
                "kind": f["kind"],
                "target": f["target"],
                "start_s": round(f["start_s"], 6),
                "end_s": None if f["end_s"] is None else round(f["end_s"], 6),
            }
            for f in led.faults
        ],  # fmt: skip
        "requests": {
            "sent": c["n_requests"],
            "acked": c["n_acked"],
            "retries": int(led.tallies.get("retries", 0)),
            "retried": c["retried"],
            "retried_then_acked": c["retried_then_acked"],
        },
        "producers": {
            "blocked_s_total": round(float(blocked.sum()), 6),
            "blocked_s_max": round(float(blocked.max()), 6) if len(blocked) else 0.0,
            "blocked_s": {
                p.name: round(float(b), 6) for p, b in zip(world.producers, blocked, strict=True)
            },
            "block_timeouts": int(block_timeouts.sum()),
            "idempotence": bool(sc.workload.idempotence),
        },
        "files": {
            "flushed": int(len(files)),
            "acked": int(np.count_nonzero(files.column("status") == 1)) if len(files) else 0,
            "committed": n_committed,
            "readable_at_end": int(readable.sum()),
        },
        "metadata": {
            "table": sc.table.kind,
            "batches": int(len(batches)),
            "table_leader_changes": [[round(t, 6), r] for t, r in led.table_leader],
            "conflicts": int(led.tallies.get("conflicts", 0)),
            "fenced_commits": int(led.tallies.get("fenced", 0)),
            "lease_op_failures": int(led.tallies.get("lease_op_failures", 0)),
        },
        "checks": checks_block,
        **({"mutant": sc.mutant} if sc.mutant else {}),
        "cost": {
            k: cost[k]
            for k in ("total_usd", "usd_per_gb", "usd_per_month", "items", "unknown", "complete")
        },  # fmt: skip
        "model": {"events": int(n_events), "sim_wall_s": round(sim_wall, 3)},
    }
    return {
        "summary": summary,
        "tables": {"requests": requests, "attempts": attempts, "files": files,
                   "batches": batches, "receipts": Table(receipts)},
        "leader": leader, "events": events,
        "topology": topology_info(world),
        "ops": ops,
        "cost": cost,
        "components": led.components_frame(),
        "effects": effects,
        "faults": led.faults,
    }  # fmt: skip


def _files_table(led, raw: Table, readable: np.ndarray, commit_t: np.ndarray, regions) -> Table:
    """The files table: the ledger's rows in their table form, with whether each file is
    readable at the end and when its metadata was applied (rewritten a row group at a time when
    the rows were written out during the run)."""

    def done(ch: pd.DataFrame) -> pd.DataFrame:
        df = files_chunk(ch, regions, led.files.reasons)
        if len(raw):
            fid = df["file_id"].to_numpy()
            df["readable_at_end"] = readable[fid]
            df["metadata_committed_s"] = commit_t[fid]
        return df

    if raw.in_memory:
        return Table(done(raw.frame()))
    spool = Spool(raw.path.with_name("files.parquet"))
    for ch in raw.chunks():
        spool.write(done(ch))
    out = spool.close()
    raw.path.unlink()
    return out


def _request_counts(requests: Table, warmup: float, dups, deduped) -> dict:
    """Counts and sums over the requests, a row group at a time; ``steady``: how many requests
    were acknowledged after the warm-up (the latency samples)."""
    c = dict.fromkeys(
        ("sent", "acked", "failed_timeout", "producer_died", "failed_blocked", "pending",
         "n_requests", "n_acked", "retried", "retried_then_acked", "bytes", "steady",
         "dup_records", "dedup_records"), 0,
    )  # fmt: skip
    dup_m = np.zeros(0, dtype=bool)
    if len(dups) or len(deduped):
        top = int(max(dups.max() if len(dups) else 0, deduped.max() if len(deduped) else 0)) + 1
        dup_m = np.zeros(top, dtype=np.int8)
        dup_m[dups] = 1
        dup_m[deduped] = 2
    for ch in requests.chunks(["request_id", "status", "n_records", "send_s", "attempts", "bytes"]):
        st = ch["status"].to_numpy()
        nrec = ch["n_records"].to_numpy()
        c["sent"] += int(nrec.sum())
        c["acked"] += int(nrec[st == ACKED].sum())
        c["failed_timeout"] += int(nrec[st == FAILED_TIMEOUT].sum())
        c["producer_died"] += int(nrec[st == PRODUCER_DIED].sum())
        c["failed_blocked"] += int(nrec[st == FAILED_BLOCKED].sum())
        c["pending"] += int(nrec[st == PENDING].sum())
        c["n_requests"] += len(st)
        c["n_acked"] += int((st == ACKED).sum())
        retried = ch["attempts"].to_numpy() > 0
        c["retried"] += int(retried.sum())
        c["retried_then_acked"] += int((retried & (st == ACKED)).sum())
        c["bytes"] += int(ch["bytes"].to_numpy().sum())
        c["steady"] += int(((ch["send_s"].to_numpy() >= warmup) & (st == ACKED)).sum())
        if len(dup_m):
            rid = ch["request_id"].to_numpy()
            inr = rid < len(dup_m)
            k = dup_m[rid[inr]]
            c["dup_records"] += int(nrec[inr][k == 1].sum())
            c["dedup_records"] += int(nrec[inr][k == 2].sum())
    return c


def _steady_latencies(requests: Table, warmup: float):
    """(produce latencies in ms, [leader code, producer region code]) of the steady-state
    acknowledged requests, a row group at a time."""

    def chunks():
        for ch in requests.chunks(["status", "send_s", "ack_s", "leader_at_ack", "region_idx"]):
            send = ch["send_s"].to_numpy()
            steady = (send >= warmup) & (ch["status"].to_numpy() == ACKED)
            lat = ((ch["ack_s"].to_numpy() - send) * 1000.0)[steady]
            codes = [ch["leader_at_ack"].to_numpy()[steady], ch["region_idx"].to_numpy()[steady]]
            yield lat, codes

    return chunks


def _group_block(stats: list[dict], names: list[str]) -> dict:
    return {
        names[k]: {"count": st["count"], "p50": st["p50"], "p99": st["p99"]}
        for k, st in sorted(enumerate(stats), key=lambda kv: names[kv[0]])
        if st["count"]
    }


def _latencies(requests: Table, n_steady: int, warmup: float, regions: list[str]) -> dict:
    """The produce latency blocks of the summary: exact percentiles over every steady-state
    acknowledged request, from one float column filled a row group at a time, or beyond
    ``checks.STREAM_ABOVE`` requests (a long run) in two passes that hold only the values near
    each percentile (``checks.streamed_stats``: the same figures, the mean up to its last
    bits)."""
    if n_steady > checks.STREAM_ABOVE:
        whole, (by_lead, by_reg) = checks.streamed_stats(
            _steady_latencies(requests, warmup), (len(regions), len(regions))
        )
        return {
            "produce_latency_ms": whole,
            "produce_latency_ms_by_leader": _group_block(by_lead, regions),
            "produce_latency_ms_by_producer_region": _group_block(by_reg, regions),
        }
    lat = np.empty(n_steady)
    lead = np.empty(n_steady, dtype=np.int16)
    reg = np.empty(n_steady, dtype=np.int16)
    pos = 0
    for ch in requests.chunks(["status", "send_s", "ack_s", "leader_at_ack", "region_idx"]):
        send = ch["send_s"].to_numpy()
        steady = (send >= warmup) & (ch["status"].to_numpy() == ACKED)
        k = int(steady.sum())
        lat[pos : pos + k] = ((ch["ack_s"].to_numpy() - send) * 1000.0)[steady]
        lead[pos : pos + k] = ch["leader_at_ack"].to_numpy()[steady]
        reg[pos : pos + k] = ch["region_idx"].to_numpy()[steady]
        pos += k
    return {
        "produce_latency_ms": checks.latency_stats(lat),
        "produce_latency_ms_by_leader": _by(lat, lead, regions),
        "produce_latency_ms_by_producer_region": _by(lat, reg, regions),
    }


def _e2e_stats(
    requests: Table, n_steady: int, receipts, n_files: int, n_cons: int, warmup: float
) -> dict:
    """The end-to-end latency figures: from one array of every (steady request, consumer)
    latency, or beyond ``checks.STREAM_ABOVE`` of them in two passes (``_latencies``)."""
    if not len(receipts) or not n_steady or n_steady * max(n_cons, 1) <= checks.STREAM_ABOVE:
        e2e = _e2e(requests, n_steady, receipts, n_files, n_cons, warmup)
        return checks.latency_stats(e2e, overwrite=True)
    grid = _receipt_grid(receipts, n_files, n_cons)

    def chunks():
        for ch in requests.chunks(["status", "send_s", "ack_file"]):
            send = ch["send_s"].to_numpy()
            steady = (send >= warmup) & (ch["status"].to_numpy() == ACKED)
            v = (grid[ch["ack_file"].to_numpy()[steady]] - send[steady][:, None]).ravel()
            yield v * 1000.0, []

    return checks.streamed_stats(chunks)[0]


def _receipt_grid(receipts, n_files: int, n_cons: int) -> np.ndarray:
    """Receipt time by (file, consumer), NaN where none (the last row: no file)."""
    grid = np.full((n_files + 1, max(n_cons, 1)), np.nan)
    grid[receipts["file_id"].to_numpy(), receipts["consumer"].to_numpy()] = receipts[
        "receipt_s"
    ].to_numpy()
    return grid


def _e2e(requests: Table, n_steady: int, receipts, n_files: int, n_cons: int, warmup: float):
    """End-to-end latencies (ms): for each steady-state acknowledged request and consumer, the
    consumer's receipt of the acknowledged file less the send, in request then consumer order
    (the non-finite ones, files a consumer never received, left out)."""
    if not len(receipts) or not n_steady:
        return np.zeros(0)
    grid = _receipt_grid(receipts, n_files, n_cons)
    out = np.empty(n_steady * grid.shape[1])
    pos = 0
    for ch in requests.chunks(["status", "send_s", "ack_file"]):
        send = ch["send_s"].to_numpy()
        steady = (send >= warmup) & (ch["status"].to_numpy() == ACKED)
        v = (grid[ch["ack_file"].to_numpy()[steady]] - send[steady][:, None]).ravel() * 1000.0
        v = v[np.isfinite(v)]
        out[pos : pos + len(v)] = v
        pos += len(v)
    return out[:pos]


def topology_info(world) -> dict:
    """What a plot needs to draw the topology, without importing the model."""
    regs = world.regions
    return {
        "regions": regs,
        "zones": {r: world.region_objs[r].zones for r in regs},
        "buckets": [b.region for b in world.buckets],
        "bucket_sites": [b.site for b in world.buckets],
        "quorum": world.sc.storage.quorum,
        "table": {
            "kind": world.table.kind,
            "regions": world.table.regions,
            "leader_region_initial": world.sc.table.leader_region,
            "leader_region_final": world.table.leader_region,
            "witness": world.table.witness,
        },
        "control_planes": sorted(world.cps),
        "agents": {r: sum(1 for a in world.agents if a.region == r) for r in regs},
        "producers": {r: sum(1 for p in world.producers if p.region == r) for r in regs},
        "consumers": {r: sum(1 for c in world.consumers if c.region == r) for r in regs},
        "rtt_ms": {a: {b: round(world.net.base_s[(a, b)] * 1000, 3) for b in regs} for a in regs},
        "destroyed": sorted(
            {c.region for c in world.buckets if c.destroyed}
            | {r for r, rep in world.table.replicas.items() if rep.destroyed}
        ),
        "instances": {
            "agent": {r: sum(1 for a in world.agents if a.region == r) for r in regs},
            "control_plane": {r: world.sc.control_plane.instances for r in sorted(world.cps)},
        },
    }


def _count_zone_traffic(world) -> None:
    """Bytes from producers to agents, per (producer zone, agent zone): every attempt (a producer
    that moved is counted in the zone it ended the run in), from the ledger's per (producer,
    agent) tallies."""
    led = world.ledger
    if not led.transfers:
        return
    zones = sorted({p.zone for p in world.producers} | {a.zone for a in world.agents})
    region_of = {z: r for r in world.regions for z in world.region_objs[r].zones}
    out: dict[tuple[str, str], list[int]] = {}
    for (p, a), (n, b) in led.transfers.items():
        sz, dz = world.producers[p].zone, world.agents[a].zone
        if sz == dz:
            continue
        row = out.setdefault((sz, dz), [0, 0])
        row[0] += n
        row[1] += b
    for (sz, dz), (n, b) in sorted(
        out.items(), key=lambda kv: (zones.index(kv[0][0]), zones.index(kv[0][1]))
    ):
        led.count_op("transfer", "network", region_of[sz], region_of[dz], int(n), int(b), sz, dz)


def _ops_frame(world, led, sc) -> pd.DataFrame:
    """The ledger's counts as the cost layer reads them (MRSC writes flag a witness)."""
    ops = led.ops_frame([a.region for a in world.agents], sc.storage.profile)
    has_witness = sc.table.kind == "mrsc" and sc.table.witness is not None
    ops["witness"] = ((ops["op"] == "table_write") & has_witness).astype(int)
    return ops


def _cost(world, sc, ops: pd.DataFrame, produced_bytes: int, prices=None) -> dict:
    """The run priced from its counts (``sim.cost``): unknown items reported, never zero."""
    from sim.cost.price import price_counts

    instances = topology_info(world)["instances"]
    return price_counts(ops, instances, sc.run.duration, produced_bytes, prices)


def _lost_in_quorum(lost: pd.DataFrame, files: pd.DataFrame, copy: np.ndarray, led, sc) -> int:
    """Lost acknowledged records whose file still had a quorum of copies in buckets that were
    not destroyed: beyond the survivable budget these are still a violation."""
    if len(lost) == 0 or files is None or len(files) == 0:
        return 0
    destroyed = np.array([led.histories[f"bucket:{r}"].destroyed_at for r in led.bucket_regions])
    alive = (np.isfinite(copy) & (copy < destroyed[None, :]) & ~np.isfinite(destroyed)).sum(1)
    row = pd.Series(np.arange(len(files)), index=files["file_id"].to_numpy())
    kept = alive[row.loc[lost["ack_file"].to_numpy()].to_numpy()] >= sc.storage.quorum
    return int(lost["n_records"].to_numpy()[kept].sum())
