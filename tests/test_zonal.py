"""S3 Express One Zone across zones: a bucket per zone, a quorum inside one region, buckets that
go down with their zone."""

from __future__ import annotations

from pathlib import Path

from sim.ledger import ACKED
from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _run(name: str, *sets: str):
    return run(load_scenario(ROOT / "scenarios" / f"{name}.yaml", ["run.duration=3m", *sets]))


def test_a_bucket_per_zone_with_a_two_of_three_quorum():
    res = _run("express-zonal-quorum")
    assert res.topology["buckets"] == ["us-east-1"] * 3
    cols = [c for c in res.files.columns if c.startswith("put_state[")]
    assert cols == [f"put_state[us-east-1{z}]" for z in "abc"]
    s = res.summary
    assert s["records"]["lost_acked"] == 0
    assert s["produce_latency_ms"]["p50"] < 80  # published bound for S3 Express
    # cost: PUTs priced in the buckets' region, not under a zone's name
    puts = res.ops[res.ops["op"] == "put"]
    assert set(puts["dst"]) == {"us-east-1"}
    assert puts["count"].sum() == 3 * len(res.files)


def test_a_zone_outage_takes_its_bucket_down_and_loses_nothing():
    res = _run("express-zonal-zone-loss", "faults.0.at=60s", "faults.0.duration=60s")
    h = res.components[res.components["component"] == "bucket:us-east-1b"]
    assert list(zip(h["t_s"], h["up"], strict=True)) == [(60.0, False), (120.0, True)]
    files = res.files
    during = files[(files["flush_s"] > 61) & (files["flush_s"] < 115)]
    assert (during["put_state[us-east-1b]"] != 0).all()  # no PUT lands in the dead zone
    assert (during["status"] == 1).mean() > 0.9  # the other two zones make the quorum
    assert res.summary["records"]["lost_acked"] == 0
    acked = res.requests[res.requests["status"] == ACKED]
    assert acked["ack_s"].between(61, 119).any()


def test_zonal_quorum_is_faster_than_s3_standard_in_one_region():
    zonal = _run("express-zonal-quorum").summary["produce_latency_ms"]["p50"]
    standard = _run("single-region").summary["produce_latency_ms"]["p50"]
    assert zonal < standard / 3
