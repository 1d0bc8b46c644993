"""P(month > 26 s) against the failover timings (issue 11): the sweep reruns the incident windows
with each setting, and a longer lease shows as a longer stall in every month."""

import csv
import json

from sim.ensemble.availability import load_incidents
from sim.ensemble.availability.failover import failover_sweep, settings
from sim.ensemble.engine import InProcess
from sim.scenario import load_scenario

HEADER = ["class", "scope", "gamma_shape", "gamma_rate", "duration_median_min", "duration_sigma",
          "durations_min", "joint", "basis", "source", "notes"]  # fmt: skip


def test_settings_cover_every_value_and_keep_the_designs_own():
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    rows = settings(base, {("control_plane", "lease_duration"): (2.0, 5.0)})
    assert [(s, v) for s, v, _ in rows] == [("control_plane.lease_duration", 2.0),
                                            ("control_plane.lease_duration", 5.0)]  # fmt: skip
    assert rows[0][2]["control_plane"]["lease_duration"] == 2.0 and rows[1][2] == base


def test_a_longer_lease_raises_the_downtime_and_the_26s_breaches(tmp_path):
    path = tmp_path / "inc.csv"
    with open(path, "w", newline="") as f:  # about five one-minute leader outages a month
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerow(["region_outage", "region", "20", "1", "1.0", "0.1", "", "True", "t", "", ""])
    base = load_scenario("scenarios/multi-region.yaml").model_dump(mode="json")
    doc = failover_sweep("multi-region", base, load_incidents(path), tmp_path / "av",
                         engine=InProcess(), years=2, runs_per_class=2,
                         timings={("control_plane", "lease_duration"): (2.0, 20.0)})  # fmt: skip
    short, long_ = doc["rows"]
    # incident windows cycle the cluster's regions, so about a third of the outages hit the
    # leader's region and stall for the lease: at least 10 s more a month at 20 s than at 2 s
    assert long_["mean_downtime_s"] > short["mean_downtime_s"] + 10
    assert long_["p26"] > short["p26"] and short["lo"] < short["p26"] < short["hi"]
    saved = json.loads((tmp_path / "av" / "failover.json").read_text())
    assert [r["value_s"] for r in saved["rows"]] == [2.0, 20.0]
    assert (tmp_path / "av" / "p26_vs_failover.png").stat().st_size > 0


def test_cli_refuses_a_failover_sweep_of_several_designs_and_a_bad_validate(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def sim(*args):
        return subprocess.run(
            [sys.executable, "-m", "sim.cli", "availability", *args, "--out", str(tmp_path / "x")],
            cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip

    p = sim("scenarios/single-region.yaml", "scenarios/multi-region.yaml", "--failover-sweep")
    assert p.returncode == 2 and "--failover-sweep: expected one scenario" in p.stderr
    p = sim("scenarios/single-region.yaml", "--validate", "0")
    assert p.returncode == 2 and "--validate: expected a whole number" in p.stderr
    assert not (tmp_path / "x").exists()
