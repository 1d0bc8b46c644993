"""Pre-flight estimate of a run's peak memory and wall time, from the workload it will generate.

A run's cost is set by what it generates: produce requests (a row each in the request and attempt
tables), files (a SimPy process each, a row with per-bucket PUTs, consumer receipts), and the wake-ups
of the agents' flush loops, control-plane elections and fault occurrences (SimPy events). Those are
counted here from the scenario alone (no simulation), then priced with constants measured on the
reference machine and scaled by the speed of this one (a short fixed benchmark).

Calibration (2026-11, Python 3.11, numpy 2, 2 cores shared, `resource` peak RSS and wall time of
``sim.run.runner.run`` on a 60 s run of the reference setup, varying one workload knob at a time):

==============================================  ==========  =======  ========  ===========
run                                              requests    files    events    peak RSS
==============================================  ==========  =======  ========  ===========
reference                                         20,756     2,151    13,015    +24 MB
producers_per_zone=10                            207,573     2,151    13,031    +82 MB
linger=0, records_per_s=5000                   2,699,765     2,151    13,031    +836 MB, 2.7 s
producers_per_zone=100, linger=1ms            27,005,460     9,871    48,992    +8.2 GB, 39.5 s
batch_timeout=1ms                                 20,756    20,755   626,131    +42 MB, 3.3 s
agents.per_zone=20, producers_per_zone=20        415,135    43,020   218,589    +190 MB, 2.7 s
==============================================  ==========  =======  ========  ===========

Hence about 310 bytes and 1.5 us per request, 2 KB and 100 us per file, and 5 us per other event
(rounded up). Consumers are priced after the run (``_consumer_receipts`` and the end-to-end
figures): a numpy pass per consumer (consumers_per_region=50308, 4 s run: 174 s, ~1.1 ms each on a
loaded machine) and, per consumer, a receipt row per file and a float per file and per acked
request (the receipt grid and the end-to-end latencies). The import of the lab and its libraries costs about 120 MB before anything runs.

A run with more requests than a row group (``STREAM_ROWS``) writes its settled rows to Parquet as
it goes (``sim.ledger.records.Ledger.spill``): it holds the rows of its last
``2 x (delivery_timeout + max_block)`` plus a minute and a row group, and after the run a few
arrays per file and request (measured on the reference, seed 1: peak 411 / 567 / 1,218 MiB at
1 / 4 / 24 simulated hours, 124,361 / 497,379 / 2,986,081 files, 3 consumers). Such a run is
priced at the lesser of the two models.
"""

from __future__ import annotations

import heapq
import math
import os
import time
from dataclasses import dataclass

BYTES_PER_REQUEST = 320  # measured ~310 B (request row, attempt row, frames built at the end)
BYTES_PER_FILE = 2048  # measured ~2 KB (file row, PUT rows, receipts, its process)
BYTES_PER_EVENT = 64  # a pending SimPy event (fault occurrences are created up front)
BASE_BYTES = 150 * 1024**2  # the interpreter with numpy, pandas, simpy, pydantic (~120 MB)
S_PER_REQUEST = 1.5e-6
S_PER_FILE = 100e-6
S_PER_EVENT = 5e-6
S_PER_CONSUMER = 1e-3
# a fault occurrence: its effects, history rows and timeline entries, and their share of the
# checks after the run (measured: a link degradation repeated every 1 ms / 0.1 ms for 3 s,
# 3,000 / 30,080 occurrences: +1.1 s / +13 s, +30 / +276 MB against the same run without it)
S_PER_FAULT_OCCURRENCE = 4.5e-4
BYTES_PER_FAULT_OCCURRENCE = 9 * 1024
BYTES_PER_RECEIPT = 48  # a receipt row (24 B) in the per-consumer frames and their concat
BYTES_PER_CONSUMER_VALUE = 16  # the receipt grid and the end-to-end latencies (8 B, x2 copies)
BENCH_REFERENCE_S = 0.041  # _bench() on the reference machine (best of two)
STREAM_ROWS = 1 << 18  # rows per row group (sim.ledger.records.SpoolPlan.rows)
STREAM_AFTER_PER_FILE = 110  # after a streamed run: copies, readability, commit times (B/file)
STREAM_AFTER_PER_RECEIPT = 90  # ... receipts kept and computed, the receipt grid (B/file/consumer)
STREAM_AFTER_PER_REQUEST = 2  # ... the duplicate check's two bit arrays
STREAM_LATENCY_VALUES = 1 << 23  # latencies held whole below this (sim.run.checks.STREAM_ABOVE)


@dataclass
class Estimate:
    """What a run will generate and cost."""

    requests: float
    files: float
    events: float
    memory_bytes: float
    seconds: float
    available_bytes: float | None

    @property
    def fits(self) -> bool:
        """Whether the run's peak memory fits in the memory available now."""
        return self.available_bytes is None or self.memory_bytes <= self.available_bytes

    def line(self) -> str:
        avail = (
            f" of {_bytes(self.available_bytes)} available"
            if self.available_bytes is not None
            else ""
        )
        return (
            f"estimate: ~{_count(self.requests)} requests, ~{_count(self.files)} files, "
            f"~{_count(self.events)} other events; peak memory ~{_bytes(self.memory_bytes)}{avail}, "
            f"{_seconds(self.seconds)} on this machine"
        )


def _count(x: float) -> str:
    if not math.isfinite(x):
        return "unbounded"
    if x >= 1e6:
        return f"{x:.3g}".replace("e+0", "e").replace("e+", "e")
    return f"{round(x):,}"


def _bytes(n: float | None) -> str:
    if n is None or not math.isfinite(n):
        return "unbounded"
    for unit, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{n / 1e3:.3g} KB"


def _seconds(s: float) -> str:
    if not math.isfinite(s) or s > 1e9:
        return "unbounded time"
    if s < 1:
        return "under a second"
    for unit, f in (("days", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if s >= f:
            return f"~{s / f:.2g} {unit}".replace("e+0", "e")
    return f"~{s:.2g} s"


def _bench() -> float:
    """Seconds of a fixed interpreter workload (heap pushes and pops, as SimPy's event queue)."""
    t = time.perf_counter()
    h: list = []
    x = 0.0
    for i in range(100_000):
        heapq.heappush(h, (x, i))
        x = (x * 1.000001 + 0.5) % 97.0
        if len(h) > 64:
            heapq.heappop(h)
    return time.perf_counter() - t


def machine_slowness() -> float:
    """How much slower this machine runs the model than the reference one (1: as fast)."""
    return max(0.25, min(_bench(), _bench()) / BENCH_REFERENCE_S)


def available_memory() -> float | None:
    """Bytes of memory available to a new allocation now (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _request_rate(records_per_s: float, linger: float) -> float:
    """Produce requests a second of one producer (sim.model.clients: a send every
    exponential(1/rate) + linger)."""
    if records_per_s <= 0:
        return 0.0
    return 1.0 / (linger + 1.0 / records_per_s)


def _occurrences(spec, end: float) -> float:
    at = spec.at[0] if isinstance(spec.at, tuple) else spec.at
    if spec.every is None:
        return 1.0 if at < end else 0.0
    last = min(spec.until if spec.until is not None else end, end)
    n = (last - at) / spec.every
    return max(0.0, math.ceil(n)) if math.isfinite(n) else math.inf


def _window(spec, end: float) -> float:
    """Simulated seconds a fault is in force over the run (all its occurrences)."""
    at = spec.at[0] if isinstance(spec.at, tuple) else spec.at
    d = spec.duration[1] if isinstance(spec.duration, tuple) else spec.duration
    n = _occurrences(spec, end)
    span = max(0.0, end - at)
    return min(span, n * (span if d is None else d))


def _streamed_memory(sc, requests: float, files: float, consumers: int) -> float:
    """Peak memory of a run that writes its rows out as it goes (see the module docstring)."""
    w, end = sc.workload, sc.run.duration
    held = min(1.0, (2 * (float(w.delivery_timeout) + float(w.max_block)) + 60.0) / end)
    window = held * (BYTES_PER_REQUEST * requests + BYTES_PER_FILE * files)
    window += STREAM_ROWS * BYTES_PER_REQUEST + 64 * 1024**2  # a row group, the model itself
    after = files * (STREAM_AFTER_PER_FILE + STREAM_AFTER_PER_RECEIPT * consumers)
    after += STREAM_AFTER_PER_REQUEST * requests
    after += 16 * min(requests * max(consumers, 1), STREAM_LATENCY_VALUES)
    return BASE_BYTES + window + after


def estimate(sc, slowness: float | None = None, available: float | None = -1.0) -> Estimate:
    """The pre-flight estimate of a validated scenario (``available=-1``: measure it now)."""
    end = sc.run.duration
    w, a, topo = sc.workload, sc.agents, sc.topology
    zones = topo.zones_per_region
    producers = len(w.producer_regions) * zones * w.producers_per_zone
    n_agents = len(topo.regions) * zones * a.per_zone
    base = _request_rate(w.records_per_s, w.linger)
    req_s = producers * base * end  # request-seconds of every producer
    bytes_total = producers * w.records_per_s * w.record_size * end
    events = 0.0
    occurrences = 0.0
    for spec in sc.faults:
        n = _occurrences(spec, end)
        events += n
        occurrences += n
        if spec.kind == "load-spike":
            share = 1.0 if spec.target == "all" else 1.0 / max(1, len(w.producer_regions))
            extra = _request_rate(w.records_per_s * spec.multiplier, w.linger) - base
            req_s += producers * share * extra * _window(spec, end)
            bytes_total += (
                producers * share * w.records_per_s * (spec.multiplier - 1) * w.record_size
            ) * _window(spec, end)
    requests = max(0.0, req_s)
    # an agent's flush loop wakes every min(batch_timeout, max_file_size / its byte rate)
    byte_rate = bytes_total / end / max(1, n_agents) if end > 0 else 0.0
    interval = (
        min(a.batch_timeout, a.max_file_size / byte_rate) if byte_rate > 0 else a.batch_timeout
    )
    wakeups = n_agents * end / interval
    files = min(requests, wakeups + bytes_total / a.max_file_size) if requests else 0.0
    cp = sc.control_plane
    events += wakeups + len(cp.regions) * end / cp.renew_interval + end  # + table leader watch
    consumers = len(w.consumer_regions) * w.consumers_per_region
    memory = BASE_BYTES + BYTES_PER_REQUEST * requests + BYTES_PER_FILE * files
    memory += consumers * (
        BYTES_PER_RECEIPT * files + BYTES_PER_CONSUMER_VALUE * (files + requests)
    )
    if requests > STREAM_ROWS and end > 0:
        memory = min(memory, _streamed_memory(sc, requests, files, consumers))
    memory += (BYTES_PER_EVENT + BYTES_PER_FAULT_OCCURRENCE) * occurrences
    if slowness is None:
        slowness = machine_slowness()
    seconds = slowness * (
        S_PER_REQUEST * requests
        + S_PER_FILE * files
        + S_PER_EVENT * events
        + S_PER_FAULT_OCCURRENCE * occurrences
        + S_PER_CONSUMER * consumers
        + 1e-7 * consumers * (files + requests)
    )
    if available == -1.0:
        available = available_memory()
    return Estimate(requests, files, events, memory, seconds, available)
