"""The world of one run: every component built from a scenario and wired, and the fault surface.

``World`` builds the whole topology first (regions, network, buckets, table, control planes,
agents, producers, consumers), registers every component's history with the ledger, and then
starts the processes. It is also the model's implementation of the fault surface
(:class:`sim.faults.surface.FaultSurface`): the only code through which a fault changes a
component, each change recorded in the ledger as an effect of the fault that made it.
"""

from __future__ import annotations

from sim.core.events import Horizon
from sim.core.latency import LogNormal, Slowdown
from sim.faults.schedule import Nemesis
from sim.faults.surface import NO_EFFECT, ClientKind, Heal, Select, heal_all
from sim.ledger import Ledger
from sim.model.agent import Agent
from sim.model.component import Component, Region, zone_names
from sim.model.consumers import Consumer
from sim.model.control_plane import ControlPlane
from sim.model.network import Network
from sim.model.producers import Producer, RetryRouter
from sim.model.storage import PROFILES, Bucket
from sim.model.table import MetadataTable
from sim.scenario import Scenario


class World:
    """Every component of one run, wired together; the fault surface."""

    def __init__(self, env, sc: Scenario, streams):
        self.env = env
        self.sc = sc
        self.streams = streams
        topo = sc.topology
        self.regions = list(topo.regions)
        self.region_objs = {
            r: Region(r, zone_names(r, topo.zones_per_region)) for r in self.regions
        }
        profile = PROFILES[sc.storage.profile]
        sites = [  # (region, zone or None) of each bucket
            (r, z)
            for r in sc.storage.regions
            for z in (self.region_objs[r].zones if sc.storage.zonal else [None])
        ]
        self.ledger = Ledger(
            regions=self.regions,
            bucket_regions=[z or r for r, z in sites],
            bucket_region_of={z or r: r for r, z in sites},
        )
        self.net = Network(self.regions, streams.block("network"), sc.network.jitter_ms)
        self.buckets = [
            self._place(Bucket(r, profile, streams.block(f"storage.{z or r}"), z)) for r, z in sites
        ]
        t = sc.table
        self.table = MetadataTable(
            t.kind, t.regions, sc.control_plane.regions, t.leader_region, t.witness, self.net,
            streams.block("table"), LogNormal.from_percentiles(t.local_p50_ms, t.local_p99_ms),
            t.op_timeout, t.leader_failover,
            LogNormal.from_percentiles(t.replication_lag_p50_ms, t.replication_lag_p99_ms),
            t.conflict_window,
        )  # fmt: skip
        self.ledger.table_leader.append((0.0, t.leader_region))
        self.table.on_leader_change = lambda t1, r: self.ledger.table_leader.append((t1, r))
        self.table.log_sink = self.ledger.add_log  # a strong table's log, as columns
        for rep in self.table.replicas.values():
            self._place(rep)
        for c in list(self.table.leader_roles.values()) + list(self.table.replication_out.values()):
            self._place(c)
        self.cps: dict[str, ControlPlane] = {}
        for r in sc.control_plane.regions:
            cp = ControlPlane(
                env, r, list(sc.control_plane.regions), self.table, self.net, self.ledger,
                streams.block(f"control.{r}"), sc.control_plane,
            )  # fmt: skip
            self.cps[r] = self._place(cp)
        self.agents: list[Agent] = []
        for r in self.regions:
            for z in self.region_objs[r].zones:
                for _ in range(sc.agents.per_zone):
                    a = Agent(
                        env, len(self.agents), r, z, sc.agents, sc.storage, self.net, self.buckets,
                        self.cps, self.ledger, streams.block(f"agent.{len(self.agents)}"),
                    )  # fmt: skip
                    self.agents.append(self._place(a))
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
                    self.producers.append(self._place(p))
        self.consumers: list[Consumer] = []
        self._mutant = getattr(sc, "mutant", None)
        for r in w.consumer_regions:
            zones = self.region_objs[r].zones
            for k in range(w.consumers_per_region):
                c = Consumer(f"consumer:{r}:{k}", r, zones[k % len(zones)])
                self.consumers.append(self._place(c))
        for link in self.net.links.values():
            self.ledger.register(link)
        self.router = RetryRouter(
            env, w, self.agents, self.producers, self.net, self.ledger, streams.gen("retries")
        )
        # the lookahead: none until the fault schedule is known (``start``)
        self.horizon = Horizon()
        for a in self.agents:
            a.router = self.router
            a.horizon = self.horizon
        self.nemesis: Nemesis | None = None

    def _place(self, c):
        """Put a component in its region and its history in the ledger."""
        self.region_objs[c.region].add(c)
        self.ledger.register(c)
        return c

    def start(self) -> None:
        """Start every process, after all wiring is done."""
        env = self.env
        if self._mutant:  # a deliberately broken design (tests, sim fuzz --mutant)
            m = self._mutant
            for obj in [self.table, *self.cps.values(), *self.consumers]:
                obj.mutant = m
            if m == "non-idempotent-commit":  # a retried batch applied again
                self.table.recognises_sequences = False
            for a in self.agents:
                a.mutant = m
                a.quorum.mutant = m
        for cp in self.cps.values():
            cp.start()
        for a in self.agents:
            a.start()
        env.process(self.table.watch_leader(env))
        self.nemesis = Nemesis(
            env, self, self.sc.faults, self.streams.gen("faults"), self.ledger, self.sc.run.duration,
            self.horizon,
        )  # fmt: skip

    def held_floors(self) -> tuple[int | None, int | None]:
        """The lowest request id and wire id the model still holds outside the files in
        flight: the ledger keeps those rows, and every later one, in memory (None: none).

        Requests: the batches a producer counts in its buffer (it reads their status and end
        when its buffer fills). Wires: the wire requests a producer counts on its connection
        (it reads their answer times at its next dispatch, however long ago they were
        answered: a producer whose agent is gone does not dispatch for a while)."""
        lows = [int(p.min()) for pr in self.producers for p in pr._held_parts if len(p)]
        wires = [min(pr._open) for pr in self.producers if pr._open]
        return (min(lows) if lows else None), (min(wires) if wires else None)

    def finish(self) -> None:
        """The end of the run: heal what is still active, record the table's final state."""
        end = self.sc.run.duration
        if self.nemesis is not None:
            self.nemesis.finish(end)
        self.ledger.metadata = self.table.final_state(end)

    # -- the fault surface: what a fault may see -----------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    def zones(self, region: str) -> list[str]:
        return list(self.region_objs[region].zones)

    def control_plane_regions(self) -> list[str]:
        return list(self.cps)

    def leader(self) -> str | None:
        now = self.env.now
        leaders = [r for r, cp in self.cps.items() if cp.leads(now)]
        if leaders:
            return leaders[0]
        return self.table.view(self.regions[0], now).lease.holder

    def table_leader(self) -> str | None:
        return self.table.leader_region

    def _components(self, sel: Select) -> list[Component]:
        if sel.region is not None and sel.region not in self.region_objs:
            return []
        regions = [sel.region] if sel.region is not None else self.regions
        out: list[Component] = []
        for r in regions:
            for c in self.region_objs[r].components:
                if sel.part is None and c.logical:
                    continue  # roles go down with their machines, not with the region
                if sel.part is not None and c.part != sel.part:
                    continue
                if sel.zone is not None and c.zone != sel.zone:
                    continue
                out.append(c)
        if sel.part is None and sel.zone is None:
            # a whole region: every link into or out of it as well
            links = [
                lk
                for lk in self.net.links.values()
                if sel.region is None or sel.region in (lk.src, lk.dst)
            ]
            out = [c for c in out if c not in links] + links
        return out

    def select(self, sel: Select) -> list[str]:
        return [c.name for c in self._components(sel)]

    # -- the fault surface: what a fault may do ------------------------------------------------
    def _effect(self, comps: list[Component], what: str, start, undo) -> Heal:
        """Apply ``start(c, t)`` to each component, record it, return the heal (``undo``)."""
        t = self.env.now
        self.horizon.check(t)
        nem = self.nemesis
        fault_id = nem.current.rec["id"] if nem is not None and nem.current is not None else None
        recs = []
        for c in comps:
            start(c, t)
            rec = {"fault": fault_id, "component": c.name, "effect": what, "start_s": t}
            rec["end_s"] = None
            recs.append(rec)
        self.ledger.effects.extend(recs)

        def heal(t1: float) -> None:
            self.horizon.check(t1)
            for c, rec in zip(comps, recs, strict=True):
                undo(c, t1)
                rec["end_s"] = t1

        return Heal(heal) if comps else NO_EFFECT

    def hold_down(self, sel: Select, destroy_data: bool = False) -> Heal:
        comps = self._components(sel)
        data = [c for c in comps if destroy_data and c.holds_data]
        held = [c for c in comps if c not in data]
        heals = [
            self._effect(held, "down", lambda c, t: c.take_down(t), lambda c, t: c.bring_up(t))
        ]
        if data:  # destroyed for good: no heal brings them back
            self._effect(data, "destroyed", lambda c, t: c.destroy(t), lambda c, t: None)
        return heal_all(heals)

    def slow(self, sel: Select, slowdown: Slowdown) -> Heal:
        return self._effect(
            self._components(sel), "slow",
            lambda c, t: c.add_slowdown(slowdown, t), lambda c, t: c.remove_slowdown(slowdown, t),
        )  # fmt: skip

    def fail_fraction(self, sel: Select, rate: float) -> Heal:
        return self._effect(
            self._components(sel), f"errors {rate:g}",
            lambda c, t: c.add_error_rate(rate), lambda c, t: c.remove_error_rate(rate),
        )  # fmt: skip

    def reduce_capacity(self, sel: Select, factor: float) -> Heal:
        cps = [c for c in self._components(sel) if isinstance(c, ControlPlane)]
        return self._effect(
            cps, f"capacity x{factor:g}",
            lambda c, t: c.add_capacity_factor(factor), lambda c, t: c.remove_capacity_factor(factor),
        )  # fmt: skip

    def cut(self, pairs: list[tuple[str, str]]) -> Heal:
        links = [self.net.links[p] for p in pairs if p in self.net.links]
        return self._effect(links, "down", lambda c, t: c.take_down(t), lambda c, t: c.bring_up(t))

    def degrade(self, a: str, b: str, slowdown: Slowdown, loss: float) -> Heal:
        links = [self.net.links[p] for p in ((a, b), (b, a)) if p in self.net.links]

        def start(c, t):
            c.add_slowdown(slowdown, t)
            c.add_loss(loss)

        def undo(c, t):
            c.remove_slowdown(slowdown, t)
            c.remove_loss(loss)

        return self._effect(links, f"degraded (loss {loss:g})", start, undo)

    def scale_load(self, region: str | None, multiplier: float) -> Heal:
        prods = [p for p in self.producers if region is None or p.region == region]
        return self._effect(
            prods, f"load x{multiplier:g}",
            lambda p, t: p.add_rate_factor(t, multiplier), lambda p, t: p.remove_rate_factor(t, multiplier),
        )  # fmt: skip

    def move_clients(self, kind: ClientKind, src: str, dst: str) -> Heal:
        t = self.env.now
        if kind == "consumers":
            moved = [c for c in self.consumers if c.current_region(t) == src]
            return self._effect(
                moved,
                f"moved to {dst}",
                lambda c, t1: c.move(t1, dst),
                lambda c, t1: c.move(t1, src),
            )
        dst_agents = [a for a in self.agents if a.region == dst]
        moved = [p for p in self.producers if p.region == src] if dst_agents else []
        homes = {p.idx: (p.region, p.zone, p.home_agent) for p in moved}

        def go(p, t1):
            new = dst_agents[p.idx % len(dst_agents)]
            p.region, p.zone = dst, new.zone
            p.region_idx = self.regions.index(dst)
            _rehome(p, new)

        def back(p, t1):
            region, zone, home = homes[p.idx]
            p.region, p.zone = region, zone
            p.region_idx = self.regions.index(region)
            _rehome(p, home)

        heal = self._effect(moved, f"moved to {dst}", go, back)
        self.ledger.note(t, "workload", f"{len(moved)} producers move from {src} to {dst}")
        return heal

    def prefer(self, region: str) -> None:
        self.horizon.check(self.env.now)
        for cp in self.cps.values():
            cp.preference = region
        self.ledger.note(self.env.now, "operator", f"preferred leader region set to {region}")

    def skew_clock(self, region: str, offset: float, drift: float) -> Heal:
        cps = [self.cps[region]] if region in self.cps else []
        return self._effect(
            cps, f"clock {offset:+g} s, drift {drift:g}",
            lambda c, t: c.set_clock(t, offset, drift), lambda c, t: c.set_clock(t, 0.0, 0.0),
        )  # fmt: skip

    def after(self, delay: float, step) -> None:
        ev = self.env.timeout(max(0.0, delay))
        nem = self.nemesis
        current = nem.current if nem is not None else None

        def run(_ev) -> None:
            prev = nem.current
            nem.current = current  # effects of a later step belong to the same fault
            try:
                step()
            finally:
                nem.current = prev

        ev.callbacks.append(run)
        if nem is not None:
            nem.step_pending(ev)

    def note(self, kind: str, text: str) -> None:
        self.ledger.note(self.env.now, kind, text)


def _rehome(p, agent) -> None:
    if p.agent is not None and p in p.agent.producers:
        p.agent.producers.remove(p)
    p.home_agent = p.agent = agent
    agent.producers.append(p)
