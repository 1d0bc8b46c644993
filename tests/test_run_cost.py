"""A run's cost, from the ledger's counts: checked against a hand calculation, retries, unknowns."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.cost.prices import load_prices
from sim.ledger import PUT_FAILED
from tests.conftest import run_small

DURATION = 60.0
UNCAPPED = {"workload.idempotence": False, "workload.max_in_flight": 1000}


@pytest.fixture(scope="module")
def calm():
    # producers the in-flight cap does not hold: every agent then has requests at every 250 ms
    # tick, so its file count is the hand calculation's (with the cap, a tick at which its
    # producer sent nothing makes no file)
    return run_small(UNCAPPED, duration=DURATION, seed=3)


def test_put_count_and_cost_per_gb_match_the_hand_calculation(calm):
    """9 agents flushing every 250 ms to 3 buckets: PUTs and their cost per GB, by hand."""
    puts = calm.ops[calm.ops["op"] == "put"]["count"].sum()
    by_hand = 9 * 3 * DURATION / 0.25
    assert puts == pytest.approx(by_hand, rel=0.01)
    price = load_prices().lookup("aws", "s3-standard-put", "us-east-1").price_usd
    produced_gb = calm.requests["bytes"].sum() / 2**30
    put_usd_per_gb = by_hand / 1000 * price / produced_gb
    cost = calm.summary["cost"]
    assert cost["items"]["s3-standard-put"] / produced_gb == pytest.approx(put_usd_per_gb, rel=0.01)
    assert cost["usd_per_gb"] == pytest.approx(cost["total_usd"] / produced_gb, rel=1e-6)
    assert cost["usd_per_month"] == pytest.approx(
        cost["total_usd"] * 30 * 86400 / DURATION, rel=1e-5
    )
    # the only unknown: how AWS bills an MRSC strongly consistent read (not published)
    assert cost["unknown"] and all(
        u.startswith("dynamodb-mrsc-strong-read-unit@") for u in cost["unknown"]
    )


def test_retries_cost_more(calm):
    """A bucket failing half its requests: the retried PUTs are billed."""
    faulty = run_small(
        {
            **UNCAPPED,
            "faults": [{"kind": "bucket-errors", "target": "us-east-2", "at": 5, "rate": 0.5}],
        },
        duration=DURATION,
        seed=3,
    )
    put = lambda r: r.summary["cost"]["items"]["s3-standard-put"]  # noqa: E731
    assert put(faulty) > 1.05 * put(calm)
    # every retried PUT is billed: beyond one PUT per file, us-east-2 counts more PUTs than the
    # files whose PUT there ended failed (each of those was tried and retried at least once)
    by_dst = faulty.ops[faulty.ops["op"] == "put"].groupby("dst")["count"].sum()
    failed_there = int((faulty.files["put_state[us-east-2]"] == PUT_FAILED).sum())
    assert failed_there > 100
    assert by_dst["us-east-2"] > by_dst["us-east-1"] + failed_there
    assert faulty.summary["cost"]["total_usd"] > calm.summary["cost"]["total_usd"]


def test_a_price_that_is_not_known_is_reported_not_zero():
    """An MRSC table with a witness: witness writes have no public price; they are listed as
    unknown and the cost says it is incomplete."""
    res = run_small(
        {"table.regions": ["us-east-1", "us-east-2", "us-west-2"], "table.witness": "us-west-2"},
        duration=20,
    )
    cost = res.summary["cost"]
    assert not cost["complete"]
    assert any(u.startswith("dynamodb-mrsc-witness-write") for u in cost["unknown"])
    assert "dynamodb-mrsc-witness-write" not in cost["items"]


def test_the_run_folder_keeps_the_counts(calm, tmp_path):
    from sim.report.results import load_run, write_run

    folder = write_run(calm, tmp_path, plots=False)
    ops = load_run(folder)["ops"]
    pd.testing.assert_frame_equal(ops.reset_index(drop=True), calm.ops.reset_index(drop=True))


def test_prices_file_overrides_the_shipped_prices_in_run_and_report(calm, tmp_path):
    """`sim report --prices FILE` prices the run folder's counts again; a bad file is exit 2."""
    import subprocess
    import sys

    from sim.report.results import write_run

    folder = write_run(calm, tmp_path / "out", plots=False)
    dear = tmp_path / "dear.csv"
    dear.write_text(
        "provider,item,region_or_pair,unit,price_usd,as_of,source,note\n"
        + "".join(
            f"aws,s3-standard-put,{r},per 1000 requests,0.05,2026,https://example.org/x,ten times\n"
            for r in ("us-east-1", "us-east-2", "us-west-2")
        )
    )
    cmd = [sys.executable, "-m", "sim", "report", str(folder)]
    shipped = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    priced = subprocess.run(cmd + ["--prices", str(dear)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert shipped.returncode == 0 and priced.returncode == 0, priced.stderr

    def put_usd(out: str) -> float:
        line = next(x for x in out.splitlines() if x.strip().startswith("s3-standard-put "))
        return float(line.split()[1])

    assert put_usd(priced.stdout) == pytest.approx(10 * put_usd(shipped.stdout), rel=0.01)
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n")
    res = subprocess.run(cmd + ["--prices", str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "bad.csv:1" in res.stderr and "Traceback" not in res.stderr
