"""Whole-month validation (issue 11): the validated months are the composer's own, a month is laid
out with its quiet stretches cut, and a simple month simulated whole agrees with the composed
figure (which needs `outcomes.extend` to carry an incident past the simulated cap)."""

import csv

import numpy as np

from sim.ensemble.availability import OutcomeSample, compose, load_incidents
from sim.ensemble.availability.compose import Design, Outcome, evaluate
from sim.ensemble.availability.outcomes import CAP_S, WARMUP_S
from sim.ensemble.availability.validate import (
    MonthIncident,
    composed_months,
    histories,
    layout,
    month_incidents,
    validate_study,
)
from sim.ensemble.engine import InProcess
from sim.scenario import load_scenario

HEADER = ["class", "scope", "gamma_shape", "gamma_rate", "duration_median_min", "duration_sigma",
          "durations_min", "joint", "basis", "source", "notes"]  # fmt: skip


def _model(tmp_path, rows):
    path = tmp_path / "inc.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return load_incidents(path)


def test_validated_months_are_the_composers_months(tmp_path):
    model = _model(tmp_path, [
        ["region_outage", "region", "40", "1", "60", "1.0", "", "False", "t", "", ""],
        ["bad_deployment", "cluster", "30", "1", "20", "0.5", "", "False", "t", "", ""],
    ])  # fmt: skip
    rng = np.random.default_rng(3)
    outs = {
        c: OutcomeSample(
            rng.random(5) * 100, rng.random(5), rng.random(5), None, rng.random(5) * 3600
        )  # fmt: skip
        for c in model.names
    }
    d = Design("d", 3, outs)
    comp = compose(model, [d], rate_draws=3, months_per_draw=20, seed=5, joint=None)["d"]
    hs = histories(model, 3, 20, 5, 3)
    for r in (0, 2):
        months = [1, 7, 19, 4]
        down, _, _ = composed_months(model, d, hs[r], months, None)
        np.testing.assert_array_equal(down, comp.draws[r].values["downtime_s"][months])


def _single_region_months(tmp_path, cls_median_min, n, max_span_s):
    """The validated months of single-region under a one-class model: `cls_median_min` is the
    class and its median duration in minutes (12 a region-year, sigma 0.05)."""
    cls, median = cls_median_min
    model = _model(tmp_path, [[cls, "region", "12", "1", median, "0.05", "", "False", "t", "", ""]])
    base = load_scenario("scenarios/single-region.yaml").model_dump(mode="json")
    rep = validate_study({"single-region": base}, model, tmp_path / "av", n=n, years=1, seed=1,
                         engine=InProcess(), runs_per_class=1, max_span_s=max_span_s)  # fmt: skip
    return rep["designs"]["single-region"]["months"]


def test_layout_cuts_only_quiet_stretches():
    inc = [MonthIncident("a", 0, 1000.0, 100.0), MonthIncident("b", 0, 1150.0, 50.0),
           MonthIncident("c", 1, 90000.0, 10.0)]  # fmt: skip
    starts, end = layout(inc, 120.0)
    # the second starts 50 s after the first ends (inside the margin): kept at its true offset;
    # the third, a day later, comes 120 s after the busy stretch ends
    assert starts == [WARMUP_S, WARMUP_S + 150.0, WARMUP_S + 200.0 + 120.0]
    assert end == WARMUP_S + 330.0
    starts, end = layout(inc, None)  # uncut: true offsets from the first incident
    assert starts == [WARMUP_S, WARMUP_S + 150.0, WARMUP_S + 89000.0]


def test_a_whole_month_simulated_directly_agrees_with_the_composed_figure(tmp_path):
    # one region outage of ~8 minutes a month on a single region: longer than the simulated cap,
    # so the composed figure rests on outcomes.extend carrying it to its true end
    months = _single_region_months(tmp_path, ["region_outage", "8"], n=2, max_span_s=1200)
    assert len(months) == 2
    for m in months:
        assert all(i["duration_s"] > CAP_S for i in m["incidents"])
        direct = m["direct_downtime_s"][0]
        assert direct > CAP_S  # the whole outage, simulated uncapped
        assert abs(direct - m["composed_downtime_s"]) <= 0.02 * direct, m


def test_an_intermittent_incident_past_the_cap_keeps_its_rate(tmp_path):
    # a crash-looping control plane for ~15 min: down on and off all along, not only in the
    # simulated first 5 minutes (outcomes.extend's second-half rate)
    (m,) = _single_region_months(tmp_path, ["control_plane_crashloop", "15"], n=1,
                                 max_span_s=3000)  # fmt: skip
    direct = m["direct_downtime_s"][0]
    assert direct > 300  # intermittent downtime for the whole quarter hour
    assert abs(direct - m["composed_downtime_s"]) <= 0.05 * direct, m


def test_validated_incidents_pick_the_composers_rows_and_durations(tmp_path):
    # Joint classes lasting weeks: every month's incidents form one group, handed to the hook with
    # the durations and error rates the composer picked; the validation must pick the same.
    model = _model(tmp_path, [
        ["region_outage", "region", "60", "1", "20000", "1.0", "", "True", "t", "", ""],
        ["metadata_table_errors", "region", "60", "1", "20000", "1.0", "", "True", "t", "", ""],
    ])  # fmt: skip
    rng = np.random.default_rng(4)
    outs = {
        "region_outage": OutcomeSample(rng.random(5), rng.random(5), rng.random(5)),  # lognormal
        "metadata_table_errors": OutcomeSample(
            rng.random(7),
            rng.random(7),
            rng.random(7),
            None,
            rng.random(7) * 9e5,
            np.array([1.0, 1.0, 0.3, 0.3, 0.3, 0.3, 0.3]),
        ),  # fmt: skip
    }
    d = Design("d", 3, outs)
    seen = []

    def hook(design, group):
        seen.append(sorted((i.start_s, i.cls, i.duration_s, i.error_rate) for i in group))
        return Outcome()

    hs = histories(model, 1, 6, 2, 3)
    evaluate(model, d, hs[0], hook, np.zeros(2, bool))
    mine = [
        sorted(
            (i.start_s, i.cls, i.duration_s, i.error_rate)
            for i in month_incidents(model, d, hs[0], m)
        )
        for m in range(6)
    ]
    assert len(seen) >= 3 and all(g in mine for g in seen)
