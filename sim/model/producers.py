"""Kafka producers: they linger, time out and retry; and the routing of their retries.

A producer groups records for ``linger`` into one produce request (Kafka's
``linger.ms``): a request is sent ``linger`` after the first record of an empty batch, so the gap
between sends is an exponential wait for the first record plus the linger, and a request carries
``1 + Poisson(rate * linger)`` records. Requests are generated lazily in vectorised chunks from the
producer's own random stream, so faults and other components never change the arrivals. A request
that fails, or has no answer after ``request_timeout`` (Kafka default 30 s), is retried with
exponential backoff (``retry.backoff.ms`` 100 ms up to ``retry.backoff.max.ms`` 1 s, Kafka 3.7,
KIP-580) until ``delivery_timeout`` (Kafka default 120 s) from its first send runs out. Kafka's
in-flight limit is not modelled (estimate: agents answer in well under a linger's multiple).
"""

from __future__ import annotations

import numpy as np

from sim.ledger import FAILED_TIMEOUT, NEVER_SENT, PENDING, PRODUCER_DIED, RequestColumns
from sim.model.component import Component

CHUNK_S = 2.0  # seconds of requests generated (and registered) at a time
_NO_IDS = np.empty(0, dtype=np.int64)
_NO_TIMES = np.empty(0)


class Producer(Component):
    """A Kafka producer in one zone, sending to the agent of its zone."""

    part = "producer"

    def __init__(
        self,
        idx: int,
        region: str,
        zone: str,
        cfg,
        gen: np.random.Generator,
        requests: RequestColumns,
    ):
        super().__init__(f"producer:{zone}:{idx}", region, zone)
        self.idx = idx
        self.cfg = cfg
        self.gen = gen
        self.requests = requests
        self.rate = cfg.records_per_s
        self.rate_multiplier = 1.0
        self._rate_factors: list[float] = []
        self._t = np.empty(0)
        self._ids = np.empty(0, dtype=np.int64)
        self._gen_until = 0.0
        self._last_send = gen.exponential(cfg.linger)  # random phase
        self.region_idx = -1  # set by the runner: index of the producer's current region
        self.home_agent = None
        self.agent = None
        self.switch_at = np.inf

    def add_rate_factor(self, t: float, f: float) -> None:
        """From time ``t`` on, send ``f`` times more (nested with other factors)."""
        self._rate_factors.append(f)
        self._apply_rate_factors(t)

    def remove_rate_factor(self, t: float, f: float) -> None:
        """From time ``t`` on, lift a rate factor put in force earlier."""
        self._rate_factors.remove(f)
        self._apply_rate_factors(t)

    def _apply_rate_factors(self, t: float) -> None:
        m = 1.0
        for f in self._rate_factors:
            m *= f
        self.set_rate_multiplier(t, m)

    def set_rate_multiplier(self, t: float, mult: float) -> None:
        """From time ``t`` on, send ``mult`` times the configured record rate."""
        if self._gen_until < t:
            self._generate(t)  # sends before t keep the old rate
        keep = self._t <= t
        self.requests["status"][self._ids[~keep]] = NEVER_SENT
        self._t, self._ids = self._t[keep], self._ids[keep]
        self._gen_until = t
        # arrivals are memoryless: with no send drawn past t, the next one is drawn from t (not
        # from the last send before it, which would put sends back in the past)
        self._last_send = float(self._t[-1]) if len(self._t) else t
        self.rate_multiplier = mult

    def _generate(self, until: float) -> None:
        """Draw the sends of the next chunks and register them as requests (ids in send order)."""
        cfg = self.cfg
        rate = self.rate * self.rate_multiplier
        while self._gen_until < until:
            end = self._gen_until + CHUNK_S
            self._gen_until = end
            if rate <= 0:
                continue
            parts = []
            last = self._last_send
            while last <= end:
                m = int(CHUNK_S / (cfg.linger + 1.0 / rate) * 1.2) + 8
                t = last + np.cumsum(self.gen.exponential(1.0 / rate, m) + cfg.linger)
                parts.append(t)
                last = float(t[-1])
            t = np.concatenate(parts) if len(parts) > 1 else parts[0]
            t = t[t <= end]
            if not len(t):
                continue
            n = 1 + self.gen.poisson(rate * cfg.linger, len(t)).astype(np.int32)
            self._last_send = float(t[-1])
            ids = self.requests.add(self.idx, t, n, cfg.record_size, self.region_idx)
            self._t = np.concatenate([self._t, t])
            self._ids = np.concatenate([self._ids, ids])

    def take_until(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The requests sent up to ``t`` not taken yet (none while this producer is down): ids, times."""
        if self._gen_until < t:
            self._generate(t)
        k = int(np.searchsorted(self._t, t, side="right"))
        if k == 0:
            return _NO_IDS, _NO_TIMES
        times, ids = self._t[:k], self._ids[:k]
        self._t, self._ids = self._t[k:], self._ids[k:]
        if self.history.changed:
            up = self.up_mask(times)
            if not up.all():
                self.requests["status"][ids[~up]] = NEVER_SENT
                times, ids = times[up], ids[up]
        return ids, times

    def byte_rate(self) -> float:
        """Expected bytes per second this producer sends now."""
        return self.rate * self.rate_multiplier * self.cfg.record_size


def backoff(cfg, attempts: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Kafka's exponential retry backoff with +-20% jitter, for the n-th retry."""
    base = np.minimum(cfg.retry_backoff * 2.0 ** np.maximum(attempts - 1, 0), cfg.retry_backoff_max)
    return base * (0.8 + 0.4 * u)


class RetryRouter:
    """Where producers' retries go: their agent if it is up, else the nearest live one."""

    def __init__(self, env, cfg, agents: list, producers: list[Producer], net, ledger, gen):
        self.env = env
        self.cfg = cfg
        self.agents = agents
        self.producers = producers
        self.net = net
        self.ledger = ledger
        self.gen = gen
        # set once any agent or producer has changed state: until then no producer can have
        # left its agent or died, and the agents skip those checks (a cache; it names no fault)
        self.clients_disturbed = False
        for c in list(agents) + list(producers):
            c.watch(self._disturbed)

    def _disturbed(self, _component) -> None:
        self.clients_disturbed = True

    def fallback_agent(self, p: Producer):
        """The live agent a producer turns to: same zone, then same region, then nearest region."""

        def key(a):
            return (
                a.region != p.region,
                a.zone != p.zone,
                self.net.base_s[(p.region, a.region)],
                a.idx,
            )

        live = [a for a in self.agents if a.is_up]
        return min(live, key=key) if live else p.home_agent

    def retry(self, ids: np.ndarray, t_err: np.ndarray) -> None:
        """The producers of ``ids`` learned at ``t_err`` that their attempt failed: retry or give up."""
        if len(ids) == 0:
            return
        req = self.ledger.requests
        keep = req["status"][ids] == PENDING
        ids, t_err = ids[keep], t_err[keep]
        if len(ids) == 0:
            return
        prods = req["producer"][ids]
        for pi in np.unique(prods):
            sel = prods == pi
            p = self.producers[pi]
            pids, pt = ids[sel], t_err[sel]
            if not p.is_up:
                req["status"][pids] = PRODUCER_DIED
                req["end_s"][pids] = np.maximum(
                    req["send_s"][pids], p.first_down_after(float(req["send_s"][pids].min()))
                )
                continue
            att = req["attempts"][pids]
            t_retry = pt + backoff(self.cfg, att.astype(np.float64), self.gen.random(len(pids)))
            deadline = req["send_s"][pids] + self.cfg.delivery_timeout
            late = t_retry >= deadline
            if late.any():
                req["status"][pids[late]] = FAILED_TIMEOUT
                req["end_s"][pids[late]] = deadline[late]
            go = ~late
            if not go.any():
                continue
            target = p.agent if p.agent is not None and p.agent.is_up else self.fallback_agent(p)
            self.ledger.tally("retries", int(go.sum()))
            req["attempts"][pids[go]] += 1
            target.retry_in.append((t_retry[go], pids[go]))
