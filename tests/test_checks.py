"""The durability checker: zero loss where the design is safe, real losses where it is not."""

import pytest

from tests.conftest import run_small

DESTROY = {"kind": "region-outage", "at": 60.0, "data": "destroyed"}


@pytest.mark.parametrize("region", ["us-east-1", "us-east-2", "us-west-2"])
def test_destroying_any_one_region_loses_no_acknowledged_record(region):
    """Reference setup (2-of-3 buckets, MRSC): destroying any one region for good loses nothing acked."""
    res = run_small({"faults": [dict(DESTROY, target=region)]}, duration=150)
    s = res.summary
    assert s["faults"][0]["target"] == region
    assert s["records"]["acked"] > 500_000
    assert s["rpo"] == {"lost_acked_records": 0, "lost_window_s": 0.0}
    # acknowledged after the loss too: the cluster goes on
    assert (res.requests["ack_s"] > 90).sum() > 1000


def test_single_bucket_design_loses_acknowledged_records_with_its_region():
    """A design that acks after a single bucket PUT does lose records when that region is destroyed."""
    res = run_small(
        {
            "storage.regions": ["us-east-1"],
            "storage.quorum": 1,
            "table.leader_region": "us-east-2",
            "control_plane.preference": "us-east-2",
            "faults": [dict(DESTROY, target="us-east-1")],
        },
        duration=120,
    )
    rpo = res.summary["rpo"]
    assert rpo["lost_acked_records"] > 100_000  # everything ever written lived in one bucket
    assert rpo["lost_window_s"] > 50


def test_one_of_three_quorum_is_exposed_only_for_the_slow_puts():
    """1-of-3 acks before the other copies land: a region loss loses only records whose other PUTs had not landed."""
    res = run_small(
        {"storage.quorum": 1, "faults": [dict(DESTROY, target="us-west-2")]}, duration=120
    )
    lost = res.summary["rpo"]["lost_acked_records"]
    acked = res.summary["records"]["acked"]
    assert lost < 0.01 * acked


def test_lost_records_are_exactly_those_without_a_surviving_copy():
    """The checker's lost set equals the acked requests whose file has no copy in a surviving bucket."""
    res = run_small(
        {"storage.regions": ["us-east-1"], "storage.quorum": 1, "table.leader_region": "us-east-2",
         "control_plane.preference": "us-east-2", "faults": [dict(DESTROY, target="us-east-1", at=30.0)]},
        duration=60,
    )  # fmt: skip
    req = res.requests
    acked = req[req["status"] == 1]
    lost = res.summary["rpo"]["lost_acked_records"]
    assert lost == int(acked["n_records"].sum())  # the only bucket is gone: every acked record


def test_file_copies_tells_the_source_regions_apart():
    """A predicted PUT lands only if its bucket and the links between the file's region and
    the bucket's were up throughout: a link down between two regions loses only the copies
    between them, with the region column categorical (as read from Parquet) or plain strings."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from sim.ledger import PUT_PREDICTED
    from sim.ledger.history import History
    from sim.run import checks

    regions = ["us-east-1", "us-east-2", "us-west-2"]
    hist = {f"bucket:{r}": History() for r in regions}
    hist |= {f"link:{a}->{b}": History() for a in regions for b in regions if a != b}
    hist["link:us-west-2->us-east-1"].set_state(10.0, False)  # one direction
    hist["link:us-west-2->us-east-1"].set_state(20.0, True)
    ledger = SimpleNamespace(bucket_regions=regions, bucket_region_of={}, histories=hist)
    src = ["us-west-2", "us-east-2", "us-east-1", "us-west-2", "us-east-2"]
    files = pd.DataFrame({"region": pd.Categorical(src, categories=regions[::-1])})
    for r in regions:
        files[f"put_state[{r}]"] = np.full(len(src), PUT_PREDICTED, np.int8)
        files[f"put_start_s[{r}]"] = [12.0, 12.0, 12.0, 30.0, 30.0]
        files[f"put_end_s[{r}]"] = [12.5, 12.5, 12.5, 30.5, 30.5]
    copy = checks.file_copies(files, ledger, repair_delay=np.inf)  # never repaired
    lost = ~np.isfinite(copy)
    # the link is needed both ways: us-west-2's file in us-east-1, us-east-1's in us-west-2
    want = [[True, False, False], [False] * 3, [False, False, True], [False] * 3, [False] * 3]
    assert lost.tolist() == want
    plain = files.assign(region=files["region"].astype(str))
    np.testing.assert_array_equal(checks.file_copies(plain, ledger, repair_delay=np.inf), copy)
