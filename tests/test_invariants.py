"""Invariants on every run: they hold on the real design, and each one fails on tables broken by
hand (a check that cannot fail proves nothing)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.run.invariants import check_all
from tests.conftest import run_small

FAULT = {"kind": "control-plane-outage", "target": "leader", "at": 20, "duration": 10}


@pytest.fixture(scope="module")
def base():
    res = run_small({"faults": [FAULT], "run.recovery_bound": "30s"}, duration=80, seed=5)
    b = res.batches.sort_values("first_offset")
    inputs = {
        "sc": res.scenario, "requests": res.requests, "files": res.files,
        "batches": res.batches, "receipts": res.receipts,
        "lost_records": res.summary["records"]["lost_acked"],
        "dup_records": res.summary["records"]["duplicated"],
        "faults": res.faults, "effects": res.effects,
        "destroyed_sites": [], "n_sites": 3,
        "log": list(zip(b["first_offset"], b["n_records"], strict=True)),
        "consumers_went_down": [False] * 3, "fenced": 0, "leader": res.leader,
        "sites": list(res.scenario.topology.regions),
    }  # fmt: skip
    return res, inputs


def test_every_invariant_holds_on_the_real_design(base):
    res, inputs = base
    for name, c in res.summary["checks"].items():
        assert c["ok"] and not c["violated"], (name, c)
    again = check_all(**inputs)
    assert {k: v["ok"] for k, v in again.items()} == {k: True for k in again}
    assert again["recovers"]["checked"] and again["healed"]["checked"]


def _broken(inputs, **changes):
    out = dict(inputs)
    out.update(changes)
    return check_all(**out)


def test_lost_write_fails_when_acked_records_vanish_within_the_budget(base):
    _, inputs = base
    assert _broken(inputs, lost_records=7)["lost-write"]["violated"]
    # beyond what the design survives (two of three sites destroyed) losses are counted, not
    # a violation
    c = _broken(inputs, lost_records=7, destroyed_sites=["us-east-1", "us-east-2"])["lost-write"]
    assert c["ok"] and not c["violated"]
    # ... unless the lost records' data still had a quorum of surviving copies (--budget any)
    c = _broken(inputs, lost_records=7, lost_in_quorum=2,
                destroyed_sites=["us-east-1", "us-east-2"])["lost-write"]  # fmt: skip
    assert c["violated"]


def test_duplicate_fails_when_a_file_is_committed_twice(base):
    _, inputs = base
    assert _broken(inputs, files_twice=1)["duplicate"]["violated"]


def test_ack_after_quorum_counts_the_puts_the_storage_recorded(base):
    """A file acknowledged with one PUT recorded as failed (the writer counted it anyway)."""
    from sim.ledger import ACKED
    from sim.ledger.records import PUT_FAILED, PUT_OK

    _, inputs = base
    files = inputs["files"].copy()
    fid = int(inputs["requests"].loc[inputs["requests"]["status"] == ACKED, "ack_file"].iloc[0])
    row = files.index[files["file_id"] == fid][0]
    ok = [r for r in inputs["sites"] if files.loc[row, f"put_state[{r}]"] == PUT_OK]
    for r in ok[1:]:
        files.loc[row, f"put_state[{r}]"] = PUT_FAILED
    c = _broken(inputs, files=files)["ack-after-quorum-and-commit"]
    assert c["violated"], c
    assert "0 acked with fewer" not in c["detail"]


def test_duplicate_fails(base):
    _, inputs = base
    assert _broken(inputs, dup_records=3)["duplicate"]["violated"]


def test_inconsistent_offsets_fail_on_a_gap_or_an_overlap(base):
    _, inputs = base
    log = list(inputs["log"])
    first, n = log[5]
    gap = log[:5] + [(first + 1, n)] + log[6:]
    assert _broken(inputs, log=gap)["inconsistent-offsets"]["violated"]
    overlap = log[:5] + [(first - 1, n)] + log[6:]
    assert _broken(inputs, log=overlap)["inconsistent-offsets"]["violated"]


def test_poll_skip_fails_when_a_live_consumer_misses_an_old_file(base):
    _, inputs = base
    rec = inputs["receipts"].copy()
    old = rec.index[(rec["consumer"] == 0) & (rec["receipt_s"] < 10)][:3]
    rec.loc[old, "receipt_s"] = np.nan
    assert _broken(inputs, receipts=rec)["poll-skip"]["violated"]
    # a consumer that went down is not blamed (its missed polls are not replayed by the model)
    c = _broken(inputs, receipts=rec, consumers_went_down=[True, False, False])["poll-skip"]
    assert not c["violated"]


def test_one_committer_per_epoch_fails_when_two_regions_commit_in_one_epoch(base):
    _, inputs = base
    b = inputs["batches"].copy()
    b.loc[b.index[10], "region"] = (
        "us-west-2" if b.loc[b.index[10], "region"] != "us-west-2" else "us-east-1"
    )
    assert _broken(inputs, batches=b)["one-committer-per-epoch"]["violated"]


def test_one_committer_per_epoch_fails_when_a_deposed_leader_commits(base):
    """A batch of the old epoch applied after the new lease was taken (what fencing prevents)."""
    _, inputs = base
    assert inputs["leader"]["epoch"].nunique() >= 2
    b = inputs["batches"].copy()
    old = b.index[b["epoch"] == b["epoch"].min()][-1]
    b.loc[old, "applied_s"] = inputs["leader"]["t_s"].max() + 1.0
    c = _broken(inputs, batches=b)["one-committer-per-epoch"]
    assert c["violated"] and "1 batch(es) applied after a newer lease" in c["detail"]


def test_ack_after_quorum_and_commit_fails_on_an_early_ack(base):
    _, inputs = base
    f = inputs["files"].copy()
    acked_file = int(inputs["requests"].loc[inputs["requests"]["status"] == 1, "ack_file"].iloc[0])
    f.loc[f["file_id"] == acked_file, "metadata_committed_s"] += 100.0
    assert _broken(inputs, files=f)["ack-after-quorum-and-commit"]["violated"]


def test_healed_fails_when_a_fault_or_an_effect_outlives_its_end(base):
    _, inputs = base
    faults = copy.deepcopy(inputs["faults"])
    faults[0]["end_s"] = None
    assert _broken(inputs, faults=faults)["healed"]["violated"]
    eff = inputs["effects"].copy()
    eff.loc[eff.index[0], "end_s"] = 999.0
    assert _broken(inputs, effects=eff)["healed"]["violated"]


def test_recovers_fails_when_acks_do_not_resume(base):
    _, inputs = base
    req = inputs["requests"].copy()
    req.loc[req["ack_s"] > 55, "ack_s"] = np.nan
    assert _broken(inputs, requests=req)["recovers"]["violated"]


def test_a_design_declares_what_it_may_show():
    """Asynchronous replication may lose writes: the loss is counted, allowed, not a failure."""
    res = run_small(
        {"storage.replication": "async",
         "faults": [{"kind": "region-outage", "target": "us-west-2", "at": 30, "data": "destroyed"}]},
        duration=60,
    )  # fmt: skip
    c = res.summary["checks"]["lost-write"]
    assert c["violated"] and c["allowed"] and c["ok"]
