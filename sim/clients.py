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

from sim.ledger import PENDING, RequestColumns
from sim.topology import Component

CHUNK_S = 2.0  # seconds of requests generated at a time


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
        self._n = np.empty(0, dtype=np.int32)
        self._gen_until = 0.0
        self._last_send = gen.exponential(cfg.linger)  # random phase
        self.home_agent = None
        self.agent = None
        self.switch_at = np.inf

    def set_rate_multiplier(self, t: float, mult: float) -> None:
        """From time ``t`` on, send ``mult`` times the configured record rate."""
        keep = self._t <= t
        self._t, self._n = self._t[keep], self._n[keep]
        self._gen_until = t
        self._last_send = self._t[-1] if len(self._t) else max(self._last_send, t)
        if self._last_send > t:
            self._last_send = t
        self.rate_multiplier = mult

    def _generate(self, until: float) -> None:
        cfg = self.cfg
        rate = self.rate * self.rate_multiplier
        while self._gen_until < until:
            end = self._gen_until + CHUNK_S
            if rate <= 0:
                self._gen_until = end
                continue
            mean_gap = cfg.linger + 1.0 / rate
            m = int(CHUNK_S / mean_gap * 1.3) + 8
            gaps = self.gen.exponential(1.0 / rate, m) + cfg.linger
            t = self._last_send + np.cumsum(gaps)
            t = t[t <= end]
            n = 1 + self.gen.poisson(rate * cfg.linger, len(t)).astype(np.int32)
            if len(t):
                self._last_send = float(t[-1])
                self._t = np.concatenate([self._t, t])
                self._n = np.concatenate([self._n, n])
            self._gen_until = end

    def take_until(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Register the requests sent up to ``t`` (none while this producer is down): ids, times."""
        if self._gen_until < t:
            self._generate(t)
        k = int(np.searchsorted(self._t, t, side="right"))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        times, n = self._t[:k], self._n[:k]
        self._t, self._n = self._t[k:], self._n[k:]
        if len(self._hist_t) > 1:
            up = self.up_mask(times)
            times, n = times[up], n[up]
        ids = self.requests.add(self.idx, times, n, self.cfg.record_size)
        return ids, times

    def byte_rate(self) -> float:
        """Expected bytes per second this producer sends now."""
        return self.rate * self.rate_multiplier * self.cfg.record_size


def backoff(cfg, attempts: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Kafka's exponential retry backoff with +-20% jitter, for the n-th retry."""
    base = np.minimum(cfg.retry_backoff * 2.0 ** np.maximum(attempts - 1, 0), cfg.retry_backoff_max)
    return base * (0.8 + 0.4 * u)


def pending(requests: RequestColumns, ids: np.ndarray) -> np.ndarray:
    """Mask of the requests among ``ids`` that are still unresolved."""
    return requests["status"][ids] == PENDING
