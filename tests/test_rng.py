"""Named random streams: reproducible, independent of each other and of creation order."""

import numpy as np

from sim.core.rng import Streams


def test_same_seed_same_draws():
    """A stream's draws depend only on the root seed and its name."""
    a, b = Streams(42), Streams(42)
    assert np.array_equal(a.gen("workload.x").random(100), b.gen("workload.x").random(100))
    assert a.block("storage").normal() == b.block("storage").normal()


def test_streams_do_not_depend_on_creation_order_or_each_other():
    """Creating or drawing from other streams first does not change a stream's draws."""
    a = Streams(7)
    first = a.gen("faults").random(10)
    b = Streams(7)
    b.gen("workload").random(1000)
    b.block("network").uniform()
    assert np.array_equal(b.gen("faults").random(10), first)


def test_different_names_and_seeds_differ():
    """Different names, or different root seeds, give different draws."""
    s = Streams(1)
    assert not np.array_equal(s.gen("a").random(5), s.gen("b").random(5))
    assert not np.array_equal(Streams(1).gen("a").random(5), Streams(2).gen("a").random(5))


def test_block_refills_seamlessly():
    """A block hands out more draws than its buffer holds, all distinct and finite."""
    b = Streams(3).block("x")
    z = [b.normal() for _ in range(10_000)]
    assert len(set(z)) == 10_000 and all(np.isfinite(z))
    assert abs(np.mean(z)) < 0.05 and abs(np.std(z) - 1) < 0.05
