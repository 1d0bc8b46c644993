"""Statistics of the availability study: the incident fit, the composition, its intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.ensemble.availability import fit
from sim.ensemble.availability.compose import (
    MONTH_S,
    MONTH_YEARS,
    Design,
    Outcome,
    OutcomeSample,
    compose,
)
from sim.ensemble.availability.incidents import IncidentClass, IncidentModel, load_incidents
from sim.ensemble.availability.stats import (
    burst_ids,
    fit_lognormal,
    gamma_ppf,
    p_hits_at_least,
    rate_posterior,
)


def _quorum_hook(design, group):
    """A test hook (not physics): the group's own outcomes summed, plus the time a majority of
    the regions is hit at once counted as downtime. It makes overlaps matter, so the composer's
    importance sampling can be checked against plain Monte Carlo."""
    total = [sum(getattr(i.outcome, k) for i in group) for k in
             ("downtime_s", "failed_records", "lost_acked", "sla_error_s")]  # fmt: skip
    majority = design.n_regions // 2 + 1
    edges = sorted({t for i in group for t in (i.start_s, min(i.end_s, MONTH_S))})
    extra = 0.0
    for a, b in zip(edges, edges[1:], strict=False):
        mid = 0.5 * (a + b)
        hit = {i.region for i in group if i.region >= 0 and i.start_s <= mid < i.end_s}
        extra += (b - a) if len(hit) >= majority else 0.0
    return Outcome(total[0] + extra, total[1], total[2], total[3] + extra)


def _const(downtime=0.0, lost=0.0, failed=0.0, duration=None):
    dur = None if duration is None else np.array([duration])
    return OutcomeSample(np.array([downtime]), np.array([failed]), np.array([lost]), duration_s=dur)


def _cls(name, rate, *, scope="region", joint=True, median_s=3600.0, sigma=0.5, shape=1e6):
    """A class whose posterior is (almost) a point at `rate` unless `shape` says otherwise."""
    return IncidentClass(name, scope, shape, shape / rate if rate else 1.0, median_s, sigma, joint)


def test_gamma_quantiles_match_chi_square_tables():
    """Gamma(k/2, 1/2) is chi-square with k degrees of freedom: 5.991 and 3.841 at 95%."""
    assert gamma_ppf(0.95, 1.0, 0.5) == pytest.approx(5.991464547, rel=1e-8)
    assert gamma_ppf(0.95, 0.5, 0.5) == pytest.approx(3.841458821, rel=1e-8)
    assert p_hits_at_least(40, 40) == 1.0
    assert list(burst_ids([0, 100, 500, 250, 1000])) == [0, 0, 2, 1, 3]


def test_rates_and_durations_of_a_known_history_come_back_within_their_intervals():
    """Fitted from synthetic histories, the 95% intervals hold the true rate and median ~95% of
    the time."""
    rng = np.random.default_rng(11)
    true_rate, exposure, median, sigma = 0.3, 120.0, 100.0, 1.0
    rate_hits = median_hits = 0
    trials = 300
    for _ in range(trials):
        n = rng.poisson(true_rate * exposure)
        lo, hi = rate_posterior(n, exposure).interval(0.95)
        rate_hits += lo <= true_rate <= hi
        durations = median * np.exp(sigma * rng.standard_normal(max(n, 2)))
        f = fit_lognormal(durations)
        median_hits += f.median_ci95[0] <= median <= f.median_ci95[1]
    assert 0.90 <= rate_hits / trials <= 0.99
    assert 0.88 <= median_hits / trials <= 0.99
    f = fit_lognormal(median * np.exp(sigma * rng.standard_normal(4000)))
    assert f.median == pytest.approx(median, rel=0.06)
    assert f.sigma == pytest.approx(sigma, rel=0.05)


def test_shipped_incident_table_is_regenerated_by_the_fit():
    """sim/data/incidents.csv is what the fitting script produces from the copied raw data."""
    assert fit.main(["--check"]) == 0
    model = load_incidents()
    for name in ("region_outage", "region_degraded", "region_loss", "metadata_table_errors",
                 "object_storage_errors", "control_plane_crashloop", "az_outage", "slow_table",
                 "slow_bucket", "bad_deployment", "correlated_region_outage",
                 "correlated_region_degraded", "correlated_table_errors",
                 "correlated_bucket_errors", "correlated_slow_bucket"):  # fmt: skip
        c = model[name]
        lo, hi = c.posterior.interval()
        assert 0 <= lo < c.rate_mean < hi
        assert c.basis and c.source


def test_zero_rate_class_contributes_zero_downtime():
    """A class with rate 0 never happens, whatever its outcomes."""
    model = IncidentModel(
        (_cls("az_outage", 2.0, joint=False), IncidentClass("off", "region", 0.0, 1.0, 60.0, 1.0))
    )
    design = Design("d", 3, {"az_outage": _const(5.0), "off": _const(1e6, lost=1e6)})
    s = compose(model, [design], rate_draws=4, months_per_draw=300, seed=3)["d"].summary()
    assert s["downtime_by_class_s"]["off"] == 0.0
    assert s["downtime_by_class_s"]["az_outage"] > 0.0
    assert s["lost_acked_per_year"]["estimate"] == 0.0


def test_region_destroyed_with_data_loss_reports_lost_records_per_year():
    """With the shipped (rare) region-loss rate, a design that loses records when a region is
    destroyed reports lost records per year above zero; one that does not reports zero."""
    model = load_incidents().only("region_loss", "region_outage")
    lossy = Design("async", 3, {"region_loss": _const(30.0, lost=5000.0),
                                "region_outage": _const(10.0)})  # fmt: skip
    safe = Design("quorum", 3, {"region_loss": _const(30.0), "region_outage": _const(10.0)})
    res = compose(
        model, [lossy, safe], rate_draws=20, months_per_draw=120, seed=5, joint=_quorum_hook
    )
    lost = res["async"].summary()["lost_acked_per_year"]
    expected = 5000.0 * 3 * model["region_loss"].rate_mean
    assert lost["estimate"] > 0
    assert lost["ci95"][0] <= expected <= lost["ci95"][1]
    assert res["quorum"].summary()["lost_acked_per_year"]["estimate"] == 0.0


def test_importance_sampled_overlaps_agree_with_plain_monte_carlo():
    """Where overlaps are common enough for plain Monte Carlo, the importance-sampled estimate of
    their contribution (and of the whole month) agrees within the combined standard errors."""
    model = IncidentModel((_cls("region_outage", 4.0, median_s=48 * 3600.0, sigma=0.3),))
    design = Design("multi", 3, {"region_outage": _const(10.0)})
    kw = dict(rate_draws=2, seed=7)
    kw["joint"] = _quorum_hook
    plain = compose(model, [design], months_per_draw=6000, overlap="plain", **kw)["multi"]
    isamp = compose(model, [design], months_per_draw=1000, **kw)["multi"]
    p, q = plain.summary(), isamp.summary()
    assert p["overlap"]["p_month"] > 0.005  # plain MC does see them here
    for key in ("p_month", "downtime_s"):
        se = math.hypot(p["overlap"][key + "_se"], q["overlap"][key + "_se"])
        assert abs(p["overlap"][key] - q["overlap"][key]) < 4 * se
    mp, mq = p["monthly_downtime_s"], q["monthly_downtime_s"]
    se = math.hypot(*(0.5 * (m["ci95_sim"][1] - m["ci95_sim"][0]) / 1.96 for m in (mp, mq)))
    assert abs(mp["mean"] - mq["mean"]) < 4 * se
    # Importance sampling sees many more overlaps per month drawn.
    assert isamp.draws[0].in_stratum[isamp.draws[0].is_part].mean() > 2 * p["overlap"]["p_month"]


def test_overlap_standard_error_matches_the_spread_over_independent_seeds():
    """The importance-sampled overlap estimate's standard error is the spread of that estimate
    over independent seeds (rms over seeds, at fixed rates), where a rare class (a week-long
    region loss) and a common one overlap. Its effective sample size says how few months carry it:
    here the estimate of one seed is carried by a handful of months (weights over 10 decades)."""
    model = IncidentModel((_cls("region_outage", 0.3, median_s=6 * 3600.0, sigma=0.9),
                           _cls("region_loss", 0.002, median_s=7 * 86400.0, sigma=0.01)))  # fmt: skip
    design = Design("multi", 3, {"region_outage": _const(10.0), "region_loss": _const(20.0)})
    est, se, ess = [], [], []
    for seed in range(60):
        s = compose(model, [design], rate_draws=2, months_per_draw=200, seed=seed,
                    joint=_quorum_hook)["multi"].summary()["overlap"]  # fmt: skip
        est.append(s["downtime_s"])
        se.append(s["downtime_s_se"])
        ess.append(s["downtime_s_ess"])
    spread, rms = np.std(est, ddof=1), math.sqrt(np.mean(np.square(se)))
    assert 0.7 < spread / rms < 1.4
    assert np.median(ess) < 20  # of 400 importance-sampled months


def test_identical_designs_give_identical_results_and_histories_are_shared():
    """Common random numbers: same outcomes, same figures; adding a design changes no other."""
    model = load_incidents()
    rng = np.random.default_rng(2)
    outcomes = {n: OutcomeSample(rng.exponential(5.0, 50), rng.exponential(10.0, 50),
                                 np.zeros(50)) for n in model.names}  # fmt: skip
    a, b = Design("a", 3, outcomes), Design("b", 3, outcomes)
    other = Design("single", 1, outcomes)
    kw = dict(rate_draws=3, months_per_draw=200, seed=9)
    res = compose(model, [a, b, other], **kw)
    sa, sb = res["a"].summary(), res["b"].summary()
    assert sa == sb
    alone = compose(model, [a], **kw)["a"].summary()
    assert alone == sa
    assert res["single"].summary() != sa


def test_nines_interval_covers_the_truth():
    """Known rate and outcome: the simulation-noise interval covers the true nines at fixed rates,
    and the full interval covers them when the rate is fitted from a synthetic history."""
    rate, per_incident = 0.6, 40.0
    truth_u = rate * 3 * MONTH_YEARS * per_incident / MONTH_S
    truth = -math.log10(truth_u)
    model = IncidentModel((_cls("region_outage", rate, joint=False),))
    design = Design("d", 3, {"region_outage": _const(per_incident)})
    covered = 0
    for seed in range(10):
        s = compose(model, [design], rates=[[rate]], months_per_draw=2000, seed=seed)["d"]
        lo, hi = s.summary()["nines"]["ci95_sim"]
        covered += lo <= truth <= hi
    assert covered >= 8
    exposure, hits = 150.0, 0
    for seed in range(10):
        n = np.random.default_rng(seed).poisson(rate * exposure)
        post = rate_posterior(n, exposure)
        fitted = IncidentModel(
            (IncidentClass("region_outage", "region", post.shape, post.rate, 3600.0, 0.5),)
        )
        res = compose(fitted, [design], rate_draws=40, months_per_draw=200, seed=seed)["d"]
        nines = res.summary()["nines"]
        hits += nines["ci95"][0] <= truth <= nines["ci95"][1]
        assert nines["ci95_sim"][1] - nines["ci95_sim"][0] < nines["ci95"][1] - nines["ci95"][0]
    assert hits >= 8


def test_sla_and_request_based_availability():
    """Errors spread thin (no full window) count against the 5-minute SLA metric, not time-based
    downtime; failed records give request-based availability."""
    model = IncidentModel((_cls("slow_bucket", 12.0, joint=False, scope="cluster"),))
    sample = OutcomeSample(
        np.zeros(1), np.array([1000.0]), np.zeros(1), sla_error_s=np.array([6.0])
    )
    design = Design("d", 3, {"slow_bucket": sample}, records_per_s=10.0)
    s = compose(model, [design], rates=[[12.0]], months_per_draw=3000, seed=2)["d"].summary()
    av = s["availability"]
    assert av["time_based"] == 1.0
    assert 1 - av["sla_5min"] == pytest.approx(6.0 * 12 * MONTH_YEARS / MONTH_S, rel=0.05)
    assert 1 - av["request_based"] == pytest.approx(
        1000.0 * 12 * MONTH_YEARS / (10.0 * MONTH_S), rel=0.05
    )


def test_outcome_sample_rejects_ragged_arrays():
    """Outcome columns must have one entry per simulated incident."""
    with pytest.raises(ValueError):
        OutcomeSample(np.zeros(3), np.zeros(2), np.zeros(3))
    with pytest.raises(KeyError):
        compose(IncidentModel((_cls("x", 1.0),)), [Design("d", 3, {})], rate_draws=1)


def test_package_does_not_load_the_model_or_the_runner():
    """The availability statistics import neither sim.model nor sim.run."""
    import subprocess
    import sys

    code = (
        "import sys, sim.ensemble.availability.fit, sim.ensemble.availability as a;"
        "bad=[m for m in sys.modules if m.startswith(('sim.model','sim.run'))];"
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _feed(rows):
    """A synthetic status feed in the scraped format (fit.load_feed's input)."""
    import io

    head = "id,begin_utc,end_utc,duration_min,severity,status_impact,service_name,products,locations,summary\n"
    body = "".join(
        f'{i},{t},{t},{d},high,{imp},x,{prod},{loc},"{text}"\n'
        for i, (t, d, imp, prod, loc, text) in enumerate(rows)
    )
    return fit.load_feed(io.StringIO(head + body))


def test_correlated_bursts_go_to_the_class_of_the_product_that_failed():
    """Multi-region bursts are split by what failed: the network -> two regions out (full) or
    degraded (partial), the table -> table errors, storage -> bucket errors; management-only and
    few-project ones are dropped, a burst flagged global but naming one zone is one place."""
    regions = [f"us-r{i}1" for i in range(40)]
    many = ";".join(regions[:30])
    rows = [
        ("2022-02-01T00:00:00Z", 30, "SERVICE_OUTAGE", "Google Cloud Networking", many,
         "Cloud Networking faced severe packet loss"),
        ("2022-03-01T00:00:00Z", 40, "SERVICE_DISRUPTION", "Google Cloud Networking", many,
         "We experienced Google Cloud Networking issues."),
        ("2022-04-01T00:00:00Z", 50, "SERVICE_OUTAGE", "Cloud Spanner", "global",
         "Some Cloud Spanner customers see errors in several regions"),
        ("2022-05-01T00:00:00Z", 60, "SERVICE_OUTAGE", "Google Cloud Storage", many,
         "Google Cloud Storage unavailable in several regions"),
        ("2022-06-01T00:00:00Z", 70, "SERVICE_OUTAGE", "Google Compute Engine", many,
         "Customers are unable to create/edit GCE instances"),
        ("2022-07-01T00:00:00Z", 80, "SERVICE_OUTAGE", "Cloud Spanner", many,
         "This issue is believed to be affecting a very small number of projects"),
        ("2022-08-01T00:00:00Z", 90, "SERVICE_OUTAGE",
         "Google Compute Engine;Persistent Disk;Google Cloud Networking", "global;us-r11",
         "Multiple product outage in us-r11-b"),
        ("2023-01-01T00:00:00Z", 10, "SERVICE_OUTAGE", "Google Compute Engine", "us-r391",
         "nothing"),
        ("2024-01-01T00:00:00Z", 10, "SERVICE_OUTAGE", "Google Compute Engine", "us-r381",
         "nothing"),
    ]  # fmt: skip
    feed = _feed(rows)
    w = fit.classify(feed)
    b = fit.correlated_bursts(w, fit.fleet_by_year(feed))
    got = dict(zip(b["date"], zip(b["cls"], b["partial"], strict=True), strict=True))
    assert got == {
        "2022-02-01": ("correlated_region_outage", False),
        "2022-03-01": ("correlated_region_degraded", True),
        "2022-04-01": ("correlated_table_errors", True),
        "2022-05-01": ("correlated_bucket_errors", False),
    }
    labels = dict(zip(w["begin"].dt.strftime("%Y-%m-%d"), w["label"], strict=True))
    assert labels["2022-06-01"] == labels["2022-07-01"] == ""
    assert labels["2022-08-01"] == "az_outage"
    table = fit.build_table(feed, pd.DataFrame(columns=["provider", "region", "start_date"]))
    row = table.set_index("class").loc["correlated_table_errors"]
    assert row["events"] == 1.0 and row["full_share"] == 0.0
    assert table.set_index("class").loc["correlated_bucket_errors", "full_share"] == 1.0
