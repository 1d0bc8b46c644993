"""Joint windows share runs without changing them, and an interrupted study resumes (issue 11)."""

import numpy as np
import pandas as pd
import pytest

from sim.ensemble.availability import load_incidents
from sim.ensemble.availability.compose import Design, Incident, Outcome
from sim.ensemble.availability.joint import SimulatedJoint, joint_scenario, merge_faults
from sim.ensemble.availability.outcomes import build_outcomes
from sim.ensemble.engine import Engine
from sim.scenario import load_scenario


def _base():
    return load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")


def test_overlapping_faults_on_one_target_merge_into_their_union():
    a = {"kind": "region-outage", "target": "r1", "at": 10.0, "duration": 100.0}
    b = {"kind": "region-outage", "target": "r1", "at": 60.0, "duration": 100.0}
    c = {"kind": "region-outage", "target": "r2", "at": 60.0, "duration": 100.0}
    d = {"kind": "region-outage", "target": "r1", "at": 500.0, "duration": 10.0}
    e = {"kind": "table-errors", "target": "r1", "rate": 1.0, "at": 20.0, "duration": 10.0}
    out = merge_faults([b, a, c, d, e])
    assert {"kind": "region-outage", "target": "r1", "at": 10.0, "duration": 150.0} in out
    assert c in out and d in out and e in out and len(out) == 4


def test_a_member_over_before_the_window_is_not_simulated_but_counted():
    o = Outcome(downtime_s=7.0)
    group = [
        Incident("region_outage", 0, 0.0, 5000.0, o),  # long: the others overlap it
        Incident("metadata_table_errors", 1, 100.0, 200.0, Outcome(downtime_s=50.0)),
        Incident("region_outage", 2, 4000.0, 600.0, o),  # opens the window at 3700 s
    ]
    sc, _, _, before = joint_scenario(_base(), group)
    assert [f["kind"] for f in sc["faults"]] == ["region-outage", "region-outage"]
    assert (group[1], 200.0) in before  # its whole duration: its own outcome in full


class _Fake(Engine):
    """Finishes `stop_after` tasks with a made-up row, then is interrupted (Ctrl-C)."""

    def __init__(self, stop_after=None):
        self.stop_after, self.ran = stop_after, []

    def run(self, tasks):
        for n, t in enumerate(tasks):
            if self.stop_after is not None and n == self.stop_after:
                raise KeyboardInterrupt
            self.ran.append(t.key)
            yield t, {"status": "ok", "unavailability.total_s": 1.0 + n,
                      "unavailability.windows": "[]", "records.failed": 0.0,
                      "records.lost_acked": 0.0, "records.sent": 100.0,
                      "sim_duration_s": 40.0}, None  # fmt: skip


def test_an_interrupted_outcome_build_resumes_from_the_runs_it_finished(tmp_path):
    model = load_incidents().only("region_outage", "az_outage")
    cache = tmp_path / "outcomes.parquet"
    with pytest.raises(KeyboardInterrupt):
        build_outcomes("d", _base(), model, 3, 1, _Fake(stop_after=4), cache)
    assert len(pd.read_parquet(cache)) == 4  # written although the build never finished
    again = _Fake()
    out = build_outcomes("d", _base(), model, 3, 1, again, cache)
    assert len(again.ran) == 2 and len(pd.read_parquet(cache)) == 6
    assert all(len(s) == 3 for s in out.values())


def test_an_interrupted_joint_pass_resumes_from_the_runs_it_finished(tmp_path):
    cache = tmp_path / "joint.parquet"
    o = Outcome()
    groups = [
        [Incident("region_outage", 0, 0.0, 400.0, o), Incident("region_outage", 1, t, 400.0, o)]
        for t in (30.0, 90.0, 150.0)
    ]
    d = Design("d", 3, {})
    hook = SimulatedJoint({"d": _base()}, _Fake(stop_after=2), cache)
    for g in groups:
        hook(d, g)
    with pytest.raises(KeyboardInterrupt):
        hook.run_pending()
    assert len(pd.read_parquet(cache)) == 2
    again = SimulatedJoint({"d": _base()}, _Fake(), cache)
    for g in groups:
        again(d, g)
    assert len(again.pending) == 1
    again.run_pending()
    assert np.isfinite([again(d, g).downtime_s for g in groups]).all()
