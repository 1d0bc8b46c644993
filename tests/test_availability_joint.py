"""Joint windows: what `drop_dead` leaves out of a window changes nothing (issue 11)."""

import pytest

from sim.ensemble.availability.joint import drop_dead
from sim.ensemble.availability.outcomes import RAW, light
from sim.ensemble.sweep import run_row
from sim.scenario import load_scenario


def _loss(region, at):
    return {"kind": "region-outage", "target": region, "at": at, "data": "destroyed"}


def _f(kind, region, at, d, **kw):
    return {"kind": kind, "target": region, "at": at, "duration": d, **kw}


def test_faults_on_a_destroyed_region_are_dropped_the_others_kept():
    faults = [
        _f("table-errors", "us-east-1", 5.0, 40.0, rate=1.0),  # before: kept
        _loss("us-east-1", 10.0),
        _f("region-outage", "us-east-1", 10.0, 30.0),  # same instant: dropped
        _f("bucket-errors", "us-east-1", 20.0, 30.0, rate=0.3),  # dropped
        _loss("us-east-1", 30.0),  # destroyed again: dropped
        _f("table-errors", "us-west-2", 20.0, 30.0, rate=1.0),  # another region: kept
        _f("zone-outage", "us-east-1", 20.0, 30.0),  # not a known no-op: kept
    ]
    out = drop_dead(faults)
    assert out == [faults[0], faults[1], faults[5], faults[6]]
    assert drop_dead(out) == out


@pytest.mark.parametrize("design", ["multi-region", "async-replication-region-loss"])
def test_a_window_without_the_dropped_faults_has_the_same_figures(design):
    base = light(load_scenario(f"scenarios/{design}.yaml").model_dump(mode="json"))
    # us-east-1 holds the lease and the table's leader: the region whose loss moves most
    faults = [
        _f("table-errors", "us-west-2", 5.0, 30.0, rate=0.3),
        _loss("us-east-1", 10.0),
        _f("table-errors", "us-east-1", 15.0, 30.0, rate=1.0),
        _f("region-outage", "us-east-1", 20.0, 20.0),
        _f("bucket-errors", "us-east-1", 25.0, 30.0, rate=1.0),
        _f("region-outage", "us-east-2", 40.0, 10.0),
    ]
    kept = drop_dead(faults)
    assert len(kept) == 3
    rows = []
    for fs in (faults, kept):
        sc = {**base, "faults": fs, "run": {**base["run"], "duration": 80.0, "warmup": 5.0}}
        r = run_row(sc, 3)
        assert r["status"] == "ok", r["error"]
        rows.append({k: r[k] for k in RAW})
    assert rows[0] == rows[1]
    assert rows[0]["unavailability.total_s"] > 0  # the outage of us-east-2 breaks the quorum
