"""Latency distributions: lognormals fitted to a median and a p99, and slow-downs."""

import numpy as np
import pytest

from sim.core.latency import LogNormal, Slowdown
from sim.core.rng import Streams


def test_fitted_lognormal_hits_its_percentiles():
    """A lognormal from (p50, p99) reproduces both percentiles when sampled."""
    d = LogNormal.from_percentiles(85, 300)
    b = Streams(1).block("t")
    x = np.array([d.sample(b) for _ in range(200_000)]) * 1000
    assert np.percentile(x, 50) == pytest.approx(85, rel=0.02)
    assert np.percentile(x, 99) == pytest.approx(300, rel=0.04)
    assert d.quantile(0.99) * 1000 == pytest.approx(300, rel=1e-6)


def test_bad_percentiles_are_rejected():
    """p99 below p50, or a non-positive median, is an error."""
    with pytest.raises(ValueError):
        LogNormal.from_percentiles(100, 50)
    with pytest.raises(ValueError):
        LogNormal.from_percentiles(0, 50)


def test_slowdown_adds_multiplies_and_fattens_the_tail():
    """A slow-down adds latency, multiplies it, and widens the tail."""
    d = LogNormal.from_percentiles(10, 30)
    slow = Slowdown(add_s=0.1, multiplier=2.0, extra_sigma=0.5)
    b1, b2 = Streams(5).block("a"), Streams(5).block("a")
    base = np.array([d.sample(b1) for _ in range(50_000)])
    slowed = np.array([d.sample(b2, slow) for _ in range(50_000)])
    assert np.median(slowed) == pytest.approx(2 * np.median(base) + 0.1, rel=0.05)
    tail = lambda x: np.percentile(x, 99) / np.median(x)  # noqa: E731
    assert tail(slowed - 0.1) > tail(base)


def test_slowdowns_combine():
    """Two slow-downs in force at once add their delays and multiply their factors."""
    c = Slowdown(0.1, 2.0, 0.1).combine(Slowdown(0.2, 3.0, 0.2))
    assert (c.add_s, c.multiplier) == (pytest.approx(0.3), 6.0) and c.extra_sigma == pytest.approx(
        0.3
    )


def test_a_tail_past_exps_range_gives_an_infinite_draw_not_an_error():
    """The schema puts no ceiling on ``extra_sigma``: a slow-down of 1e6 draws an infinite
    latency above the median (as a huge multiplier does) and none below it, where math.exp
    would raise OverflowError; a bucket slowed so for 2 s leaves a run that completes."""
    from tests.conftest import run_small

    slow = Slowdown(extra_sigma=1e6)
    assert slow.apply(0.03, 0.4, 0.5) == float("inf")
    assert slow.apply(0.03, 0.4, -0.5) == 0.0
    assert slow.apply(0.03, 0.4, 0.0) == pytest.approx(0.03)
    fault = {"kind": "bucket-slow", "target": "us-east-1", "at": 1, "duration": 2}
    res = run_small({"faults": [dict(fault, extra_sigma=1e6)]}, duration=8.0)
    assert res.summary["records"]["acked"] > 0
