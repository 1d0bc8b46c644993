"""A run whose ledger writes its settled rows to Parquet as it goes (in many small row groups)
gives the same tables, run folder and summary as the same run kept in memory; the columns behind
it keep their live rows when the settled ones are given back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.ledger.window import Column
from sim.report.results import write_run
from sim.run.runner import run
from sim.scenario import validate_data
from tests.conftest import small

FAULT = {"kind": "control-plane-outage", "target": "leader", "at": 40, "duration": 15}
TABLES = ("requests", "attempts", "files", "batches", "receipts")


def _summary(res) -> dict:
    s = {k: v for k, v in res.summary.items() if k != "wall_time_s"}
    s["model"] = {k: v for k, v in s["model"].items() if k != "sim_wall_s"}
    return s


@pytest.fixture(scope="module")
def pair():
    sc = validate_data(small({"faults": [FAULT], "run.recovery_bound": "30s"}, duration=120))
    kept = run(sc, 3)
    # no margin: a row goes out as soon as the ledger's rules call it settled (in this scenario
    # the rules alone keep every row the model still reads or writes; after a region loss they
    # do not, and the default margin does: see docs/performance.md)
    spilled = run(sc, 3, spool_rows=400, spool_margin=0.0)
    return kept, spilled


def test_spilled_run_gives_the_same_tables_and_summary(pair, tmp_path):
    kept, spilled = pair
    # the short run stays in memory; the forced one wrote several row groups of every table
    assert kept.spill_dir is None and all(kept.tables[n].in_memory for n in TABLES)
    for name in ("requests", "attempts", "files", "batches"):
        t = spilled.tables[name]
        assert not t.in_memory and pq.ParquetFile(t.path).num_row_groups >= 3, name
    # the run reached what the streamed checks must get right: retries, an outage window
    assert kept.summary["requests"]["retried"] > 0
    assert kept.summary["unavailability"]["windows"]
    assert _summary(spilled) == _summary(kept)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(spilled, name), getattr(kept, name), check_exact=True)
    # the run folder takes the spilled files (moved, then read from there) with the same rows
    folder = write_run(spilled, tmp_path, plots=False)
    for name in TABLES:
        on_disk = pd.read_parquet(folder / f"{name}.parquet")
        pd.testing.assert_frame_equal(on_disk, getattr(kept, name), check_exact=True)
    assert spilled.tables["requests"].path.parent == folder


def test_a_column_keeps_its_live_rows_when_the_settled_ones_go_and_it_grows():
    c = Column(np.float64, np.nan, capacity=1024)
    arr = c.ensure(1000)
    arr[:1000] = np.arange(1000.0)
    c.release(900)  # rows below 900 are settled: their pages may be given back
    assert c.free_rows == 900
    arr = c.ensure(5000)  # grows: the live window is copied at the same offsets
    assert c.cap >= 5000
    assert np.array_equal(arr[900:1000], np.arange(900.0, 1000.0))
    assert np.isnan(arr[1000:5000]).all()  # new rows hold the fill value
    block = Column(np.float64, np.array([np.nan, 3.0]), capacity=8, width=2)
    b = block.ensure(20)
    assert np.isnan(b[:20, 0]).all() and (b[:20, 1] == 3.0).all()


# -- a row given back is never read ----------------------------------------------------------
REGION_LOSS = {"kind": "region-outage", "target": "leader", "at": 40, "data": "destroyed"}
_CHILD = """
import json, sys
from sim.run.runner import run
from sim.scenario import validate_data
from tests.conftest import small
sc = validate_data(small({"faults": [%r]}, duration=400))
res = run(sc, 3, spool_rows=2000, spool_margin=0.0)
assert not res.tables["requests"].in_memory
s = {k: v for k, v in res.summary.items() if k != "wall_time_s"}
s["model"] = {k: v for k, v in s["model"].items() if k != "sim_wall_s"}
print(json.dumps(s, default=str))
"""


def _child(code: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    )
    env.pop("SIM_LEDGER_GUARD", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
        timeout=600,
    )  # fmt: skip


PARTITION = {"kind": "partition", "mode": "isolate", "target": "leader", "at": 40, "duration": 120}


@pytest.mark.parametrize("fault", [REGION_LOSS, PARTITION], ids=["region-loss", "partition"])
def test_no_settled_row_is_read_after_a_region_loss_or_a_partition(fault):
    """The leader's region lost for good, or cut off, rows written out as soon as the ledger's
    rules let them go (no margin): the run reads no row it gave back (a read stops the child
    process with the reader's stack: ``sim.ledger.window``), and its summary is the in-memory
    run's. Before the producers' open wires were held, ``Producer._dispatch`` read the answer
    times of wires given back (zeros) after the region loss and the summary differed; before
    ``RequestColumns.answered`` skipped wires given back, a retried request's failure in the
    partition touched its first wire's row."""
    out = _child(_CHILD % fault)
    assert out.returncode == 0, out.stderr[-3000:]
    spilled = json.loads(out.stdout.strip().splitlines()[-1])
    sc = validate_data(small({"faults": [fault]}, duration=400))
    kept = run(sc, 3)
    assert kept.tables["requests"].in_memory
    assert json.loads(json.dumps(_summary(kept), default=str)) == spilled


def test_a_row_given_back_cannot_be_read():
    """The guard itself: reading a released row stops the process (it does not read zeros)."""
    code = (
        "import numpy as np\n"
        "from sim.ledger.window import Column, PAGE\n"
        "c = Column(np.float64, np.nan, capacity=4 * PAGE)\n"
        "a = c.ensure(4 * PAGE)\n"
        "a[:] = 1.0\n"
        "c.release(2 * PAGE)\n"
        "print('live', a[2 * PAGE], flush=True)\n"
        "print('released', a[0], flush=True)\n"
    )
    out = _child(code)
    assert "live 1.0" in out.stdout
    assert out.returncode != 0 and "released" not in out.stdout


def test_the_pre_flight_estimate_of_a_long_run_counts_what_is_written_out():
    """A streamed run is priced by what it holds (measured peaks 411 / 1,218 MiB at 1 / 24
    simulated hours of the reference): above the measure, and not the in-memory model's 17 GiB
    for a day, which would refuse it on a smaller machine."""
    from sim.scenario import load_scenario
    from sim.scenario.estimate import estimate

    root = Path(__file__).resolve().parents[1]
    mib = {}
    for h in (1, 24):
        sc = load_scenario(root / "scenarios" / "multi-region.yaml", [f"run.duration={h}h"])
        mib[h] = estimate(sc, slowness=1.0, available=None).memory_bytes / 2**20
    assert 411 < mib[1] < 700
    assert 1218 < mib[24] < 2048
