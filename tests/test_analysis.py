"""sim.report.analysis: the helpers behind the study notebooks."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from sim.ledger import ACKED, FAILED_TIMEOUT, PENDING, PRODUCER_DIED
from sim.model.network import base_rtt_ms
from sim.report import analysis as A
from sim.scenario import TableConfig

US = ["us-east-1", "us-east-2", "us-west-2"]
LOCAL = TableConfig().local_p50_ms


def _requests(rows: list[dict]) -> pd.DataFrame:
    """A requests table with the runner's columns (unspecified ones filled)."""
    base = {"producer": 0, "region_idx": 0, "n_records": 1, "bytes": 1024, "ack_s": np.nan,
            "end_s": np.nan, "status": PENDING, "attempts": 0, "ack_file": -1,
            "leader_at_ack": -1, "region": "us-east-1"}  # fmt: skip
    df = pd.DataFrame([{**base, **r} for r in rows])
    df.insert(0, "request_id", np.arange(len(df)))
    return df


def _tiny_run() -> dict:
    """Two requests, one retried, through two files and two metadata batches."""
    requests = _requests(
        [
            {"send_s": 0.0, "ack_s": 0.5, "end_s": 0.5, "status": ACKED, "ack_file": 0},
            {
                "send_s": 0.1,
                "ack_s": 3.0,
                "end_s": 3.0,
                "status": ACKED,
                "ack_file": 1,
                "attempts": 1,
                "region": "us-west-2",
            },  # fmt: skip
        ]
    )
    attempts = pd.DataFrame(
        {
            "request_id": [0, 1, 1],
            "arrive_s": [0.01, 0.11, 2.0],
            "attempt": [0, 0, 1],
            "file_id": [0, 0, 1],
        }  # fmt: skip
    )
    files = pd.DataFrame(
        {
            "file_id": [0, 1],
            "region": ["us-east-1", "us-west-2"],
            "flush_s": [0.2, 2.2],
            "quorum_s": [0.3, 2.4],
            "committed_s": [0.45, 2.9],
            "batch_id": [0, 1],
            "commit_region": ["us-east-1", "us-east-1"],
        }  # fmt: skip
    )
    batches = pd.DataFrame(
        {
            "batch_id": [0, 1],
            "region": ["us-east-1"] * 2,
            "epoch": [1, 1],
            "start_s": [0.35, 2.5],
            "applied_s": [0.4, 2.6],
        }  # fmt: skip
    )
    return {"requests": requests, "attempts": attempts, "files": files, "batches": batches,
            "topology": {"regions": US}}  # fmt: skip


# -- latency anatomy ------------------------------------------------------------------------------
def test_anatomy_splits_a_request_exactly():
    """Each part is the span between the recorded timestamps of the acknowledged attempt."""
    an = A.anatomy(_tiny_run(), warmup=0.0).set_index("request_id")
    first = an.loc[0]
    assert first["to_agent"] == pytest.approx(10.0)
    assert first["batch_wait"] == pytest.approx(190.0)
    assert first["quorum_put"] == pytest.approx(100.0)
    assert first["table_write"] == pytest.approx(50.0)
    assert first["commit_routing"] == pytest.approx(100.0)
    assert first["ack"] == pytest.approx(50.0)
    assert first["latency_ms"] == pytest.approx(500.0)


def test_anatomy_uses_the_acknowledged_attempt_of_a_retried_request():
    """A retried request's time before its acknowledged attempt counts as time to the agent."""
    an = A.anatomy(_tiny_run(), warmup=0.0).set_index("request_id")
    second = an.loc[1]
    assert second["attempt"] == 1
    assert second["to_agent"] == pytest.approx(1900.0)
    assert second["batch_wait"] == pytest.approx(200.0)
    assert second["agent_region"] == "us-west-2" and second["leader"] == "us-east-1"
    assert second["producer_region"] == "us-west-2"


def test_anatomy_leaves_out_requests_sent_in_the_warmup():
    """Only acknowledged requests sent at or after the warm-up get a row."""
    assert list(A.anatomy(_tiny_run(), warmup=0.05)["request_id"]) == [1]


def test_anatomy_parts_add_up_on_a_real_run(steady):
    """On a simulated run the parts are non-negative and sum to each request's latency."""
    an = A.anatomy(steady)
    req = steady.requests
    n_acked = int(((req["status"] == ACKED) & (req["send_s"] >= steady.scenario.run.warmup)).sum())
    assert len(an) == n_acked > 1000
    parts = an[list(A.PART_NAMES)]
    assert (parts.to_numpy() >= -1e-9).all()
    assert np.allclose(parts.sum(axis=1), an["latency_ms"], atol=1e-6)


def test_anatomy_reads_a_run_folder_like_a_run(steady, tmp_path):
    """A run folder read back with load_run gives the same anatomy as the run itself."""
    from sim.report.results import load_run, write_tables

    write_tables(steady, tmp_path)
    back = A.anatomy(load_run(tmp_path))
    pd.testing.assert_frame_equal(back, A.anatomy(steady), check_dtype=False)


def test_anatomy_table_means_add_up_to_the_mean_latency(steady):
    """The mean parts of every group sum to the group's mean latency."""
    table = A.anatomy_table(A.anatomy(steady), "producer_region")
    assert list(table.index) == sorted(table.index)
    assert np.allclose(table[list(A.PART_NAMES)].sum(axis=1), table["mean_ms"])
    assert (table["p99_ms"] >= table["p50_ms"]).all()
    assert table["count"].sum() == len(A.anatomy(steady))


# -- around a fault -------------------------------------------------------------------------------
def _fault_requests() -> pd.DataFrame:
    return _requests(
        [
            {"send_s": 0.2, "ack_s": 0.5, "end_s": 0.5, "status": ACKED},
            {"send_s": 0.4, "ack_s": 2.6, "end_s": 2.6, "status": ACKED},
            {"send_s": 1.5, "end_s": 3.5, "status": FAILED_TIMEOUT, "n_records": 3},
            {"send_s": 2.5, "end_s": 2.7, "status": PRODUCER_DIED, "n_records": 5},
            {"send_s": 3.2, "ack_s": 3.4, "end_s": 3.4, "status": ACKED},
        ]
    )


def test_timeline_counts_sends_acks_and_failures_per_window():
    """Sends count by send time, acks by ack time, failures by the time they failed."""
    tl = A.timeline(_fault_requests(), 0.0, 4.0, 1.0)
    assert list(tl["t"]) == [0.0, 1.0, 2.0, 3.0]
    assert list(tl["sent"]) == [2, 1, 1, 1]
    assert list(tl["acked"]) == [1, 0, 1, 1]
    assert list(tl["failed"]) == [0, 0, 1, 1]
    assert tl.loc[0, "max_ms"] == pytest.approx(2200.0)
    assert tl.loc[3, "p50_ms"] == pytest.approx(200.0)
    assert math.isnan(tl.loc[1, "p99_ms"]) and math.isnan(tl.loc[2, "p50_ms"])


def test_latency_in_covers_acknowledged_requests_sent_in_the_window():
    """Only acknowledged requests sent in [t0, t1) count; an empty window gives NaN."""
    st = A.latency_in(_fault_requests(), 0.0, 1.0)
    assert st["count"] == 2 and st["max"] == pytest.approx(2200.0)
    assert st["p50"] == pytest.approx(1250.0)
    assert A.latency_in(_fault_requests(), 1.0, 3.0)["count"] == 0
    assert math.isnan(A.latency_in(_fault_requests(), 1.0, 3.0)["p99"])


def test_leader_lookups_follow_the_lease_timeline():
    """leader_at is the last holder at or before t; leader_change_after the next change after t."""
    leader = pd.DataFrame({"t_s": [0.3, 70.5], "region": ["us-east-1", "us-east-2"]})
    assert A.leader_at(leader, 0.1) is None
    assert A.leader_at(leader, 70.5) == "us-east-2"
    assert A.leader_change_after(leader, 60.0) == (70.5, "us-east-2")
    assert A.leader_change_after(leader, 70.5) is None


def test_outage_metrics_split_stalls_and_failures_around_the_fault():
    """Only stalls ending after the fault count; failures split into timeouts and dead producers."""
    req = _fault_requests()
    res = {
        "requests": req,
        "leader": pd.DataFrame({"t_s": [0.1, 2.9], "region": ["us-east-1", "us-east-2"]}),
        "summary": {
            "sim_duration_s": 4.0,
            "unavailability": {"windows": [[0.0, 0.4], [0.6, 2.5]]},
            "rpo": {"lost_acked_records": 0},
            "records": {"duplicated": 2},
        },
    }
    m = A.outage_metrics(res, t_fault=1.0, horizon=1.0, warmup=0.0, guard=0.0)
    assert m["stall_s"] == pytest.approx(1.9)
    assert m["longest_stall_s"] == pytest.approx(1.9)
    assert m["stall_end_s"] == pytest.approx(1.5)
    assert m["failed_requests"] == 2 and m["failed_records"] == 8
    assert m["died_with_producer_records"] == 5
    assert m["duplicated_records"] == 2 and m["lost_acked_records"] == 0
    assert m["leader_moved_s"] == pytest.approx(1.9) and m["new_leader"] == "us-east-2"
    assert m["baseline_p99_ms"] > 2000  # both early requests are the baseline here
    assert m["after_p50_ms"] == pytest.approx(200.0)  # the request sent after fault + horizon


def test_window_cost_measures_latency_above_the_baseline():
    """The excess is each request's latency minus the baseline mean, summed and averaged."""
    req = _requests(
        [{"send_s": t, "ack_s": t + 0.5, "end_s": t + 0.5, "status": ACKED} for t in (1, 2, 3, 9)]
    )
    c = A.window_cost(req, 0.0, 5.0, baseline_mean_ms=300.0)
    assert c["count"] == 3 and c["mean_ms"] == pytest.approx(500.0)
    assert c["excess_mean_ms"] == pytest.approx(200.0)
    assert c["excess_total_s"] == pytest.approx(0.6)
    assert A.window_cost(req, 4.0, 5.0, 300.0)["count"] == 0


# -- safety of the metadata -----------------------------------------------------------------------
def test_split_brain_and_overlap_detect_two_leaders():
    """Two regions committing one epoch, or at once, are caught; a clean handover is not."""
    clean = pd.DataFrame(
        {
            "epoch": [1, 1, 2, 2, -1, -1],
            "region": ["a", "a", "b", "b", "a", "b"],
            "applied_s": [0.0, 5.0, 5.5, 9.0, 1.0, 1.5],
        }  # fmt: skip
    )
    assert A.split_brain_epochs(clean) == 0
    assert A.overlapping_leadership(clean) == 0.0
    split = pd.DataFrame(
        {
            "epoch": [1, 1, 2, 2, 2],
            "region": ["a", "a", "b", "b", "a"],
            "applied_s": [0.0, 5.0, 4.0, 9.0, 6.0],
        }  # fmt: skip
    )
    assert A.split_brain_epochs(split) == 1
    # (1, a) [0, 5] overlaps (2, b) [4, 9] for 1 s; (2, a) [6, 6] lies inside (2, b)
    assert A.overlapping_leadership(split) == pytest.approx(1.0)


# -- region sets ----------------------------------------------------------------------------------
def test_implied_mrsc_write_follows_the_table_rule():
    """MRSC writes cost the local median plus the RTT to the nearest replica or to the leader."""
    near = min(base_rtt_ms("us-east-1", r) for r in US[1:])
    assert A.implied_write_ms(US, "us-east-1", "us-east-1") == pytest.approx(LOCAL + near)
    assert A.implied_write_ms(US, "us-west-2", "us-east-1") == pytest.approx(
        LOCAL + base_rtt_ms("us-west-2", "us-east-1")
    )
    assert A.implied_write_ms(US, "us-west-2", "us-east-1", local_ms=1.0) == pytest.approx(
        1.0 + base_rtt_ms("us-west-2", "us-east-1")
    )
    assert A.implied_write_ms(US, "us-east-1", "us-east-1", kind="eventual") == pytest.approx(LOCAL)


def test_implied_write_after_a_loss():
    """After a loss the writer must live, and the survivor nearest the old table leader leads."""
    assert A.implied_write_ms(US, "us-east-1", "us-east-1", lost=["us-east-1"]) is None
    new = min(US[1:], key=lambda r: base_rtt_ms("us-east-1", r))
    other = [r for r in US[1:] if r != new][0]
    assert A.implied_write_ms(US, other, "us-east-1", lost=["us-east-1"]) == pytest.approx(
        LOCAL + base_rtt_ms(other, new)
    )
    assert A.implied_write_ms(US, "us-east-1", "us-east-1", lost=["us-east-2"]) == pytest.approx(
        LOCAL + base_rtt_ms("us-east-1", "us-west-2")
    )
    assert A.implied_write_ms(US, "us-east-1", "us-east-1", lost=US[1:]) is None


def test_quorum_partners_are_the_nearest_other_region():
    """Each region's partner minimises the RTT to it and its farthest maximises it."""
    p = A.quorum_partners(US)
    for r in US:
        others = {o: base_rtt_ms(r, o) for o in US if o != r}
        assert p.loc[r, "partner"] == min(others, key=others.get)
        assert p.loc[r, "partner_rtt_ms"] == pytest.approx(min(others.values()))
        assert p.loc[r, "farthest_rtt_ms"] == pytest.approx(max(others.values()))


def test_rtt_frame_is_the_model_matrix():
    """The frame's cells are the model's base RTTs, rows from, columns to."""
    m = A.rtt_frame(US)
    assert m.loc["us-west-2", "us-east-1"] == base_rtt_ms("us-west-2", "us-east-1")
    assert m.loc["us-east-1", "us-east-1"] == base_rtt_ms("us-east-1", "us-east-1")


def test_triad_candidates_cover_every_triad_sorted_by_write():
    """Every triad appears once, sorted by the implied write of its best leader."""
    pool = ["us-east-1", "us-east-2", "us-west-2", "ca-central-1"]
    t = A.triad_candidates(pool)
    assert len(t) == len(list(combinations(pool, 3)))
    assert t["write_ms"].is_monotonic_increasing
    for row in t.itertuples():
        regs = row.regions.split(", ")
        assert row.write_ms == pytest.approx(
            A.implied_write_ms(regs, row.best_leader, row.best_leader)
        )
        assert row.worst_write_ms >= row.write_ms
        assert row.after_loss_ms >= row.write_ms


def test_loss_outlook_for_a_triad():
    """2-of-3 survives any single loss, 3-of-3 does not; the table leader moves only if lost."""
    out = A.loss_outlook(US, "us-east-1")
    assert out["data_quorum"].all() and out["table_commits"].all()
    assert out.loc["us-east-2", "table_leader_after"] == "us-east-1"
    assert out.loc["us-east-1", "table_leader_after"] != "us-east-1"
    assert out.loc["us-west-2", "survivor_rtt_ms"] == pytest.approx(
        max(base_rtt_ms("us-east-1", "us-east-2"), base_rtt_ms("us-east-2", "us-east-1"))
    )
    assert not A.loss_outlook(US, "us-east-1", quorum=3)["data_quorum"].any()


# -- paired statistics ----------------------------------------------------------------------------
def test_paired_table_reports_the_mean_difference_and_its_interval():
    """A constant per-seed shift has a zero-width CI excluding 0; noise around 0 does not."""
    per_seed = {
        "base": {"x": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]},
        "shifted": {"x": [11.0, 12.0, 13.0], "y": [4.0, 6.0, 5.0]},
    }
    t = A.paired_table(per_seed, "base").set_index("metric")
    assert list(t["design"]) == ["shifted", "shifted"]
    x = t.loc["x"]
    assert x["diff_mean"] == pytest.approx(10.0)
    assert x["ci_low"] == pytest.approx(10.0) and x["ci_high"] == pytest.approx(10.0)
    assert x["excludes_0"] and x["pairs"] == 3
    y = t.loc["y"]
    assert y["diff_mean"] == pytest.approx(0.0)
    assert y["ci_low"] < 0 < y["ci_high"] and not y["excludes_0"]


def test_paired_table_without_enough_seeds_has_no_interval():
    """With one seed there is a difference but no confidence interval."""
    t = A.paired_table({"a": {"m": [1.0]}, "b": {"m": [3.0]}}, "a")
    assert t.loc[0, "diff_mean"] == pytest.approx(2.0)
    assert math.isnan(t.loc[0, "ci_low"]) and not t.loc[0, "excludes_0"]
