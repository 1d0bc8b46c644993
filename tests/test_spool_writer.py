"""The spool's background writer: row groups land in order, and a writer's error is raised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.ledger.tables import Spool


def _frame(lo: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(lo)
    return pd.DataFrame(
        {
            "request_id": np.arange(lo, lo + n, dtype=np.int64),
            "t_s": rng.random(n),
            "status": rng.integers(0, 5, n).astype(np.int8),
        }
    )


def test_row_groups_in_order_and_equal(tmp_path):
    frames = [_frame(i * 5000, 5000 + i) for i in range(12)]
    sp = Spool(tmp_path / "t.parquet")
    for df in frames:
        sp.write(df)
    table = sp.close()
    pf = pq.ParquetFile(table.path)
    assert pf.num_row_groups == 12
    assert [pf.metadata.row_group(i).num_rows for i in range(12)] == [len(f) for f in frames]
    got = pd.read_parquet(table.path)
    pd.testing.assert_frame_equal(got, pd.concat(frames, ignore_index=True), check_exact=True)


def test_writer_error_is_raised(tmp_path):
    """An error inside the background writer (here: Arrow refusing to write to a closed file)
    is raised in the simulation's thread, by the next write or by close."""
    sp = Spool(tmp_path / "t.parquet")
    sp.write(_frame(0, 100))
    sp._pending[0].result()
    sp._writer.close()  # the writer thread's next write fails
    with pytest.raises((AssertionError, OSError)):  # pyarrow asserts the writer is open
        sp.write(_frame(100, 100))
        sp.close()


def test_schema_mismatch_is_raised(tmp_path):
    sp = Spool(tmp_path / "t.parquet")
    sp.write(_frame(0, 100))
    with pytest.raises(KeyError):
        sp.write(_frame(100, 100).rename(columns={"t_s": "other"}))
