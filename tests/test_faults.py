"""One test per fault kind and operator action: each shows its effect in the results."""

import numpy as np

from sim.ledger import PUT_FAILED
from tests.conftest import run_small


def F(**k):
    return dict(k)


def lat_ms(res, t0, t1):
    """Produce latencies (ms) of requests sent in [t0, t1)."""
    r = res.requests
    m = (r["send_s"] >= t0) & (r["send_s"] < t1) & (r["status"] == 1)
    return ((r["ack_s"] - r["send_s"])[m] * 1000).to_numpy()


def test_region_outage_retained_comes_back():
    """A temporary region outage stalls briefly, loses nothing, and the region serves again after."""
    res = run_small(
        {"faults": [F(kind="region-outage", target="us-west-2", at=30, duration=30)]}, 100
    )
    s = res.summary
    assert s["faults"][0]["end_s"] == 60.0 and s["rpo"]["lost_acked_records"] == 0
    r = res.requests
    west_after = (r["region"] == "us-west-2") & (r["send_s"] > 70) & (r["status"] == 1)
    assert west_after.sum() > 500


def test_control_plane_outage_moves_leadership():
    """The leader region's control plane scaled to zero: another region takes the lease."""
    res = run_small(
        {"faults": [F(kind="control-plane-outage", target="leader", at=30, duration=40)]}, 90
    )
    tl = res.summary["leader"]["timeline"]
    assert tl[1][1] != "us-east-1" and 30 < tl[1][0] < 40
    assert res.summary["rpo"]["lost_acked_records"] == 0


def test_data_plane_outage_producers_fail_over_to_other_regions():
    """With a region's agents down, its producers time out and retry on agents elsewhere."""
    res = run_small(
        {"faults": [F(kind="data-plane-outage", target="us-west-2", at=20, duration=60)]}, 100
    )
    att = res.attempts.merge(res.files[["file_id", "region"]], on="file_id")
    west_prod = res.requests.loc[res.requests["region"] == "us-west-2", "request_id"]
    moved = att[att["request_id"].isin(west_prod) & (att["region"] != "us-west-2")]
    assert len(moved) > 100
    assert lat_ms(res, 20, 40).max() > 29_000  # they waited for the request timeout first


def test_zone_outage_takes_down_only_that_zone():
    """A zone outage stops the producers of that zone; the other zones keep sending."""
    res = run_small(
        {"faults": [F(kind="zone-outage", target="us-east-1", zone="b", at=20, duration=40)]}, 80
    )
    r = res.requests
    zone_prod = {i for i in range(9) if i == 1}  # us-east-1b holds producer 1
    during = r[(r["send_s"] > 25) & (r["send_s"] < 55)]
    assert not during["producer"].isin(zone_prod).any()
    assert during["producer"].nunique() == 8


def test_bucket_unavailable_quorum_still_met():
    """One bucket unavailable: 2-of-3 is still met, nothing fails, the PUT to it is repaired later."""
    res = run_small(
        {"faults": [F(kind="bucket-unavailable", target="us-west-2", at=20, duration=30)]}, 80
    )
    s = res.summary
    assert s["records"]["failed"] == 0 and s["rpo"]["lost_acked_records"] == 0
    f = res.files
    during = f[(f["flush_s"] > 22) & (f["flush_s"] < 45)]
    assert (during["put_state[us-west-2]"] != 0).all()
    assert during["readable_at_end"].all()


def test_bucket_slow_raises_latency_only_when_it_is_in_the_quorum():
    """A slow nearest bucket pushes the quorum to the next bucket: latency rises but modestly."""
    base = run_small(duration=60)
    res = run_small(
        {"faults": [F(kind="bucket-slow", target="us-east-2", at=0, duration=60, add="500ms")]}, 60
    )
    b, s = np.median(lat_ms(base, 5, 60)), np.median(lat_ms(res, 5, 60))
    assert b < s < b + 200


def test_bucket_errors_are_retried():
    """A bucket failing half its requests: its PUTs fail and are retried inside the fault
    window only, the quorum holds, and no record fails."""
    res = run_small(
        {"faults": [F(kind="bucket-errors", target="us-east-2", at=10, duration=40, rate=0.5)]}, 80
    )
    puts = res.ops[res.ops["op"] == "put"].groupby("dst")["count"].sum()
    assert puts["us-east-2"] > 1.1 * puts["us-east-1"]  # the retries
    failed = res.files["put_state[us-east-2]"].to_numpy() == PUT_FAILED
    flushed = res.files["flush_s"].to_numpy()
    assert failed.sum() > 50
    assert flushed[failed].min() >= 10 and flushed[failed].max() < 50
    assert res.summary["records"]["failed"] == 0
    assert res.summary["rpo"]["lost_acked_records"] == 0


def test_table_slow_in_leader_region_moves_leadership_by_detection():
    """The leader region's table replica slows down (it is not the table's internal leader, which
    would slow every region alike): the detector calls it degraded and the lease moves."""
    res = run_small(
        {
            "table.leader_region": "us-east-2",
            "control_plane.preference": "us-east-1",
            "faults": [F(kind="table-slow", target="leader", at=30, duration=90, add="400ms")],
        },
        120,
    )
    tl = res.summary["leader"]["timeline"]
    assert tl[1][1] != "us-east-1"
    # pinned: only the detector moves it: the latency EWMA (tau 20 s) crosses 250 ms about
    # 17 s in, then soft_failure_window (10 s) of slow operations
    assert 35 < tl[1][0] < 30 + 17 + 10 + 8
    assert "degraded" in " ".join(res.events["text"])


def test_table_errors_in_leader_region_move_leadership():
    """The leader region's table fails most operations: the lease leaves it during the fault
    (where it ends after the heal depends on the draws: the preferred region may take it back)."""
    res = run_small(
        {"faults": [F(kind="table-errors", target="leader", at=30, duration=60, rate=0.8)]}, 100
    )
    timeline = res.summary["leader"]["timeline"]
    assert any(r != "us-east-1" and 30 <= t <= 90 for t, r in timeline)


def test_table_failing_every_operation_at_the_table_leader_stalls_only_for_the_failover():
    """The table leader's replica fails every operation for a minute: the table's health checking
    moves its leader after leader_failover, as for a replica that is down, so commits stall for
    about 10 s, not for the whole fault (MRSC keeps serving from the other regions)."""
    res = run_small(
        {"faults": [F(kind="table-errors", target="us-east-1", at=30, duration=60, rate=1.0)]}, 100
    )
    s = res.summary
    assert s["metadata"]["table_leader_changes"][-1][1] != "us-east-1"
    ((a, b),) = s["unavailability"]["windows"]
    assert 30 <= a < 32 and 8 < b - a < 15  # table.leader_failover = 10 s (+ the renewal loop)
    assert s["rpo"]["lost_acked_records"] == 0


def test_table_unavailable_in_leader_region_moves_leadership():
    """The leader region's table replica unavailable: lease and table leadership move elsewhere."""
    res = run_small(
        {"faults": [F(kind="table-unavailable", target="leader", at=30, duration=60)]}, 100
    )
    s = res.summary
    assert s["leader"]["timeline"][-1][1] != "us-east-1"
    assert s["metadata"]["table_leader_changes"][-1][1] != "us-east-1"
    assert s["rpo"]["lost_acked_records"] == 0


def test_table_leader_lost_stalls_writes_for_the_failover():
    """Losing the table's internal leader stalls every commit for about the table's failover time."""
    res = run_small({"faults": [F(kind="table-leader-lost", at=30)]}, 80)
    s = res.summary
    assert s["metadata"]["table_leader_changes"][-1][1] != "us-east-1"
    ((a, b),) = s["unavailability"]["windows"]
    assert 8 < b - a < 13  # table.leader_failover = 10 s (+ the renewal loop)


def test_partition_isolating_the_leader_moves_leadership_and_fences_it():
    """An isolated leader region can no longer commit; another region leads; nothing is lost."""
    res = run_small({"faults": [F(kind="partition", target="leader", at=30, duration=60)]}, 110)
    s = res.summary
    assert s["leader"]["timeline"][1][1] != "us-east-1"
    b = res.batches
    isolated = b[(b["region"] == "us-east-1") & (b["applied_s"] > 31) & (b["applied_s"] < 90)]
    assert isolated.empty
    assert s["rpo"]["lost_acked_records"] == 0


def test_partition_groups_and_asymmetric_cut_links():
    """Explicit groups and a one-way cut both take the cut links down for the fault's span."""
    for spec in (
        F(
            kind="partition",
            mode="groups",
            groups=[["us-east-1", "us-east-2"], ["us-west-2"]],
            at=20,
            duration=20,
        ),
        F(
            kind="partition",
            mode="asymmetric",
            target="us-west-2",
            direction="outbound",
            at=20,
            duration=20,
        ),
    ):
        res = run_small({"faults": [spec]}, 60)
        f = res.files
        during = f[(f["flush_s"] > 21) & (f["flush_s"] < 38) & (f["region"] == "us-west-2")]
        # us-west-2's agents cannot reach the east buckets: no quorum before the heal at 40 s
        # (their producers, 5 requests in flight and unanswered, send little until the errors)
        assert len(during) > 10
        assert (during["quorum_s"].isna() | (during["quorum_s"] >= 40.0)).all()


def test_link_degradation_slows_the_path():
    """A degraded east-east path (+100 ms) slows produce latency while it lasts."""
    res = run_small({"faults": [F(kind="link-degradation", target="us-east-1", peer="us-east-2", delay="100ms",
                                  at=30, duration=30)]}, 80)  # fmt: skip
    assert np.median(lat_ms(res, 35, 58)) > np.median(lat_ms(res, 5, 28)) + 20


def test_control_plane_crash_loop_moves_leadership():
    """A crash-looping leader control plane loses the lease to a stable region."""
    res = run_small(
        {"faults": [F(kind="control-plane-crash-loop", target="leader", at=30, duration=60)]}, 100
    )
    assert res.summary["leader"]["timeline"][1][1] != "us-east-1"


def test_control_plane_slow_raises_latency():
    """A slow leader control plane adds its delay to every commit."""
    res = run_small(
        {
            "faults": [
                F(kind="control-plane-slow", target="leader", at=30, duration=30, add="200ms")
            ]
        },
        70,
    )
    assert np.median(lat_ms(res, 32, 58)) > np.median(lat_ms(res, 5, 28)) + 150


def test_bad_deploy_stops_at_the_first_region():
    """A bad build rolled out zone by zone is detected and rolled back before the next region."""
    res = run_small({"faults": [F(kind="bad-deploy", target="us-east-2", at=10, step="20s", bake="60s",
                                  detect_after="50s")]}, 120)  # fmt: skip
    text = " ".join(res.events["text"])
    assert "us-east-2a" in text and "rollback" in text
    assert "us-east-1a" not in text and "us-west-2a" not in text
    assert res.summary["faults"][0]["end_s"] == 60.0


def test_bad_deploy_undetected_reaches_every_region():
    """Without detection the bad build reaches every region in turn."""
    res = run_small({"faults": [F(kind="bad-deploy", target="us-east-2", at=5, step="5s", bake="10s",
                                  detect_after=None)]}, 90)  # fmt: skip
    text = " ".join(res.events["text"])
    assert all(z in text for z in ("us-east-2c", "us-east-1a", "us-west-2c"))
    # once every zone of the lease holder's region (us-east-1, the second in the rollout: its
    # last zone at 5 + 20 + 10 = 35 s) runs the bad build, its control plane fails every commit
    # while it still renews the lease: nothing commits until the end of the run
    windows = res.summary["unavailability"]["windows"]
    assert windows and 34 <= windows[-1][0] < 40 and windows[-1][1] > 89


def test_clock_skew_ahead_takes_the_lease_early_and_fencing_holds():
    """A follower clock 10 s ahead takes the lease before it expires; the old leader is fenced."""
    res = run_small(
        {"faults": [F(kind="clock-skew", target="us-east-2", at=30, duration=40, offset="10s")]}, 80
    )
    tl = res.summary["leader"]["timeline"]
    assert tl[1][1] == "us-east-2" and 30 < tl[1][0] < 33
    b = res.batches
    assert (b.groupby("epoch")["region"].nunique() <= 1).all()


def test_load_spike_raises_throughput():
    """A 3x load spike triples the records sent per second while it lasts."""
    res = run_small(
        {"faults": [F(kind="load-spike", target="all", at=20, duration=20, multiplier=3)]}, 60
    )
    r = res.requests
    before = r[(r["send_s"] > 5) & (r["send_s"] < 20)]["n_records"].sum() / 15
    during = r[(r["send_s"] > 20) & (r["send_s"] < 40)]["n_records"].sum() / 20
    assert 2.5 < during / before < 3.5


def test_producers_move_changes_their_region():
    """Producers moving from us-west-2 to us-east-1 send from us-east-1 while moved."""
    res = run_small(
        {
            "faults": [
                F(kind="producers-move", target="us-west-2", to="us-east-1", at=20, duration=30)
            ]
        },
        70,
    )
    r = res.requests
    during = r[(r["send_s"] > 23) & (r["send_s"] < 48)]
    assert (during["region"] == "us-west-2").sum() == 0
    after = r[r["send_s"] > 55]
    assert (after["region"] == "us-west-2").sum() > 100


def test_consumers_move_read_from_the_new_region():
    """The us-west-2 consumer moves to us-east-1: meanwhile it reads from an eastern bucket,
    before and after from its own region's bucket, and it still receives every committed file."""
    res = run_small(
        {
            "workload.read_from": "nearest",
            "faults": [
                F(kind="consumers-move", target="us-west-2", to="us-east-1", at=20, duration=30)
            ],
        },
        80,
    )
    rec = res.receipts.merge(res.files[["file_id", "metadata_committed_s"]], on="file_id")
    west = rec[rec["consumer"] == 2]  # consumers in region order: us-east-1, us-east-2, us-west-2
    during = west[(west["metadata_committed_s"] > 21) & (west["metadata_committed_s"] < 49)]
    after = west[west["metadata_committed_s"] > 52]
    assert (during["bucket"] == 0).mean() > 0.9  # bucket 0: us-east-1
    assert (after["bucket"] == 2).mean() > 0.9  # bucket 2: us-west-2
    assert rec["receipt_s"].notna().mean() > 0.99


def test_pin_preferred_every_30m_alternates_the_leader():
    """Pinning alternately us-west-2 and us-east-1 every 40 s moves the lease each time."""
    res = run_small({"faults": [F(kind="pin-preferred", target="us-west-2", cycle=["us-west-2", "us-east-1"],
                                  at=20, every=40)]}, 150)  # fmt: skip
    regions = [r for _, r in res.summary["leader"]["timeline"]]
    assert regions[:5] == ["us-east-1", "us-west-2", "us-east-1", "us-west-2", "us-east-1"]
    assert len(res.summary["faults"]) == 4


def test_auto_preference_returns_leadership_to_the_fastest_region():
    """After a pin to us-west-2, returning to auto brings the lease back east."""
    res = run_small({"faults": [F(kind="pin-preferred", target="us-west-2", at=10),
                                F(kind="auto-preference", at=40)]}, 90)  # fmt: skip
    regions = [r for _, r in res.summary["leader"]["timeline"]]
    assert regions[1] == "us-west-2" and regions[-1] != "us-west-2"


def test_symbolic_targets_are_resolved_when_the_fault_fires():
    """'leader' resolves to the current lease holder at fire time, recorded resolved."""
    res = run_small({"faults": [F(kind="pin-preferred", target="us-west-2", at=5),
                                F(kind="region-outage", target="leader", at=40, duration=10)]}, 70)  # fmt: skip
    out = [f for f in res.summary["faults"] if f["kind"] == "region-outage"][0]
    assert out["target"] == "us-west-2"


def test_drawn_onsets_come_from_the_seed():
    """A fault onset given as a range is drawn from the run's seed: same seed, same onset."""
    spec = {
        "faults": [
            F(kind="region-outage", target="random", at=["20s", "40s"], duration=["5s", "10s"])
        ]
    }
    a = run_small(spec, 60, seed=3).summary["faults"][0]
    b = run_small(spec, 60, seed=3).summary["faults"][0]
    c = run_small(spec, 60, seed=4).summary["faults"][0]
    assert a == b and 20 <= a["start_s"] <= 40 and 5 <= a["end_s"] - a["start_s"] <= 10
    assert a != c


def test_replication_paused_delays_eventual_metadata():
    """Eventual table: while replication out of the leader's region is paused, its commits
    exist only there, so losing that region loses all of them (not just a lag's worth)."""
    # us-east-2 leads from about 0.5 s (the eventual table's election, seed 7)
    loss = [{"kind": "region-outage", "target": "us-east-2", "at": 40, "data": "destroyed"}]
    paused = [F(kind="replication-paused", target="us-east-2", at=20, duration=40)]
    base = run_small({"table.kind": "eventual", "faults": loss}, 60)
    res = run_small({"table.kind": "eventual", "faults": paused + loss}, 60)
    lost, lost_base = (r.summary["rpo"]["lost_acked_records"] for r in (res, base))
    assert lost > 5 * max(lost_base, 1)
