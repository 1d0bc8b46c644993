"""Kafka clients: producers that linger, time out and retry; consumers that read committed files.

**Producers.** A producer groups records for ``linger`` into one produce request (Kafka's
``linger.ms``): a request is sent ``linger`` after the first record of an empty batch, so the gap
between sends is an exponential wait for the first record plus the linger, and a request carries
``1 + Poisson(rate * linger)`` records. Requests are generated lazily in vectorised chunks from the
producer's own random stream, so faults and other components never change the arrivals. A request
that fails, or has no answer after ``request_timeout`` (Kafka default 30 s), is retried with
exponential backoff (``retry.backoff.ms`` 100 ms up to ``retry.backoff.max.ms`` 1 s, Kafka 3.7,
KIP-580) until ``delivery_timeout`` (Kafka default 120 s) from its first send runs out. Kafka's
in-flight limit is not modelled (estimate: agents answer in well under a linger's multiple).

**Consumers.** One per region by default. A consumer learns of a committed file when its agent
next polls the control plane (every ``poll_interval``, uniformly out of phase: 400 ms, an
estimate calibrated against the published end-to-end latency) plus one metadata read, then GETs it
from the nearest bucket that holds it. Receipts are computed after the run, vectorised, from the
commit times and the buckets' histories: no event per file.
"""

from __future__ import annotations

import numpy as np

from sim.ledger import NEVER_SENT, RequestColumns
from sim.model.component import Component

CHUNK_S = 2.0  # seconds of requests generated (and registered) at a time
_NO_IDS = np.empty(0, dtype=np.int64)
_NO_TIMES = np.empty(0)


class Producer(Component):
    """A Kafka producer in one zone, sending to the agent of its zone."""

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
        self._t = np.empty(0)
        self._ids = np.empty(0, dtype=np.int64)
        self._gen_until = 0.0
        self._last_send = gen.exponential(cfg.linger)  # random phase
        self.region_idx = -1  # set by the runner: index of the producer's current region
        self.home_agent = None
        self.agent = None
        self.switch_at = np.inf

    def set_rate_multiplier(self, t: float, mult: float) -> None:
        """From time ``t`` on, send ``mult`` times the configured record rate."""
        if self._gen_until < t:
            self._generate(t)  # sends before t keep the old rate
        keep = self._t <= t
        self.requests["status"][self._ids[~keep]] = NEVER_SENT
        self._t, self._ids = self._t[keep], self._ids[keep]
        self._gen_until = t
        self._last_send = float(self._t[-1]) if len(self._t) else min(self._last_send, t)
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
        if len(self._hist_t) > 1:
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


class Consumer(Component):
    """A consumer in one zone; it may move between regions (its region history is kept)."""

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
