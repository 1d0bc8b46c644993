"""Latency distributions with tails.

Latencies in the model are never constants. The workhorse is a lognormal fitted to a median and a
99th percentile (``LogNormal.from_percentiles``), the usual fit for service latencies whose
published figures are a typical value and a tail. A slow-down (a fault, or a degraded component)
is expressed as ``Slowdown``: added milliseconds, a multiplier, and extra tail (a larger sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.rng import Block

Z99 = 2.3263478740408408  # standard normal quantile at 0.99


@dataclass(frozen=True)
class LogNormal:
    """Lognormal latency in seconds, parameterised by its median and log-space sigma."""

    median_s: float
    sigma: float

    @classmethod
    def from_percentiles(cls, p50_ms: float, p99_ms: float) -> LogNormal:
        """The lognormal whose median is ``p50_ms`` and 99th percentile is ``p99_ms``."""
        if p50_ms <= 0 or p99_ms < p50_ms:
            raise ValueError("need 0 < p50 <= p99")
        return cls(p50_ms / 1000.0, math.log(p99_ms / p50_ms) / Z99)

    def sample(self, block: Block, slow: Slowdown | None = None) -> float:
        """One draw in seconds, degraded by ``slow`` when given."""
        if slow is None:
            return self.median_s * math.exp(self.sigma * block.normal())
        return slow.apply(self.median_s, self.sigma, block.normal())

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in seconds (for tests and documentation)."""
        from statistics import NormalDist

        return self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(q))


@dataclass(frozen=True)
class Slowdown:
    """How a degraded component stretches its latency: ``(x * multiplier) + add_s``, sigma + extra."""

    add_s: float = 0.0
    multiplier: float = 1.0
    extra_sigma: float = 0.0

    def apply(self, median_s: float, sigma: float, z: float) -> float:
        """Degrade a lognormal draw given by its median, sigma and standard normal ``z``."""
        x = (sigma + self.extra_sigma) * z
        # past exp's range (a tail made absurdly heavy): an infinite draw, as a huge multiplier
        # gives, rather than math's OverflowError
        return median_s * self.multiplier * (math.exp(x) if x < 709.0 else math.inf) + self.add_s

    def combine(self, other: Slowdown) -> Slowdown:
        """Two slow-downs in force at once."""
        return Slowdown(
            self.add_s + other.add_s,
            self.multiplier * other.multiplier,
            self.extra_sigma + other.extra_sigma,
        )


NO_SLOWDOWN = Slowdown()
