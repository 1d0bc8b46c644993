"""A run whose ledger writes its settled rows to Parquet as it goes (in many small row groups)
gives the same tables, run folder and summary as the same run kept in memory; the columns behind
it keep their live rows when the settled ones are given back."""

from __future__ import annotations

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
