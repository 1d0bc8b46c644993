"""Leader election through the table: fencing, failover, preference."""

from tests.conftest import run_small


def _epochs_have_one_committer(res):
    b = res.batches
    per_epoch = b.groupby("epoch")["region"].nunique()
    return bool((per_epoch <= 1).all())


def test_never_two_leaders_commit_in_the_same_epoch_across_a_leader_loss():
    """Every metadata batch of an epoch was committed by one region, and epochs only grow."""
    res = run_small(
        {"faults": [{"kind": "region-outage", "target": "leader", "at": 40.0, "duration": 30.0}]}
    )
    assert _epochs_have_one_committer(res)
    epochs = list(res.leader["epoch"])
    assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs)
    assert res.summary["leader"]["changes"] >= 1


def test_leader_loss_moves_leadership_to_a_live_region_within_seconds():
    """Losing the leader region hands the lease to another region within lease + failover time."""
    res = run_small(
        {"faults": [{"kind": "region-outage", "target": "leader", "at": 40.0, "data": "destroyed"}]}
    )
    tl = res.summary["leader"]["timeline"]
    assert tl[0][1] == "us-east-1"
    t_new, new = tl[-1]
    assert new != "us-east-1"
    assert 40.0 < t_new < 40.0 + 5.0 + 10.0 + 2.0  # lease + table-leader failover + a renewal
    wins = res.summary["unavailability"]["windows"]
    assert len(wins) == 1 and wins[0][0] < 41.0 and 2.0 < wins[0][1] - wins[0][0] < 20.0


def test_auto_preference_elects_the_region_with_the_lowest_table_latency():
    """With preference auto, the lease ends up with the region whose table writes are fastest."""
    res = run_small({"table.leader_region": "us-west-2"}, duration=60)
    # us-west-2 holds the table's leader: its writes pay the nearest other replica (us-east-2, ~51 ms)
    # while the east regions pay the trip to us-west-2; the leader settles on us-west-2
    assert res.summary["leader"]["timeline"][-1][1] == "us-west-2"


def test_pinned_preference_moves_the_lease_to_the_pinned_region():
    """Pinning the preference to a region hands the lease to that region."""
    res = run_small({"control_plane.preference": "us-west-2"}, duration=60)
    assert res.summary["leader"]["timeline"][-1][1] == "us-west-2"
    assert _epochs_have_one_committer(res)


def test_produce_latency_depends_on_the_leader_region():
    """A leader in us-west-2 costs more produce latency than one in us-east-1 (spec section 1)."""
    east = run_small({"control_plane.preference": "us-east-1"}, duration=60)
    west = run_small({"control_plane.preference": "us-west-2"}, duration=60)
    e = east.summary["produce_latency_ms"]["p50"]
    w = west.summary["produce_latency_ms"]["p50"]
    assert w > e + 30
