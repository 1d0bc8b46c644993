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
from sim.model import consumers
from sim.run import checks


def _by(values_ms: np.ndarray, codes: np.ndarray, names: list[str]) -> dict:
    """count, p50 and p99 of ``values_ms`` per region (``codes`` index ``names``; -1: none)."""
    out = {}
    for k in sorted(set(np.unique(codes).tolist()) - {-1}, key=lambda c: names[c]):
        st = checks.latency_stats(values_ms[codes == k])
        out[names[k]] = {"count": st["count"], "p50": st["p50"], "p99": st["p99"]}
    return out


def derive(world, sc, seed: int, n_events: int, sim_wall: float, wall0: float, prices=None) -> dict:
    """The run's tables and summary, from the ledger (and the world's consumers, which read
    after the run)."""
    led = world.ledger
    end = sc.run.duration
    files = led.files_frame()
    led.files.release()  # the frames hold the rows now: the ledger's copies go (peak memory)
    n_files = led.n_files
    file_ack_s = np.full(n_files + 1, np.nan)
    file_leader = np.full(n_files + 1, -1, dtype=np.int16)
    if len(files):
        fid = files["file_id"].to_numpy()
        file_ack_s[fid] = files["ack_s"].to_numpy(dtype=np.float64)
        file_leader[fid] = files["commit_region"].cat.codes.to_numpy()
    requests = led.requests_frame(end, file_ack_s, file_leader)
    n_records_by_id = led.requests["n_records"][: led.requests.n].copy()
    led.requests.release()  # the frame holds the rows now: halve the peak memory
    requests["region"] = pd.Categorical.from_codes(
        requests["region_idx"].to_numpy(), categories=list(world.regions)
    )
    attempts = led.attempts_frame()
    led.attempts.release()
    batches = led.batches_frame()
    leader = led.leader_frame()
    events = pd.DataFrame(led.events, columns=["t_s", "kind", "text"])
    if len(files):
        files = files.sort_values("file_id", kind="stable").reset_index(drop=True)
        copy = checks.file_copies(files, led, sc.storage.repair_delay)
        data_ok = checks.data_survives(copy, led)
    else:
        copy = np.zeros((0, len(world.buckets)))
        data_ok = np.zeros(0, dtype=bool)
    meta_ok = checks.metadata_survivors(led, batches)
    readable = np.zeros(n_files + 1, dtype=bool)  # indexed by file id (the last: "no file")
    if len(files):
        fid = files["file_id"].to_numpy()
        in_meta = np.zeros(n_files + 1, dtype=bool)
        in_meta[np.fromiter(meta_ok, dtype=np.int64, count=len(meta_ok))] = True
        readable[fid] = data_ok & in_meta[fid]
        files["readable_at_end"] = readable[fid]
        files["metadata_committed_s"] = files["file_id"].map(led.file_commit)
    receipts = consumers.receipts(
        world.consumers, files, copy, led, world.net, world.buckets, sc.workload.poll_interval,
        world.table, world.streams.gen("consumers"), end, sc.workload.read_from,
    )  # fmt: skip
    for src, dst, n, nbytes in checks.repairs(files, copy, led):
        led.count_op("put", sc.storage.profile, src, dst, n, nbytes)
    _count_zone_traffic(world, requests, attempts, files)
    lost = checks.lost_acked(requests, attempts, readable)
    # idempotent producers: the table recognises a retried batch's producer id and sequence
    # (a mutant's table does not, and applies it again)
    dups, deduped = checks.duplicates(
        attempts, readable, len(n_records_by_id),
        sc.workload.idempotence and world.table.recognises_sequences,
    )  # fmt: skip
    blocked, block_timeouts = checks.blocked_time(requests, len(world.producers))
    all_down = checks.clients_down([p.down_intervals(end) for p in world.producers])
    windows = checks.unavailability_windows(
        requests, sc.run.unavailability_threshold, end, all_down
    )

    st = requests["status"].to_numpy()
    nrec = requests["n_records"].to_numpy()
    send = requests["send_s"].to_numpy()
    lat_all = (requests["ack_s"].to_numpy() - send) * 1000.0
    steady = (send >= sc.run.warmup) & (st == ACKED)
    lat = lat_all[steady]

    e2e = np.zeros(0)
    if len(receipts) and steady.any():
        # receipt time by (file, consumer), then e2e = receipt of the acked file - send
        n_cons = len(world.consumers)
        grid = np.full((n_files + 1, max(n_cons, 1)), np.nan)
        grid[receipts["file_id"].to_numpy(), receipts["consumer"].to_numpy()] = receipts[
            "receipt_s"
        ].to_numpy()
        ack_file = requests["ack_file"].to_numpy()[steady]
        e2e = (grid[ack_file] - send[steady][:, None]).ravel() * 1000.0

    lost_records = int(lost["n_records"].sum()) if len(lost) else 0
    dup_records = int(n_records_by_id[dups].sum()) if len(dups) else 0
    dedup_records = int(n_records_by_id[deduped].sum()) if len(deduped) else 0
    ops = _ops_frame(world, led, sc)
    cost = _cost(world, sc, ops, int(requests["bytes"].sum()) if len(requests) else 0, prices)
    from sim.run.invariants import check_all, inputs_from_ledger

    effects = pd.DataFrame(
        led.effects, columns=["fault", "component", "effect", "start_s", "end_s"]
    )
    checks_block = check_all(
        sc, requests, files, batches, receipts, lost_records, dup_records, led.faults, effects,
        leader=led.leader_frame(), lost_in_quorum=_lost_in_quorum(lost, files, copy, led, sc),
        **inputs_from_ledger(led),
    )  # fmt: skip
    summary = {
        "scenario": sc.name,
        "seed": int(seed),
        "sim_duration_s": float(end),
        "wall_time_s": round(time.perf_counter() - wall0, 3),
        "produce_latency_ms": checks.latency_stats(lat),
        "produce_latency_ms_by_leader": _by(
            lat, requests["leader_at_ack"].to_numpy()[steady], world.regions
        ),
        "produce_latency_ms_by_producer_region": _by(
            lat, requests["region_idx"].to_numpy()[steady], world.regions
        ),
        "e2e_latency_ms": {
            k: v
            for k, v in checks.latency_stats(e2e).items()
            if k in ("count", "p50", "p99", "max")
        },
        "records": {
            "sent": int(nrec.sum()),
            "acked": int(nrec[st == ACKED].sum()),
            "failed": int(
                nrec[(st == FAILED_TIMEOUT) | (st == PRODUCER_DIED) | (st == FAILED_BLOCKED)].sum()
            ),
            "lost_acked": lost_records,
            "duplicated": dup_records,
            "deduplicated": dedup_records,
            "in_flight_at_end": int(nrec[st == PENDING].sum()),
            "failed_delivery_timeout": int(nrec[st == FAILED_TIMEOUT].sum()),
            "lost_with_producer": int(nrec[st == PRODUCER_DIED].sum()),
            "failed_max_block": int(nrec[st == FAILED_BLOCKED].sum()),
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
            "sent": int(len(requests)),
            "acked": int((st == ACKED).sum()),
            "retries": int(led.tallies.get("retries", 0)),
            "retried": int((requests["attempts"].to_numpy() > 0).sum()),
            "retried_then_acked": int(
                ((requests["attempts"].to_numpy() > 0) & (st == ACKED)).sum()
            ),
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
            "acked": int((files["status"] == 1).sum()) if len(files) else 0,
            "committed": len(led.file_commit),
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
        "summary": summary, "requests": requests, "attempts": attempts, "files": files,
        "batches": batches, "receipts": receipts, "leader": leader, "events": events,
        "topology": topology_info(world),
        "ops": ops,
        "cost": cost,
        "components": led.components_frame(),
        "effects": effects,
        "faults": led.faults,
    }  # fmt: skip


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


def _count_zone_traffic(world, requests, attempts, files) -> None:
    """Bytes from producers to agents, per (producer zone, agent zone): every attempt (a producer
    that moved is counted in the zone it ended the run in)."""
    if len(attempts) == 0 or len(files) == 0:
        return
    led = world.ledger
    req_bytes = np.zeros(int(requests["request_id"].max()) + 1 if len(requests) else 1, np.int64)
    req_bytes[requests["request_id"].to_numpy()] = requests["bytes"].to_numpy()
    prod_of = np.zeros_like(req_bytes, dtype=np.int64)
    prod_of[requests["request_id"].to_numpy()] = requests["producer"].to_numpy()
    rid = attempts["request_id"].to_numpy()
    keep = rid < len(req_bytes)
    rid, fid = rid[keep], attempts["file_id"].to_numpy()[keep]
    agent_of_file = np.full(int(files["file_id"].max()) + 1, -1, np.int64)
    agent_of_file[files["file_id"].to_numpy()] = files["agent"].to_numpy()
    agents = agent_of_file[fid]
    prods = prod_of[rid]
    nbytes = req_bytes[rid]
    # zones as integer codes: no Python object per attempt
    zones = sorted({p.zone for p in world.producers} | {a.zone for a in world.agents})
    region_of = {z: r for r in world.regions for z in world.region_objs[r].zones}
    pz = np.array([zones.index(p.zone) for p in world.producers], np.int64)
    az = np.array([zones.index(a.zone) for a in world.agents], np.int64)
    src, dst = pz[prods], az[agents]
    cross = src != dst
    if not cross.any():
        return
    code = src[cross] * len(zones) + dst[cross]
    uniq, inv = np.unique(code, return_inverse=True)
    counts = np.bincount(inv)
    sums = np.bincount(inv, weights=nbytes[cross])
    for u, n, b in zip(uniq, counts, sums, strict=True):
        sz, dz = zones[int(u) // len(zones)], zones[int(u) % len(zones)]
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
    if len(lost) == 0 or len(files) == 0:
        return 0
    destroyed = np.array([led.histories[f"bucket:{r}"].destroyed_at for r in led.bucket_regions])
    alive = (np.isfinite(copy) & (copy < destroyed[None, :]) & ~np.isfinite(destroyed)).sum(1)
    row = pd.Series(np.arange(len(files)), index=files["file_id"].to_numpy())
    kept = alive[row.loc[lost["ack_file"].to_numpy()].to_numpy()] >= sc.storage.quorum
    return int(lost["n_records"].to_numpy()[kept].sum())
