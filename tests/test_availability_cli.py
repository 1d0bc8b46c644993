"""`sim availability` through a real subprocess (issue 11): JSON layout, cache reuse, bad input."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["class", "scope", "gamma_shape", "gamma_rate", "duration_median_min", "duration_sigma",
          "durations_min", "joint", "basis", "source", "notes"]  # fmt: skip


def _incidents(path: Path, rate_cell: str = "1.0") -> Path:
    rows = [
        # 50 region outages per region-year of about a minute: several a month
        ["region_outage", "region", "50", rate_cell, "1.0", "0.2", "", "False", "test", "", ""],
        ["az_outage", "region", "0", "1", "1.0", "0.2", "", "False", "zero rate", "", ""],
    ]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _refuse(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _sim(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", "availability", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_availability_cli_writes_the_report_and_reuses_its_outcomes(tmp_path):
    inc = _incidents(tmp_path / "inc.csv")
    out = tmp_path / "av"
    args = ["scenarios/single-region.yaml", "--years", "20", "--incidents", str(inc),
            "--out", str(out), "--runs", "2", "--workers", "0", "--quiet"]  # fmt: skip
    p = _sim(*args)
    assert p.returncode == 0, p.stderr
    assert "single-region" in p.stdout and "nines" in p.stdout
    doc = json.loads((out / "availability.json").read_text(), parse_constant=_refuse)
    s = doc["designs"]["single-region"]
    for key in ("nines", "lost_acked_per_year"):
        assert set(s[key]) >= {"estimate", "ci95", "ci95_sim", "ci95_rates"}
    assert set(s["monthly_downtime_s"]) >= {"mean", "p50", "p90", "p99"}
    assert set(s["p_month_over_s"]) == {"26", "259"}
    assert doc["years"] >= 20 and doc["seed"] == 1 and doc["wall_time_s"] > 0
    # the single region's outages are downtime (the clients' side); the zero-rate class is not
    assert s["downtime_by_class_s"]["region_outage"] > 0
    assert s["downtime_by_class_s"]["az_outage"] == 0.0
    assert s["availability"]["sla_5min"] < 1.0 and s["availability"]["request_based"] < 1.0
    for png in ("monthly_downtime.png", "downtime_by_class.png"):
        assert (out / png).stat().st_size > 0
    cache = out / "outcomes.parquet"
    before = cache.stat().st_mtime_ns
    p2 = _sim(*args)
    assert p2.returncode == 0, p2.stderr
    assert cache.stat().st_mtime_ns == before  # every incident run reused
    doc2 = json.loads((out / "availability.json").read_text())
    for d in (doc, doc2):  # the same seed gives the same figures; only the wall time differs
        d["designs"]["single-region"].pop("wall_time_s")
    assert doc2["designs"] == doc["designs"]


def test_availability_cli_bad_input_exits_2_naming_the_problem(tmp_path):
    out = tmp_path / "av"
    p = _sim("scenarios/single-region.yaml", "--years", "0", "--out", str(out))
    assert p.returncode == 2 and "--years" in p.stderr and "Traceback" not in p.stderr
    inc = _incidents(tmp_path / "inc.csv", rate_cell="abc")
    p = _sim("scenarios/single-region.yaml", "--incidents", str(inc), "--out", str(out))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{inc}: line 2: gamma_rate: expected a number >= 0, got 'abc'" in p.stderr
    assert not out.exists()


def test_availability_json_is_strict_json_even_with_infinite_nines():
    from sim.ensemble.availability.study import strict_json

    doc = {"nines": {"estimate": float("inf"), "ci95": [3.2, float("inf")]}, "x": float("nan")}

    back = json.loads(strict_json(doc), parse_constant=_refuse)
    assert back == {"nines": {"estimate": "inf", "ci95": [3.2, "inf"]}, "x": "nan"}
