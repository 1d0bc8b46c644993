"""The network between regions and zones: RTTs from shipped measurements, jitter, links that fail.

Round-trip times:
- between AWS regions: the directional one-year median of ``data/aws_interregion_rtt_p50_ms.csv``
  (cloudping.co, captured 2025-05-29). Its diagonal is a within-region endpoint RTT (2-5 ms), which
  the model uses for a call from a region to a regional service endpoint (S3, DynamoDB, the
  vendor's control plane) in the same region.
- between GCP or Azure regions (names written ``gcp:us-east4``, ``azure:eastus``): the ``min``
  column of ``data/cloud_vm_ping_rtt_ms.csv`` (Skyplane VM ping profiles, 2022), the robust
  steady-state figure (its averages carry spikes). Their within-region endpoint RTT is not in the
  data: 2 ms, an estimate in the range of the AWS diagonal.
- within a region: same zone 0.3 ms, across zones 1.0 ms (published EC2 measurements: intra-AZ
  0.26-0.41 ms, cross-AZ 0.83-1.13 ms, orensol.com 2009 and a 2022 eu-west-1 measurement).

Jitter: every sampled RTT adds an exponential term with mean ``jitter_ms`` (default 0.3 ms, in the
0.05-0.7 ms ping mean deviation of the Skyplane profiles). Links between regions are components
(one per direction) that partitions cut and degradations slow; packet loss on a degraded link costs
a retransmission timeout (200 ms minimum, Linux ``TCP_RTO_MIN``) with the loss probability.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

from sim.core.rng import Block
from sim.model.component import Component

NON_AWS_ENDPOINT_RTT_MS = 2.0  # estimate: within-region endpoint RTT for GCP/Azure regions
SAME_ZONE_RTT_MS = 0.3  # orensol.com 2009: intra-AZ 0.26-0.41 ms
CROSS_ZONE_RTT_MS = 1.0  # orensol.com 2009: 0.94-1.13 ms; eu-west-1 2022: 0.83 ms
DEFAULT_JITTER_MS = 0.3  # Skyplane ping mean deviation 0.05-0.7 ms
TCP_RTO_MIN_S = 0.2  # Linux TCP_RTO_MIN


@lru_cache(maxsize=1)
def aws_rtt_matrix() -> dict[tuple[str, str], float]:
    """Directional AWS RTT p50 in ms, keyed (src, dst)."""
    out: dict[tuple[str, str], float] = {}
    with resources.files("sim").joinpath("data/aws_interregion_rtt_p50_ms.csv").open() as f:
        for row in csv.DictReader(f):
            out[(row["src"], row["dst"])] = float(row["rtt_p50_ms"])
    return out


@lru_cache(maxsize=1)
def vm_rtt_matrix() -> dict[tuple[str, str], float]:
    """Directional VM ping RTT (min) in ms between ``provider:region`` names (zones folded)."""
    out: dict[tuple[str, str], float] = {}
    with resources.files("sim").joinpath("data/cloud_vm_ping_rtt_ms.csv").open() as f:
        for row in csv.DictReader(f):
            src, dst = _fold_zone(row["src"]), _fold_zone(row["dst"])
            v = float(row["rtt_min_ms"])
            if (src, dst) not in out or v < out[(src, dst)]:
                out[(src, dst)] = v
    return out


def _fold_zone(name: str) -> str:
    provider, _, region = name.partition(":")
    if provider == "gcp" and region[-2:-1] == "-" and region[-1].isalpha():
        region = region[:-2]
    return f"{provider}:{region}"


def known_regions() -> list[str]:
    """Every region name the shipped RTT data knows, sorted."""
    names = {s for s, _ in aws_rtt_matrix()}
    names |= {s for s, _ in vm_rtt_matrix() if not s.startswith("aws:")}
    return sorted(names)


def base_rtt_ms(src: str, dst: str) -> float:
    """The steady-state RTT in ms from ``src`` to ``dst`` (a regional endpoint when equal)."""
    aws = aws_rtt_matrix()
    if (src, dst) in aws:
        return aws[(src, dst)]
    if src == dst:
        return NON_AWS_ENDPOINT_RTT_MS
    vm = vm_rtt_matrix()
    a = src if ":" in src else f"aws:{src}"
    b = dst if ":" in dst else f"aws:{dst}"
    for key in ((a, b), (b, a)):
        if key in vm:
            return vm[key]
    raise KeyError(f"no RTT known between {src} and {dst}")


class Link(Component):
    """One direction of the path between two regions: it can be cut (down) or degraded (a
    slow-down and a packet-loss probability)."""

    part = "link"

    def __init__(self, src: str, dst: str):
        super().__init__(f"link:{src}->{dst}", src)
        self.src = src
        self.dst = dst
        self._losses: list[float] = []
        self.loss = 0.0

    def add_loss(self, p: float) -> None:
        """Lose a further fraction ``p`` of packets (independently of other losses)."""
        self._losses.append(p)
        self._recompute_loss()

    def remove_loss(self, p: float) -> None:
        """Lift a packet loss put in force earlier."""
        self._losses.remove(p)
        self._recompute_loss()

    def _recompute_loss(self) -> None:
        ok = 1.0
        for p in self._losses:
            ok *= 1.0 - p
        self.loss = 1.0 - ok
        self._changed()


class Network:
    """RTTs between the regions of a run, with jitter, link state and degradations."""

    def __init__(self, regions: list[str], block: Block, jitter_ms: float = DEFAULT_JITTER_MS):
        self.regions = list(regions)
        self.block = block
        self.jitter_s = jitter_ms / 1000.0
        self.base_s = {(a, b): base_rtt_ms(a, b) / 1000.0 for a in regions for b in regions}
        self.links = {(a, b): Link(a, b) for a in regions for b in regions if a != b}
        # True while no link has ever been cut, slowed or made lossy: callers may then skip
        # the per-link checks (a cache, kept by watching the links; it names no fault)
        self.pristine = True
        for link in self.links.values():
            link.watch(self._link_changed)

    def _link_changed(self, _link: Link) -> None:
        self.pristine = False

    def link(self, src: str, dst: str) -> Link:
        """The directed link from ``src`` to ``dst``."""
        return self.links[(src, dst)]

    def path_ok(self, a: str, b: str) -> bool:
        """Whether a request from ``a`` to ``b`` and its response can both cross now."""
        if a == b:
            return True
        return self.links[(a, b)].is_up and self.links[(b, a)].is_up

    def path_ok_throughout(self, a: str, b: str, t0: float, t1: float) -> bool:
        """Whether the path a<->b was open for the whole of [t0, t1]."""
        if a == b:
            return True
        return self.links[(a, b)].up_throughout(t0, t1) and self.links[(b, a)].up_throughout(t0, t1)

    def rtt(self, a: str, b: str) -> float:
        """One sampled RTT in seconds from ``a`` to ``b`` (b's regional endpoint when a == b)."""
        base = self.base_s[(a, b)]
        rtt = base - self.jitter_s * math.log1p(-self.block.uniform())
        if not self.pristine and a != b:
            for link in (self.links[(a, b)], self.links[(b, a)]):
                s = link.slowdown
                if s is not None:
                    rtt = rtt * s.multiplier + s.add_s / 2
                    if s.extra_sigma:
                        rtt += self.jitter_s * s.extra_sigma * abs(self.block.normal()) * 10
                if link.loss and self.block.uniform() < link.loss:
                    rtt += max(TCP_RTO_MIN_S, 2 * base)
        return rtt

    def one_way(self, a: str, b: str) -> float:
        """One sampled one-way delay in seconds (half an RTT)."""
        if self.pristine or a == b:  # ``rtt`` in line: no link was ever slowed or made lossy
            return 0.5 * (self.base_s[(a, b)] - self.jitter_s * math.log1p(-self.block.uniform()))
        return 0.5 * self.rtt(a, b)

    def nearest(self, src: str, candidates: list[str]) -> list[str]:
        """``candidates`` ordered by steady-state RTT from ``src`` (name breaks ties)."""
        return sorted(candidates, key=lambda r: (r != src, self.base_s[(src, r)], r))

    @staticmethod
    def zone_rtt(zone_a: str | None, zone_b: str | None) -> float:
        """RTT in seconds between two zones of one region."""
        return (SAME_ZONE_RTT_MS if zone_a == zone_b else CROSS_ZONE_RTT_MS) / 1000.0
