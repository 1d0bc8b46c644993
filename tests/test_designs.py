"""Design variants side by side: the rejected designs lose what the real one keeps."""

from pathlib import Path

import pytest

from sim.run.runner import run
from sim.scenario import load_scenario
from tests.conftest import run_small

DESTROY_WEST = [{"kind": "region-outage", "target": "us-west-2", "at": 60.0, "data": "destroyed"}]
SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def test_async_replication_loses_acked_records_and_more_with_more_lag():
    """Async bucket replication: destroying a region before copies land loses acked records; a longer lag loses more."""
    lost = []
    for lag in ("2s", "20s"):
        res = run_small({"storage.replication": "async", "storage.replication_lag_p50": lag,
                         "faults": DESTROY_WEST}, duration=100)  # fmt: skip
        lost.append(res.summary["rpo"]["lost_acked_records"])
    quorum = run_small({"faults": DESTROY_WEST}, duration=100).summary["rpo"]["lost_acked_records"]
    assert quorum == 0
    assert 0 < lost[0] < lost[1]


def test_eventual_metadata_loses_committed_metadata_with_a_region():
    """Eventually consistent metadata: acked records vanish when the leader region is lost before its writes replicate."""
    res = run_small({"table.kind": "eventual",
                     "faults": [{"kind": "region-outage", "target": "leader", "at": 60.0, "data": "destroyed"}]},
                    duration=100)  # fmt: skip
    s = res.summary
    assert s["rpo"]["lost_acked_records"] > 0
    lost_files = res.files[(res.files["status"] == 1) & ~res.files["readable_at_end"]]
    # the data is in surviving buckets: what is gone is the metadata that referenced it
    assert len(lost_files) > 0


def test_eventual_metadata_lets_two_leaders_commit_in_one_epoch_or_overlap():
    """Eventual metadata: conditional writes see only the local replica, so two regions lead at once."""
    res = run_small({"table.kind": "eventual"}, duration=60)
    leader = res.leader
    # the same epoch granted to two regions, or overlapping leases: more than one region led
    assert (
        leader.groupby("epoch")["region"].nunique().max() > 1
        or res.summary["leader"]["changes"] > 0
    )


def test_active_active_conflicts_that_leader_election_avoids():
    """Active-active commits collide in the MRSC table; leader election has none."""
    aa = run_small({"control_plane.coordination": "active-active"}, duration=60).summary
    le = run_small(duration=60).summary
    assert aa["metadata"]["conflicts"] > 100
    assert le["metadata"]["conflicts"] == 0
    assert aa["produce_latency_ms"]["p99"] > le["produce_latency_ms"]["p99"]
    assert aa["rpo"]["lost_acked_records"] == 0


def test_two_regions_lost_keeps_safety_without_availability():
    """Two of three regions destroyed: the cluster stops acknowledging, yet loses no acknowledged record."""
    res = run_small({"faults": [
        {"kind": "region-outage", "target": "us-east-2", "at": 40.0, "data": "destroyed"},
        {"kind": "region-outage", "target": "us-west-2", "at": 60.0, "data": "destroyed"},
    ]}, duration=100)  # fmt: skip
    s = res.summary
    assert s["rpo"]["lost_acked_records"] == 0
    assert (res.requests["ack_s"] > 62).sum() == 0
    ((a, b),) = s["unavailability"]["windows"]
    assert a < 61 and b == 100.0


def test_three_of_three_quorum_stalls_on_a_lost_bucket():
    """3-of-3 durability: a single unavailable bucket stops every acknowledgement."""
    res = run_small({"storage.quorum": 3,
                     "faults": [{"kind": "bucket-unavailable", "target": "us-west-2", "at": 30.0, "duration": 20.0}]},
                    duration=70)  # fmt: skip
    ((a, b),) = res.summary["unavailability"]["windows"]
    assert a < 31 and b > 49


def _start(fault) -> float:
    return fault.at if isinstance(fault.at, float) else fault.at[0]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_runs(path):
    """Each shipped scenario runs, shortened to start 30 s before its first fault and end 2 minutes
    after its last one starts (a fault past the end of the run is refused: it would never fire)."""
    sc = load_scenario(path)
    first = min((_start(f) for f in sc.faults), default=0.0)
    last = max((_start(f) for f in sc.faults), default=0.0)
    shift = max(first - 30.0, 0.0)
    overrides = [f"run.duration={min(sc.run.duration, last - shift + 120.0):g}"]
    overrides += [f"faults.{i}.at={_start(f) - shift:g}" for i, f in enumerate(sc.faults)]
    s = run(load_scenario(path, overrides)).summary
    assert s["records"]["acked"] > 0
    assert len(s["faults"]) >= min(1, len(sc.faults))
    if sc.storage.replication != "async" and sc.table.kind != "eventual":
        assert s["rpo"]["lost_acked_records"] == 0
    # every invariant holds, or its anomaly is one the design declares
    bad = {k: c["detail"] for k, c in s["checks"].items() if not c["ok"]}
    assert not bad, bad
