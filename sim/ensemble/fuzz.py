"""Searching for lost records: fuzzed fault schedules on the sweep engine, shrinking, coverage.

``campaign`` generates one short fault schedule per run from a seed (swarm testing: each run
enables a random subset of the fault kinds; 1 to 4 faults, overlapping, repeated, soft and hard,
symbolic and asymmetric targets, varied orders), runs them as pure tasks ``(scenario, seed)`` on
the sweep engine, and reads every run's ``checks``. A forbidden anomaly (a failed check that the
design does not allow; ``recovers`` only while the data lost stayed within the survivable budget)
is a violation: its scenario is written to ``--out`` as ``violation-SEED.yaml`` (it names its
mutant, so ``sim run`` on it shows the violation), then shrunk (faults first: remove, merge; then
timing: shorten, move later) into ``violation-SEED.min.yaml`` with the number of steps it took.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import yaml

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]
TARGETS = REGIONS + ["leader", "follower", "table-leader", "random"]
BASE = {
    "name": "fuzz",
    "run": {"duration": 180.0, "warmup": 10.0, "recovery_bound": 60.0},
    "topology": {"regions": REGIONS, "zones_per_region": 3},
    "storage": {"profile": "s3-standard", "quorum": 2},
    "table": {"kind": "mrsc", "leader_region": "us-east-1"},
    "control_plane": {"preference": "auto"},
    "agents": {"per_zone": 1, "batch_timeout": 0.25},
    "workload": {"producers_per_zone": 1, "records_per_s": 150, "consumers_per_region": 1},
}
KINDS = [
    "region-outage", "control-plane-outage", "data-plane-outage", "zone-outage",
    "bucket-unavailable", "bucket-slow", "bucket-errors", "table-unavailable", "table-slow",
    "table-errors", "table-leader-lost", "partition", "link-degradation",
    "control-plane-crash-loop", "control-plane-slow", "bad-deploy", "clock-skew", "load-spike",
    "producers-move", "consumers-move", "pin-preferred", "auto-preference",
]  # fmt: skip
DATA = ("lost-region",)  # the data-destroying variant of region-outage, counted apart


def _fault(r: random.Random, kind: str, destroy: bool) -> dict:
    """One fault of ``kind`` with drawn timing, target and severity (soft or hard)."""
    at = round(r.uniform(15, 75), 1)
    dur = round(r.choice([r.uniform(2, 10), r.uniform(10, 40)]), 1)
    tgt = r.choice(TARGETS)
    f: dict = {"kind": kind, "at": at, "duration": dur, "target": tgt}
    r.choice(REGIONS)  # (keeps the draws of the recorded campaigns)
    if kind == "region-outage" and destroy:
        f["data"] = "destroyed"
        del f["duration"]
    elif kind == "zone-outage":
        f["zone"] = r.choice("abc")
    elif kind in ("bucket-slow", "table-slow", "control-plane-slow"):
        f["add"] = r.choice([0.005, 0.05, 0.5, 2.0])
    elif kind in ("bucket-errors", "table-errors"):
        f["rate"] = r.choice([0.05, 0.3, 0.9])
    elif kind == "table-leader-lost":
        del f["target"]
    elif kind == "link-degradation":
        f["target"] = r.choice(REGIONS)
        f["peer"] = r.choice([x for x in REGIONS if x != f["target"]])
        f["delay"] = r.choice([0.02, 0.2])
        f["loss"] = r.choice([0.01, 0.2])
    elif kind == "partition":
        f["target"] = r.choice(TARGETS)
    elif kind == "control-plane-crash-loop":
        f["down"], f["up"] = r.choice([2, 6]), r.choice([1, 3])
    elif kind == "bad-deploy":
        f.update(step=2, bake=5, detect_after=None)
    elif kind == "clock-skew":
        f["offset"] = r.choice([-2.0, -0.5, 0.5, 2.0])
    elif kind == "load-spike":
        f["target"] = r.choice(REGIONS)
        f["multiplier"] = r.choice([1.5, 3.0])
    elif kind in ("producers-move", "consumers-move"):
        f["target"] = r.choice(REGIONS)
        f["to"] = r.choice([x for x in REGIONS if x != f["target"]])
    elif kind == "pin-preferred":
        f["target"] = r.choice(REGIONS)
    elif kind == "auto-preference":
        del f["target"]
    return f


def generate(seed: int, budget: str = "survivable", mutant: str | None = None) -> dict:
    """A scenario (plain mapping) with a short fault schedule drawn from ``seed``."""
    from sim.scenario import Scenario

    r = random.Random(seed)
    enabled = r.sample(KINDS + list(DATA), r.randint(1, 5))  # swarm: a subset of kinds
    n = r.choice([1, 1, 2, 2, 3, 3, 4])
    destroyed = 0
    faults = []
    for _ in range(n):
        k = r.choice(enabled)
        destroy = k == "lost-region"
        if destroy:
            if budget == "survivable" and destroyed >= 1:
                continue
            destroyed += 1
            k = "region-outage"
        faults.append(_fault(r, k, destroy))
    sc = {**BASE, "name": f"fuzz-{seed}", "faults": faults}
    if mutant:
        sc["mutant"] = mutant
    while True:  # drop what the schema refuses (valid by construction afterwards)
        try:
            Scenario.model_validate(sc)
            return sc
        except Exception:
            if not sc["faults"]:
                raise
            sc["faults"] = sc["faults"][:-1]


SITUATIONS = ("leader change", "lost region", "retried batch", "retry of a committed batch",
              "fenced commit", "commit conflict", "records lost beyond the budget")  # fmt: skip


def _situations(summary: dict, destroyed: int) -> list[str]:
    """The invariants' preconditions this run reached (a leader change, a lost region, ...)."""
    rec, md = summary["records"], summary["metadata"]
    hit = {
        "leader change": summary["leader"]["changes"] > 0,
        "lost region": destroyed > 0,
        "retried batch": summary["requests"]["retries"] > 0,
        "retry of a committed batch": rec["deduplicated"] + rec["duplicated"] > 0,
        "fenced commit": md["fenced_commits"] > 0,
        "commit conflict": md["conflicts"] > 0,
        "records lost beyond the budget": rec["lost_acked"] > 0,
    }
    return [k for k in SITUATIONS if hit[k]]


def forbidden(checks: dict, destroyed: int, budget: int) -> list[str]:
    """The failed checks the design does not allow; ``recovers`` is owed only within the
    survivable budget (``budget`` regions destroyed)."""
    bad = [n for n, c in checks.items() if not c["ok"]]
    if destroyed > budget and "recovers" in bad:
        bad.remove("recovers")
    return bad


def _determinism(scenario: dict, seed: int) -> tuple[bool, str]:
    import tempfile

    from sim.ensemble.determinism import check

    with tempfile.TemporaryDirectory(prefix="sim-fuzz-") as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False))
        return check(str(path), int(seed))


def fuzz_task(scenario: dict, seed: int, determinism: bool = False) -> dict:
    """One fuzzed run: its forbidden anomalies, what it reached, which faults fired."""
    from sim.run.runner import run
    from sim.scenario import Scenario

    t0 = time.perf_counter()
    sc = Scenario.model_validate(scenario)
    res = run(sc, int(seed))
    checks = res.summary["checks"]
    destroyed = len(res.topology.get("destroyed", []))
    bad = forbidden(checks, destroyed, len(sc.topology.regions) - sc.storage.quorum)
    row = {
        "seed": int(seed),
        "forbidden": bad,
        "details": {n: checks[n]["detail"] for n in bad},
        "reached": [n for n, c in checks.items() if c["checked"]],
        "fired": sorted(
            {f["kind"] + (":destroyed" if f.get("destroys_data") else "") for f in res.faults}
        ),  # fmt: skip
        "situations": _situations(res.summary, destroyed),
        "lost_acked": res.summary["records"]["lost_acked"],
        "wall_s": time.perf_counter() - t0,
    }
    if determinism and not bad:
        same, detail = _determinism(scenario, int(seed))
        row["determinism"] = {"same": same, "detail": detail}
    return row


def _fails(sc: dict, seed: int, names: set[str]) -> bool:
    row = fuzz_task(sc, seed)
    return bool(names & set(row["forbidden"]))


def size(sc: dict) -> tuple[int, float]:
    """A schedule's size: (faults, fault-seconds; a permanent fault counts to the run's end)."""
    fs = sc.get("faults", [])
    end = sc["run"]["duration"]
    secs = sum(f["duration"] if f.get("duration") else end - f["at"] for f in fs)
    return len(fs), round(secs, 1)


def shrink(sc: dict, seed: int, names: set[str], max_steps: int = 60) -> tuple[dict, int]:
    """The smallest schedule found that still shows one of ``names``: faults first (remove one,
    merge two of a kind), then timing (shorten, move later); returns (scenario, steps tried)."""
    from sim.scenario import Scenario

    best = dict(sc, faults=[dict(f) for f in sc["faults"]])
    steps = 0
    end = sc["run"]["duration"]

    def attempt(cand_faults) -> bool:
        nonlocal best, steps
        if steps >= max_steps:
            return False
        cand = dict(best, faults=cand_faults)
        try:
            Scenario.model_validate(cand)
        except Exception:
            return False
        steps += 1
        if _fails(cand, seed, names):
            best = cand
            return True
        return False

    changed = True
    while changed and steps < max_steps:
        changed = False
        fs = best["faults"]
        for i in range(len(fs)):  # remove one
            if attempt(fs[:i] + fs[i + 1 :]):
                changed = True
                break
        if changed:
            continue
        for i in range(len(fs)):  # merge two of a kind into one spanning both
            for j in range(i + 1, len(fs)):
                a, b = fs[i], fs[j]
                if a["kind"] != b["kind"] or not a.get("duration") or not b.get("duration"):
                    continue
                lo = min(a["at"], b["at"])
                hi = max(a["at"] + a["duration"], b["at"] + b["duration"])
                m = dict(a, at=lo, duration=round(hi - lo, 1))
                if attempt([f for k, f in enumerate(fs) if k not in (i, j)] + [m]):
                    changed = True
                    break
            if changed:
                break
        if changed:
            continue
        for i, f in enumerate(fs):  # shorten, then move later
            if f.get("duration", 0) and f["duration"] > 1.0:
                g = dict(f, duration=round(f["duration"] / 2, 1))
                if attempt(fs[:i] + [g] + fs[i + 1 :]):
                    changed = True
                    break
            if f["at"] + 10 < end - 60:
                g = dict(f, at=round(f["at"] + 10, 1))
                if attempt(fs[:i] + [g] + fs[i + 1 :]):
                    changed = True
                    break
    return best, steps


def write_scenario(sc: dict, path: Path, seed: int, note: str) -> None:
    body = dict(sc)
    body["run"] = dict(body["run"], seed=int(seed))
    path.write_text(f"# {note}\n" + yaml.safe_dump(body, sort_keys=False))


# -- targeted mode -----------------------------------------------------------------------------
def holders(scenario: dict, seed: int, rng: random.Random) -> dict:
    """A first run of ``scenario`` without faults: an acknowledged record picked with ``rng``,
    when it was acknowledged, the regions of the buckets holding its file, and the table
    replicas that held its metadata batch."""
    from sim.ledger import ACKED
    from sim.ledger.records import PUT_OK, PUT_PREDICTED
    from sim.run.runner import run
    from sim.scenario import Scenario

    res = run(Scenario.model_validate(dict(scenario, faults=[])), int(seed))
    req = res.requests
    acked = req[(req["status"] == ACKED) & (req["ack_s"] > 15.0) & (req["ack_s"] < 40.0)]
    r = acked.iloc[rng.randrange(len(acked))]
    f = res.files.set_index("file_id").loc[int(r["ack_file"])]
    buckets = [
        b for b in res.scenario.topology.regions
        if f.get(f"put_state[{b}]") in (PUT_OK, PUT_PREDICTED)
    ]  # fmt: skip
    bt = res.batches.set_index("batch_id").loc[int(f["batch_id"])]
    reps = [x for x in str(bt["holders"]).split(",") if x]
    return {"request_id": int(r["request_id"]), "ack_s": float(r["ack_s"]),
            "file_id": int(r["ack_file"]), "buckets": buckets, "table_replicas": reps}  # fmt: skip


def targeted(seed: int, budget: str = "survivable", mutant: str | None = None) -> tuple[dict, dict]:
    """A scenario whose faults aim at exactly the buckets and table replicas that hold one
    acknowledged record of a first run (see ``holders``); returns (scenario, what was aimed at)."""
    r = random.Random(seed)
    base = {**BASE, "name": f"fuzz-targeted-{seed}", "faults": []}
    if mutant:
        base["mutant"] = mutant
    h = holders(base, seed, r)
    t = round(h["ack_s"] + r.uniform(0.5, 20.0), 1)
    faults = []
    sites = list(dict.fromkeys(h["buckets"] + h["table_replicas"]))
    r.shuffle(sites)
    n_destroy = 1 if budget == "survivable" else r.choice([1, 2])
    for k, region in enumerate(sites):
        if k < n_destroy:
            faults.append({"kind": "region-outage", "at": t, "target": region,
                           "data": "destroyed"})  # fmt: skip
            continue
        dur = round(r.uniform(5, 40), 1)
        at = round(t + r.uniform(0, 10), 1)
        if region in h["buckets"]:
            faults.append({"kind": r.choice(["bucket-unavailable", "bucket-slow"]), "at": at,
                           "duration": dur, "target": region})  # fmt: skip
            if faults[-1]["kind"] == "bucket-slow":
                faults[-1]["add"] = r.choice([0.5, 2.0])
        if region in h["table_replicas"]:
            faults.append({"kind": r.choice(["table-unavailable", "table-slow"]), "at": at,
                           "duration": dur, "target": region})  # fmt: skip
            if faults[-1]["kind"] == "table-slow":
                faults[-1]["add"] = r.choice([0.5, 2.0])
    base["faults"] = faults
    return base, h


def targeted_task(seed: int, budget: str, mutant: str | None, determinism: bool) -> dict:
    sc, h = targeted(seed, budget, mutant)
    row = fuzz_task(sc, seed, determinism)
    row["scenario"] = sc
    row["target"] = h
    return row


def campaign(
    runs: int, seed: int = 1, budget: str = "survivable", mutant: str | None = None,
    out: str | Path = "results/fuzz", engine=None, determinism_share: float = 0.05,
    stop_at_first: bool = True, shrink_steps: int = 60, log=print, target: bool = False,
) -> dict:  # fmt: skip
    """Run ``runs`` fuzzed schedules (``target``: targeted ones); returns a report
    (violations, coverage, counts)."""
    from sim.ensemble.engine import InProcess, Task

    engine = engine or InProcess()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tasks = []
    every = max(1, round(1 / determinism_share)) if determinism_share > 0 else 0
    for i in range(runs):
        s = seed + i
        det = every > 0 and i % every == every - 1
        if target:
            tasks.append(Task(f"fuzz-targeted-{s}", targeted_task, (s, budget, mutant, det)))
        else:
            tasks.append(Task(f"fuzz-{s}", fuzz_task, (generate(s, budget, mutant), s, det)))
    scen = {t.key: t.args[0] for t in tasks if not target}
    names = list(_CHECK_NAMES)
    fired: dict[str, int] = {}
    reached: dict[str, int] = {n: 0 for n in names}
    pre = {k: 0 for k in SITUATIONS}
    done = errors = 0
    det_runs = det_bad = 0
    violations = []
    lost_beyond = 0
    for task, row, err in engine.run(tasks):
        done += 1
        if err:
            errors += 1
            log(f"run {task.key} raised:\n{err}")
            continue
        for k in row["fired"]:
            fired[k] = fired.get(k, 0) + 1
        for n in row["reached"]:
            reached[n] = reached.get(n, 0) + 1
        for k in row["situations"]:
            pre[k] += 1
        lost_beyond += row["lost_acked"] if not row["forbidden"] else 0
        if "determinism" in row:
            det_runs += 1
            if not row["determinism"]["same"]:
                det_bad += 1
                log(f"NOT DETERMINISTIC: seed {row['seed']}: {row['determinism']['detail']}")
        if row["forbidden"]:
            sc = row["scenario"] if target else scen[task.key]
            s = row["seed"]
            path = out / f"violation-{s}.yaml"
            label = f"mutant {sc['mutant']}: " if sc.get("mutant") else ""
            write_scenario(sc, path, s, f"seed {s}: {label}{', '.join(row['forbidden'])}")
            log(f"VIOLATION seed {s} (run {done}): {row['details']} -> {path}")
            small, steps = shrink(sc, s, set(row["forbidden"]), shrink_steps)
            mpath = out / f"violation-{s}.min.yaml"
            write_scenario(
                small, mpath, s,
                f"{label}shrunk from {path.name} in {steps} steps: size (faults, fault-seconds) "
                f"{size(sc)} -> {size(small)}",
            )  # fmt: skip
            log(f"  shrunk in {steps} steps: {size(sc)} -> {size(small)} -> {mpath}")
            violations.append(
                {"seed": s, "run": done, "checks": row["forbidden"], "file": str(path),
                 "shrunk": str(mpath), "steps": steps, "size": size(sc),
                 "shrunk_size": size(small)}
            )  # fmt: skip
            if stop_at_first:
                break
    kinds_all = KINDS + ["region-outage:destroyed"]
    if target:
        kinds_all = sorted(fired)
    return {
        "runs": done, "errors": errors, "violations": violations,
        "wall_s": round(time.perf_counter() - t0, 1),
        "fired": {k: fired.get(k, 0) for k in kinds_all},
        "never_fired": [k for k in kinds_all if not fired.get(k)],
        "reached": reached, "never_reached": [n for n, v in reached.items() if not v],
        "preconditions": pre, "never_preconditions": [k for k, v in pre.items() if not v],
        "lost_beyond_budget": lost_beyond,
        "determinism": {"runs": det_runs, "mismatches": det_bad},
    }  # fmt: skip


_CHECK_NAMES = ("lost-write", "duplicate", "inconsistent-offsets", "unseen", "poll-skip",
                "one-committer-per-epoch", "ack-after-quorum-and-commit", "healed", "recovers")  # fmt: skip


def format_report(rep: dict) -> str:
    lines = [f"{rep['runs']} fuzzed run(s) in {rep['wall_s']} s, {len(rep['violations'])} "
             f"violation(s), {rep['errors']} error(s)"]  # fmt: skip
    lines.append(
        "fault kinds fired (runs): " + ", ".join(f"{k} {v}" for k, v in rep["fired"].items())
    )
    lines.append("never fired: " + (", ".join(rep["never_fired"]) or "none"))
    lines.append("invariant checks whose precondition was reached (runs): "
                 + ", ".join(f"{k} {v}" for k, v in rep["reached"].items()))  # fmt: skip
    lines.append("never reached: " + (", ".join(rep["never_reached"]) or "none"))
    lines.append(
        "situations (runs): " + ", ".join(f"{k} {v}" for k, v in rep["preconditions"].items())
    )
    lines.append("situations never reached: " + (", ".join(rep["never_preconditions"]) or "none"))
    if rep["lost_beyond_budget"]:
        lines.append(f"records lost beyond the survivable budget (allowed, counted): "
                     f"{rep['lost_beyond_budget']:,}")  # fmt: skip
    d = rep["determinism"]
    lines.append(f"determinism re-runs: {d['runs']}, mismatches {d['mismatches']}")
    return "\n".join(lines)
