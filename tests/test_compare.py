"""sim compare: paired runs of two designs on the same seeds, and the statistics of the table."""

from __future__ import annotations

import json
import math

import pytest

from sim.cli import main
from sim.ensemble import compare as cmp
from sim.scenario import load_scenario

THREE_REGIONS = """
name: {name}
run: {{duration: 120s, seed: 5}}
topology: {{regions: [us-east-1, us-east-2, us-west-2]}}
table: {{kind: mrsc, leader_region: us-east-2}}
control_plane: {{preference: us-east-2}}
{storage}
faults:
  - {{kind: region-outage, target: us-east-1, at: 60s, data: destroyed}}
"""


def _write(tmp_path, name: str, storage: str = "") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(THREE_REGIONS.format(name=name, storage=storage))
    return str(path)


def test_compare_against_itself_is_exactly_zero(tmp_path, capsys):
    """A scenario compared with itself gives differences and CI bounds of exactly zero."""
    a = _write(tmp_path, "quorum", "storage: {quorum: 2}")
    out = tmp_path / "out"
    rc = main(
        ["compare", a, a, "--seeds", "2", "--duration", "70s", "--out", str(out), "--quiet"]
        + ["--workers", "0"]
    )
    assert rc == 0
    (folder,) = out.iterdir()
    assert folder.name.startswith("compare-quorum-vs-quorum-")
    doc = json.loads((folder / "compare.json").read_text())
    assert doc["seeds"] == [5, 6]
    assert doc["duration_s"] == {"a": 70.0, "b": 70.0}
    for m in doc["metrics"]:
        assert m["a"] == m["b"], m["key"]
        assert m["diff_mean"] in (0.0, None), m["key"]
        if m["diff_mean"] is not None:
            assert m["diff_ci95"] == [0.0, 0.0], m["key"]
    for name in doc["plots"] + ["compare.txt", "scenario-A.yaml", "scenario-B.yaml"]:
        assert (folder / name).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "95% CI of B - A" in printed and str(folder) in printed


def test_single_bucket_loses_data_quorum_does_not(tmp_path):
    """Under a region loss, a 2-of-3 quorum loses no acked record and a single bucket there does."""
    quorum = load_scenario(_write(tmp_path, "quorum-2of3", "storage: {quorum: 2}"))
    single = load_scenario(
        _write(tmp_path, "single-bucket", "storage: {regions: [us-east-1], quorum: 1}")
    )
    res = cmp.compare(quorum, single, 1)
    lost = next(m for m in res["metrics"] if m["key"] == "lost_acked_records")
    assert lost["a"] == [0.0]
    assert lost["b"][0] > 0
    assert lost["diff_ci95"] is None  # one seed: no interval
    assert "one seed: no confidence interval" in cmp.format_table(res)


def test_bad_scenario_exits_2_and_writes_nothing(tmp_path, capsys):
    """A bad scenario (or override) makes `sim compare` exit 2 with the problem and no folder."""
    good = _write(tmp_path, "good", "storage: {quorum: 2}")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstorage: {quorum: 7}\n")
    out = tmp_path / "out"
    assert main(["compare", good, str(bad), "--out", str(out), "--quiet"]) == 2
    assert "quorum" in capsys.readouterr().err
    assert main(["compare", good, good, "--set", "run.duration=soon", "--out", str(out)]) == 2
    assert main(["compare", good, good, "--seeds", "0", "--out", str(out)]) == 2
    assert not out.exists()


def test_t975_table_and_expansion():
    """The t quantile matches the standard table and approaches the normal 1.96 for large df."""
    assert cmp.t975(1) == 12.706 and cmp.t975(10) == 2.228 and cmp.t975(30) == 2.042
    assert abs(cmp.t975(60) - 2.000) < 1e-3
    assert abs(cmp.t975(120) - 1.980) < 1e-3
    assert abs(cmp.t975(10**6) - 1.95997) < 1e-4
    values = [cmp.t975(df) for df in range(1, 400)]
    assert all(x > y for x, y in zip(values, values[1:], strict=False))


def test_t975_matches_scipy():
    """Where scipy is installed, t975 agrees with scipy.stats.t.ppf(0.975) to 1e-3."""
    stats = pytest.importorskip("scipy.stats")
    for df in list(range(1, 60)) + [75, 100, 250, 1000]:
        assert abs(cmp.t975(df) - stats.t.ppf(0.975, df)) < 1e-3


def test_paired_interval():
    """The paired CI is mean(B - A) +- t * sd / sqrt(n), skipping seeds with a missing value."""
    r = cmp.paired([1.0, 2.0, 3.0, None], [2.0, 4.0, 3.0, 9.0])
    d = [1.0, 2.0, 0.0]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    half = cmp.t975(2) * sd / math.sqrt(3)
    assert r["pairs"] == 3 and r["diff_mean"] == pytest.approx(mean)
    assert r["diff_ci95"] == pytest.approx([mean - half, mean + half])
    assert r["a_mean"] == pytest.approx(2.0) and r["b_mean"] == pytest.approx(4.5)
    one = cmp.paired([1.0], [1.5])
    assert one["diff_mean"] == 0.5 and one["diff_ci95"] is None
