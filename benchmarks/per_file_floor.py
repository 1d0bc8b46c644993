"""The floor: what one file's irreducible work costs in Python on SimPy, written flat.

    python benchmarks/per_file_floor.py [--minutes 60] [--rounds 3]

Issue 14 asks for the 1-hour reference scenario at 1,000 times real time: 3.6 s for about
124,000 files, so 29 us per file with everything included (the producers' requests, the PUTs,
the group commit, the ledger's rows, SimPy). This script measures what the same work costs when
it is written as one flat loop with no model structure at all: no components, no fault surface,
no histories, no general path, no checks. It is a lower bound for the model, not a model (its
numbers are not the simulator's results and nothing reads them).

Per file, the reference workload's work (``scenarios/multi-region.yaml``: 9 agents flushing
every 250 ms, about 10 produce requests a file, 3 buckets with a quorum of 2, an MRSC table):

- the producer: each request's send time (exponential gap plus linger) and record count
  (Poisson), drawn in numpy chunks as the model does; each request's dispatch under the
  in-flight cap (5) against the earlier files' acknowledgements; its row (producer, send,
  records, bytes, dispatch time, wire);
- the agent: the requests' arrival times and attempt rows, the file's row;
- the PUTs: 3 latencies (RTT jitter, lognormal service, size over throughput), the 2nd fastest
  as the quorum, a row per PUT; the commit's first hop (one-way draw plus service draw);
- SimPy: one timeout at the quorum plus the hop; the control plane's group commit (one table
  write at a time: a draw and a timeout per batch, the queue taken whole);
- the answer: a one-way draw back, the file's acknowledgement (no event: acted on as of its
  arrival, as the model's lookahead does), the requests' status, end and file.

It prints the microseconds per file of the flat loop and of a bare SimPy timeout loop in the
same process, beside the 29 us the target allows.
"""

from __future__ import annotations

import argparse
import bisect
import math
import time

import numpy as np
import simpy

from sim.core.rng import Block

FILES_TARGET_US = 3600.0 / 1000 / 124_361 * 1e6  # 1,000x on the reference hour's files
N_AGENTS = 9
BATCH_TIMEOUT = 0.25
RATE = 1000.0  # records per second per producer (the reference workload)
RECORD = 1024
LINGER = 0.025
MAX_IN_FLIGHT = 5
BUCKETS = 3
QUORUM = 2


class _Ledger:
    """Rows kept as Python lists (the cheapest columnar bookkeeping in Python)."""

    def __init__(self):
        self.req = {k: [] for k in ("producer", "send", "records", "bytes", "dispatch", "wire")}
        self.req_status: list[int] = []
        self.req_end: list[float] = []
        self.req_file: list[int] = []
        self.wire_answer: list[float] = []
        self.attempts: list[float] = []
        self.files: list[tuple] = []
        self.puts: list[float] = []
        self.batches: list[tuple] = []


class _Producer:
    def __init__(self, idx: int, gen: np.random.Generator, led: _Ledger, rate: float):
        self.idx, self.gen, self.led, self.rate = idx, gen, led, rate
        self.gen_until = 0.0
        self.last = 0.0
        self.pending_t: list[float] = []
        self.pending_id: list[int] = []
        self.open: list[int] = []

    def generate(self, until: float) -> None:
        led = self.led
        req = led.req
        while self.gen_until < until:
            end = self.gen_until + 2.0
            self.gen_until = end
            m = int(2.0 / (LINGER + 1.0 / self.rate) * 1.2) + 8
            t = self.gen.exponential(1.0 / self.rate, m)
            t += LINGER
            np.cumsum(t, out=t)
            t += self.last
            tl = t.tolist()
            c = bisect.bisect_right(tl, end)
            del tl[c:]
            if not tl:
                continue
            self.last = tl[-1]
            n = (self.gen.poisson(self.rate * LINGER, c) + 1).tolist()
            first = len(req["send"])
            req["producer"] += [self.idx] * c
            req["send"] += tl
            req["records"] += n
            req["bytes"] += [x * RECORD for x in n]
            req["dispatch"] += [0.0] * c
            req["wire"] += [0] * c
            led.req_status += [0] * c
            led.req_end += [0.0] * c
            led.req_file += [-1] * c
            self.pending_t += tl
            self.pending_id += range(first, first + c)

    def take_until(self, t: float) -> tuple[list[int], list[float], list[int]]:
        """Requests sent by ``t`` under the in-flight cap: a request that finds a free slot goes
        out alone when ready; requests that waited for a slot go out together in one wire request
        when an answer frees one (as Kafka's producer drains a partition's ready batches)."""
        if self.gen_until < t:
            self.generate(t)
        pt = self.pending_t
        k = bisect.bisect_right(pt, t)
        led = self.led
        wa = led.wire_answer
        answers = sorted([wa[w] for w in self.open])
        na = len(answers)
        busy = na
        ai = 0
        cur = 0.0
        ids: list[int] = []
        times: list[float] = []
        wires: list[int] = []
        disp, wire = led.req["dispatch"], led.req["wire"]
        pid = self.pending_id
        pos = 0
        while pos < k:
            te = pt[pos] if pt[pos] > cur else cur
            while ai < na and answers[ai] <= te:
                ai += 1
                busy -= 1
            if busy >= MAX_IN_FLIGHT:
                if ai == na or answers[ai] > t:
                    break
                cur = answers[ai]
                continue
            j = bisect.bisect_right(pt, te, pos, k) if te > pt[pos] else pos + 1
            w = len(wa)
            wa.append(math.inf)
            wires.append(w)
            busy += 1
            for m in range(pos, j):
                i = pid[m]
                disp[i] = te
                wire[i] = w
                ids.append(i)
                times.append(te)
            pos = j
        self.open = [w for w in self.open if wa[w] > t] + wires
        del pt[:pos], pid[:pos]
        return ids, times, wires


def _flat_run(minutes: float, seed: int = 1) -> tuple[int, float]:
    """The flat loop for ``minutes`` simulated minutes: (files, seconds of CPU wall)."""
    env = simpy.Environment()
    block = Block(np.random.default_rng(seed))  # scalar draws as the model takes them
    uni, nrm = block.uniform, block.normal
    led = _Ledger()
    producers = [_Producer(i, np.random.default_rng([seed, i]), led, RATE) for i in range(N_AGENTS)]
    rtt0 = [0.0005, 0.011, 0.06]
    cp_queue: list[tuple] = []
    cp = {"busy": False}
    log1p, exp = math.log1p, math.exp
    jitter = 0.0005
    status, end, rfile = led.req_status, led.req_end, led.req_file
    wa = led.wire_answer

    def acked(fid: int, ids: list[int], wires: list[int], t_ack: float) -> None:
        for i in ids:
            status[i] = 1
            end[i] = t_ack
            rfile[i] = fid
        for w in wires:
            wa[w] = t_ack

    def cp_write() -> None:
        batch, cp_queue[:] = list(cp_queue), []
        cp["busy"] = True
        lat = 0.011 - jitter * log1p(-uni())
        t0 = env.now

        def done(_ev) -> None:
            now = env.now
            led.batches.append((len(led.batches), 0, 1, t0, now, len(batch)))
            for fid, ids, wires in batch:
                back = 0.5 * (0.011 - jitter * log1p(-uni()))
                acked(fid, ids, wires, now + back + 0.0001)
            cp["busy"] = False
            if cp_queue:
                cp_write()

        env.timeout(lat).callbacks.append(done)

    def arrived(fid, ids, wires):
        def cb(_ev) -> None:
            cp_queue.append((fid, ids, wires))
            if not cp["busy"]:
                cp_write()

        return cb

    def agent(a: int):
        p = producers[a]
        yield env.timeout(BATCH_TIMEOUT * uni())
        while True:
            yield env.timeout(BATCH_TIMEOUT)
            t0 = env.now
            ids, times, wires = p.take_until(t0 - 0.0001)
            if not ids:
                continue
            fid = len(led.files)
            size = 0
            rb = led.req["bytes"]
            att = led.attempts
            for i, t in zip(ids, times, strict=True):
                size += rb[i]
                att += (i, t + 0.0001, fid)
            ends = []
            for j in range(BUCKETS):
                lat = rtt0[j] - jitter * log1p(-uni()) + 0.03 * exp(0.4 * nrm()) + size / 1e8
                ends.append(t0 + lat)
                led.puts += (t0, t0 + lat, 1.0)
            q = sorted(ends)[QUORUM - 1]
            hop = 0.5 * (0.011 - jitter * log1p(-uni())) + 0.001 * exp(0.3 * nrm())
            led.files.append((fid, a, len(ids), size // RECORD, size, t0, q))
            env.timeout(q + hop - t0).callbacks.append(arrived(fid, ids, wires))

    for a in range(N_AGENTS):
        env.process(agent(a))
    start = time.perf_counter()
    env.run(until=minutes * 60)
    return len(led.files), time.perf_counter() - start


def _bare(n: int = 200_000) -> float:
    env = simpy.Environment()

    def p():
        for _ in range(n):
            yield env.timeout(1)

    env.process(p())
    t = time.perf_counter()
    env.run()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    best, files = math.inf, 0
    for _ in range(args.rounds):
        files, wall = _flat_run(args.minutes)
        best = min(best, wall / files * 1e6)
    bare = min(_bare() for _ in range(args.rounds))
    print(f"flat loop: {files:,} files in {args.minutes:g} simulated minutes")
    print(f"flat loop, fastest of {args.rounds}: {best:.1f} us per file")
    print(f"bare SimPy timeout loop: {bare:.2f} us per event")
    print(f"1,000x on the reference hour allows {FILES_TARGET_US:.1f} us per file")


if __name__ == "__main__":
    main()
