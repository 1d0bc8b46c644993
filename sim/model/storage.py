"""Object-storage buckets, their latency profiles, and the quorum rule for durable writes.

A flushed file is written with parallel PUTs to ``n`` buckets (default one per region of the US
triad) and counts as durable once ``k`` of them acknowledged (default 2 of 3). The quorum completes
at the k-th fastest successful PUT (``sim.model.quorum.quorum_time``, the one place the rule
is written). The slowest PUT keeps running; if it fails it
is repaired in the background once the bucket is back (``repair_delay``).

Latency profiles (``PROFILES``), per request: a lognormal service time fitted to a median and a
p99, plus the RTT from the writer's region to the bucket's region, plus the object's size over a
per-connection throughput.

- ``s3-standard``. AWS says small requests see a median "often in the tens of ms" and recommends
  retrying after 2 s, then 4 s (S3 performance guidelines). Third-party GET time-to-first-byte:
  ~30 ms typical, 80 ms "rather common" (quickwit.io). No authoritative PUT percentiles are
  published: the PUT median 91 ms / p99 310 ms were *calibrated* so that the single-region
  simulation lands on the real system's published produce p50 250 ms / p99 500 ms (see
  docs/calibration.md). Per-connection throughput 100 MB/s: an estimate.
- ``s3-express``. S3 Express One Zone: "single-digit millisecond" first byte, "up to 10x faster"
  than Standard (AWS docs). PUT median 9.5 ms / p99 31 ms (Standard's calibrated PUT / 9.6 at the
  median, / 10 at p99) and GET 4 ms / 12 ms (Standard's GET / 7.5) are estimates inside both
  claims; throughput 200 MB/s an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.latency import LogNormal
from sim.core.rng import Block
from sim.model.component import Component

S3_RETRY_TIMEOUTS_S = (2.0, 4.0)  # AWS S3 performance guidelines: retry after 2 s, then 4 s


@dataclass(frozen=True)
class StorageProfile:
    """Latency figures of one object-storage class."""

    name: str
    put: LogNormal
    get: LogNormal
    throughput_bps: float
    source: str


PROFILES: dict[str, StorageProfile] = {
    "s3-standard": StorageProfile(
        "s3-standard",
        put=LogNormal.from_percentiles(91.0, 310.0),
        get=LogNormal.from_percentiles(30.0, 80.0),
        throughput_bps=100e6,
        source="PUT calibrated to published produce latency; GET from quickwit.io (30/80 ms)",
    ),
    "s3-express": StorageProfile(
        "s3-express",
        put=LogNormal.from_percentiles(9.5, 31.0),
        get=LogNormal.from_percentiles(4.0, 12.0),
        throughput_bps=200e6,
        source="estimates within AWS's 'single-digit ms' S3 Express One Zone claim",
    ),
}


class Bucket(Component):
    """One object-storage bucket in one region, or in one zone (a zonal S3 Express One Zone
    directory bucket: a zone outage takes it down). ``site`` names it: its region, or its zone."""

    part = "bucket"
    holds_data = True

    def __init__(self, region: str, profile: StorageProfile, block: Block, zone: str | None = None):
        self.site = zone or region
        super().__init__(f"bucket:{self.site}", region, zone)
        self.profile = profile
        self.block = block

    def put_service_time(self, size_bytes: int) -> float:
        """Seconds of service time for a PUT of ``size_bytes`` (without the network)."""
        return self.profile.put.sample(self.block, self.slowdown) + size_bytes / (
            self.profile.throughput_bps
        )

    def get_service_time(self, size_bytes: int) -> float:
        """Seconds of service time for a GET of ``size_bytes`` (without the network)."""
        return self.profile.get.sample(self.block, self.slowdown) + size_bytes / (
            self.profile.throughput_bps
        )

    def fails_request(self) -> bool:
        """Whether this request is answered with a 500/503 (drawn from the error rate)."""
        r = self.error_rate
        return r > 0.0 and self.block.uniform() < r
