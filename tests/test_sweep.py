"""sim sweep: plans, seeds, engines, resume, failures, confidence intervals, sensitivity, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.core.stats import mean_ci
from sim.ensemble import compare as cmp
from sim.ensemble.engine import DaskEngine, InProcess, Task
from sim.ensemble.sweep import WALL_COLUMNS, run_sweep
from sim.ensemble.sweepfile import load_sweep, quick_sweep, seed_for
from sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parent.parent

# A leader loss on a light workload: 30 simulated seconds, a fraction of a second of wall time.
TINY = """
name: tiny-leader-loss
run: {duration: 30s, seed: 3, warmup: 2s}
table: {kind: mrsc, leader_region: us-east-1}
control_plane: {preference: us-east-1}
workload: {records_per_s: 200}
faults:
  - {kind: region-outage, target: us-east-1, at: 10s, data: destroyed}
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    return p


def _sweep_file(tmp_path: Path, body: str, name: str = "sw.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


GRID = """
name: grid
base: tiny.yaml
parameters:
  - key: table.leader_failover
    values: [3s, 12s]
  - key: workload.poll_interval
    values: [200ms, 800ms]
replicates: 2
keep: [unavailable_s, e2e_p50_ms, lost_acked_records]
"""


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster of 2 worker processes, shared by the tests that need one."""
    with DaskEngine(workers=2) as eng:
        yield eng


def _no_wall(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in WALL_COLUMNS if c in df.columns])


# -- seeds ------------------------------------------------------------------------------------------
def test_seeds_come_from_the_sweep_not_the_workers():
    """A run's seed is a pure function of (root, point, replicate); common random numbers share
    replicate r's seed across points; every other seed is distinct."""
    assert seed_for(1, 3, 2, False) == seed_for(1, 3, 2, False)
    seeds = {seed_for(1, p, r, False) for p in range(20) for r in range(20)}
    assert len(seeds) == 400
    assert all(0 <= s < 2**63 for s in seeds)
    assert seed_for(1, 0, 4, True) == seed_for(1, 7, 4, True) != seed_for(1, 7, 5, True)
    assert seed_for(2, 0, 0, False) != seed_for(1, 0, 0, False)
    # spawned children of SeedSequence(root), as numpy documents for parallel streams
    child = np.random.SeedSequence(1).spawn(4)[3].spawn(3)[2]
    hi, lo = (int(x) for x in child.generate_state(2, dtype=np.uint32))
    assert seed_for(1, 3, 2, False) == ((hi << 32) | lo) & (2**63 - 1)


def test_plan_of_a_grid(tmp_path, tiny):
    """A grid is every combination of the lists, for each replicate, with resolved values."""
    plan = load_sweep(_sweep_file(tmp_path, GRID))
    assert len(plan.points) == 4 and len(plan.runs) == 8
    assert plan.points[1].values == {
        "table.leader_failover": "3s",
        "workload.poll_interval": "800ms",
    }
    assert plan.points[1].resolved == {"table.leader_failover": 3.0, "workload.poll_interval": 0.8}
    assert plan.points[3].scenario["table"]["leader_failover"] == 12.0
    assert len({r.key for r in plan.runs}) == 8
    # the seed of (point, replicate) does not depend on how many replicates there are
    more = load_sweep(_sweep_file(tmp_path, GRID), replicates=5)
    assert [r.seed for r in more.runs if r.replicate < 2] == [r.seed for r in plan.runs]


# -- engines ----------------------------------------------------------------------------------------
def test_in_process_and_local_cluster_give_identical_rows(tmp_path, tiny, cluster):
    """The same sweep in this process and on a 2-worker LocalCluster: identical rows (apart from
    wall-clock times), in the same order."""
    plan = load_sweep(_sweep_file(tmp_path, GRID))
    a = run_sweep(plan, tmp_path / "inproc", engine=InProcess(), quiet=True, analyse=False)
    b = run_sweep(plan, tmp_path / "dask", engine=cluster, quiet=True, analyse=False)
    assert len(a.table) == 8 and (a.table["status"] == "ok").all()
    pd.testing.assert_frame_equal(_no_wall(a.table), _no_wall(b.table))
    assert a.table["unavailability.total_s"].gt(0).all()
    on_disk = pd.read_parquet(tmp_path / "dask" / "runs.parquet")
    pd.testing.assert_frame_equal(_no_wall(on_disk), _no_wall(b.table), check_dtype=False)


def test_compare_on_a_cluster_matches_in_process(tmp_path, tiny, cluster):
    """`sim compare` on the engine: the same table in this process and on the cluster."""
    a = load_scenario(tiny)
    b = load_scenario(tiny, ["table.leader_failover=15s"])
    r1 = cmp.compare(a, b, 2, engine=InProcess())
    r2 = cmp.compare(a, b, 2, engine=cluster)
    assert r1["metrics"] == r2["metrics"]
    stall = next(m for m in r1["metrics"] if m["key"] == "unavailable_s")
    assert stall["diff_mean"] > 5  # a 15 s table failover instead of 10 s stalls longer


def test_a_task_that_raises_on_the_cluster_is_reported(cluster):
    """A task that raises comes back as an error; the others complete."""
    tasks = [Task(f"t-{i}", _maybe_fail, (i,)) for i in range(4)]
    out = {t.key: (res, err) for t, res, err in cluster.run(tasks)}
    assert out["t-0"][0] == 0 and out["t-3"][0] == 9
    assert out["t-2"][0] is None and "ValueError: two is bad" in out["t-2"][1]


def _maybe_fail(i: int) -> int:
    if i == 2:
        raise ValueError("two is bad")
    return i * i


# -- long sweeps ------------------------------------------------------------------------------------
class Counting(InProcess):
    """In-process, counting the tasks it runs, optionally interrupted after ``stop_after``."""

    def __init__(self, stop_after: int | None = None):
        self.ran: list[str] = []
        self.stop_after = stop_after

    def run(self, tasks):
        for out in super().run(tasks):
            self.ran.append(out[0].key)
            yield out
            if self.stop_after is not None and len(self.ran) >= self.stop_after:
                raise KeyboardInterrupt


def test_resumed_sweep_runs_only_the_missing_runs(tmp_path, tiny):
    """Ctrl-C after 3 of 8 runs leaves a table of 3 rows; the re-run runs the other 5 only, and
    the result equals an uninterrupted sweep; a third run runs nothing."""
    plan = load_sweep(_sweep_file(tmp_path, GRID))
    out = tmp_path / "out"
    first = Counting(stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, out, engine=first, quiet=True, analyse=False)
    assert len(pd.read_parquet(out / "runs.parquet")) == 3
    assert not (out / "runs.journal.jsonl").exists()
    second = Counting()
    res = run_sweep(plan, out, engine=second, quiet=True)
    assert len(second.ran) == 5 and not set(second.ran) & set(first.ran)
    assert res.skipped == 3 and res.ran == 5
    whole = run_sweep(plan, tmp_path / "whole", engine=InProcess(), quiet=True, analyse=False)
    pd.testing.assert_frame_equal(_no_wall(res.table), _no_wall(whole.table))
    third = Counting()
    again = run_sweep(plan, out, engine=third, quiet=True, analyse=False)
    assert third.ran == [] and again.skipped == 8


def test_journal_survives_a_kill(tmp_path, tiny):
    """Runs recorded only in the journal (the table was not rewritten: a kill) are not re-run."""
    plan = load_sweep(_sweep_file(tmp_path, GRID))
    out = tmp_path / "out"
    run_sweep(plan, out, engine=InProcess(), quiet=True, analyse=False)
    table = pd.read_parquet(out / "runs.parquet")
    with (out / "runs.journal.jsonl").open("w") as j:  # as if killed before the table was written
        for rec in table.head(2).to_dict("records"):
            row = {k: v for k, v in rec.items() if k not in ("key", "base", "point", "replicate")}
            row = {k: v for k, v in row.items() if k != "seed" and not k.startswith("param.")}
            j.write(json.dumps({"key": rec["key"], "row": row}, default=str) + "\n")
        j.write('{"key": "cut sho')
    table.tail(6).to_parquet(out / "runs.parquet")
    eng = Counting()
    res = run_sweep(plan, out, engine=eng, quiet=True, analyse=False)
    assert eng.ran == [] and len(res.table) == 8


def test_a_run_that_raises_is_recorded_and_the_others_complete(tmp_path, tiny, monkeypatch):
    """One seed raises: its row has status 'error', the traceback and its seed; the seven others
    are ok; a re-run retries that one only."""
    import sim.run.runner as runner

    plan = load_sweep(_sweep_file(tmp_path, GRID))
    bad_seed = plan.runs[5].seed
    real = runner.run

    def flaky(sc, seed=None, progress=None):
        if seed == bad_seed:
            raise RuntimeError("injected failure")
        return real(sc, seed, progress)

    monkeypatch.setattr(runner, "run", flaky)
    res = run_sweep(plan, tmp_path / "out", engine=InProcess(), quiet=True)
    t = res.table
    assert len(t) == 8 and res.failed == 1
    bad = t[t["status"] == "error"]
    assert list(bad["seed"]) == [bad_seed] and "injected failure" in bad["error"].iloc[0]
    assert (t[t["status"] == "ok"]["error"].isna()).all()
    agg = res.aggregate
    assert agg.loc[agg["point"] == plan.runs[5].point, "failed"].item() == 1
    monkeypatch.setattr(runner, "run", real)
    eng = Counting()
    again = run_sweep(plan, tmp_path / "out", engine=eng, quiet=True, analyse=False)
    assert len(eng.ran) == 1 and (again.table["status"] == "ok").all()


def test_confidence_interval_narrows_as_replicates_grow(tmp_path, tiny):
    """The 95% interval of a figure's mean narrows from 3 to 6 to 12 replicates (seeds of the
    first replicates are the same, so the larger sweeps only add runs)."""
    out = tmp_path / "out"
    halves, before = [], 0
    for n in (3, 6, 12):
        plan = quick_sweep(str(tiny), n, extra_set=["faults=[]"])
        eng = Counting()
        res = run_sweep(plan, out, engine=eng, quiet=True, analyse=False)
        assert len(eng.ran) == n - before  # only the new replicates run
        before = n
        _, _, half = mean_ci(res.table["e2e_latency_ms.p99"])
        halves.append(half)
    assert halves[0] > halves[1] > halves[2] > 0
    assert mean_ci([1.0]) == (1, 1.0, None) and mean_ci([]) == (0, None, None)
    n, m, h = mean_ci([1.0, 2.0, 3.0, float("nan")])
    assert (n, m) == (3, 2.0) and h == pytest.approx(4.303 * 1.0 / 3**0.5)


# -- sensitivity ------------------------------------------------------------------------------------
def test_morris_ranks_the_table_failover_first_for_the_stall(tmp_path, tiny):
    """On a leader loss where the leader region holds the table's leader, the table's failover
    time drives the stall and the consumer poll interval does not; the poll interval drives the
    end-to-end p50."""
    body = """
name: tiny-morris
base: tiny.yaml
parameters:
  - {key: table.leader_failover, range: [2s, 20s], reason: not published}
  - {key: workload.poll_interval, range: [100ms, 1s], scale: log}
design: morris
samples: 3
replicates: 1
common_random_numbers: true
keep: [unavailable_s, e2e_p50_ms]
"""
    plan = load_sweep(_sweep_file(tmp_path, body))
    res = run_sweep(plan, tmp_path / "out", engine=InProcess(), quiet=True)
    s = res.sensitivity.set_index(["figure", "input"])
    assert s.loc[("unavailable_s", "table.leader_failover"), "rank"] == 1
    assert s.loc[("unavailable_s", "table.leader_failover"), "effect"] > 5
    assert s.loc[("unavailable_s", "workload.poll_interval"), "effect"] < 0.5
    assert s.loc[("e2e_p50_ms", "workload.poll_interval"), "rank"] == 1
    plots = tmp_path / "out" / "plots"
    for name in ("tornado.png", "tornado-tiny-leader-loss.png", "figure-unavailable_s.png"):
        assert (plots / name).stat().st_size > 10_000
    assert (tmp_path / "out" / "sensitivity.csv").exists()


# -- the command ------------------------------------------------------------------------------------
def test_sweep_command_writes_its_folder(tmp_path, tiny, capsys):
    """`sim sweep` (in this process): table, aggregate printed and saved, plots, kept runs."""
    sw = _sweep_file(tmp_path, GRID)
    out, keep = tmp_path / "out", tmp_path / "kept"
    args = ["sweep", str(sw), "--seeds", "1", "--out", str(out), "--workers", "0", "--quiet"]
    assert main([*args, "--keep-runs", str(keep)]) == 0
    printed = capsys.readouterr().out
    assert "leader_failover" in printed and "±" not in printed.splitlines()[3]  # one replicate
    assert f"results   {out}" in printed
    for name in ("runs.parquet", "aggregate.csv", "aggregate.txt", "sweep.yaml", "sweep.json"):
        assert (out / name).exists()
    assert len(list((out / "plots").glob("figure-*.png"))) == 3
    assert len(list(keep.glob("*/*/summary.json"))) == 4  # keep/<scenario>/<run>/
    info = json.loads((out / "sweep.json").read_text())
    assert info["runs"] == 4 and info["replicates"] == 1 and info["design"] == "grid"
    assert main(args) == 0  # resumed: nothing to run
    assert "0 run now, 4 already done" in capsys.readouterr().out


def test_quick_form(tmp_path, tiny, capsys):
    """`sim sweep SCENARIO --seeds N --grid key=v1,v2`."""
    out = tmp_path / "out"
    rc = main(
        ["sweep", str(tiny), "--seeds", "2", "--grid", "storage.quorum=2,3", "--out", str(out)]
        + ["--workers", "0", "--quiet", "--duration", "20s"]
    )
    assert rc == 0
    t = pd.read_parquet(out / "runs.parquet")
    assert list(t["param.storage.quorum"]) == [2, 2, 3, 3]
    assert (t["sim_duration_s"] == 20.0).all()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_bad_sweep_file_exits_2_with_a_clean_message(tmp_path, tiny):
    """A bad sweep file: exit 2, one line per problem (file:line:col: field: ...), no traceback,
    nothing written."""
    bad = _sweep_file(
        tmp_path,
        """name: bad
base: tiny.yaml
set: [run.duration=soon]
parameters:
  - key: table.leader_failover
    range: [10s, 2s]
  - key: control_plane.lease_duration
    values: [2s]
    scale: lgo
design: grid
replicates: 0
keep: [unavailble_s]
""",
        "bad.yaml",
    )
    out = tmp_path / "out"
    r = _cli("sweep", str(bad), "--out", str(out), "--workers", "0", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert f"{bad}:6:5: parameters.0.range: expected low < high" in r.stderr
    assert f"{bad}:9:12: parameters.1.scale: expected one of linear, log" in r.stderr
    assert f"{bad}:11:13: replicates: expected a value of at least 1, got 0" in r.stderr
    assert (
        f"{bad}:12:8: keep.0: unknown figure 'unavailble_s' (did you mean 'unavailable_s'?)"
        in r.stderr
    )
    assert any(line.startswith(f"{bad}:3:7: set: run.duration=soon") for line in lines)
    assert all(line.startswith(str(bad)) for line in lines), lines
    assert not out.exists()


def test_bad_points_and_quick_form_errors(tmp_path, tiny):
    """A value no scenario takes is told at its parameter; the quick form's errors name --grid."""
    bad = _sweep_file(
        tmp_path,
        "base: tiny.yaml\nparameters:\n  - key: table.leader_failover\n    values: [2s, soon]\n",
        "points.yaml",
    )
    with pytest.raises(ScenarioError) as e:
        load_sweep(bad)
    assert e.value.problems == [
        f"{bad}:3:10: parameters (table.leader_failover = 'soon'): table.leader_failover: "
        "expected a duration such as 250ms, 30s, 2m or 1h, got 'soon'"
    ]
    out = tmp_path / "out"
    r = _cli("sweep", str(tiny), "--grid", "table.leader_falover=1s,2s", "--out", str(out),
             cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("--grid table.leader_falover=1s,2s: parameters")
    assert "did you mean 'leader_failover'?" in r.stderr
    assert not out.exists()
    ranges = _sweep_file(
        tmp_path, "base: tiny.yaml\nparameters:\n  - {key: run.warmup, range: [1s, 2s]}\n"
        "design: grid\n", "ranges.yaml",
    )  # fmt: skip
    with pytest.raises(ScenarioError, match="a range needs a sampling design"):
        load_sweep(ranges)
    sobol = ranges.read_text().replace("grid", "sobol") + "samples: 6\n"
    with pytest.raises(ScenarioError, match="Sobol sampling needs a power of 2, got 6"):
        load_sweep(_sweep_file(tmp_path, sobol, "sobol.yaml"))


def test_shipped_sweeps_are_valid():
    """Every sweep file in sweeps/ builds its plan."""
    files = sorted((ROOT / "sweeps").glob("*.yaml"))
    assert files
    for f in files:
        plan = load_sweep(f)
        assert plan.runs, f
