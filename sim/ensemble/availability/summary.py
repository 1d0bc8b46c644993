"""From a composition to the report: downtime distribution, SLA figures, nines with intervals.

Intervals, for a mean monthly figure x (downtime, lost records, ...):
- `ci95_sim`: simulation noise only, estimate +- 1.96 standard errors, the standard error pooled
  from the within-draw variances (plain and importance-sampled parts);
- `ci95_rates`: rate uncertainty only, the 2.5 and 97.5 percentiles of the per-draw means after
  their simulation noise is taken out (deviations shrunk by sqrt(between / (between + within)),
  matching the between-draw variance);
- `ci95`: both, the percentiles of the per-draw means as drawn.
Nines are -log10 of the mean monthly time-based unavailability; their intervals are those of the
unavailability, mapped through -log10 (bounds swap).
"""

from __future__ import annotations

import math

import numpy as np

from .compose import BUDGETS_S, FIELDS, MONTH_S, Composition

Z95 = 1.959963984540054


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs) -> list[float]:
    keep = w > 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return [float("nan")] * len(qs)
    order = np.argsort(x)
    x, cw = x[order], np.cumsum(w[order])
    cw /= cw[-1]
    return [float(x[min(np.searchsorted(cw, q), len(x) - 1)]) for q in qs]


def interval(comp: Composition, per_draw: list[np.ndarray]) -> dict:
    """Estimate and the three intervals of E[x] for per-draw month values (see module doc)."""
    est = np.array([d.estimate(x) for d, x in zip(comp.draws, per_draw, strict=True)])
    means, within = est[:, 0], est[:, 1]
    r = len(means)
    mean = float(means.mean())
    se_sim = math.sqrt(within.sum()) / r
    var_all = float(means.var(ddof=1)) if r > 1 else 0.0
    var_within = float(within.mean())
    var_between = max(0.0, var_all - var_within)
    shrink = math.sqrt(var_between / var_all) if var_all > 0 else 0.0
    lo, hi = np.percentile(means, [2.5, 97.5]) if r > 1 else (mean, mean)
    rlo, rhi = np.percentile(mean + (means - mean) * shrink, [2.5, 97.5]) if r > 1 else (mean, mean)
    return {
        "estimate": mean,
        "ci95": [float(lo), float(hi)],
        "ci95_sim": [mean - Z95 * se_sim, mean + Z95 * se_sim],
        "ci95_rates": [float(rlo), float(rhi)],
        "se_sim": se_sim,
        "noise_share": var_within / var_all if var_all > 0 else 1.0,
    }


def _nines(u: float) -> float:
    return math.inf if u <= 0 else -math.log10(u)


def _to_nines(iv: dict, scale: float) -> dict:
    def pair(p):
        return [_nines(p[1] / scale), _nines(max(p[0], 0.0) / scale)]

    return {
        "estimate": _nines(iv["estimate"] / scale),
        "ci95": pair(iv["ci95"]),
        "ci95_sim": pair(iv["ci95_sim"]),
        "ci95_rates": pair(iv["ci95_rates"]),
    }


def summarise(comp: Composition) -> dict:
    """The per-design block of availability.json (figures per 30-day month unless named)."""
    draws = comp.draws
    field = {k: [d.values[k] for d in draws] for k in FIELDS}
    down = interval(comp, field["downtime_s"])
    sla = interval(comp, field["sla_error_s"])
    lost = interval(comp, field["lost_acked"])
    failed = interval(comp, field["failed_records"])

    x = np.concatenate(field["downtime_s"])
    w = np.concatenate([d.weight for d in draws]) / len(draws)
    p50, p90, p99 = _weighted_quantiles(x, w, [0.5, 0.9, 0.99])
    p_over = {
        key: interval(comp, [(v > budget).astype(float) for v in field["downtime_s"]])
        for key, budget in BUDGETS_S.items()
    }
    by_class = {
        name: interval(comp, [d.by_class_s[:, i] for d in draws])["estimate"]
        for i, name in enumerate((*comp.classes, "overlap"))
    }
    stratum = {
        "p_month": interval(comp, [d.in_stratum.astype(float) for d in draws]),
        "downtime_s": interval(comp, [d.in_stratum * d.values["downtime_s"] for d in draws]),
    }
    # Kish's effective sample size of the stratum's downtime: how many months carry its estimate.
    # Its standard error is the usual one (right on average, checked over independent seeds in
    # tests/test_availability_stats.py), but with a few months carrying the estimate it is itself
    # noisy and tends to be small when the estimate is: read se with ess.
    c = np.concatenate([d.weight * d.in_stratum * d.values["downtime_s"] for d in draws])
    ess = float(c.sum() ** 2 / (c**2).sum()) if (c**2).sum() > 0 else 0.0
    per_year = {
        "estimate": lost["estimate"] * 12.0,
        **{k: [b * 12.0 for b in lost[k]] for k in ("ci95", "ci95_sim", "ci95_rates")},
    }
    out = {
        "years": comp.years,
        "seed": comp.seed,
        "rate_draws": len(draws),
        "months_per_draw": comp.months_per_draw,
        "is_months_per_draw": comp.is_months_per_draw,
        "nines": _to_nines(down, MONTH_S),
        "monthly_downtime_s": {
            "mean": down["estimate"],
            "ci95": down["ci95"],
            "ci95_sim": down["ci95_sim"],
            "ci95_rates": down["ci95_rates"],
            "p50": p50,
            "p90": p90,
            "p99": p99,
        },
        "p_month_over_s": {k: v["estimate"] for k, v in p_over.items()},
        "p_month_over_s_ci95": {k: v["ci95"] for k, v in p_over.items()},
        "lost_acked_per_year": per_year,
        "downtime_by_class_s": by_class,
        "availability": {
            "time_based": 1.0 - down["estimate"] / MONTH_S,
            "sla_5min": 1.0 - sla["estimate"] / MONTH_S,
            "sla_5min_nines": _to_nines(sla, MONTH_S),
            "failed_records_per_month": failed["estimate"],
        },
        "overlap": {
            "p_month": stratum["p_month"]["estimate"],
            "p_month_se": stratum["p_month"]["se_sim"],
            "downtime_s": stratum["downtime_s"]["estimate"],
            "downtime_s_se": stratum["downtime_s"]["se_sim"],
            "downtime_s_ess": ess,
        },
    }
    if comp.records_per_s > 0:
        sent = comp.records_per_s * MONTH_S
        out["availability"]["request_based"] = 1.0 - failed["estimate"] / sent
    return out
