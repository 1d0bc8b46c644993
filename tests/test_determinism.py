"""The determinism self-check: two processes with different hash seeds give the same tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from sim.ensemble.determinism import _first_difference, check_many, compressed, digest

ROOT = Path(__file__).resolve().parent.parent


def test_check_determinism_passes_on_a_shipped_scenario():
    cmd = [sys.executable, "-m", "sim", "run", str(ROOT / "scenarios" / "nuke-leader-region.yaml"),
           "--set", "run.duration=40s", "--set", "faults.0.at=20s", "--check-determinism"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok: 10 tables and the summary identical" in res.stdout


def test_a_mismatch_names_the_first_differing_record(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    x = pd.DataFrame({"request_id": [0, 1, 2], "ack_s": [1.0, 2.0, 3.0]})
    y = x.copy()
    y.loc[1, "ack_s"] = 2.5
    x.to_parquet(a / "requests.parquet")
    y.to_parquet(b / "requests.parquet")
    assert digest(x) != digest(y) and digest(x) == digest(x.copy())
    assert _first_difference(a, b, "requests") == "requests: row 1, ack_s: 2.0 != 2.5"


def test_every_shipped_scenario_is_deterministic_across_processes():
    """Every shipped scenario, its faults squeezed into 90 s: the same tables and summary in two
    processes with different hash seeds (benchmarks/determinism_all.py checks them whole)."""
    shipped = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert len(shipped) >= 20
    texts = {p.stem: compressed(p) for p in shipped}
    results = check_many(texts, seed=1, timeout=900)
    bad = {name: detail for name, (ok, detail) in results.items() if not ok}
    assert not bad, bad


def test_a_compressed_scenario_keeps_its_faults_inside_the_window():
    text = compressed(ROOT / "scenarios" / "leader-switch-every-30m.yaml", window_s=90)
    import yaml

    d = yaml.safe_load(text)
    assert d["run"]["duration"] == 90
    (f,) = d["faults"]
    assert f["kind"] == "pin-preferred" and f["at"] == 20 and f["every"] == 30
