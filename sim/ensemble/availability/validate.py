"""Whole-month validation of the composed estimate (issue 11): a sample of the composer's own months,
each simulated directly in one run with all its incidents, against what the composer gives.

Months. The composer's histories are rebuilt from its own streams (`compose`: rates from
`availability.rates`, draw r's plain months from `availability.months.<r>`, the same years -> (draws,
months per draw) plan as `study.run_study`), so a validated month is a month of the study. Each
incident keeps the outcome row the composer picked for it (through its uniform number), hence the
row's true duration (uncapped; region loss lasts REBUILD_S). The composer's figure for the month is
`compose.evaluate` on those months (overlap groups through the same cached joint windows).

Sampling. Candidates are the plain months (drawn at the posterior rates: no importance weights)
holding at least one incident for the design and whose compressed run (below) fits in
`max_span_s` of simulated time; `n` of them are drawn uniformly without replacement (stream
`availability.validate.<design>`). Months with no incident cost zero both ways (the compressed run
of a quiet month is the warm-up alone) and are left out. Every candidate has the same weight, so the
sample means estimate E[downtime | candidate month]; the report says what share of all months the
candidates are, and how many were left out as too long (long incidents, region loss), which the
validation therefore does not cover.

Direct run. One scenario per month (`month_scenario`) at the light workload with every incident's
faults (`outcomes._faults`, on the history's region) at its true start and for its true duration.
Only quiet stretches are compressed: incidents whose start falls within `margin_s` of the end of
the busy stretch before them stay at their true offsets; a longer quiet gap is cut to `margin_s`.
MARGIN_S is an ESTIMATE (several times the slowest recovery timer of the shipped designs: the
20 s latency EWMA, the 10 s handover hold and soft-failure window); `check_margin` reruns months
with a wider margin, or uncompressed between their first and last incident where that fits.

Regions. The composer's isolated windows cycle the cluster's regions (outcome row i runs on region
i mod n, `outcomes.build_outcomes`), and an incident takes the outcome of the row its uniform
number picks, whatever region the history gave it; a direct month hits the region of the history.
`regions="composed"` places each isolated incident on its outcome row's region, as the composer
does (checking the composition itself: caps, extension, overlaps); `regions="history"` (default)
checks the whole estimate, region mapping included.

Comparison: per month, composed and direct downtime (with `repeats` > 1, the direct mean and its
95% t interval over seeds) and lost acknowledged records; over the sample, each mean with its 95% t
interval over months and the paired difference's interval. They agree if the composed mean lies
inside the direct mean's interval and the paired difference's interval holds 0. The month runs
are cached in `month_runs.parquet` (pure in scenario and seed), so a rerun only composes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim import __version__
from sim.core.rng import stream_seed
from sim.core.stats import mean_ci
from sim.ensemble.engine import Engine, Task
from sim.ensemble.sweep import run_row
from sim.ensemble.sweepfile import run_key

from .compose import (
    Design,
    History,
    Incident,
    _error_rate,
    draw_history,
    evaluate,
    pick_rows,
)
from .incidents import IncidentModel
from .outcomes import RECOVERY_S, WARMUP_S, _faults, light

_KEEP = ("unavailability.total_s", "records.lost_acked", "records.failed", "sim_duration_s")
#: Quiet time kept after a busy stretch before the next incident (module doc). ESTIMATE.
MARGIN_S = 120.0
#: Longest compressed month simulated (s): about 25 s of wall time and 0.6 GiB at the light load
#: today (measured: 10 simulated minutes of the reference design take ~1.75 s and ~170 MiB).
MAX_SPAN_S = 7200.0


@dataclass(frozen=True)
class MonthIncident:
    cls: str
    region: int  # -1: cluster scope
    start_s: float
    duration_s: float
    grouped: bool = False  # simulated with others by the composer (an overlap group)
    error_rate: float = 1.0  # the outcome row's error rate (partial incidents)
    row: int = 0  # the outcome row the composer picked (its window ran on region row mod n)


@dataclass
class Month:
    """One sampled month of one design: its incidents, the composer's figures, the direct runs'."""

    design: str
    draw: int
    month: int
    incidents: list[MonthIncident]
    composed_downtime_s: float = 0.0
    composed_lost_acked: float = 0.0
    direct_downtime_s: list[float] = field(default_factory=list)
    direct_lost_acked: list[float] = field(default_factory=list)
    span_s: float = 0.0
    check: dict | None = None

    def to_dict(self) -> dict:
        n, m, h = mean_ci(self.direct_downtime_s)
        return {
            "design": self.design,
            "draw": self.draw,
            "month": self.month,
            "incidents": [vars(i) for i in self.incidents],
            "span_s": self.span_s,
            "composed_downtime_s": self.composed_downtime_s,
            "composed_lost_acked": self.composed_lost_acked,
            "direct_downtime_s": self.direct_downtime_s,
            "direct_downtime_s_mean": m,
            "direct_downtime_s_ci95": None if h is None else [m - h, m + h],
            "direct_lost_acked": self.direct_lost_acked,
            "check": self.check,
        }


def histories(model: IncidentModel, rate_draws: int, months_per_draw: int, seed: int,
              max_regions: int) -> list[History]:  # fmt: skip
    """The plain histories `compose` draws for these arguments (same streams, same order)."""
    rates = model.draw_rates(
        np.random.default_rng(stream_seed(seed, "availability.rates")), rate_draws
    )
    out = []
    for r, theta in enumerate(rates):
        rng = np.random.default_rng(stream_seed(seed, f"availability.months.{r}"))
        out.append(draw_history(model, theta, months_per_draw, rng, max_regions))
    return out


def sub_history(h: History, months: Sequence[int]) -> History:
    """The history restricted to `months`, renumbered 0..len(months)-1 in that order."""
    pos = {m: k for k, m in enumerate(months)}
    sel = np.isin(h.month, list(months))
    return History(
        len(months),
        np.array([pos[m] for m in h.month[sel]], dtype=int),
        h.cls[sel],
        h.region[sel],
        h.start_s[sel],
        h.u[sel],
        h.z[sel],
        h.log_weight[list(months)],
    )


def month_incidents(model: IncidentModel, design: Design, h: History, month: int) -> list:
    """The month's incidents for `design` as the composer sees them: the outcome row its uniform
    number picks gives the duration (`compose.pick_rows`, as in `compose.evaluate`)."""
    sel = (h.month == month) & (h.region < design.n_regions)
    out = []
    for c, r, s, u, z in zip(h.cls[sel], h.region[sel], h.start_s[sel], h.u[sel], h.z[sel],
                             strict=True):  # fmt: skip
        ic = model.classes[int(c)]
        sample = design.outcomes[ic.name]
        rows, durs = pick_rows(sample, ic, u, z)
        idx, d = int(rows[0]), float(durs[0])
        rate = _error_rate(sample, idx)
        out.append(MonthIncident(ic.name, int(r), float(s), float(d), error_rate=rate, row=idx))
    return sorted(out, key=lambda i: (i.start_s, i.cls, i.region))


def layout(incidents: Sequence[MonthIncident], margin_s: float | None) -> tuple[list[float], float]:
    """Simulated start of each incident (in order) and the end of the last one: quiet gaps longer
    than `margin_s` after a busy stretch are cut to `margin_s` (None: nothing cut after the first
    incident). The first incident starts after the warm-up."""
    starts, busy_end, sim_end, shift = [], -math.inf, WARMUP_S, None
    for i in incidents:
        if shift is None:
            shift = WARMUP_S - i.start_s
        elif margin_s is not None and i.start_s > busy_end + margin_s:
            shift = (sim_end + margin_s) - i.start_s
        t = i.start_s + shift
        starts.append(t)
        busy_end = max(busy_end, i.start_s + i.duration_s)
        sim_end = max(sim_end, t + i.duration_s)
    return starts, sim_end


def month_scenario(base: dict, incidents: Sequence[MonthIncident], margin_s: float | None,
                   regions: str = "history") -> tuple[dict, float]:  # fmt: skip
    """(scenario at the light workload, simulated span) of the whole month in one run."""
    sc = copy.deepcopy(light(base))
    names = list(sc["topology"]["regions"])
    starts, sim_end = layout(incidents, margin_s)
    faults = []
    for i, t in zip(incidents, starts, strict=True):
        r = max(i.region, 0) if (regions == "history" or i.grouped) else i.row % len(names)
        faults += _faults(i.cls, names, t, max(i.duration_s, 1.0), r, i.error_rate)
    sc["faults"] = faults
    span = sim_end + max(RECOVERY_S, margin_s or 0.0)
    sc.setdefault("run", {})["duration"] = span
    sc["run"]["warmup"] = WARMUP_S / 2
    return sc, span


class _Recorder:
    """A JointHook that passes groups on and remembers their incidents (to mark them grouped)."""

    def __init__(self, hook):
        self.hook = hook
        self.seen: set[tuple] = set()

    def __call__(self, design, group: Sequence[Incident]):
        for i in group:
            self.seen.add((design.name, i.cls, i.region, i.start_s))
        return self.hook(design, group)


def composed_months(model: IncidentModel, design: Design, h: History, months: Sequence[int],
                    joint) -> tuple[np.ndarray, np.ndarray, set]:  # fmt: skip
    """The composer's downtime and lost acked records for `months` of `h`, and the grouped
    incidents. `joint` may be a `SimulatedJoint` (two passes: collect, run, look up)."""
    sub = sub_history(h, months)
    rare = np.zeros(len(model), dtype=bool)
    rec = _Recorder(joint) if joint is not None else None
    if hasattr(joint, "settle"):  # a SimulatedJoint: collect the groups, run them, look up
        joint.settle(lambda: evaluate(model, design, sub, rec, rare))
    mt = evaluate(model, design, sub, rec, rare)
    return mt.downtime_s, mt.lost_acked, (rec.seen if rec else set())


def _seed(seed: int, name: str) -> int:
    return int(stream_seed(seed, name).generate_state(1)[0] % (2**31))


def validate(
    model: IncidentModel,
    designs: Sequence[Design],
    bases: dict[str, dict],
    engine: Engine,
    *,
    n: int,
    rate_draws: int,
    months_per_draw: int,
    seed: int = 1,
    joint=None,
    margin_s: float = MARGIN_S,
    max_span_s: float = MAX_SPAN_S,
    repeats: int = 1,
    regions: str = "history",
    checks: int = 0,
    progress=None,
    cache=None,
) -> dict:
    """Sample `n` months per design, compose and simulate them (module doc); `checks` of them are
    rerun with a wider margin (or uncompressed) to show the margin does not matter."""
    if regions not in ("history", "composed"):
        raise ValueError("regions must be 'history' or 'composed'")
    max_regions = max(d.n_regions for d in designs)
    hs = histories(model, rate_draws, months_per_draw, seed, max_regions)
    report = {"seed": seed, "margin_s": margin_s, "max_span_s": max_span_s, "repeats": repeats,
              "regions": regions, "rate_draws": rate_draws, "months_per_draw": months_per_draw,
              "designs": {}}  # fmt: skip
    tasks, plan = [], []
    for d in designs:
        cand, too_long, with_inc = [], 0, 0
        for r, h in enumerate(hs):
            keep = h.region < d.n_regions
            for m in np.unique(h.month[keep]):
                with_inc += 1
                inc = month_incidents(model, d, h, int(m))
                if layout(inc, margin_s)[1] + max(RECOVERY_S, margin_s) > max_span_s:
                    too_long += 1
                    continue
                cand.append((r, int(m)))
        rng = np.random.default_rng(stream_seed(seed, f"availability.validate.{d.name}"))
        pick = sorted(
            (cand[i] for i in rng.choice(len(cand), min(n, len(cand)), replace=False)),
        )
        total = len(hs) * months_per_draw
        months = []
        for r in sorted({r for r, _ in pick}):
            ms = [m for rr, m in pick if rr == r]
            down, lost, seen = composed_months(model, d, hs[r], ms, joint)
            for k, m in enumerate(ms):
                inc = [
                    MonthIncident(
                        i.cls,
                        i.region,
                        i.start_s,
                        i.duration_s,
                        (d.name, i.cls, i.region, i.start_s) in seen,
                        i.error_rate,
                        i.row,
                    )  # fmt: skip
                    for i in month_incidents(model, d, hs[r], m)
                ]
                months.append(Month(d.name, r, m, inc, float(down[k]), float(lost[k])))
        # the margin checks go to months with several incidents first (where cutting can matter)
        checked = {id(mo) for mo in sorted(months, key=lambda mo: -len(mo.incidents))[:checks]}
        for mo in months:
            sc, mo.span_s = month_scenario(bases[d.name], mo.incidents, margin_s, regions)
            for j in range(repeats):
                s = _seed(seed, f"availability.validate.{d.name}.{mo.draw}.{mo.month}.{j}")
                key = f"month-{run_key(sc, s, __version__)}"
                tasks.append(Task(key, run_row, (sc, s)))
                plan.append((mo, "direct", key))
            if id(mo) in checked:
                wide = None if _span(mo.incidents, None) <= max_span_s else 5 * margin_s
                sc2, span2 = month_scenario(bases[d.name], mo.incidents, wide, regions)
                s = _seed(seed, f"availability.validate.{d.name}.{mo.draw}.{mo.month}.0")
                key = f"month-{run_key(sc2, s, __version__)}"
                tasks.append(Task(key, run_row, (sc2, s)))
                mo.check = {"margin_s": wide, "span_s": span2}
                plan.append((mo, "check", key))
        report["designs"][d.name] = {
            "months": months,
            "months_total": total,
            "months_with_incidents": with_inc,
            "too_long": too_long,
            "candidates": len(cand),
        }
    rows = {}
    if cache is not None and cache.exists():  # month runs are pure in (scenario, seed): reuse
        rows = {r["key"]: r for r in pd.read_parquet(cache).to_dict("records")}
    todo = [t for t in tasks if t.key not in rows]
    try:
        for n_done, (task, res, err) in enumerate(engine.run(todo), 1):
            if err or res is None or res.get("status") != "ok":
                raise RuntimeError(f"month run {task.key} failed:\n{err or res.get('error')}")
            rows[task.key] = {"key": task.key, **{k: res[k] for k in _KEEP}}
            if progress:
                progress(f"validation: month runs {n_done}/{len(todo)}")
    finally:
        if cache is not None and todo:
            tmp = cache.with_suffix(".parquet.tmp")
            pd.DataFrame([rows[k] for k in sorted(rows)]).to_parquet(tmp, index=False)
            tmp.replace(cache)
    for mo, kind, key in plan:
        row = rows[key]
        if kind == "direct":
            mo.direct_downtime_s.append(float(row["unavailability.total_s"]))
            mo.direct_lost_acked.append(float(row["records.lost_acked"]))
        else:
            mo.check["downtime_s"] = float(row["unavailability.total_s"])
    for rep in report["designs"].values():
        rep.update(compare(rep["months"]))
        rep["months"] = [m.to_dict() for m in rep["months"]]
    return report


def _span(incidents, margin_s) -> float:
    return layout(incidents, margin_s)[1] + max(RECOVERY_S, margin_s or 0.0)


def _ci(x) -> dict:
    n, m, h = mean_ci(x)
    return {"n": n, "mean": m, "ci95": None if h is None else [m - h, m + h]}


def compare(months: Sequence[Month]) -> dict:
    """Sample means of composed and direct downtime, their paired difference, and the verdict."""
    comp = np.array([m.composed_downtime_s for m in months])
    direct = np.array([float(np.mean(m.direct_downtime_s)) for m in months])
    out = {"composed": _ci(comp), "direct": _ci(direct), "difference": _ci(direct - comp)}
    lo_hi, diff = out["direct"]["ci95"], out["difference"]["ci95"]
    out["agree"] = bool(
        lo_hi is not None
        and diff is not None
        and lo_hi[0] <= out["composed"]["mean"] <= lo_hi[1]
        and diff[0] <= 0.0 <= diff[1]
    )
    return out


def format_report(rep: dict) -> str:
    """The comparison `sim availability --validate` prints."""
    lines = [
        f"whole-month validation: margin {rep['margin_s']:g} s, months up to "
        f"{rep['max_span_s']:g} s simulated, {rep['repeats']} seed(s) per month, regions "
        f"{rep['regions']}"
    ]
    for name, d in rep["designs"].items():
        lines.append("")
        lines.append(
            f"{name}: {len(d['months'])} of {d['candidates']} candidate months "
            f"({d['candidates'] / d['months_total']:.2%} of {d['months_total']:,} months; "
            f"{d['months_with_incidents']:,} with incidents, {d['too_long']:,} left out as longer "
            f"than {rep['max_span_s']:g} s)"
        )
        lines.append(
            f"  {'draw':>4s} {'month':>6s} {'incidents':40s} {'span s':>8s} {'composed s':>11s} "
            f"{'direct s':>18s} {'check s':>12s}"
        )
        for m in d["months"]:
            inc = ", ".join(
                f"{i['cls'][:14]}@{i['region']}:{i['duration_s'] / 60:.0f}m"
                + ("*" if i["grouped"] else "")
                for i in m["incidents"]
            )
            ci = m["direct_downtime_s_ci95"]
            direct = f"{m['direct_downtime_s_mean']:.1f}" + (
                f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""
            )
            chk = ""
            if m["check"]:
                how = "uncut" if m["check"]["margin_s"] is None else f"m={m['check']['margin_s']:g}"
                chk = f"{m['check']['downtime_s']:.1f} ({how})"
            lines.append(
                f"  {m['draw']:4d} {m['month']:6d} {inc[:40]:40s} {m['span_s']:8.0f} "
                f"{m['composed_downtime_s']:11.1f} {direct:>18s} {chk:>12s}"
            )

        if not d["months"]:
            lines.append("  no candidate month: raise --max-span or --years")
            continue

        def fmt(x):
            ci = x["ci95"]
            return f"{x['mean']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

        lines.append(
            f"  mean downtime per candidate month: composed {fmt(d['composed'])}, direct "
            f"{fmt(d['direct'])}, direct - composed {fmt(d['difference'])}: "
            + ("AGREE" if d["agree"] else "DISAGREE")
        )
    lines.append("(* incident simulated in an overlap group by the composer; check: the month rerun "
                 "uncompressed between its incidents, or with a 5x margin)")  # fmt: skip
    return "\n".join(lines)


def validate_study(
    scenarios: dict[str, dict],
    model: IncidentModel,
    out,
    *,
    n: int,
    years: float = 1000.0,
    seed: int = 1,
    engine: Engine,
    runs_per_class: int = 12,
    progress=None,
    **kw,
) -> dict:
    """`validate` on a study's own months: the outcomes and joint windows of `run_study` with the
    same arguments (cached in `out`, shared with it), written to `out/validate.json`."""
    from pathlib import Path

    from .joint import SimulatedJoint
    from .outcomes import build_outcomes, offered_rate
    from .study import _atomic, plan_months, strict_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    designs = []
    for name, base in scenarios.items():
        samples = build_outcomes(
            name, base, model, runs_per_class, seed, engine, out / "outcomes.parquet", progress
        )
        designs.append(Design(name, len(base["topology"]["regions"]), samples, offered_rate(base)))
    hook = SimulatedJoint(scenarios, engine, out / "joint.parquet")
    r, m = plan_months(years)
    rep = validate(model, designs, scenarios, engine, n=n, rate_draws=r, months_per_draw=m,
                   seed=seed, joint=hook, progress=progress, cache=out / "month_runs.parquet",
                   **kw)  # fmt: skip
    rep["years"] = years
    _atomic(out / "validate.json", lambda p: p.write_text(strict_json(rep)))
    return rep
