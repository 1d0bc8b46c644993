"""The determinism self-check: a run is a pure function of (scenario, seed), so two runs of it in
two processes with different hash seeds must give the same tables, record for record.

``check(scenario, seed)`` runs the scenario in two subprocesses (``PYTHONHASHSEED`` 1 and 2),
each writing its tables to a temporary folder, compares per-table digests, and for the first
table that differs names the first differing record. ``check_many`` does the same for several
scenarios with one child process per hash seed (so the interpreter starts twice, not twice per
scenario); ``compressed`` squeezes a scenario's fault schedule into a short run, so every shipped
scenario's faults can be checked in seconds (``benchmarks/determinism_all.py`` checks them whole).
``python -m sim.ensemble.determinism SCENARIO.yaml SEED OUT_DIR`` (or ``--many MANIFEST.json``)
is the child process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

TABLES = ("requests", "attempts", "files", "batches", "receipts", "leader", "events", "ops",
          "components", "effects")  # fmt: skip


def digest(df: pd.DataFrame) -> str:
    """A digest of a table's values and column names (not of Python's hash)."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def compressed(scenario_path: str | Path, window_s: float = 90.0, overrides=()) -> str:
    """The resolved scenario as YAML with its faults squeezed into a ``window_s`` run: fault i
    starts at 20 + 10 i s, lasts at most 20 s, repeats at most every 30 s; everything else kept.
    (A check of the code paths each scenario's faults take, not of its published figures.)"""
    from sim.scenario import load_scenario
    from sim.scenario.load import to_yaml

    sc = load_scenario(scenario_path, list(overrides))
    d = sc.model_dump(mode="json")
    d["run"]["duration"] = min(float(d["run"]["duration"]), window_s)
    for i, f in enumerate(d.get("faults") or []):
        f["at"] = 20.0 + 10.0 * i
        if f.get("duration") is not None:
            dur = f["duration"]
            f["duration"] = min(max(dur) if isinstance(dur, list) else float(dur), 20.0)
        if f.get("every") is not None:
            f["every"] = min(float(f["every"]), 30.0)
        f["until"] = None
    return to_yaml(type(sc).model_validate(d))


def _child(scenario_yaml: str, seed: int, out: Path) -> None:
    from sim.run.runner import run
    from sim.scenario import load_scenario

    res = run(load_scenario(scenario_yaml), seed)
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in TABLES:
        df = getattr(res, name)
        df.to_parquet(out / f"{name}.parquet", index=False)
        digests[name] = digest(df)
    s = dict(res.summary)
    s.pop("wall_time_s", None)
    s["model"] = {k: v for k, v in s["model"].items() if k != "sim_wall_s"}
    digests["summary"] = hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()
    (out / "digests.json").write_text(json.dumps(digests, indent=1))


def _first_difference(a: Path, b: Path, name: str) -> str:
    x, y = pd.read_parquet(a / f"{name}.parquet"), pd.read_parquet(b / f"{name}.parquet")
    if list(x.columns) != list(y.columns):
        return f"{name}: different columns"
    if len(x) != len(y):
        n = min(len(x), len(y))
    else:
        n = len(x)
    for i in range(n):
        rx, ry = x.iloc[i], y.iloc[i]
        for col in x.columns:
            vx, vy = rx[col], ry[col]
            if not (vx == vy or (pd.isna(vx) and pd.isna(vy))):
                return f"{name}: row {i}, {col}: {vx} != {vy}"
    return f"{name}: {len(x)} rows against {len(y)}"


def check(scenario_path: str, seed: int, timeout: float = 3600.0) -> tuple[bool, str]:
    """Run twice in two processes with different hash seeds: (identical, what differed)."""
    with tempfile.TemporaryDirectory(prefix="sim-determinism-") as tmp:
        outs = [Path(tmp) / "a", Path(tmp) / "b"]
        for hashseed, out in zip(("1", "2"), outs, strict=True):
            env = dict(os.environ, PYTHONHASHSEED=hashseed)
            cmd = [sys.executable, "-m", "sim.ensemble.determinism", scenario_path, str(seed),
                   str(out)]  # fmt: skip
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            if res.returncode != 0:
                tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
                return False, f"the run with PYTHONHASHSEED={hashseed} failed: {tail}"
        return _compare(outs[0], outs[1])


def _compare(a: Path, b: Path) -> tuple[bool, str]:
    da, db = (json.loads((o / "digests.json").read_text()) for o in (a, b))
    for name in (*TABLES, "summary"):
        if da[name] != db[name]:
            if name == "summary":
                return False, "summary.json differs (beyond the wall-clock fields)"
            return False, _first_difference(a, b, name)
    return True, f"{len(TABLES)} tables and the summary identical in two processes"


def check_many(
    scenarios: dict[str, str], seed: int, timeout: float = 3600.0
) -> dict[str, tuple[bool, str]]:
    """``check`` for several scenarios (name -> scenario YAML text): one child process per hash
    seed runs them all; returns name -> (identical, what differed)."""
    with tempfile.TemporaryDirectory(prefix="sim-determinism-") as tmp:
        root = Path(tmp)
        manifest = []
        for i, (name, text) in enumerate(scenarios.items()):
            path = root / f"scenario-{i}.yaml"
            path.write_text(text)
            manifest.append({"name": name, "path": str(path), "out": f"s{i}"})
        (root / "manifest.json").write_text(json.dumps(manifest))
        for hashseed in ("1", "2"):
            env = dict(os.environ, PYTHONHASHSEED=hashseed)
            cmd = [sys.executable, "-m", "sim.ensemble.determinism", "--many",
                   str(root / "manifest.json"), str(seed), str(root / hashseed)]  # fmt: skip
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            if res.returncode != 0:
                tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
                msg = f"the runs with PYTHONHASHSEED={hashseed} failed: {tail}"
                return {m["name"]: (False, msg) for m in manifest}
        return {m["name"]: _compare(root / "1" / m["out"], root / "2" / m["out"]) for m in manifest}


if __name__ == "__main__":
    if sys.argv[1] == "--many":
        for m in json.loads(Path(sys.argv[2]).read_text()):
            _child(m["path"], int(sys.argv[3]), Path(sys.argv[4]) / m["out"])
    else:
        _child(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
