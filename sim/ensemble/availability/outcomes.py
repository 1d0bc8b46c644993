"""Per (design, incident class) outcomes from the simulator (issue 11, step 1; first part).

`incident_scenario(base, cls, duration_s)` turns a design's resolved scenario into an incident
window: warm-up, the class's faults for `duration_s`, heal, recovery, with the design's own faults
removed. `outcome_tasks` makes one sweep-engine task per (class, run), keyed like sweeps (scenario
content + seed + version), and `collect` turns the finished rows into `OutcomeSample`s.
"""

from __future__ import annotations

import copy

import numpy as np

from sim import __version__
from sim.ensemble.engine import Task
from sim.ensemble.sweep import run_row
from sim.ensemble.sweepfile import run_key

from .compose import OutcomeSample

WARMUP_S = 10.0
RECOVERY_S = 20.0
CORRELATED_GAP_S = 60.0  # second region hit within Ford et al.'s 120 s


def _faults(cls: str, regions: list[str], t0: float, d: float) -> list[dict]:
    """The class's faults on the first region (and a second one for correlated incidents)."""
    r0 = regions[0]
    one = {"target": r0, "at": t0, "duration": d}
    table = {
        "region_outage": [{"kind": "region-outage", **one}],
        "region_loss": [{"kind": "region-outage", "target": r0, "at": t0, "data": "destroyed"}],
        "metadata_table_errors": [{"kind": "table-errors", "rate": 1.0, **one}],
        "object_storage_errors": [{"kind": "bucket-errors", "rate": 1.0, **one}],
        "control_plane_crashloop": [{"kind": "control-plane-crash-loop", **one}],
        "az_outage": [{"kind": "zone-outage", **one}],
        "slow_table": [{"kind": "table-slow", "add": 0.4, "extra_sigma": 0.5, **one}],
        "slow_bucket": [{"kind": "bucket-slow", "add": 0.4, "extra_sigma": 0.5, **one}],
        "bad_deployment": [
            {"kind": "bad-deploy", "target": r0, "at": t0, "error_rate": 1.0, "detect_after": d}
        ],
    }
    if cls == "correlated_multi_region":
        out = [{"kind": "region-outage", **one}]
        if len(regions) > 1:
            gap = min(CORRELATED_GAP_S, d / 2)
            out.append(
                {"kind": "region-outage", "target": regions[1], "at": t0 + gap, "duration": d}
            )
        return out
    if cls not in table:
        raise KeyError(f"no scenario template for incident class {cls!r}")
    return table[cls]


def incident_scenario(base: dict, cls: str, duration_s: float) -> dict:
    """A resolved scenario (plain mapping) for one incident of `cls` lasting `duration_s`."""
    sc = copy.deepcopy(base)
    regions = list(sc["topology"]["regions"])
    d = float(max(duration_s, 1.0))
    sc["faults"] = _faults(cls, regions, WARMUP_S, d)
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
