"""Incident windows from the simulator (issue 11, step 1)."""

from sim.ensemble.availability.outcomes import collect, incident_scenario, outcome_tasks
from sim.ensemble.engine import InProcess
from sim.run.checks import unavailability_windows
from sim.run.runner import run
from sim.scenario import Scenario, load_scenario


def test_region_outage_window_gives_an_outcome_sample():
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    base["workload"]["records_per_s"] = 50
    sc = incident_scenario(base, "region_outage", 10.0)
    assert sc["faults"][0]["kind"] == "region-outage"
    tasks = outcome_tasks(base, "region_outage", [10.0], seed=1)
    rows = [res for _, res, _ in InProcess().run(tasks)]
    sample = collect(rows, [10.0])
    assert len(sample) == 1 and sample.lost_acked[0] == 0


def _lost_on_region_loss(path):
    base = load_scenario(path).model_dump(mode="json")
    base["workload"]["records_per_s"] = 100
    rows = [r for _, r, _ in InProcess().run(outcome_tasks(base, "region_loss", [10.0], 1))]
    return collect(rows, [10.0]).lost_acked.sum()


def test_async_replication_loses_acked_records_on_region_loss_reference_does_not():
    assert _lost_on_region_loss("scenarios/async-replication-region-loss.yaml") > 0
    assert _lost_on_region_loss("scenarios/multi-region.yaml") == 0


def _window(path, cls, d):
    base = load_scenario(path).model_dump(mode="json")
    base["workload"]["records_per_s"] = 50
    rows = [r for _, r, _ in InProcess().run(outcome_tasks(base, cls, [d], 1))]
    return rows[0]


def test_single_region_outage_is_downtime_for_its_clients():
    # the region's producers die with it: no request is outstanding, yet none can be acked
    row = _window("scenarios/single-region.yaml", "region_outage", 30.0)
    assert row["records.failed"] > 0
    assert 30.0 <= row["unavailability.total_s"] <= 31.0


def test_multi_region_outage_downtime_unchanged_by_the_client_side_measure():
    # other regions' clients keep being acked: the windows are the request-based ones alone
    # (the failover stall), exactly as before the clients' side was measured
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    base["workload"]["records_per_s"] = 50
    res = run(Scenario.model_validate(incident_scenario(base, "region_outage", 30.0)), 1)
    sc = res.scenario
    before = unavailability_windows(res.requests, sc.run.unavailability_threshold, sc.run.duration)
    got = res.summary["unavailability"]
    assert 5.0 < got["total_s"] < 30.0  # a failover stall, not the whole outage
    assert got["total_s"] == round(sum(b - a for a, b in before), 6)
