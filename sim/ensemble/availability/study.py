"""`sim availability`: designs on common incident histories, outcomes from the simulator.

For each design (a scenario file): every incident class's outcome distribution from incident
windows on the sweep engine (`outcomes.build_outcomes`, cached in `<out>/outcomes.parquet`), then
the nested Monte Carlo over months (`compose`) with overlapping joint incidents simulated together
(`joint.SimulatedJoint`, cached in `<out>/joint.parquet`) and importance-sampled. Writes
`availability.json` (per design, keyed by scenario name), `months.parquet` (every composed month:
design, draw, weight, downtime, the plots' source) and the plots (`plots.render`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .compose import MONTH_S, Design, compose
from .incidents import IncidentModel
from .joint import SimulatedJoint
from .outcomes import DEFAULT_CAPS, Caps, build_outcomes, offered_rate

#: Outer draws of the rates (rate uncertainty). ESTIMATE: 40 draws put the 2.5/97.5 percentiles
#: of the per-draw means at the 1st/39th order statistics.
RATE_DRAWS = 40
#: Incident windows per class and design. ESTIMATE: 12 covers the spread of the lognormal
#: durations coarsely; the per-class CIs in availability.json show what it leaves.
RUNS_PER_CLASS = 12


def plan_months(years: float, rate_draws: int = RATE_DRAWS) -> tuple[int, int]:
    """(rate draws, months per draw) for `years` simulated years (plain months)."""
    months = max(1, int(round(years * 12)))
    r = max(2, min(rate_draws, months))
    return r, max(1, math.ceil(months / r))


def run_study(
    scenarios: dict[str, dict],
    model: IncidentModel,
    out: Path,
    *,
    years: float = 1000.0,
    seed: int = 1,
    engine=None,
    runs_per_class: int = RUNS_PER_CLASS,
    progress=None,
    caps: Caps = DEFAULT_CAPS,
) -> dict:
    """Compose every design of `scenarios` (name -> resolved scenario) on the same histories."""
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    designs = []
    for name, base in scenarios.items():
        samples = build_outcomes(
            name,
            base,
            model,
            runs_per_class,
            seed,
            engine,
            out / "outcomes.parquet",
            progress,
            caps,
        )
        designs.append(Design(name, len(base["topology"]["regions"]), samples, offered_rate(base)))
    hook = SimulatedJoint(scenarios, engine, out / "joint.parquet", caps)
    r, m = plan_months(years)
    kw = dict(rate_draws=r, months_per_draw=m, seed=seed, joint=hook)
    hook.settle(lambda: compose(model, designs, **kw), progress)  # collect and run the groups
    comps = compose(model, designs, **kw)
    wall = time.perf_counter() - t0
    result = {}
    frames = []
    for name, comp in comps.items():
        s = comp.summary()
        s["wall_time_s"] = round(wall, 3)
        s["joint_runs"] = hook.runs
        s["runs_per_class"] = runs_per_class
        s["outcomes_by_class"] = {
            c: {
                "runs": len(o),
                "downtime_s_mean": float(o.downtime_s.mean()),
                "lost_acked_mean": float(o.lost_acked.mean()),
            }
            for c, o in designs[[d.name for d in designs].index(name)].outcomes.items()
        }
        result[name] = s
        for i, d in enumerate(comp.draws):
            frames.append(
                pd.DataFrame(
                    {
                        "design": name,
                        "draw": i,
                        "weight": d.weight / len(comp.draws),
                        "downtime_s": d.values["downtime_s"],
                        "lost_acked": d.values["lost_acked"],
                    }
                )
            )
    months = pd.concat(frames, ignore_index=True)
    months = months[months["weight"] > 0]
    _atomic(out / "months.parquet", lambda p: months.to_parquet(p, index=False))
    doc = {"designs": result, "years": comps[next(iter(comps))].years, "seed": seed,
           "wall_time_s": round(wall, 3), "month_s": MONTH_S,
           "caps": {"cap_s": caps.cap_s, "rebuild_s": caps.rebuild_s}}  # fmt: skip
    _atomic(out / "availability.json", lambda p: p.write_text(strict_json(doc)))
    return doc


def strict_json(doc) -> str:
    """``doc`` as standard JSON: a value that is not finite (the nines of a design with no
    downtime are infinite) is written as the string "inf", "-inf" or "nan", never as the
    non-standard ``Infinity`` / ``NaN`` that strict parsers refuse."""

    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [fix(x) for x in v]
        return v

    return json.dumps(fix(doc), indent=2, allow_nan=False) + "\n"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    tmp.replace(path)


def _fmt_nines(n: dict) -> str:
    lo, hi = n["ci95"]
    return f"{n['estimate']:.2f} [{lo:.2f}, {hi:.2f}]"


def format_table(doc: dict) -> str:
    """The table `sim availability` prints."""
    head = (
        f"{'design':34s} {'nines [95% CI]':>20s} {'mean s/mo':>10s} {'p50':>7s} {'p90':>8s} "
        f"{'p99':>9s} {'P>26s':>6s} {'P>259s':>6s} {'SLA-5min':>9s} {'req-avail':>9s} "
        f"{'lost acked/yr [95% CI]':>26s}"
    )
    lines = [head, "-" * len(head)]
    for name, s in doc["designs"].items():
        d, p, a, lost = (s["monthly_downtime_s"], s["p_month_over_s"], s["availability"],
                         s["lost_acked_per_year"])  # fmt: skip
        lines.append(
            f"{name:34s} {_fmt_nines(s['nines']):>20s} {d['mean']:10.1f} {d['p50']:7.1f} "
            f"{d['p90']:8.1f} {d['p99']:9.1f} {p['26']:6.3f} {p['259']:6.3f} "
            f"{a['sla_5min_nines']['estimate']:9.2f} {a.get('request_based', float('nan')):9.6f} "
            f"{lost['estimate']:9.3g} [{lost['ci95'][0]:.3g}, {lost['ci95'][1]:.3g}]"
        )
    lines.append(
        f"{doc['years']:,.0f} simulated years per design, seed {doc['seed']}, "
        f"{doc['wall_time_s']:.1f} s wall"
    )
    return "\n".join(lines)


def monthly_downtime(months: pd.DataFrame, design: str) -> tuple[np.ndarray, np.ndarray]:
    """A design's month downtimes and their weights (summing to 1)."""
    m = months[months["design"] == design]
    w = m["weight"].to_numpy()
    return m["downtime_s"].to_numpy(), w / w.sum()
