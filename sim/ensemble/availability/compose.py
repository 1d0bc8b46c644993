"""Composition by Monte Carlo over months: incident histories, per-class outcomes, SLA figures.

The estimate is nested. The outer loop draws the incident rates from their posteriors (rate
uncertainty); the inner loop draws months of incidents at those rates (simulation noise). For every
outer draw the same incident histories serve every design (common random numbers): a design only
maps each incident to one of its own outcome rows, through a uniform number stored in the history.

Outcomes come from data, not from a formula: per design and class an `OutcomeSample` of simulated
incidents (downtime, failed and lost acknowledged records). A month's figures are the sums over its
incidents, except for incidents of `joint` classes that overlap in time (two regions down at once,
the case that breaks a 2-of-3 quorum): those are handed together to a `JointHook` that returns one
outcome for the group: `joint.SimulatedJoint`, which simulates the group's incidents together (no
formula stands in for it: without a hook, `joint=None`, overlapping incidents are summed and no
month goes to the importance-sampled stratum).

Overlaps are rare, so months are stratified. Stratum S holds the months with an overlap group or an
incident of a rare joint class; its part of every figure is estimated by importance sampling from
extra months drawn with the joint classes made more frequent (balanced failure biasing, Nicola et
al. 2001) and reweighted by the Poisson likelihood ratio. The other months come from plain Monte
Carlo at the true rates. Both parts are unbiased, so their sum is too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.core.rng import stream_seed

from .incidents import SECONDS_PER_YEAR, IncidentModel

#: SLA month: 30 days, the month behind the usual budgets (99.99% = 4.32 min, 99.999% = 25.9 s).
MONTH_S = 30 * 86400.0
MONTH_YEARS = MONTH_S / SECONDS_PER_YEAR
#: Monthly downtime budgets, keyed as in availability.json.
BUDGETS_S = {"26": MONTH_S * 1e-5, "259": MONTH_S * 1e-4}
#: The S3 SLA's error-rate interval.
SLA_INTERVAL_S = 300.0
#: Expected number of joint incidents per importance-sampled month. For a pair overlap the relative
#: variance of the estimator goes as exp(L) / L**2 in the biased mean count L, smallest at L = 2.
IS_TARGET_PER_MONTH = 2.0
#: A joint class with fewer expected incidents a month than this is "rare": months holding one go
#: to the importance-sampled stratum, so region loss is seen often enough.
RARE_PER_MONTH = 0.01


@dataclass(frozen=True)
class Outcome:
    """What one incident (or one group of overlapping incidents) cost a design."""

    downtime_s: float = 0.0
    failed_records: float = 0.0
    lost_acked: float = 0.0
    sla_error_s: float = 0.0


@dataclass(frozen=True)
class OutcomeSample:
    """Simulated outcomes of one incident class for one design: equal-length arrays, one entry per
    simulated incident (each a run of warm-up, incident, heal, recovery).

    - `downtime_s`: the run's unavailability (`unavailability.total_s`, windows of >= 1 s with
      requests outstanding and none acknowledged);
    - `failed_records`: records that failed to their producers (`records.failed`);
    - `lost_acked`: acknowledged records lost (`records.lost_acked`);
    - `sla_error_s` (optional): the sum over the 5-minute intervals the run touched of the interval's
      error rate times 300 s (the S3 SLA's measure). Defaults to `downtime_s`, which it equals when
      every request in a window fails and none outside it does;
    - `duration_s` (optional): the incident length each run simulated, used to find overlaps;
      without it durations are drawn from the class's lognormal;
    - `error_rate` (optional): the error rate each run's faults had (1.0 for a full incident,
      below for a partial one), handed with the incident to the joint hook.
    """

    downtime_s: np.ndarray
    failed_records: np.ndarray
    lost_acked: np.ndarray
    sla_error_s: np.ndarray | None = None
    duration_s: np.ndarray | None = None
    error_rate: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.downtime_s)
        for name in ("downtime_s", "failed_records", "lost_acked", "sla_error_s", "duration_s",
                     "error_rate"):  # fmt: skip
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=float)
            if arr.ndim != 1 or len(arr) != n or n == 0:
                raise ValueError(f"OutcomeSample.{name}: need a non-empty 1-d array of length {n}")
            object.__setattr__(self, name, arr)
        if self.sla_error_s is None:
            object.__setattr__(self, "sla_error_s", self.downtime_s)

    def __len__(self) -> int:
        return len(self.downtime_s)

    @classmethod
    def zero(cls) -> OutcomeSample:
        """A class that costs this design nothing."""
        return cls(np.zeros(1), np.zeros(1), np.zeros(1))

    @classmethod
    def from_records(cls, rows: Sequence[Mapping[str, float]]) -> OutcomeSample:
        """From run summaries: dicts with the field names above (e.g. rows of a sweep's table)."""
        cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
        return cls(**cols)

    def outcome(self, i: int) -> Outcome:
        return Outcome(
            float(self.downtime_s[i]),
            float(self.failed_records[i]),
            float(self.lost_acked[i]),
            float(self.sla_error_s[i]),
        )


@dataclass(frozen=True)
class Design:
    """A design as the composer sees it: its regions, its outcomes per class, its workload."""

    name: str
    n_regions: int
    outcomes: Mapping[str, OutcomeSample]
    records_per_s: float = 1000.0


@dataclass(frozen=True)
class Incident:
    """One incident of a history, as handed to a `JointHook`. `region` is -1 for cluster scope."""

    cls: str
    region: int
    start_s: float
    duration_s: float
    outcome: Outcome
    error_rate: float = 1.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


#: Returns one outcome for a group of time-overlapping joint incidents of one design.
JointHook = Callable[[Design, Sequence[Incident]], Outcome]


def _error_rate(sample: OutcomeSample, i: int) -> float:
    return 1.0 if sample.error_rate is None else float(sample.error_rate[i])


def pick_rows(sample: OutcomeSample, ic, u, z) -> tuple[np.ndarray, np.ndarray]:
    """The outcome rows of `sample` that incidents of class `ic` with uniform numbers `u` pick, and
    their durations (the row's simulated incident length; without one, the class's lognormal at
    the normal deviates `z`). The one mapping from a history to outcomes: `evaluate` and the
    whole-month validation (`validate.month_incidents`) both use it."""
    u = np.atleast_1d(np.asarray(u, dtype=float))
    idx = np.minimum((u * len(sample)).astype(int), len(sample) - 1)
    if sample.duration_s is not None:
        return idx, sample.duration_s[idx]
    return idx, np.asarray(ic.durations(np.atleast_1d(np.asarray(z, dtype=float))), dtype=float)


@dataclass
class History:
    """Incidents of `n_months` months for up to `max_regions` regions, and each month's log
    likelihood ratio (0 when drawn at the true rates)."""

    n_months: int
    month: np.ndarray
    cls: np.ndarray
    region: np.ndarray
    start_s: np.ndarray
    u: np.ndarray
    z: np.ndarray
    log_weight: np.ndarray


def draw_history(
    model: IncidentModel,
    rates: np.ndarray,
    n_months: int,
    rng: np.random.Generator,
    max_regions: int = 3,
    inflation: np.ndarray | None = None,
) -> History:
    """Poisson arrivals per class and month at `rates` (times `inflation`, with the likelihood
    ratio of the true rates against the inflated ones kept per month)."""
    units = np.array([max_regions if c.scope == "region" else 1 for c in model.classes])
    lam = np.asarray(rates, dtype=float) * units * MONTH_YEARS
    k = np.ones(len(lam)) if inflation is None else np.asarray(inflation, dtype=float)
    counts = rng.poisson(lam * k, size=(n_months, len(lam)))
    log_k = np.where(k > 0, np.log(np.where(k > 0, k, 1.0)), 0.0)
    log_weight = (k - 1.0) @ lam - counts @ log_k
    month, cls = np.nonzero(counts)
    reps = counts[month, cls]
    month, cls = np.repeat(month, reps), np.repeat(cls, reps)
    n = len(month)
    region_scope = units[cls] > 1
    region = np.where(region_scope, rng.integers(0, max_regions, n), -1)
    if max_regions == 1:
        region = np.where(np.array([c.scope == "region" for c in model.classes])[cls], 0, -1)
    return History(
        n_months,
        month,
        cls,
        region,
        rng.uniform(0.0, MONTH_S, n),
        rng.random(n),
        rng.standard_normal(n),
        log_weight,
    )


@dataclass
class MonthTable:
    """Per-month figures of one design on one history."""

    downtime_s: np.ndarray
    sla_error_s: np.ndarray
    failed_records: np.ndarray
    lost_acked: np.ndarray
    by_class_s: np.ndarray  # (n_months, n_classes + 1): the last column is overlap groups
    in_stratum: np.ndarray  # overlap group or rare joint incident


def evaluate(
    model: IncidentModel,
    design: Design,
    history: History,
    joint: JointHook | None,
    rare: np.ndarray,
) -> MonthTable:
    """One design's months on a history."""
    nc = len(model)
    missing = [n for n in model.names if n not in design.outcomes]
    if missing:
        raise KeyError(f"design {design.name!r} has no outcome sample for {missing}")
    h = history
    keep = (h.region < design.n_regions) & (h.region >= -1)
    month, cls, region = h.month[keep], h.cls[keep], h.region[keep]
    start, u, z = h.start_s[keep], h.u[keep], h.z[keep]
    n = len(month)
    cols = {k: np.zeros(n) for k in ("downtime_s", "failed_records", "lost_acked", "sla_error_s")}
    dur = np.zeros(n)
    row = np.zeros(n, dtype=int)
    for c, ic in enumerate(model.classes):
        sel = cls == c
        if not sel.any():
            continue
        sample = design.outcomes[ic.name]
        idx, dur[sel] = pick_rows(sample, ic, u[sel], z[sel])
        row[sel] = idx
        for k in cols:
            cols[k][sel] = getattr(sample, k)[idx]

    joint_cls = np.array([c.joint for c in model.classes], dtype=bool)
    eligible = joint_cls[cls] if joint is not None else np.zeros(n, dtype=bool)
    grouped = np.zeros(n, dtype=bool)
    in_stratum = np.zeros(h.n_months, dtype=bool)
    extra = {k: np.zeros(h.n_months) for k in cols}
    if eligible.any():
        e = np.flatnonzero(eligible)
        t0 = month[e] * 2.0 * MONTH_S + start[e]
        t1 = month[e] * 2.0 * MONTH_S + np.minimum(start[e] + dur[e], MONTH_S)
        order = np.argsort(t0, kind="stable")
        e, t0, t1 = e[order], t0[order], t1[order]
        run_end = np.maximum.accumulate(t1)
        new = np.concatenate([[True], t0[1:] >= run_end[:-1]])
        gid = np.cumsum(new) - 1
        sizes = np.bincount(gid)
        multi = sizes[gid] >= 2
        for g in np.unique(gid[multi]):
            members = e[gid == g]
            group = [
                Incident(
                    model.classes[cls[i]].name,
                    int(region[i]),
                    float(start[i]),
                    float(dur[i]),
                    design.outcomes[model.classes[cls[i]].name].outcome(int(row[i])),
                    _error_rate(design.outcomes[model.classes[cls[i]].name], int(row[i])),
                )
                for i in members
            ]
            out = joint(design, group)
            m = month[members[0]]
            for k in cols:
                extra[k][m] += getattr(out, k)
            grouped[members] = True
            in_stratum[m] = True
    if rare.any():
        in_stratum[month[rare[cls] & joint_cls[cls]]] = True

    solo = ~grouped
    sums = {
        k: np.bincount(month[solo], cols[k][solo], minlength=h.n_months) + extra[k] for k in cols
    }
    by_class = np.zeros((h.n_months, nc + 1))
    np.add.at(by_class, (month[solo], cls[solo]), cols["downtime_s"][solo])
    by_class[:, nc] = extra["downtime_s"]
    return MonthTable(
        sums["downtime_s"],
        sums["sla_error_s"],
        sums["failed_records"],
        sums["lost_acked"],
        by_class,
        in_stratum,
    )


FIELDS = ("downtime_s", "sla_error_s", "failed_records", "lost_acked")


@dataclass
class DrawSamples:
    """One design's months in one outer draw: values, weights and stratum flags, plain months then
    importance-sampled ones. `sum(weight * x)` estimates E[x per month] given the draw's rates."""

    values: dict[str, np.ndarray]
    by_class_s: np.ndarray
    weight: np.ndarray
    in_stratum: np.ndarray
    is_part: np.ndarray  # True for importance-sampled months

    def estimate(self, x: np.ndarray) -> tuple[float, float]:
        """The draw's estimate of E[x] and the variance of that estimate (simulation noise)."""
        total, var = 0.0, 0.0
        for part in (~self.is_part, self.is_part):
            if not part.any():
                continue
            n = int(part.sum())
            contrib = self.weight[part] * x[part] * n
            total += contrib.mean()
            var += contrib.var(ddof=1) / n if n > 1 else 0.0
        return float(total), float(var)


@dataclass
class Composition:
    """Everything `compose` drew for one design; `summary()` turns it into the report."""

    design: str
    classes: tuple[str, ...]
    months_per_draw: int
    is_months_per_draw: int
    seed: int
    rates: np.ndarray
    records_per_s: float = 0.0
    draws: list[DrawSamples] = field(default_factory=list)

    @property
    def years(self) -> float:
        return len(self.draws) * self.months_per_draw / 12.0

    def summary(self) -> dict:
        from .summary import summarise

        return summarise(self)


def _inflation(model: IncidentModel, rates: np.ndarray, max_regions: int) -> np.ndarray:
    """Balanced failure biasing: every joint class with a non-zero rate gets at least
    IS_TARGET_PER_MONTH / (number of such classes) expected incidents per month."""
    units = np.array([max_regions if c.scope == "region" else 1 for c in model.classes])
    lam = rates * units * MONTH_YEARS
    joint = np.array([c.joint for c in model.classes]) & (lam > 0)
    k = np.ones(len(lam))
    if joint.any():
        share = IS_TARGET_PER_MONTH / joint.sum()
        k[joint] = np.maximum(1.0, share / lam[joint])
    return k


def compose(
    model: IncidentModel,
    designs: Sequence[Design],
    *,
    rate_draws: int = 40,
    months_per_draw: int = 600,
    is_months_per_draw: int | None = None,
    seed: int = 0,
    overlap: str = "is",
    joint: JointHook | None = None,
    rates: np.ndarray | None = None,
    max_regions: int | None = None,
) -> dict[str, Composition]:
    """Nested Monte Carlo over months for several designs on the same incident histories.

    `rate_draws` outer draws of the rates from their posteriors (or the rows of `rates`, an array
    (n_draws, n_classes), e.g. `model.mean_rates()[None]` to switch rate uncertainty off), each with
    `months_per_draw` plain months and, with `overlap="is"`, `is_months_per_draw` (default: as many)
    importance-sampled months for the overlap stratum. `overlap="plain"` composes overlaps by plain
    Monte Carlo (affordable only when they are common: used to check the importance sampling);
    `joint=None` turns the hook off (overlapping incidents are then summed).

    Random streams (sim.core.rng, root `seed`): `availability.rates` for the rates,
    `availability.months.<r>` and `availability.is.<r>` for draw r's months, so results do not
    depend on the designs passed nor on the number of draws for the draws they share.
    """
    if overlap not in ("is", "plain"):
        raise ValueError("overlap must be 'is' or 'plain'")
    max_regions = max_regions or max(d.n_regions for d in designs)
    if rates is None:
        rates = model.draw_rates(
            np.random.default_rng(stream_seed(seed, "availability.rates")), rate_draws
        )
    rates = np.atleast_2d(np.asarray(rates, dtype=float))
    n_is = months_per_draw if is_months_per_draw is None else is_months_per_draw
    use_is = overlap == "is" and joint is not None and n_is > 0
    units = np.array([max_regions if c.scope == "region" else 1 for c in model.classes])
    out = {
        d.name: Composition(
            d.name,
            model.names,
            months_per_draw,
            n_is if use_is else 0,
            seed,
            rates,
            d.records_per_s,
        )
        for d in designs
    }
    for r, theta in enumerate(rates):
        rng = np.random.default_rng(stream_seed(seed, f"availability.months.{r}"))
        plain = draw_history(model, theta, months_per_draw, rng, max_regions)
        lam = theta * units * MONTH_YEARS
        rare = np.array([c.joint for c in model.classes]) & (lam > 0) & (lam < RARE_PER_MONTH)
        if not use_is:
            rare = np.zeros(len(lam), dtype=bool)
        biased = None
        if use_is:
            rng_is = np.random.default_rng(stream_seed(seed, f"availability.is.{r}"))
            k = _inflation(model, theta, max_regions)
            biased = draw_history(model, theta, n_is, rng_is, max_regions, inflation=k)
        for d in designs:
            mt = evaluate(model, d, plain, joint, rare)
            parts = [mt]
            if use_is:
                w_plain = (~mt.in_stratum) / months_per_draw
                mi = evaluate(model, d, biased, joint, rare)
                w_is = mi.in_stratum * np.exp(biased.log_weight) / n_is
                parts.append(mi)
                weight = np.concatenate([w_plain, w_is])
                is_part = np.concatenate([np.zeros(months_per_draw, bool), np.ones(n_is, bool)])
            else:
                weight = np.full(months_per_draw, 1.0 / months_per_draw)
                is_part = np.zeros(months_per_draw, bool)
            out[d.name].draws.append(
                DrawSamples(
                    {k: np.concatenate([getattr(p, k) for p in parts]) for k in FIELDS},
                    np.concatenate([p.by_class_s for p in parts]),
                    weight,
                    np.concatenate([p.in_stratum for p in parts]),
                    is_part,
                )
            )
    return out
