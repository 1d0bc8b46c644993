"""Every value the JSON Schema accepts either runs or is refused cleanly (issue 15).

Values are drawn from the schema's own ranges and their edges (0, the minimum, just above an
exclusive minimum, the maximum, huge) for every numeric field of every section and every
parameter of every fault kind, and given to ``sim run`` on a few simulated seconds, in a
subprocess: it must exit 0 with a complete run folder or 2 with problem lines, never a traceback,
and never hang past the subprocess timeout (the hang bound). A setting the pre-flight estimate
says would take more than ``LONG_S`` is checked to have an estimate, and not run.

CI runs a few examples (profile ``ci``); a campaign is run by hand with
``HYPOTHESIS_PROFILE=campaign SIM_PROPERTY_LOG=/tmp/prop.jsonl pytest tests/test_schema_property.py``
(the log holds every value tried, its outcome and its wall time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import ScenarioError, json_schema, load_scenario
from sim.scenario.estimate import estimate

ROOT = Path(__file__).resolve().parent.parent
settings.register_profile(
    "ci", max_examples=10, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "campaign", max_examples=300, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
HANG_BOUND_S = 240  # a run of 4 simulated seconds takes ~2 s; past this it is a hang
LONG_S = 30  # accepted settings the pre-flight estimate calls longer than this are not run
DURATION_S = 4.0
SCHEMA = json_schema()
DEFS = SCHEMA["$defs"]
HUGE = (1e6, 1e12, 1e300)


def _numeric(prop: dict) -> dict | None:
    """``{"kind": "number"|"integer"|"duration"|"size", "lo":, "hi":, "lo_open":}`` or None."""
    refs = [prop.get("$ref", "")] + [a.get("$ref", "") for a in prop.get("anyOf", [])]
    types = [prop.get("type")] + [a.get("type") for a in prop.get("anyOf", [])]
    if any(r.endswith("/Duration") or r.endswith("/DurationOrRange") for r in refs):
        kind = "duration"
    elif any(r.endswith("/SignedDuration") for r in refs):
        kind = "signed"
    elif any(r.endswith("/Size") for r in refs):
        kind = "size"
    elif "integer" in types:
        kind = "integer"
    elif "number" in types:
        kind = "number"
    else:
        return None
    lo = prop.get("minimum", prop.get("exclusiveMinimum"))
    if lo is None and kind in ("duration", "size"):
        lo = 0
    hi = prop.get("maximum", prop.get("exclusiveMaximum"))
    return {
        "kind": kind,
        "lo": lo,
        "hi": hi,
        "lo_open": "exclusiveMinimum" in prop,
        "hi_open": "exclusiveMaximum" in prop,
    }


def _fields() -> list[tuple[str, dict]]:
    """(dotted key, numeric description) of every numeric key of every section."""
    out = []
    for section, ref in SCHEMA["properties"].items():
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        for key, prop in DEFS.get(name, {}).get("properties", {}).items():
            num = _numeric(prop)
            if num is not None:
                out.append((f"{section}.{key}", num))
    return out


def _fault_kinds() -> dict[str, dict[str, dict]]:
    """Every fault kind with its numeric parameters (``at`` and friends included)."""
    items = SCHEMA["properties"]["faults"]["items"]
    out = {}
    for alt in items.get("oneOf", items.get("anyOf", [])):
        d = DEFS[alt["$ref"].rsplit("/", 1)[-1]]
        kind = d["properties"]["kind"]["const"]
        out[kind] = {k: n for k, p in d["properties"].items() if (n := _numeric(p)) is not None}
    return out


FIELDS = _fields()
KINDS = _fault_kinds()


def values(num: dict) -> st.SearchStrategy:
    """Edges and draws from a numeric field's accepted range."""
    lo, hi = num["lo"], num["hi"]
    edges = [0, 1, *HUGE]
    if lo is not None:
        edges += [lo, lo + 1e-9 if num["lo_open"] else lo]
    if hi is not None:
        edges += [hi, hi - 1e-9 if num["hi_open"] else hi]
    if num["kind"] == "signed":
        edges += [-1, -1e6]
    if num["kind"] in ("integer", "size"):
        edges = [int(e) for e in edges if abs(e) < 2**62]
        inside = st.integers(
            min_value=int(lo) if lo is not None else -(10**6),
            max_value=int(hi) if hi is not None else 10**6,
        )
    else:
        inside = st.floats(
            min_value=lo if lo is not None else -1e6,
            max_value=hi if hi is not None else 1e6,
            allow_nan=False,
            allow_infinity=False,
        )
    return st.one_of(st.sampled_from(edges), inside)


@st.composite
def settings_(draw) -> dict:
    """One or two section fields and, most of the time, one fault with drawn parameters."""
    out: dict = {"set": {}, "fault": None}
    for _ in range(draw(st.integers(0, 2))):
        key, num = draw(st.sampled_from(FIELDS))
        out["set"][key] = draw(values(num))
    if draw(st.booleans()) or not out["set"]:
        kind = draw(st.sampled_from(sorted(KINDS)))
        fault: dict = {"kind": kind, "at": 1.0}
        params = KINDS[kind]
        for name in draw(st.lists(st.sampled_from(sorted(params)), max_size=3, unique=True)):
            fault[name] = draw(values(params[name]))
        if kind in ("producers-move", "consumers-move"):
            fault["to"] = "us-west-2"
            fault.setdefault("target", "us-east-1")
        if kind == "link-degradation":
            fault["peer"] = "us-west-2"
            fault.setdefault("target", "us-east-1")
        if kind == "partition" and draw(st.booleans()):
            fault["mode"] = "groups"
            fault["groups"] = [["us-east-1"], ["us-east-2", "us-west-2"]]
        out["fault"] = fault
    return out


def _scenario(tmp: Path, s: dict) -> Path:
    text = {
        "name": "prop",
        "run": {"duration": DURATION_S, "seed": 3, "warmup": 1.0},
        "faults": [s["fault"]] if s["fault"] else [],
    }
    p = tmp / "prop.yaml"
    p.write_text(json.dumps(text))  # JSON is YAML
    return p


@given(s=settings_())
def test_every_accepted_value_runs_or_is_refused_cleanly(s, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prop")
    path = _scenario(tmp, s)
    sets = []
    for k, v in s["set"].items():
        sets += ["--set", f"{k}={json.dumps(v)}"]
    out = tmp / "out"
    log = os.environ.get("SIM_PROPERTY_LOG")
    try:
        sc = load_scenario(path, [f"{k}={json.dumps(v)}" for k, v in s["set"].items()])
    except ScenarioError:
        sc = None  # refused: the CLI must say so cleanly (checked below)
    if sc is not None:
        # an accepted setting whose estimate is long (many consumers, a huge duration) is not run
        # here: the estimate, printed before every run, is what the user sees of its cost
        est = estimate(sc, available=None)
        assert est.line().startswith("estimate: ")
        if est.seconds > LONG_S:
            if log:
                with open(log, "a") as f:
                    f.write(json.dumps({"setting": s, "rc": "long", "estimate": est.line()}) + "\n")
            return
    cmd = [sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "--quiet",
           "--no-plots", *sets]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=HANG_BOUND_S, env=env, cwd=tmp
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: past {HANG_BOUND_S} s with {s}")
    wall = time.perf_counter() - t0
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"setting": s, "rc": res.returncode, "wall_s": round(wall, 2),
                                "err": res.stderr.strip().splitlines()[-1:]}) + "\n")  # fmt: skip
    assert "Traceback" not in res.stderr, (s, res.stderr[-3000:])
    assert res.returncode in (0, 2), (s, res.returncode, res.stderr[-3000:])
    runs = [p for p in (out / "prop").iterdir()] if (out / "prop").exists() else []
    if res.returncode == 2:
        assert res.stderr.strip(), s
        assert not runs, (s, runs)  # refused: nothing written
    else:
        (run,) = runs
        assert json.loads((run / "run.json").read_text())["status"] == "complete"
