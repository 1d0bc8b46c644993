"""Producers: linger batching, rate, backoff; consumers' region history."""

import numpy as np
import pytest

from sim.ledger import RequestColumns
from sim.model.consumers import Consumer
from sim.model.producers import Producer, backoff
from sim.scenario import WorkloadConfig

# no in-flight cap and no buffer limit: these tests look at the batches drawn, with no agent to answer them
UNCAPPED = {"idempotence": False, "max_in_flight": 10**9, "buffer_memory": 2**60}


def test_producer_sends_its_rate_in_linger_batches():
    """A producer at 1,000 records/s with 25 ms linger sends ~38 requests/s carrying the whole rate."""
    cfg = WorkloadConfig(**UNCAPPED)
    req = RequestColumns()
    p = Producer(0, "us-east-1", "us-east-1a", cfg, np.random.default_rng(1), req)
    ids, t = p.take_until(100.0)
    n = req["n_records"][ids]
    assert n.sum() / 100.0 == pytest.approx(1000, rel=0.03)
    gaps = np.diff(t)
    assert gaps.min() >= cfg.linger and np.mean(gaps) == pytest.approx(cfg.linger + 0.001, rel=0.05)


def test_rate_multiplier_changes_the_rate_from_then_on():
    """A load spike multiplies the rate from its start; earlier sends are unchanged."""
    cfg = WorkloadConfig(**UNCAPPED)
    req = RequestColumns()
    p = Producer(0, "r", "ra", cfg, np.random.default_rng(2), req)
    p.take_until(1.0)  # generates ahead
    p.set_rate_multiplier(10.0, 3.0)
    ids, t = p.take_until(40.0)
    n = req["n_records"][ids]
    before = n[(t > 2) & (t < 10)].sum() / 8
    after = n[(t > 12) & (t < 40)].sum() / 28
    assert after / before == pytest.approx(3.0, rel=0.1)


def test_backoff_grows_and_caps():
    """Retry backoff doubles per attempt from 100 ms and caps at 1 s, with +-20% jitter."""
    cfg = WorkloadConfig()
    mid = backoff(cfg, np.array([1, 2, 3, 4, 5, 9]), np.full(6, 0.5))
    assert mid.tolist() == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    lo, hi = (
        backoff(cfg, np.array([1]), np.array([0.0])),
        backoff(cfg, np.array([1]), np.array([1.0])),
    )
    assert lo[0] == pytest.approx(0.08) and hi[0] == pytest.approx(0.12)


def test_consumer_region_history():
    """A consumer that moves reads from its new region from then on, and its old one before."""
    c = Consumer("c", "us-west-2", "us-west-2a")
    c.move(10.0, "us-east-1")
    assert c.current_region(5.0) == "us-west-2" and c.current_region(15.0) == "us-east-1"
    assert [r for _, _, r in c.region_segments(100.0)] == ["us-west-2", "us-east-1"]


def test_wires_answered_at_one_time_free_every_slot_then_arrivals_add_the_delay():
    """Five wires answered at one time ``a`` (one file's acknowledgement), listed in any order:
    the batches ready by ``a`` leave together in one request at ``a``, the next four one each
    when ready; take_until returns send times plus the agent's one-way delay, and the requests'
    dispatch_s keeps the send times."""
    cfg = WorkloadConfig(max_in_flight=5)
    req = RequestColumns()
    p = Producer(0, "r", "ra", cfg, np.random.default_rng(3), req)
    first, t0 = p.take_until(0.5)
    assert len(first) == 5 and len(set(req["wire"][first].tolist())) == 5  # the cap is reached
    assert len(p.take_until(0.6)[0]) == 0  # no answer yet: nothing more leaves
    a = 0.45
    req.answered(first, a)
    p._open.reverse()  # the order the wires are listed in changes nothing
    ready = list(p._tl)
    n = sum(1 for x in ready if x <= a)
    assert n >= 2  # batches waited for a slot
    ids, arrive = p.take_until(1.0, 0.002)
    sent = [a] * n + ready[n : n + 4]
    assert len(ids) == n + 4
    assert req["dispatch_s"][ids].tolist() == sent
    assert arrive.tolist() == [x + 0.002 for x in sent]
    w = req["wire"][ids].tolist()
    assert w[:n] == [w[0]] * n and w[n:] == list(range(w[0] + 1, w[0] + 5))


def test_a_linger_longer_than_a_chunk_sends_nothing_at_first_then_its_rate():
    """With a 5 s linger the producer's random phase (up to a few lingers) can lie past the
    first chunks of sends it draws (2 s each): those chunks hold no send, and collecting them is
    not an error (it raised IndexError); later the whole rate is sent, in 5 s linger batches."""
    cfg = WorkloadConfig(**UNCAPPED, linger=5.0)
    for seed in range(1, 6):
        req = RequestColumns()
        p = Producer(0, "us-east-1", "us-east-1a", cfg, np.random.default_rng(seed), req)
        ids, _ = p.take_until(0.3)
        assert len(ids) == 0
        ids, t = p.take_until(400.0)
        assert req["n_records"][ids].sum() / 400.0 == pytest.approx(1000, rel=0.15)
        assert np.diff(t).min() >= 5.0
