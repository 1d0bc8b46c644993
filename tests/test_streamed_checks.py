"""Checks that read the run's tables a row group at a time give what they gave on whole
columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.ledger.tables import Spool, Table
from sim.run import checks


def _all_acks(requests, starts, ends, threshold, t_end):
    acks = requests.column("ack_s")
    acks.sort()
    return acks[: np.count_nonzero(~np.isnan(acks))]


def _requests(seed: int, tmp_path) -> Table:
    """Requests with outages: sends all along, acknowledgements missing in a few stretches."""
    rng = np.random.default_rng(seed)
    n = 20_000
    send = np.sort(rng.uniform(0, 600, n))
    ack = send + rng.exponential(0.3, n)
    for _ in range(rng.integers(1, 6)):
        a = rng.uniform(0, 580)
        d = rng.choice([0.5, 1.0, 2.0, 5.0, 12.0])
        stuck = (ack > a) & (ack < a + d)
        ack[stuck] = a + d + rng.exponential(0.1, stuck.sum())
    ack[rng.random(n) < 0.002] = np.nan  # never acknowledged
    end = np.where(np.isnan(ack), np.where(rng.random(n) < 0.5, np.nan, send + 30), ack)
    df = pd.DataFrame({"send_s": send, "end_s": end, "ack_s": ack})
    sp = Spool(tmp_path / f"r{seed}.parquet")
    for i in range(0, n, 3001):
        sp.write(df.iloc[i : i + 3001])
    return sp.close()


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.25, 1.0, 3.0])
def test_unavailability_windows_from_row_groups_are_the_whole_columns(
    seed, threshold, tmp_path, monkeypatch
):
    req = _requests(seed, tmp_path)
    got = checks.unavailability_windows(req, threshold, 600.0)
    monkeypatch.setattr(checks, "_gap_points", _all_acks)
    want = checks.unavailability_windows(req, threshold, 600.0)
    assert got == want
    if threshold < 0.5:
        assert want  # the case has windows to find


@pytest.mark.parametrize("lose", [(), (7,), (2, 7, 8)])
def test_lost_acked_from_row_groups_is_the_whole_frame(lose, tmp_path):
    """lost_acked reads a row group's every column only where it lost something: the same
    rows and columns as on the whole frame, wherever the losses fall."""
    rng = np.random.default_rng(5)
    n = 10_000
    df = pd.DataFrame({
        "request_id": np.arange(n, dtype=np.int64),
        "status": rng.choice(np.array([checks.ACKED, checks.FAILED_BLOCKED], np.int8), n),
        "ack_file": np.arange(n, dtype=np.int64) // 500,
        "n_records": rng.integers(1, 100, n),
        "ack_s": rng.uniform(0, 600, n),
    })  # fmt: skip
    att = pd.DataFrame({"request_id": df["request_id"], "file_id": df["ack_file"]})
    readable = np.ones(n // 500, dtype=bool)
    readable[list(lose)] = False
    sp = Spool(tmp_path / "req.parquet")
    for i in range(0, n, 3000):  # four row groups; files 2, 7 and 8 in groups 0, 1 and 2
        sp.write(df.iloc[i : i + 3000])
    got = checks.lost_acked(sp.close(), Table(att), readable)
    want = checks.lost_acked(Table(df), Table(att), readable)
    # (the index: positions in a row group, as before, not in the table)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_exact=True
    )
    assert len(want) == sum(
        ((df["ack_file"] == f) & (df["status"] == checks.ACKED)).sum() for f in lose
    )
