"""Leader election through the table: fencing, failover, preference."""

import pandas as pd

from sim.model.control_plane import ControlPlane
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


def test_auto_preference_moves_away_from_the_slowest_region():
    """With preference auto, the lease leaves a region whose table writes are clearly slowest."""
    # the table's leader in us-west-2: us-east-1 pays ~64 ms per write, us-east-2 and us-west-2
    # ~51 ms; us-east-1 wins the first election (it heartbeats first) and then hands over
    res = run_small({"table.leader_region": "us-west-2"}, duration=60)
    tl = res.summary["leader"]["timeline"]
    assert tl[0][1] == "us-east-1" and tl[-1][1] in ("us-east-2", "us-west-2")


def test_preferred_is_the_lowest_latency_responsive_healthy_region():
    """preferred(): lowest latency among fresh heartbeats, never a degraded region or a stale one."""
    from sim.model.control_plane import ControlPlane

    class Cfg:
        responsive_window = 3.0

    cp = ControlPlane.__new__(ControlPlane)
    cp.cfg, cp.preference = Cfg(), "auto"
    health = {"a": (10.0, 0.030, False), "b": (10.0, 0.020, False), "c": (10.0, 0.010, True),
              "d": (5.0, 0.001, False)}  # fmt: skip
    assert cp.preferred(health, 10.5) == "b"
    cp.preference = "a"
    assert cp.preferred(health, 10.5) == "a"
    cp.preference = "d"  # pinned but not responsive: fall back to auto
    assert cp.preferred(health, 10.5) == "b"
    cp.preference = "none"
    assert cp.preferred(health, 10.5) is None


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


def test_quiet_short_paths_commit_exactly_as_the_general_path(monkeypatch):
    """The control plane's quiet short paths (``submit`` and ``_kick`` with ``leads`` checked
    once, ``_write_quiet``) take the same draws and schedule the same timeouts as the general
    path: with them turned off, a run commits the same batches at the same times, and the same
    files and requests. (And they are taken: most batches go through ``_write_quiet``.)"""
    taken = []
    write_quiet = ControlPlane._write_quiet

    def counted(self, reqs, now):
        taken.append(len(reqs))
        write_quiet(self, reqs, now)

    monkeypatch.setattr(ControlPlane, "_write_quiet", counted)
    fast = run_small(duration=40.0)
    assert len(taken) > 0.9 * len(fast.batches) > 100
    monkeypatch.setattr(ControlPlane, "_leads_quietly", lambda self, now: False)
    n_fast = len(taken)
    general = run_small(duration=40.0)
    assert len(taken) == n_fast  # the general path only
    for name in ("batches", "files", "requests"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(general, name), check_exact=True)
    assert _no_wall(fast.summary) == _no_wall(general.summary)


def _no_wall(x):
    """A summary without its wall-clock times."""
    if isinstance(x, dict):
        return {k: _no_wall(v) for k, v in x.items() if k not in ("wall_time_s", "sim_wall_s")}
    return x
