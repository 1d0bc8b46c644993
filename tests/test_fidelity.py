"""Fidelity to the vendors' documentation (issue 9): the MRSC table's internal leader in every
write, the witness, strongly consistent reads, and producers that retry like Kafka's."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.latency import LogNormal, Slowdown
from sim.core.rng import Streams
from sim.model.network import Network, base_rtt_ms
from sim.model.table import MetadataTable
from tests.conftest import run_small

TRIAD = ["us-east-1", "us-east-2", "us-west-2"]


def make_table(kind="mrsc", leader="us-east-1", witness=None):
    s = Streams(5)
    net = Network(TRIAD, s.block("network"), 0.3)
    return MetadataTable(
        kind, TRIAD if kind != "single-region" else [leader], TRIAD, leader, witness, net,
        s.block("table"), LogNormal.from_percentiles(3.5, 12), 1.0, 10.0,
        LogNormal.from_percentiles(300, 1000), 0.0,
    )  # fmt: skip


def test_slow_table_leader_replica_slows_every_regions_commits():
    """The table's internal leader (us-east-1) is in every write's quorum: with 400 ms added to
    its replica, the commits of a control plane leading from us-east-2 take 400 ms more too."""
    base = {
        "control_plane.preference": "us-east-2",
        "control_plane.soft_failure_detection": False,
    }
    slow = dict(
        base, faults=[{"kind": "table-slow", "target": "us-east-1", "at": 10, "add": "400ms"}]
    )
    runs = [run_small(o, duration=30, seed=3) for o in (base, slow)]
    lat = []
    for r in runs:
        b = r.batches[(r.batches["start_s"] > 15) & (r.batches["region"] == "us-east-2")]
        assert len(b) > 20
        lat.append(float(np.median(b["applied_s"] - b["start_s"])))
    assert lat[0] < 0.05
    assert lat[1] - lat[0] > 0.35


def test_table_leader_replica_errors_fail_other_regions_writes():
    """Errors at the leader's replica fail writes from every region, not only its own."""
    t = make_table(leader="us-east-1")
    t.replicas["us-east-1"].add_error_rate(1.0)
    assert all(t.plan_write(r).error for r in ("us-east-2", "us-west-2"))


def test_witness_regions_control_plane_never_writes_through_its_own_replica():
    """A witness 'does not support reads or writes' (AWS): from the witness region a write goes
    through the nearest data replica's endpoint and pays the round trip to it."""
    t = make_table(leader="us-east-1", witness="us-west-2")
    w = [t.plan_write("us-west-2") for _ in range(2000)]
    assert all(p.participants[0] != "us-west-2" and p.entry == "us-west-2" for p in w)
    via = w[0].participants[0]
    assert via == "us-east-2"  # nearest data replica of us-west-2
    rtt = (base_rtt_ms("us-west-2", via) + base_rtt_ms(via, "us-east-1")) / 1000
    assert float(np.median([p.latency for p in w])) > rtt
    # and in a whole run, no table operation is ever sent to the witness region's endpoint
    res = run_small({"table.witness": "us-west-2"}, duration=20, seed=3)
    ops = res.ops[res.ops["op"].isin(["table_write", "table_read"])]
    assert not ((ops["src"] == "us-west-2") & (ops["dst"] == "us-west-2")).any()
    assert ops[ops["src"] == "us-west-2"]["count"].sum() > 0


def test_mrsc_strong_read_costs_a_cross_region_round_trip():
    """AWS: strongly consistent read latencies 'require cross-Region communication'; a
    single-region or eventual table reads locally."""
    mrsc = make_table("mrsc", leader="us-east-1")
    reads = [mrsc.plan_read("us-east-2").latency for _ in range(2000)]
    assert float(np.median(reads)) > base_rtt_ms("us-east-2", "us-east-1") / 1000
    assert float(np.median(reads)) > 0.015
    west = float(np.median([mrsc.plan_read("us-west-2").latency for _ in range(2000)]))
    assert west > base_rtt_ms("us-west-2", "us-east-1") / 1000
    for kind in ("single-region", "eventual"):
        t = make_table(kind, leader="us-east-2")
        assert float(np.median([t.plan_read("us-east-2").latency for _ in range(2000)])) < 0.006


def test_table_reads_are_counted_for_pricing():
    """Followers keeping up and consumers' metadata polls are table reads in the ledger."""
    res = run_small(duration=20, seed=3)
    reads = res.ops[res.ops["op"] == "table_read"]
    assert set(reads["src"]) == set(TRIAD)
    # each control plane reads once a renewal (1 s), each consumer once a poll (400 ms)
    assert reads["count"].sum() == pytest.approx(3 * 20 / 1.0 + 3 * 20 / 0.4, rel=0.1)


@pytest.fixture(scope="module")
def outage():
    """The leader's control plane scaled to zero for good at 15 s, agents bound to 2 s, with
    idempotent producers (Kafka's default) and without."""
    f = [{"kind": "control-plane-outage", "target": "leader", "at": 15}]
    return {
        idem: run_small(
            {"faults": f, "workload.idempotence": idem, "agents.request_bound": "2s"},
            duration=40,
            seed=3,
        )
        for idem in (True, False)
    }


def test_control_plane_outage_makes_producers_retry(outage):
    for res in outage.values():
        s = res.summary
        assert s["requests"]["retries"] > 0
        assert s["requests"]["retried_then_acked"] > 0
        assert s["records"]["lost_acked"] == 0


def test_idempotent_producers_never_duplicate(outage):
    on, off = outage[True].summary["records"], outage[False].summary["records"]
    assert on["duplicated"] == 0
    assert off["duplicated"] > 0
    assert on["deduplicated"] == off["duplicated"]  # same seed: the same retries, dropped


def test_full_buffer_blocks_the_application():
    """Kafka buffer.memory: a producer whose unacknowledged bytes reach it is blocked; with no
    table at all for 20 s and a 4 MiB buffer (about 4 s of one producer's records), it is."""
    res = run_small(
        {
            "workload.buffer_memory": "4MiB",
            "faults": [
                {"kind": "table-leader-lost", "target": "us-east-1", "at": 5, "duration": 20}
            ],
            "table.leader_failover": "60s",
        },
        duration=30,
        seed=3,
    )
    p = res.summary["producers"]
    assert p["blocked_s_max"] > 5
    assert len(p["blocked_s"]) == 9
    calm = run_small(duration=30, seed=3).summary["producers"]
    assert calm["blocked_s_total"] == 0


def test_consumers_read_placement_is_a_setting():
    """first-listed (the shipping estimate): every consumer reads the first bucket; nearest: its own."""
    first = run_small(duration=15, seed=3).receipts
    near = run_small({"workload.read_from": "nearest"}, duration=15, seed=3).receipts
    got = first[first["bucket"] >= 0]
    assert len(got) > 1000 and (got["bucket"] == 0).mean() > 0.9
    west = first[first["consumer"] == 2]
    assert (west["bucket"] == 2).mean() < 0.1
    assert (near[near["consumer"] == 2]["bucket"] == 2).mean() > 0.9


def test_slowdown_combines_for_leader():
    """The helper the leader rule rests on: two slow-downs in force add up."""
    s = Slowdown(add_s=0.4).combine(Slowdown(add_s=0.1))
    assert s.add_s == pytest.approx(0.5)
