"""Per (design, incident class) outcomes from the simulator (issue 11).

`incident_scenario(base, cls, duration_s)` turns a design's resolved scenario into an incident
window: warm-up, the class's faults for `duration_s`, heal, recovery, with the design's own faults
removed. `outcome_tasks` makes one sweep-engine task per (class, run), keyed like sweeps (scenario
content + seed + version), and `collect` turns the finished rows into `OutcomeSample`s.

`build_outcomes` does that for every class of an incident model and caches the rows in Parquet
(`outcomes.parquet` in the study's folder, keyed by design, class and draw, with the run key), so a
second study reuses every run already done.

Two choices keep incident windows cheap, both checked:
- the light workload (`light`): the same producers, agents, linger, batch timeout, lease, detector
  and table timings, at LIGHT_RECORDS_PER_S records/s per producer instead of the design's rate;
  tests/test_availability_outcomes.py shows its downtime matches the reference workload's within
  their confidence intervals. Failed and lost acknowledged records are scaled back to the
  design's rate (both grow with the records offered: a replication lag's worth, an outage's
  worth). For a single-region design that loses its region, the records lost are those acked in
  the window's warm-up and incident, not the region's whole history: a lower bound.
- the simulated incident is at most CAP_S long (a bad deployment: until its rollout has reached
  every zone, plus CAP_S). An incident lasting d > CAP_S goes on as the second half of its
  simulated part went: its downtime grows by (d - CAP_S) times the share of that second half
  covered by unavailability windows, and its failed records by as many seconds of the offered
  rate. A run still down at the cap stays down until the incident heals; one that had failed
  over costs nothing more; one with short intermittent windows (a partial incident) costs the
  same share of the rest. Region loss (data destroyed, d = inf) lasts REBUILD_S (ESTIMATE) when
  the design cannot fail over.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import __version__
from sim.core.rng import stream_seed
from sim.ensemble.engine import Engine, Task
from sim.ensemble.sweep import run_row
from sim.ensemble.sweepfile import run_key

from .compose import OutcomeSample

WARMUP_S = 10.0
RECOVERY_S = 20.0
CORRELATED_GAP_S = 60.0  # second region hit within Ford et al.'s 120 s
#: Longest incident simulated; longer ones are extended at the run's own rates (module doc).
#: ESTIMATE: 5 minutes covers the failover timings of the shipped designs (lease 5 s, table
#: failover and detector windows of seconds to a minute) with room to spare. Shown across
#: 120-900 s by benchmarks/availability_sensitivity.py (with REBUILD_S across 1-30 days),
#: and checked by the whole-month validation (`sim availability --validate`).
CAP_S = 300.0
#: ESTIMATE: rebuilding a single-region cluster whose region is destroyed, in another region
#: (provisioning, restore of the metadata from backups): one week.
REBUILD_S = 7 * 86400.0
#: Light workload: records/s per producer in incident windows (ESTIMATE: enough to keep several
#: requests outstanding at every instant at linger 25 ms, checked against the reference load).
LIGHT_RECORDS_PER_S = 5.0
#: What a run leaves in the cache: the run's own figures (before any extension, so that CAP_S and
#: REBUILD_S can change without re-running what they do not touch).
RAW = ("unavailability.total_s", "records.failed", "records.lost_acked", "unavailability.windows",
       "records.sent", "sim_duration_s")  # fmt: skip
OUTCOME_COLUMNS = ("design", "cls", "draw", "run_key", *RAW)
#: The outcome cache is rewritten at most this often while runs finish (and at the end), so an
#: interrupted study resumes from the runs it finished.
FLUSH_S = 30.0


@dataclass(frozen=True)
class Caps:
    """The two estimates the extension of long incidents rests on (module doc); the sensitivity
    script (benchmarks/availability_sensitivity.py) varies them."""

    cap_s: float = CAP_S
    rebuild_s: float = REBUILD_S
    #: Joint windows (joint.py): how long before the last incident of a group its window opens,
    #: and how long past that start its faults are simulated. ESTIMATES, shorter than CAP_S to
    #: halve the joint runs' cost: the earlier incidents are under way for two minutes (their
    #: failovers take seconds) and the state after the last start is read over its second half,
    #: 75-150 s. Measured on 1,000 years of the reference design (2,030 groups, the same runs
    #: otherwise): mean monthly downtime 406.349 s with CAP_S/CAP_S, 406.345 s with 120/150 s
    #: (simulation-noise SE 12 s); overlap part 0.667 and 0.663 s; per group the median change
    #: 0 s, 90% within 25 s, the largest those of partial table errors, whose intermittent
    #: share is read over 75 s instead of 150 s.
    joint_pre_s: float = 120.0
    joint_post_s: float = 150.0


DEFAULT_CAPS = Caps()


#: Classes whose incident hits every region of the cluster (staggered by CORRELATED_GAP_S): global
#: or near-global bursts (ESTIMATE of the template: about 80% of the fitted weight of
#: correlated_region_outage is bursts flagged global or touching 29+ of ~38 regions, which hit all
#: three regions of a cluster; for the rest it is the upper side).
ALL_REGIONS = ("correlated_region_outage",)
#: Classes that hit two regions of the cluster, the second CORRELATED_GAP_S after the first.
TWO_REGIONS = (
    "correlated_region_degraded",
    "correlated_table_errors",
    "correlated_bucket_errors",
    "correlated_slow_bucket",
)


def _one_region(cls: str, target: str, t0: float, d: float, rate: float) -> list[dict]:
    """The class's faults on one region."""
    one = {"target": target, "at": t0, "duration": d}
    table = {
        "region_outage": [{"kind": "region-outage", **one}],
        "region_degraded": [
            {"kind": "table-errors", "rate": rate, **one},
            {"kind": "bucket-errors", "rate": rate, **one},
        ],
        "region_loss": [{"kind": "region-outage", "target": target, "at": t0, "data": "destroyed"}],
        "metadata_table_errors": [{"kind": "table-errors", "rate": rate, **one}],
        "object_storage_errors": [{"kind": "bucket-errors", "rate": rate, **one}],
        "control_plane_crashloop": [{"kind": "control-plane-crash-loop", **one}],
        "az_outage": [{"kind": "zone-outage", **one}],
        "slow_table": [{"kind": "table-slow", "add": 0.4, "extra_sigma": 0.5, **one}],
        "slow_bucket": [{"kind": "bucket-slow", "add": 0.4, "extra_sigma": 0.5, **one}],
        "bad_deployment": [
            {"kind": "bad-deploy", "target": target, "at": t0, "error_rate": 1.0, "detect_after": d}
        ],  # fmt: skip
        "correlated_region_outage": [{"kind": "region-outage", **one}],
        "correlated_region_degraded": [
            {"kind": "table-errors", "rate": rate, **one},
            {"kind": "bucket-errors", "rate": rate, **one},
        ],
        "correlated_table_errors": [{"kind": "table-errors", "rate": rate, **one}],
        "correlated_bucket_errors": [{"kind": "bucket-errors", "rate": rate, **one}],
        "correlated_slow_bucket": [{"kind": "bucket-slow", "add": 0.4, "extra_sigma": 0.5, **one}],
    }
    if cls not in table:
        raise KeyError(f"no scenario template for incident class {cls!r}")
    return table[cls]


def _faults(
    cls: str, regions: list[str], t0: float, d: float, r: int = 0, rate: float = 1.0
) -> list[dict]:
    """The class's faults starting on region `r` (in the cluster's order): one region, or for
    correlated classes two regions or all of them, each next one CORRELATED_GAP_S later (within
    Ford et al.'s 120 s burst window) and all healing together at t0 + d (one incident, one fix).
    `rate` is the error rate of the error-type templates (1.0: full impact; below: partial)."""
    n = len(regions)
    hit = n if cls in ALL_REGIONS else (min(2, n) if cls in TWO_REGIONS else 1)
    gap = min(CORRELATED_GAP_S, d / (2 * hit))
    out = []
    for j in range(hit):
        out += _one_region(cls, regions[(r + j) % n], t0 + j * gap, d - j * gap, rate)
    return out


def cap_s(cls: str, base: dict, cap: float = CAP_S) -> float:
    """The longest incident of `cls` simulated for the design `base`: CAP_S, except for a bad
    deployment, whose faults keep changing until the rollout has reached every zone of every
    region (the bad-deploy fault's default step and bake), so it is simulated until then plus
    CAP_S; a longer one is extended from there."""
    if cls != "bad_deployment":
        return cap
    from sim.faults.kinds import BadDeploy

    step = float(BadDeploy.model_fields["step"].default)
    bake = float(BadDeploy.model_fields["bake"].default)
    zones = int(base["topology"]["zones_per_region"])
    regions = len(base["topology"]["regions"])
    rollout = (regions - 1) * ((zones - 1) * step + bake) + (zones - 1) * step
    return rollout + cap


def light(base: dict) -> dict:
    """The design at the light workload (module doc)."""
    sc = copy.deepcopy(base)
    sc["workload"]["records_per_s"] = LIGHT_RECORDS_PER_S
    return sc


def incident_scenario(
    base: dict, cls: str, duration_s: float, region: int = 0, rate: float = 1.0
) -> dict:
    """A resolved scenario (plain mapping) for one incident of `cls` lasting `duration_s`, on the
    cluster's `region`-th region (the first of those hit), at error rate `rate`."""
    sc = copy.deepcopy(base)
    regions = list(sc["topology"]["regions"])
    d = float(max(duration_s, 1.0))
    sc["faults"] = _faults(cls, regions, WARMUP_S, d, region, rate)
    sc.setdefault("run", {})["duration"] = WARMUP_S + d + RECOVERY_S
    sc["run"]["warmup"] = min(float(sc["run"].get("warmup", WARMUP_S) or 0.0), WARMUP_S / 2)
    return sc


def outcome_tasks(base: dict, cls: str, durations_s: list[float], seed: int) -> list[Task]:
    """One task per drawn duration, keyed by scenario content, seed and version."""
    tasks = []
    for i, d in enumerate(durations_s):
        sc = incident_scenario(base, cls, d)
        s = seed + i
        tasks.append(Task(f"avail-{run_key(sc, s, __version__)}", run_row, (sc, s)))
    return tasks


def collect(rows: list[dict], durations_s: list[float]) -> OutcomeSample:
    """Finished rows (in task order) as an OutcomeSample; failed runs raise."""
    bad = [r.get("error") for r in rows if r.get("status") != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} incident run(s) failed:\n{bad[0]}")
    return OutcomeSample(
        downtime_s=np.array([float(r["unavailability.total_s"]) for r in rows]),
        failed_records=np.array([float(r["records.failed"]) for r in rows]),
        lost_acked=np.array([float(r["records.lost_acked"]) for r in rows]),
        duration_s=np.array(durations_s, dtype=float),
    )


def offered_rate(sc: dict) -> float:
    """Records/s the scenario's producers offer (records_per_s per producer)."""
    w, t = sc["workload"], sc["topology"]
    regions = w.get("producer_regions") or t["regions"]
    return (
        float(w["records_per_s"]) * w["producers_per_zone"] * t["zones_per_region"] * len(regions)
    )


def down_share(windows: list, t0: float, t1: float) -> float:
    """The share of [t0, t1] covered by unavailability windows."""
    if t1 <= t0:
        return 0.0
    got = sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in windows)
    return min(1.0, got / (t1 - t0))


def extend(
    row: dict,
    sim_d: float,
    true_d: float,
    t_heal: float,
    rate_scale: float,
    rebuild_s: float = REBUILD_S,
) -> dict:
    """One run's outcome for an incident of `true_d` from a run that simulated `sim_d` (module
    doc): downtime, failed records (at the design's rate), lost acked, SLA error seconds."""
    down = float(row["unavailability.total_s"])
    failed = float(row["records.failed"]) * rate_scale
    lost = float(row["records.lost_acked"]) * rate_scale  # lost records scale with the rate
    windows = row.get("unavailability.windows") or "[]"
    windows = json.loads(windows) if isinstance(windows, str) else windows
    sent = float(row["records.sent"]) * rate_scale
    span = float(row["sim_duration_s"])
    per_s = sent / span if span > 0 else 0.0
    if true_d > sim_d:
        extra = (rebuild_s if math.isinf(true_d) else true_d) - sim_d
        f = down_share(windows, t_heal - sim_d / 2, t_heal)
        down += extra * f
        failed += extra * per_s * f
    sla = failed / per_s if per_s > 0 else down
    return {"downtime_s": down, "failed_records": failed, "lost_acked": lost, "sla_error_s": sla}


def _durations(model_cls, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` incident lengths of a class: its lognormal (inf for region loss)."""
    return model_cls.durations(rng.standard_normal(n))


def build_outcomes(
    design: str,
    base: dict,
    model,
    n_per_class: int,
    seed: int,
    engine: Engine,
    cache: Path | None = None,
    progress=None,
    caps: Caps = DEFAULT_CAPS,
) -> dict[str, OutcomeSample]:
    """Every class's OutcomeSample for one design (module doc). Runs found in `cache` (same design,
    class, draw and run key) are reused; the new ones are appended to it. The cache holds each
    run's own figures; the extension to the incident's true length is applied here."""
    done = pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    if cache is not None and cache.exists():
        done = pd.read_parquet(cache)
        if not set(OUTCOME_COLUMNS) <= set(done.columns):  # an older layout: start afresh
            done = pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    have = {
        (r[0], r[1], int(r[2]), r[3]) for r in done[["design", "cls", "draw", "run_key"]].values
    }
    lite = light(base)
    scale = offered_rate(base) / offered_rate(lite)
    plan, tasks = [], []
    n_regions = len(base["topology"]["regions"])
    for c in model.classes:
        rng = np.random.default_rng(stream_seed(seed, f"availability.outcomes.{c.name}"))
        true_d = _durations(c, n_per_class, rng)
        rates = c.error_rates(n_per_class)
        cap = cap_s(c.name, base, caps.cap_s)
        for i, d in enumerate(true_d):
            sim_d = float(min(d, cap))
            # run i starts on region i mod n: the sample mixes the regions as the composer's
            # incidents do (they hit each region alike)
            sc = incident_scenario(lite, c.name, sim_d, i % n_regions, float(rates[i]))
            s = int(
                stream_seed(seed, f"availability.run.{c.name}.{i}").generate_state(1)[0] % (2**31)
            )
            key = run_key(sc, s, __version__)
            plan.append((c.name, i, float(d), sim_d, key))
            if (design, c.name, i, key) not in have and all(t.key != f"avail-{key}" for t in tasks):
                tasks.append(Task(f"avail-{key}", run_row, (sc, s)))
    new: list[dict] = []
    last = time.monotonic()

    def flush():
        nonlocal done, new
        if new:
            fresh = pd.DataFrame(new)
            done = pd.concat([done, fresh], ignore_index=True) if len(done) else fresh
            new = []
            if cache is not None:
                tmp = cache.with_suffix(".parquet.tmp")
                done.to_parquet(tmp, index=False)
                tmp.replace(cache)

    try:
        for n_done, (task, res, err) in enumerate(engine.run(tasks), 1):
            if err or res is None or res.get("status") != "ok":
                raise RuntimeError(f"incident run {task.key} failed:\n{err or res.get('error')}")
            key = task.key[len("avail-") :]
            raw = {k: res[k] for k in RAW}
            if not isinstance(raw["unavailability.windows"], str):
                raw["unavailability.windows"] = json.dumps(raw["unavailability.windows"])
            for cls, i, _, _, k in plan:
                if k == key and (design, cls, i, k) not in have:
                    new.append({"design": design, "cls": cls, "draw": i, "run_key": key, **raw})
            if progress:
                progress(f"{design}: incident runs {n_done}/{len(tasks)}")
            if time.monotonic() - last > FLUSH_S:
                flush()
                last = time.monotonic()
    finally:  # also on an error or Ctrl-C: the runs that finished are kept, a rerun resumes
        flush()
    mine = done[done["design"] == design].drop_duplicates(["cls", "draw", "run_key"])
    rows = {(r["cls"], int(r["draw"]), r["run_key"]): r for r in mine.to_dict("records")}
    by_cls: dict[str, list] = {c.name: [] for c in model.classes}
    for cls, i, d, sim_d, key in plan:
        o = extend(rows[(cls, i, key)], sim_d, d, WARMUP_S + sim_d, scale, caps.rebuild_s)
        by_cls[cls].append((o, d))
    out = {}
    for c in model.classes:
        got = by_cls[c.name]
        out[c.name] = OutcomeSample(
            np.array([o["downtime_s"] for o, _ in got]),
            np.array([o["failed_records"] for o, _ in got]),
            np.array([o["lost_acked"] for o, _ in got]),
            np.array([o["sla_error_s"] for o, _ in got]),
            np.minimum(np.array([d for _, d in got]), caps.rebuild_s),
            c.error_rates(n_per_class),
        )
    return out
