"""Build the modelled system from a scenario, run it, and derive the results.

``run(scenario, seed)`` is a pure function of its arguments: it builds the whole topology first
(regions, network, buckets, table, control planes, agents, clients), then starts the processes,
runs SimPy to the scenario's duration, and hands the ledger to the checks. Nothing in it reads the
clock of the machine except ``wall_time_s``, which is reported and never feeds back.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from sim.core.latency import LogNormal
from sim.core.rng import Streams, draw_root_seed
from sim.faults.kinds import fault_process, occurrences
from sim.ledger import ACKED, FAILED_TIMEOUT, PENDING, PRODUCER_DIED, Ledger
from sim.model.agent import Agent, Router
from sim.model.clients import Consumer, Producer
from sim.model.component import Component, Region, zone_names
from sim.model.control_plane import ControlPlane
from sim.model.network import Network
from sim.model.storage import PROFILES, Bucket
from sim.model.table import MetadataTable
from sim.run import checks
from sim.scenario import Scenario


class World:
    """Every component of one run, wired together; the surface faults act on."""

    def __init__(self, env: simpy.Environment, sc: Scenario, streams: Streams):
        self.env = env
        self.sc = sc
        self.streams = streams
        topo = sc.topology
        self.regions = list(topo.regions)
        self.region_objs = {
            r: Region(r, zone_names(r, topo.zones_per_region)) for r in self.regions
        }
        self.net = Network(self.regions, streams.block("network"), sc.network.jitter_ms)
        for link in self.net.links.values():
            self.region_objs[link.src].add(link)
        self.ledger = Ledger(regions=self.regions, bucket_regions=list(sc.storage.regions))
        self.counters = {"files": 0, "batches": 0}
        profile = PROFILES[sc.storage.profile]
        self.buckets = [
            self.region_objs[r].add(Bucket(r, profile, streams.block(f"storage.{r}")))
            for r in sc.storage.regions
        ]
        t = sc.table
        self.table = MetadataTable(
            t.kind, t.regions, sc.control_plane.regions, t.leader_region, t.witness, self.net,
            streams.block("table"), LogNormal.from_percentiles(t.local_p50_ms, t.local_p99_ms),
            t.op_timeout, t.leader_failover,
            LogNormal.from_percentiles(t.replication_lag_p50_ms, t.replication_lag_p99_ms),
            t.conflict_window,
        )  # fmt: skip
        for r, rep in self.table.replicas.items():
            self.region_objs[r].add(rep)
        self.cps: dict[str, ControlPlane] = {}
        for r in sc.control_plane.regions:
            cp = ControlPlane(
                env, r, list(sc.control_plane.regions), self.table, self.net, self.ledger,
                streams.block(f"control.{r}"), sc.control_plane, self.counters,
            )  # fmt: skip
            cp.on_commit = self._on_commit
            self.cps[r] = self.region_objs[r].add(cp)
        self.agents: list[Agent] = []
        for r in self.regions:
            for z in self.region_objs[r].zones:
                for _ in range(sc.agents.per_zone):
                    a = Agent(
                        env, len(self.agents), r, z, sc.agents, sc.storage, self.net, self.buckets,
                        self.cps, self.ledger, self.counters, streams.block(f"agent.{len(self.agents)}"),
                    )  # fmt: skip
                    self.agents.append(self.region_objs[r].add(a))
        w = sc.workload
        self.producers: list[Producer] = []
        for r in w.producer_regions:
            for z in self.region_objs[r].zones:
                for k in range(w.producers_per_zone):
                    p = Producer(
                        len(self.producers), r, z, w,
                        streams.gen(f"workload.{z}.p{k}"), self.ledger.requests,
                    )  # fmt: skip
                    p.region_idx = self.regions.index(r)
                    home = [a for a in self.agents if a.zone == z]
                    p.home_agent = p.agent = home[k % len(home)]
                    p.home_agent.producers.append(p)
                    self.producers.append(self.region_objs[r].add(p))
        self.consumers: list[Consumer] = []
        for r in w.consumer_regions:
            zones = self.region_objs[r].zones
            for k in range(w.consumers_per_region):
                c = Consumer(f"consumer:{r}:{k}", r, zones[k % len(zones)])
                self.consumers.append(self.region_objs[r].add(c))
        self.router = Router(
            env, w, self.agents, self.producers, self.net, self.ledger, streams.gen("retries")
        )
        for a in self.agents:
            a.router = self.router
        self.file_commit: dict[int, float] = {}
        self.active_faults: dict = {}

    # -- wiring --------------------------------------------------------------------------------
    def _on_commit(self, batch_id, region, epoch, t0, t_apply, first, file_ids, n_records, holders):
        """A metadata batch was applied by the table."""
        self.ledger.add_batch(
            (
                batch_id,
                region,
                epoch,
                t0,
                t_apply,
                first,
                len(file_ids),
                n_records,
                ",".join(holders),
            )
        )
        fc = self.file_commit
        for f in file_ids:
            fc[f] = t_apply

    def start(self) -> None:
        """Start every process, after all wiring is done."""
        env = self.env
        for cp in self.cps.values():
            cp.start()
        for a in self.agents:
            a.start()
        env.process(self.table.watch_leader(env))
        fault_gen = self.streams.gen("faults")
        self.router.producers_failed = bool(self.sc.faults)
        for spec in self.sc.faults:
            for i, (t, d) in enumerate(occurrences(spec, fault_gen, self.sc.run.duration)):
                env.process(fault_process(env, self, spec, fault_gen, self.ledger, t, d, i))

    # -- the fault surface ---------------------------------------------------------------------
    def current_leader(self) -> str | None:
        """The region a control plane believes leads now (the lease holder that leads)."""
        now = self.env.now
        leaders = [r for r, cp in self.cps.items() if cp.leads(now)]
        if leaders:
            return leaders[0]
        lease = self.table.view(self.regions[0], now).lease
        return lease.holder

    def components_in(self, region: str, scope: str) -> list[Component]:
        """The components a region-scoped fault acts on (``all``, ``control-plane``,
        ``data-plane``, or ``zone:<zone>``)."""
        comps = self.region_objs[region].components
        if scope == "control-plane":
            return [c for c in comps if isinstance(c, ControlPlane)]
        if scope == "data-plane":
            return [c for c in comps if isinstance(c, Agent)]
        if scope.startswith("zone:"):
            zone = scope[5:]
            return [c for c in comps if c.zone == zone]
        # a whole region: everything in it, and every link into or out of it
        links = [lk for lk in self.net.links.values() if region in (lk.src, lk.dst)]
        return [c for c in comps if c not in links] + links

    def data_components_in(self, region: str) -> list[Component]:
        """What holds data in a region (destroyed when the region is)."""
        return [b for b in self.buckets if b.region == region] + (
            [self.table.replicas[region]] if region in self.table.replicas else []
        )

    def end_fault(self, spec, t: float) -> None:
        """End a fault early (a bad deploy rolled back): heal it and record its real end."""
        for key in [k for k in self.active_faults if k[0] == id(spec)]:
            rec, heal = self.active_faults.pop(key)
            heal(t)
            rec["end_s"] = t
            self.ledger.note(t, "fault", f"{rec['label']} on {rec['target']} healed")

    def set_preference(self, region: str, t: float) -> None:
        """Operator action: every control plane's preferred region ('auto' to return to auto)."""
        for cp in self.cps.values():
            cp.preference = region
        self.ledger.note(t, "operator", f"preferred leader region set to {region}")

    def move_producers(self, src: str, dst: str, t: float) -> list[tuple]:
        """Producers of region ``src`` move to ``dst``: their home becomes an agent there."""
        moved = []
        dst_agents = [a for a in self.agents if a.region == dst]
        for p in self.producers:
            if p.region != src or not dst_agents:
                continue
            old = (p, p.region, p.zone, p.home_agent)
            new = dst_agents[p.idx % len(dst_agents)]
            p.region, p.zone = dst, new.zone
            p.region_idx = self.regions.index(dst)
            self._rehome(p, new)
            moved.append(old)
        self.ledger.note(t, "workload", f"{len(moved)} producers move from {src} to {dst}")
        return moved

    def move_producers_back(self, moved: list[tuple], t: float) -> None:
        """Undo ``move_producers``."""
        for p, region, zone, home in moved:
            p.region, p.zone = region, zone
            p.region_idx = self.regions.index(region)
            self._rehome(p, home)

    @staticmethod
    def _rehome(p, agent) -> None:
        if p.agent is not None and p in p.agent.producers:
            p.agent.producers.remove(p)
        p.home_agent = p.agent = agent
        agent.producers.append(p)


@dataclass
class RunResult:
    """Everything a run produced: the summary and the tables behind it."""

    scenario: Scenario
    seed: int
    summary: dict
    requests: pd.DataFrame
    attempts: pd.DataFrame
    files: pd.DataFrame
    batches: pd.DataFrame
    receipts: pd.DataFrame
    leader: pd.DataFrame
    events: pd.DataFrame
    topology: dict = field(default_factory=dict)


def _consumer_receipts(world: World, files: pd.DataFrame, copy: np.ndarray) -> pd.DataFrame:
    """When each consumer received each committed file (vectorised, after the run)."""
    sc = world.sc
    committed = files["file_id"].map(world.file_commit).to_numpy(dtype=np.float64)
    idx = np.where(np.isfinite(committed))[0]
    rows = []
    if len(idx) == 0:
        return pd.DataFrame({"file_id": [], "consumer": [], "receipt_s": []})
    tcommit = committed[idx]
    size = files["bytes"].to_numpy()[idx]
    gen = world.streams.gen("consumers")
    local = world.table.local
    bucket_regions = [b.region for b in world.buckets]
    for ci, c in enumerate(world.consumers):
        disc = tcommit + gen.random(len(idx)) * sc.workload.poll_interval
        disc += local.median_s * np.exp(local.sigma * gen.standard_normal(len(idx)))
        alive = c.up_mask(disc)
        receipt = np.full(len(idx), np.nan)
        for seg_start, seg_end, region in c.region_segments(sc.run.duration):
            todo = alive & (disc >= seg_start) & (disc < seg_end)
            for br in world.net.nearest(region, bucket_regions):
                b = world.buckets[bucket_regions.index(br)]
                have = todo & (copy[idx, bucket_regions.index(br)] <= disc) & b.up_mask(disc)
                if not have.any():
                    continue
                n = int(have.sum())
                base = world.net.base_s[(region, br)]
                rtt = base - world.net.jitter_s * np.log1p(-gen.random(n))
                get = b.profile.get.median_s * np.exp(b.profile.get.sigma * gen.standard_normal(n))
                receipt[have] = disc[have] + rtt + get + size[have] / b.profile.throughput_bps
                todo &= ~have
        rows.append(
            pd.DataFrame(
                {"file_id": files["file_id"].to_numpy()[idx], "consumer": ci, "receipt_s": receipt}
            )
        )
    return pd.concat(rows, ignore_index=True)


def _by(values_ms: np.ndarray, codes: np.ndarray, names: list[str]) -> dict:
    """count, p50 and p99 of ``values_ms`` per region (``codes`` index ``names``; -1: none)."""
    out = {}
    for k in sorted(set(np.unique(codes).tolist()) - {-1}, key=lambda c: names[c]):
        st = checks.latency_stats(values_ms[codes == k])
        out[names[k]] = {"count": st["count"], "p50": st["p50"], "p99": st["p99"]}
    return out


def run(sc: Scenario, seed: int | None = None, progress=None) -> RunResult:
    """Run one scenario from one root seed and return its results."""
    seed = seed if seed is not None else sc.run.seed
    if seed is None:
        seed = draw_root_seed()
    sc = sc.model_copy(deep=True)
    sc.run.seed = int(seed)
    wall0 = time.perf_counter()
    env = simpy.Environment()
    streams = Streams(seed)
    world = World(env, sc, streams)
    world.start()
    duration = sc.run.duration
    # The model allocates many short-lived objects (events, generators) and few cycles: collect
    # less often while it runs and its tables are built (15-20% faster); restored afterwards.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        if progress is None:
            env.run(until=duration)
        else:
            step = max(duration / 200, 1.0)
            t = 0.0
            while t < duration:
                t = min(duration, t + step)
                env.run(until=t)
                progress(t)
        n_events = next(env._eid)
        sim_wall = time.perf_counter() - wall0
        return _results(world, sc, seed, n_events, sim_wall, wall0)
    finally:
        gc.set_threshold(*thresholds)


def _results(
    world: World, sc: Scenario, seed: int, n_events: int, sim_wall: float, wall0: float
) -> RunResult:
    led = world.ledger
    end = sc.run.duration
    files = led.files_frame()
    n_files = world.counters["files"]
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
    batches = led.batches_frame()
    leader = led.leader_frame()
    events = pd.DataFrame(led.events, columns=["t_s", "kind", "text"])
    if len(files):
        files = files.sort_values("file_id", kind="stable").reset_index(drop=True)
        copy = checks.file_copies(files, world.buckets, world.net, sc.storage.repair_delay)
        data_ok = checks.data_survives(copy, world.buckets)
    else:
        copy = np.zeros((0, len(world.buckets)))
        data_ok = np.zeros(0, dtype=bool)
    meta_ok = checks.metadata_survivors(world.table, batches, end)
    readable = np.zeros(n_files + 1, dtype=bool)  # indexed by file id (the last: "no file")
    if len(files):
        fid = files["file_id"].to_numpy()
        in_meta = np.zeros(n_files + 1, dtype=bool)
        in_meta[np.fromiter(meta_ok, dtype=np.int64, count=len(meta_ok))] = True
        readable[fid] = data_ok & in_meta[fid]
        files["readable_at_end"] = readable[fid]
        files["metadata_committed_s"] = files["file_id"].map(world.file_commit)
    receipts = (
        _consumer_receipts(world, files, copy)
        if len(files)
        else pd.DataFrame({"file_id": [], "consumer": [], "receipt_s": []})
    )
    lost = checks.lost_acked(requests, attempts, readable)
    dups = checks.duplicates(attempts, readable, len(n_records_by_id))
    windows = checks.unavailability_windows(requests, sc.run.unavailability_threshold, end)

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
            "failed": int(nrec[(st == FAILED_TIMEOUT) | (st == PRODUCER_DIED)].sum()),
            "lost_acked": lost_records,
            "duplicated": dup_records,
            "in_flight_at_end": int(nrec[st == PENDING].sum()),
            "failed_delivery_timeout": int(nrec[st == FAILED_TIMEOUT].sum()),
            "lost_with_producer": int(nrec[st == PRODUCER_DIED].sum()),
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
            "retries": int(world.router.retries),
        },
        "files": {
            "flushed": int(len(files)),
            "acked": int((files["status"] == 1).sum()) if len(files) else 0,
            "committed": len(world.file_commit),
            "readable_at_end": int(readable.sum()),
        },
        "metadata": {
            "table": sc.table.kind,
            "batches": int(len(batches)),
            "table_leader_changes": [[round(t, 6), r] for t, r in world.table.leader_changes],
            "conflicts": int(world.counters.get("conflicts", 0)),
            "fenced_commits": int(world.counters.get("fenced", 0)),
            "lease_op_failures": int(world.counters.get("lease_op_failures", 0)),
        },
        "model": {"events": int(n_events), "sim_wall_s": round(sim_wall, 3)},
    }
    return RunResult(
        sc, int(seed), summary, requests, attempts, files, batches, receipts, leader, events,
        topology_info(world),
    )  # fmt: skip


def topology_info(world: World) -> dict:
    """What a plot needs to draw the topology, without importing the model."""
    regs = world.regions
    return {
        "regions": regs,
        "zones": {r: world.region_objs[r].zones for r in regs},
        "buckets": [b.region for b in world.buckets],
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
    }
