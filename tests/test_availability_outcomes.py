"""Incident windows from the simulator (issue 11, step 1)."""

import pytest

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


def test_long_incidents_go_on_as_the_second_half_of_their_simulated_part():
    """Extension past the cap: down at the cap -> down to the end; failed over -> nothing more;
    intermittent windows (a partial incident) -> the same share of the rest, not all of it."""
    from sim.ensemble.availability.outcomes import extend

    def row(windows):
        total = sum(b - a for a, b in windows)
        return {"unavailability.total_s": total, "records.failed": 0, "records.lost_acked": 0,
                "unavailability.windows": windows, "records.sent": 3300, "sim_duration_s": 330}  # fmt: skip

    heal, sim_d, true_d = 310.0, 300.0, 3300.0
    down = extend(row([[10.0, 310.0]]), sim_d, true_d, heal, 1.0)
    assert down["downtime_s"] == 3300.0 and down["failed_records"] == 3000.0 * 10
    assert extend(row([[10.0, 20.0]]), sim_d, true_d, heal, 1.0)["downtime_s"] == 10.0
    flaky = [[t, t + 3.0] for t in range(160, 310, 30)]  # 10% of the second half
    got = extend(row(flaky), sim_d, true_d, heal, 1.0)["downtime_s"]
    assert got == pytest.approx(15.0 + 0.1 * 3000.0)
    # records (failed and lost acked) at the light load are scaled back to the design's rate
    lossy = dict(row([[10.0, 20.0]]), **{"records.lost_acked": 5, "records.failed": 7})
    o = extend(lossy, sim_d, true_d, heal, 200.0)
    assert o["lost_acked"] == 1000.0 and o["failed_records"] == 1400.0
