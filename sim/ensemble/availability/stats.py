"""Small statistics for the incident model: Gamma posteriors on rates, lognormal durations, bursts.

numpy and the standard library only (scipy is not a dependency of the package). The Gamma quantile is
computed from the regularized incomplete gamma function (series and continued fraction, as in
Numerical Recipes, section 6.2) and inverted by bisection, so intervals are exact to ~1e-10 and
deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Jeffreys prior for a Poisson rate: Gamma(shape=1/2, rate=0). With n events in exposure E the
#: posterior is Gamma(n + 1/2, E); with no event its 95% upper bound is about 1.92 / E, close to
#: the "rule of three" (3 / E) but a little less conservative.
JEFFREYS_SHAPE = 0.5

#: Ford et al., OSDI 2010: failures that start within 120 s of each other form one correlated burst.
BURST_WINDOW_S = 120.0


def _gammainc_lower(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x)."""
    if x <= 0.0:
        return 0.0
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    # Continued fraction for Q(a, x) (modified Lentz).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return 1.0 - math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_cdf(x: float, shape: float, rate: float) -> float:
    """CDF of Gamma(shape, rate) at x."""
    return _gammainc_lower(shape, x * rate)


def gamma_ppf(q: float, shape: float, rate: float) -> float:
    """Quantile q of Gamma(shape, rate), by bisection on the CDF."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    lo, hi = 0.0, max(1.0, shape) / rate
    while gamma_cdf(hi, shape, rate) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if gamma_cdf(mid, shape, rate) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class RatePosterior:
    """Gamma(shape, rate) posterior of a Poisson rate (events per unit of exposure)."""

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        return self.shape / self.rate

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval."""
        tail = (1.0 - level) / 2.0
        return gamma_ppf(tail, self.shape, self.rate), gamma_ppf(1.0 - tail, self.shape, self.rate)


def rate_posterior(
    events: float, exposure: float, prior_shape: float = JEFFREYS_SHAPE, prior_rate: float = 0.0
) -> RatePosterior:
    """Conjugate update: Gamma(prior_shape + events, prior_rate + exposure).

    `events` may be fractional (an expected count, e.g. the probability that a multi-region incident
    hits two of a cluster's three regions, summed): the Gamma update is then an approximation.
    """
    if exposure + prior_rate <= 0:
        raise ValueError("exposure plus prior rate must be positive")
    return RatePosterior(prior_shape + events, prior_rate + exposure)


@dataclass(frozen=True)
class LognormalFit:
    """Lognormal fit of durations: median exp(mu), log-sd sigma, with a 95% CI on the median."""

    median: float
    sigma: float
    n: int
    median_ci95: tuple[float, float]


def fit_lognormal(durations) -> LognormalFit:
    """Maximum-likelihood lognormal (sigma with n-1, the unbiased log variance).

    The CI on the median is the t-free normal interval exp(mu +- 1.96 sigma / sqrt(n)); with one point
    sigma is undefined and returned as nan.
    """
    x = np.asarray(durations, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    n = int(x.size)
    if n == 0:
        raise ValueError("no positive durations to fit")
    logs = np.log(x)
    mu = float(logs.mean())
    sigma = float(logs.std(ddof=1)) if n > 1 else float("nan")
    half = 1.96 * sigma / math.sqrt(n) if n > 1 else float("nan")
    return LognormalFit(math.exp(mu), sigma, n, (math.exp(mu - half), math.exp(mu + half)))


def burst_ids(start_s, window_s: float = BURST_WINDOW_S) -> np.ndarray:
    """Burst id of each event (Ford et al. 2010): sorted by start, a new burst begins when an event
    starts more than `window_s` after the previous one. Returned in the input order."""
    t = np.asarray(start_s, dtype=float)
    order = np.argsort(t, kind="stable")
    gaps = np.diff(t[order]) > window_s
    ids_sorted = np.concatenate([[0], np.cumsum(gaps)])
    ids = np.empty_like(ids_sorted)
    ids[order] = ids_sorted
    return ids


def p_hits_at_least(k_touched: int, fleet: int, picked: int = 3, at_least: int = 2) -> float:
    """P(a random set of `picked` regions out of `fleet` holds >= `at_least` of the `k_touched` ones).

    Hypergeometric; used to turn a multi-region incident into the chance it hits two of a cluster's
    three regions, when the cluster's regions are taken at random in the fleet.
    """
    k = min(k_touched, fleet)
    total = math.comb(fleet, picked)
    hit = sum(
        math.comb(k, j) * math.comb(fleet - k, picked - j)
        for j in range(at_least, min(picked, k) + 1)
    )
    return hit / total
