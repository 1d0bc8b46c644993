"""The metadata table: who takes part in a write, and what it costs."""

import numpy as np
import pytest

from sim.core.latency import LogNormal
from sim.core.rng import Streams
from sim.model.network import Network, base_rtt_ms
from sim.model.table import MetadataTable

TRIAD = ["us-east-1", "us-east-2", "us-west-2"]


def make_table(kind="mrsc", leader="us-east-1", jitter_ms=0.3):
    s = Streams(3)
    net = Network(TRIAD, s.block("network"), jitter_ms)
    return MetadataTable(
        kind, TRIAD if kind != "single-region" else [leader], TRIAD, leader, None, net,
        s.block("table"), LogNormal.from_percentiles(8, 25), 1.0, 10.0,
        LogNormal.from_percentiles(300, 1000), 0.0,
    )  # fmt: skip


def median_latency(table, region, n=4000):
    return float(np.median([table.plan_write(region).latency for _ in range(n)]))


def test_mrsc_write_from_us_west_2_pays_the_rtt_to_the_table_leader():
    """MRSC: a write from us-west-2 costs more than one from us-east-1 by RTT(w2, leader) - RTT(e1, nearest)."""
    t = make_table()
    west, east = median_latency(t, "us-west-2"), median_latency(t, "us-east-1")
    expected = (
        base_rtt_ms("us-west-2", "us-east-1") - base_rtt_ms("us-east-1", "us-east-2")
    ) / 1000
    assert west > east
    assert west - east == pytest.approx(expected, abs=0.0015)


def test_mrsc_quorum_always_includes_the_table_leader():
    """MRSC: every write's participants include the table's internal leader."""
    t = make_table(leader="us-east-2")
    for r in TRIAD:
        plan = t.plan_write(r)
        assert "us-east-2" in plan.participants and len(set(plan.participants)) == 2


def test_mrsc_leader_writes_to_nearest_other_live_replica():
    """MRSC: the leader's own writes replicate to the nearest live replica, the next one when it is down."""
    t = make_table(leader="us-east-1")
    assert t.plan_write("us-east-1").participants == ("us-east-1", "us-east-2")
    t.replicas["us-east-2"].take_down(0.0)
    assert t.plan_write("us-east-1").participants == ("us-east-1", "us-west-2")
    t.replicas["us-west-2"].take_down(0.0)
    assert t.plan_write("us-east-1") is None


def test_mrsc_write_fails_without_the_table_leader():
    """MRSC: with the leader's replica down, no other region can write."""
    t = make_table(leader="us-east-1")
    t.replicas["us-east-1"].take_down(0.0)
    assert t.plan_write("us-east-2") is None and t.plan_write("us-west-2") is None


def test_spanner_pays_the_round_trip_to_the_leader_region():
    """Spanner: a client outside the leader region pays the RTT to it on top of the leader's commit."""
    t = make_table("spanner", leader="us-east-1")
    gap = median_latency(t, "us-west-2") - median_latency(t, "us-east-1")
    assert gap == pytest.approx(base_rtt_ms("us-west-2", "us-east-1") / 1000, abs=0.003)


def test_single_region_table_holds_writes_in_one_region():
    """Single-region table: every write is held by the home region only."""
    t = make_table("single-region", leader="us-east-1")
    assert set(t.plan_write("us-west-2").participants) == {"us-west-2", "us-east-1"}
    t.replicas["us-east-1"].take_down(0.0)
    assert t.plan_write("us-east-2") is None


def test_lease_cas_is_fenced_by_epoch():
    """A conditional lease write succeeds only against the epoch it read."""
    from sim.model.table import Lease

    t = make_table()
    assert t.cas_lease("us-east-1", 1.0, 0, Lease("us-east-1", 1, 6.0))
    assert not t.cas_lease("us-east-2", 1.5, 0, Lease("us-east-2", 1, 6.5))
    assert t.view("us-east-2", 2.0).lease.holder == "us-east-1"


def test_commit_is_fenced_for_a_deposed_leader():
    """A commit carrying an old epoch is refused once another region holds the lease."""
    from sim.model.table import Lease

    t = make_table()
    t.cas_lease("us-east-1", 1.0, 0, Lease("us-east-1", 1, 6.0))
    assert t.commit("us-east-1", 1.0, 1.1, 1, 0, [1], [10])[0] == "ok"
    t.cas_lease("us-east-2", 7.0, 1, Lease("us-east-2", 2, 12.0))
    assert t.commit("us-east-1", 7.0, 7.1, 1, 1, [2], [10])[0] == "fenced"
    assert t.commit("us-east-2", 7.0, 7.1, 2, 2, [2], [10])[0] == "ok"
