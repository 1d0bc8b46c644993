"""Agents: flushes, file sizes, the quorum write, the commit, acknowledgements, dead agents."""

from __future__ import annotations

import numpy as np
import pytest

from sim.ledger import ACKED, PUT_OK
from sim.model.quorum import quorum_time
from tests.conftest import run_small


def test_each_agent_flushes_every_batch_timeout(steady):
    """At the reference load no buffer fills: each of the 9 agents flushes every 250 ms (a tick
    at which its producer, held by its in-flight cap, sent nothing makes no file)."""
    files = steady.files
    per_agent = files.groupby("agent")["file_id"].count()
    assert len(per_agent) == 9
    expected = 120.0 / 0.25
    assert per_agent.between(0.85 * expected, expected + 1).all()
    gaps = files.sort_values("flush_s").groupby("agent")["flush_s"].diff().dropna().to_numpy()
    ticks = np.round(gaps / 0.25)
    assert ticks.min() >= 1 and gaps == pytest.approx(0.25 * ticks, abs=1e-9)
    assert (ticks == 1).mean() > 0.8


def test_a_full_buffer_is_split_at_max_file_size():
    """With a small max_file_size the agents flush sooner, and no file exceeds it (a request
    is never split, so a file holds whole requests)."""
    # producers not held by an in-flight cap, so every flush has requests to split
    uncapped = {"workload.idempotence": False, "workload.max_in_flight": 1000}
    res = run_small({"agents.max_file_size": "256KiB", **uncapped}, duration=20)
    files = res.files
    assert files["bytes"].max() <= 256 * 1024
    assert len(files) > 1.2 * 9 * 20 / 0.25  # more files than one per agent per 250 ms


def test_the_quorum_time_of_every_file_is_the_rule(steady):
    """Each file's durable time is the 2nd fastest successful PUT of 3 (the one rule, used by
    the model): recomputed from the files table."""
    files = steady.files
    regions = ["us-east-1", "us-east-2", "us-west-2"]
    ends = files[[f"put_end_s[{r}]" for r in regions]].to_numpy()
    ok = files[[f"put_state[{r}]" for r in regions]].to_numpy() == PUT_OK
    acked = files["status"].to_numpy() == 1
    got = files["quorum_s"].to_numpy()
    for i in np.where(acked)[0][:2000]:
        # a predicted (late) PUT ends after the quorum: only the PUTs that made it count
        assert got[i] == quorum_time(ends[i], ok[i], 2)


def test_every_epoch_commits_from_one_region():
    """Leader switches every 40 s: each lease epoch's batches all come from one region."""
    res = run_small(
        {
            "faults": [
                {
                    "kind": "pin-preferred",
                    "target": "us-west-2",
                    "at": 20,
                    "every": 40,
                    "cycle": ["us-west-2", "us-east-1"],
                }  # fmt: skip
            ]
        },
        duration=150,
    )
    b = res.batches
    assert b["epoch"].nunique() >= 4
    assert (b.groupby("epoch")["region"].nunique() == 1).all()


def test_acknowledged_only_after_quorum_and_commit_under_faults():
    """Even with a bucket down and the leader's control plane restarting, no request is acked
    before its file's quorum and its commit."""
    res = run_small(
        {
            "faults": [
                {"kind": "bucket-unavailable", "target": "us-east-2", "at": 10, "duration": 20},
                {"kind": "control-plane-outage", "target": "leader", "at": 15, "duration": 10},
            ]
        },
        duration=60,
    )
    req = res.requests
    acked = req[req["status"] == ACKED]
    f = res.files.set_index("file_id").loc[acked["ack_file"].to_numpy()]
    assert len(acked) > 1000
    assert (f["quorum_s"].to_numpy() <= f["metadata_committed_s"].to_numpy()).all()
    assert (f["metadata_committed_s"].to_numpy() <= acked["ack_s"].to_numpy()).all()


def test_a_dead_agent_bounces_its_requests_and_producers_go_elsewhere():
    """The agents of us-west-2 die: their producers time out, retry on another region's agents,
    and every record still gets through."""
    res = run_small(
        {"faults": [{"kind": "data-plane-outage", "target": "us-west-2", "at": 10}]}, duration=90
    )
    s = res.summary
    assert s["requests"]["retries"] > 0
    assert s["records"]["lost_acked"] == 0
    late = res.requests[(res.requests["send_s"] > 50) & (res.requests["region"] == "us-west-2")]
    files = res.files.set_index("file_id")
    acked = late[late["status"] == ACKED]
    assert len(acked) > 100
    assert (files.loc[acked["ack_file"].to_numpy(), "region"] != "us-west-2").all()


def test_put_requests_are_counted_once_each(steady):
    """Fault-free: one PUT per bucket per file, in the ledger's counts."""
    puts = steady.ops[steady.ops["op"] == "put"]
    assert puts["count"].sum() == 3 * len(steady.files)
    assert puts["bytes"].sum() == 3 * steady.files["bytes"].sum()
