"""Kafka's in-flight cap (max.in.flight.requests.per.connection) and buffer back-pressure
(buffer.memory, max.block.ms), read from the request table the run writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.ledger import ACKED, FAILED_BLOCKED, PENDING
from sim.scenario import ScenarioError, validate_data
from tests.conftest import run_small, small

UNCAPPED = {"workload.idempotence": False, "workload.max_in_flight": 1000}


@pytest.fixture(scope="module")
def runs():
    """The reference setup for 60 s: Kafka's default cap (5), no cap, and a cap of 1."""
    return {
        5: run_small(duration=60, seed=11),
        None: run_small(UNCAPPED, duration=60, seed=11),
        1: run_small({"workload.max_in_flight": 1}, duration=60, seed=11),
    }


def wires(requests: pd.DataFrame) -> pd.DataFrame:
    """One row per wire request: producer, when it was sent, when it was answered (a fault-free
    run: every batch is acknowledged by its first attempt), records carried."""
    sent = requests[requests["wire"] >= 0]
    return sent.groupby(["producer", "wire"], as_index=False).agg(
        dispatch_s=("dispatch_s", "min"),
        answer_s=("ack_s", "min"),
        n_records=("n_records", "sum"),
        n_batches=("n_records", "size"),
    )


def max_in_flight(w: pd.DataFrame) -> int:
    """The largest number of wire requests one producer had sent and not had answered (an
    answer frees its slot at once, so at equal times answers count before sends)."""
    worst = 0
    for _, g in w.groupby("producer"):
        t = np.concatenate([g["dispatch_s"].to_numpy(), g["answer_s"].to_numpy()])
        d = np.concatenate([np.ones(len(g)), -np.ones(len(g))])
        order = np.lexsort((d, t))
        worst = max(worst, int(np.cumsum(d[order]).max()))
    return worst


def test_the_cap_is_never_exceeded_and_is_reached(runs):
    """Per producer (one connection to its agent, which never changes here), never more than 5
    requests in flight; the cap is reached, and without it the same load has more in flight."""
    req = runs[5].requests
    assert (req["status"] == ACKED).mean() > 0.95
    w = wires(req)
    assert max_in_flight(w) == 5
    assert max_in_flight(wires(runs[None].requests)) > 5
    # every batch was sent no earlier than it was ready, and arrived at its agent when sent
    sent = req[req["wire"] >= 0]
    assert (sent["dispatch_s"] >= sent["send_s"] - 1e-12).all()


def test_the_cap_binds_at_the_reference_load(runs):
    """Batches ready while 5 requests are out wait and go together: requests carry more records
    than without the cap (where each linger batch is its own request), and the wait shows in
    the latency."""
    capped, free = wires(runs[5].requests), wires(runs[None].requests)
    assert (free["n_batches"] == 1).all()
    assert capped["n_batches"].max() > 3
    assert capped["n_records"].mean() > 1.5 * free["n_records"].mean()
    p5, pf = runs[5].summary["produce_latency_ms"], runs[None].summary["produce_latency_ms"]
    assert p5["p99"] > pf["p99"] + 50


def test_a_cap_of_one_serialises_requests_and_costs_latency(runs):
    """With max_in_flight 1 each request waits for the answer to the one before it, and at the
    reference load latency rises above the default cap's."""
    w = wires(runs[1].requests).sort_values(["producer", "dispatch_s"])
    assert max_in_flight(w) == 1
    for _, g in w.groupby("producer"):
        assert (g["dispatch_s"].to_numpy()[1:] >= g["answer_s"].to_numpy()[:-1] - 1e-12).all()
    one, five = runs[1].summary["produce_latency_ms"], runs[5].summary["produce_latency_ms"]
    assert one["p50"] > five["p50"] + 30
    assert (
        wires(runs[1].requests)["n_records"].mean()
        > 2 * wires(runs[5].requests)["n_records"].mean()
    )


@pytest.fixture(scope="module")
def stall():
    """No table for 40 s (the commits fail, the producers retry and keep their bytes) with a
    4 MiB buffer (about 4 s of one producer's records) and max_block 5 s."""
    return run_small(
        {
            "workload.buffer_memory": "4MiB",
            "workload.max_block": "5s",
            "faults": [
                {"kind": "table-leader-lost", "target": "us-east-1", "at": 5, "duration": 40}
            ],
            "table.leader_failover": "120s",
        },
        duration=70,
        seed=3,
    )


def test_a_long_stall_fills_the_buffer_and_sends_fail_after_max_block(stall):
    """Batches that find the buffer full wait for space; with none freed within max_block their
    records fail (counted), exactly max_block after they were ready, during the stall only."""
    req, s = stall.requests, stall.summary
    failed = req[req["status"] == FAILED_BLOCKED]
    assert len(failed) > 100
    assert s["records"]["failed_max_block"] == failed["n_records"].sum()
    assert s["producers"]["block_timeouts"] == len(failed)
    assert (failed["end_s"] - failed["send_s"]).to_numpy() == pytest.approx(5.0)
    assert failed["blocked_s"].to_numpy() == pytest.approx(5.0)
    assert failed["wire"].eq(-1).all()  # never sent
    assert failed["send_s"].min() > 5 and failed["send_s"].max() < 45
    # batches that did get space waited at most max_block, and were sent after it
    waited = req[(req["blocked_s"] > 0) & (req["status"] != FAILED_BLOCKED)]
    assert len(waited) > 0 and (waited["blocked_s"] <= 5.0 + 1e-9).all()
    assert (waited["dispatch_s"] >= waited["send_s"] + waited["blocked_s"] - 1e-9).all()
    assert s["producers"]["blocked_s_max"] > 20


def test_the_buffer_never_holds_more_than_buffer_memory(stall):
    """From the request table: bytes in the buffer (from a batch's entry, its ready time plus its
    wait, to its acknowledgement or final failure) never pass 4 MiB for any producer."""
    req = stall.requests
    entered = req[req["status"] != FAILED_BLOCKED]
    cap = 4 * 1024 * 1024
    worst = 0
    for _, g in entered.groupby("producer"):
        t_in = (g["send_s"] + g["blocked_s"]).to_numpy()
        t_out = g["end_s"].fillna(np.inf).to_numpy()
        b = g["bytes"].to_numpy()
        t = np.concatenate([t_in, t_out])
        d = np.concatenate([b, -b])
        order = np.lexsort((d, t))  # at equal times, bytes out before bytes in
        worst = max(worst, int(np.cumsum(d[order]).max()))
    assert cap - 64 * 1024 < worst <= cap  # filled, never overfilled


def test_a_calm_run_never_blocks(runs):
    """At the reference load with no fault the buffer never fills: no wait, nothing failed."""
    s = runs[5].summary
    assert s["records"]["failed_max_block"] == 0
    assert s["producers"]["blocked_s_total"] == 0
    assert (runs[5].requests["blocked_s"] == 0).all()


def test_a_dead_producer_holds_no_buffer():
    """Producers of a region that is lost for good send nothing from then on; their batches are
    never sent, not held in a buffer that fills and fails them (a 2 MiB buffer, 5 s max_block:
    about 2 s of one producer's records)."""
    res = run_small(
        {
            "workload.buffer_memory": "2MiB",
            "workload.max_block": "5s",
            "faults": [{"kind": "region-outage", "target": "us-west-2", "at": 10}],
        },
        duration=60,
        seed=5,
    )
    s = res.summary
    assert s["records"]["failed_max_block"] == 0
    assert s["producers"]["blocked_s_total"] == 0
    west = [i for i, p in enumerate(s["producers"]["blocked_s"]) if "us-west-2" in p]
    req = res.requests
    sent = req[req["producer"].isin(west) & (req["wire"] >= 0)]
    assert len(west) == 3 and sent["dispatch_s"].max() < 10.0


def test_more_than_five_in_flight_with_idempotence_is_refused():
    """Kafka refuses max.in.flight.requests.per.connection above 5 with idempotence on."""
    with pytest.raises(ScenarioError) as e:
        validate_data(small({"workload.max_in_flight": 6}))
    assert "max_in_flight" in str(e.value) and "at most 5" in str(e.value)
    validate_data(small({"workload.max_in_flight": 6, "workload.idempotence": False}))


def test_waiting_batches_fill_a_request_up_to_max_request_size():
    """With max_request_size 100 KiB, batches that waited together are split into requests of at
    most that size (a single batch may exceed it), and requests do reach it."""
    res = run_small({"workload.max_request_size": "100KiB"}, duration=30, seed=11)
    req = res.requests
    sent = req[req["wire"] >= 0]
    w = sent.groupby(["producer", "wire"]).agg(b=("bytes", "sum"), n=("bytes", "size"))
    several = w[w["n"] > 1]
    assert len(several) > 0 and several["b"].max() <= 100 * 1024
    assert several["b"].max() > 75 * 1024
    # the same run without the limit has larger requests
    big = run_small(duration=30, seed=11).requests
    wb = big[big["wire"] >= 0].groupby(["producer", "wire"])["bytes"].sum()
    assert wb.max() > 100 * 1024


def test_an_overloaded_producer_keeps_its_waiting_batches_in_step():
    """At 16 times the reference load with a 4 MiB buffer and max_block 1 s the buffer is full
    at every collection, batches wait for space and many fail. After every collection each
    producer's accumulator (ready or entry times, bytes, ids; the failed ones taken out of its
    middle) still lines up with the request table: every batch there is pending, its ready time
    plus its wait is the accumulator's time, and its bytes are the table's."""
    import simpy

    from sim.core.rng import Streams
    from sim.run.world import World

    sc = validate_data(
        small(
            {
                "workload.records_per_s": 16000,
                "workload.buffer_memory": "4MiB",
                "workload.max_block": "1s",
            },
            duration=20,
            seed=5,
        )
    )
    env = simpy.Environment()
    world = World(env, sc, Streams(5))
    world.start()
    req = world.ledger.requests
    checked = 0
    for step in range(1, 61):
        env.run(until=step / 3)
        for p in world.producers:
            ids = p._ids
            assert len(p._tl) == len(p._bl) == len(ids)
            if not len(ids):
                continue
            assert (np.diff(ids) > 0).all()  # still in send order
            assert (req["status"][ids] == PENDING).all()
            ready = req["send_s"][ids] + req["blocked_s"][ids]
            assert ready.tolist() == p._tl
            assert req["bytes"][ids].tolist() == p._bl
            checked += len(ids)
    assert checked > 10_000
    failed = (req["status"][: req.n] == FAILED_BLOCKED).sum()
    assert failed > 1000
