"""P(month > 26 s) against the failover timings (issue 11's third plot): `sim availability SCENARIO
--failover-sweep`.

The timings that set a failover's stall are swept one at a time around the design's own values,
over ranges that are ESTIMATES (the spec publishes none of them):
- `control_plane.lease_duration` (default 5 s, "estimate: not published"): how long a dead
  leader's lease blocks a new one;
- `table.leader_failover` (default 10 s for mrsc, "not published, an estimate"; the spec asks for
  0-30 s): the table's own leader election after its leader replica is lost;
- `control_plane.soft_failure_window` (default 10 s, estimate): how long a region must stay slow or
  failing before the detector stops preferring it.

For every setting the design's incident windows are rerun for every class of the incident model
(`outcomes.build_outcomes`, cached in the study's `outcomes.parquet` under a design name that
carries the setting, so the design's own value reuses the study's runs), and all settings are
composed together on the same incident histories (common random numbers: differences between
settings are not history noise). Months are plain Monte Carlo (`overlap="plain"`): the event is not
rare (a single incident with a stall of tens of seconds breaks 26 s), and overlapping joint
incidents in those months are still simulated together (`joint.SimulatedJoint`, cached in
`joint.parquet`); the importance-sampled overlap stratum is left out, which can only lower
P(month > 26 s) by at most its probability (`overlap.p_month` in availability.json).

Writes `failover.json` (rows: setting, value_s, p26 and its 95% interval from simulation noise
alone, mean monthly downtime) and the plot `p26_vs_failover.png` (`plots.failover`).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

from .compose import BUDGETS_S, Design, compose
from .incidents import IncidentModel
from .joint import SimulatedJoint
from .outcomes import build_outcomes, offered_rate
from .summary import interval

#: (section, key) -> values swept (s). ESTIMATES: around the defaults, as wide as the spec's
#: 0-30 s for the table's failover.
TIMINGS = {
    ("control_plane", "lease_duration"): (2.0, 5.0, 10.0, 20.0),
    ("table", "leader_failover"): (0.0, 10.0, 20.0, 30.0),
    ("control_plane", "soft_failure_window"): (5.0, 10.0, 30.0, 60.0),
}
#: Incident windows per class and setting (coarse: ESTIMATE, the CI shows what it leaves).
RUNS = 4
YEARS = 200.0


def _value(base: dict, section: str, key: str, default: float) -> float:
    v = base.get(section, {}).get(key)
    return float(default if v is None else v)


def settings(base: dict, timings=None) -> list[tuple[str, float, dict]]:
    """(setting name, value, scenario) for every swept value; the design's own value included."""
    timings = TIMINGS if timings is None else timings
    out = []
    for (section, key), values in timings.items():
        for v in values:
            sc = copy.deepcopy(base)
            sc.setdefault(section, {})[key] = float(v)
            out.append((f"{section}.{key}", float(v), sc))
    return out


def failover_sweep(
    name: str,
    base: dict,
    model: IncidentModel,
    out: Path,
    *,
    engine,
    years: float = YEARS,
    seed: int = 1,
    runs_per_class: int = RUNS,
    timings=None,
    progress=None,
) -> dict:
    """Sweep the failover timings of one design (module doc); writes failover.json and the plot."""
    from .plots import failover as plot_failover
    from .study import RATE_DRAWS, _atomic, plan_months, strict_json

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, designs, by_scenario = [], [], {}
    bases = {}
    for setting, value, sc in settings(base, timings):
        own = sc == base
        sc = base if own else sc  # the design's own value: its own scenario, the study's runs
        ident = "" if own else json.dumps(sc, sort_keys=True)
        if ident not in by_scenario:  # the design's own value recurs: one design, one set of runs
            dname = name if own else f"{name}@{setting}={value:g}"
            by_scenario[ident] = dname
            bases[dname] = sc
            samples = build_outcomes(dname, sc, model, runs_per_class, seed, engine,
                                     out / "outcomes.parquet", progress)  # fmt: skip
            designs.append(Design(dname, len(sc["topology"]["regions"]), samples, offered_rate(sc)))
        rows.append({"setting": setting, "value_s": value, "design": by_scenario[ident],
                     "default": own})  # fmt: skip
    hook = SimulatedJoint(bases, engine, out / "joint.parquet")
    # at least 10 months per rate draw, so that each draw's own simulation noise is measured
    r, m = plan_months(years, rate_draws=max(2, min(RATE_DRAWS, int(round(years * 12)) // 10)))
    kw = dict(rate_draws=r, months_per_draw=m, seed=seed, joint=hook, overlap="plain")
    hook.settle(lambda: compose(model, designs, **kw), progress)
    comps = compose(model, designs, **kw)
    budget = BUDGETS_S["26"]
    for row in rows:
        comp = comps[row["design"]]
        p = interval(comp, [(d.values["downtime_s"] > budget).astype(float) for d in comp.draws])
        down = interval(comp, [d.values["downtime_s"] for d in comp.draws])
        lo, hi = p["ci95_sim"]
        row.update(p26=p["estimate"], lo=max(lo, 0.0), hi=min(hi, 1.0),
                   p26_ci95_with_rates=p["ci95"], mean_downtime_s=down["estimate"],
                   mean_downtime_s_ci95_sim=down["ci95_sim"])  # fmt: skip
    doc = {
        "design": name,
        "years": comps[designs[0].name].years,
        "seed": seed,
        "runs_per_class": runs_per_class,
        "overlap": "plain Monte Carlo months, overlapping joint incidents simulated together",
        "joint_runs": hook.runs,
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "rows": rows,
    }
    _atomic(out / "failover.json", lambda p: p.write_text(strict_json(doc)))
    doc["plot"] = plot_failover(out)
    return doc


def format_sweep(doc: dict) -> str:
    """The table `sim availability --failover-sweep` prints."""
    lines = [f"{'setting':36s} {'value s':>8s} {'P(month>26s) [95% CI, sim]':>30s} "
             f"{'mean s/month':>13s}"]  # fmt: skip
    for r in doc["rows"]:
        mark = " (design's own)" if r["default"] else ""
        lines.append(
            f"{r['setting']:36s} {r['value_s']:8g} "
            f"{r['p26']:12.4f} [{r['lo']:.4f}, {r['hi']:.4f}] {r['mean_downtime_s']:13.1f}{mark}"
        )
    lines.append(
        f"{doc['design']}: {doc['years']:,.0f} simulated years per setting (common histories), "
        f"{doc['runs_per_class']} window(s) per class and setting, {doc['joint_runs']} joint runs, "
        f"seed {doc['seed']}, {doc['wall_time_s']:.0f} s"
    )
    return "\n".join(lines)
