"""Joint windows (issue 11): what `drop_dead` leaves out of a window changes nothing; after the
window a group stays down only while the members still under way keep it down."""

import json
import math

import pytest

from sim.ensemble.availability.compose import Design, Incident, Outcome
from sim.ensemble.availability.joint import SimulatedJoint, drop_dead
from sim.ensemble.availability.outcomes import RAW, light
from sim.ensemble.engine import Engine
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


class _QuorumEngine(Engine):
    """A test engine (not physics): a window is unavailable while two or more regions are out
    (down or destroyed), read off its faults."""

    def run(self, tasks):
        for t in tasks:
            sc = t.args[0]
            end = float(sc["run"]["duration"])
            spans = [(f["target"], f["at"], f["at"] + f.get("duration", math.inf))
                     for f in sc["faults"] if f["kind"] == "region-outage"]  # fmt: skip
            edges = sorted({min(x, end) for _, a, b in spans for x in (a, b)} | {0.0, end})
            windows = []
            for a, b in zip(edges, edges[1:], strict=False):
                mid = 0.5 * (a + b)
                if len({r for r, s, e in spans if s <= mid < e}) >= 2:
                    if windows and windows[-1][1] == a:
                        windows[-1][1] = b
                    else:
                        windows.append([a, b])
            yield t, {"status": "ok", "unavailability.total_s": sum(b - a for a, b in windows),
                      "unavailability.windows": json.dumps(windows), "records.failed": 0.0,
                      "records.lost_acked": 0.0, "records.sent": 100.0,
                      "sim_duration_s": end}, None  # fmt: skip


def _settled(group):
    hook = SimulatedJoint({"d": load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")},
                          _QuorumEngine())  # fmt: skip
    d = Design("d", 3, {})
    hook.settle(lambda: hook(d, group))
    return hook(d, group).downtime_s


WEEK = 7 * 86400.0


def test_after_the_window_a_group_stays_down_only_while_its_members_keep_it_down():
    o = Outcome()
    # A region lost for a week (the rebuild), another region down for 2 hours from 1 hour in:
    # down for the 2 hours, not for the week.
    lost_then_out = [Incident("region_loss", 0, 0.0, WEEK, o),
                     Incident("region_outage", 1, 3600.0, 7200.0, o)]  # fmt: skip
    assert _settled(lost_then_out) == pytest.approx(7200.0, abs=60.0)
    # Two regions lost an hour apart: down from the second loss until the first is rebuilt.
    two_lost = [Incident("region_loss", 0, 0.0, WEEK, o),
                Incident("region_loss", 1, 3600.0, WEEK, o)]  # fmt: skip
    assert _settled(two_lost) == pytest.approx(WEEK - 3600.0, abs=60.0)
    # Three: after the 2-hour outage ends the two losses still break the quorum (a second run of
    # the members left, its share of down time 1), until the first loss is rebuilt.
    three = [*two_lost, Incident("region_outage", 2, 7200.0, 7200.0, o)]
    assert _settled(three) == pytest.approx(WEEK - 3600.0, abs=60.0)


class _FailoverEngine(Engine):
    """A test engine: every fault start costs 20 s of unavailability (a failover), then up."""

    def run(self, tasks):
        for t in tasks:
            sc = t.args[0]
            starts = sorted({float(f["at"]) for f in sc["faults"]})
            windows = [[a, a + 20.0] for a in starts]
            yield t, {"status": "ok", "unavailability.total_s": 20.0 * len(windows),
                      "unavailability.windows": json.dumps(windows), "records.failed": 0.0,
                      "records.lost_acked": 0.0, "records.sent": 100.0,
                      "sim_duration_s": float(sc["run"]["duration"])}, None  # fmt: skip


def test_the_last_incidents_own_failover_is_not_taken_for_the_state_that_goes_on():
    o = Outcome()
    group = [Incident("region_outage", 0, 0.0, 36000.0, o),
             Incident("metadata_table_errors", 1, 3600.0, 36000.0, o)]  # fmt: skip
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    hook = SimulatedJoint({"d": base}, _FailoverEngine())
    d = Design("d", 3, {})
    hook.settle(lambda: hook(d, group))
    # the window: the first incident under way from its start, the second's failover 20 s; the
    # second half of the second's simulated part (75-150 s after it) is up: nothing goes on
    assert hook(d, group).downtime_s == pytest.approx(40.0)
