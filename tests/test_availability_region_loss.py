"""Study level (issue 11): a design that loses data when a region is destroyed reports lost
acknowledged records per year above zero; the reference design reports zero."""

from __future__ import annotations

from sim.ensemble.availability import load_incidents
from sim.ensemble.availability.outcomes import Caps
from sim.ensemble.availability.study import run_study
from sim.ensemble.engine import InProcess
from sim.scenario import load_scenario


def test_study_reports_lost_records_per_year_for_a_design_that_loses_data(tmp_path):
    # region loss made common (about 1 per region-year, a tight posterior) so a short study sees
    # it; the designs' own faults are stripped by the incident windows
    model = (
        load_incidents()
        .only("region_loss")
        .with_class("region_loss", gamma_shape=400.0, gamma_rate=400.0)
    )
    scenarios = {
        name: load_scenario(f"scenarios/{name}.yaml").model_dump(mode="json")
        for name in ("async-replication-region-loss", "multi-region")
    }
    for sc in scenarios.values():
        sc["workload"]["records_per_s"] = 100
    doc = run_study(
        scenarios, model, tmp_path, years=20, seed=3, engine=InProcess(), runs_per_class=2,
        caps=Caps(cap_s=30.0, rebuild_s=86400.0),
    )  # fmt: skip
    lossy, safe = (doc["designs"][n] for n in scenarios)
    lost = lossy["lost_acked_per_year"]
    assert lost["estimate"] > 0
    assert lossy["outcomes_by_class"]["region_loss"]["lost_acked_mean"] > 0
    # the reference (2-of-3 buckets, MRSC table) loses nothing when one region is destroyed; only
    # two regions destroyed within the rebuild time (a joint window, frequent at this rate) can
    assert safe["outcomes_by_class"]["region_loss"]["lost_acked_mean"] == 0
    assert safe["lost_acked_per_year"]["estimate"] < 0.01 * lost["estimate"]
