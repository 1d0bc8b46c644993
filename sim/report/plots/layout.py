"""Where regions go on the topology figure: a rough map from their coordinates, and a layout
algorithm that spreads overlapping boxes apart."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

# Approximate (longitude, latitude) of cloud regions, for a map-like topology layout. Placement
# only: a region missing here makes the layout fall back to a graph layout.
GEO: dict[str, tuple[float, float]] = {
    # AWS
    "us-east-1": (-77.5, 39.0), "us-east-2": (-83.0, 40.0), "us-west-1": (-122.0, 37.4),
    "us-west-2": (-119.7, 45.8), "ca-central-1": (-73.6, 45.5), "ca-west-1": (-114.1, 51.0),
    "mx-central-1": (-100.4, 20.6), "sa-east-1": (-46.6, -23.5), "eu-west-1": (-6.3, 53.3),
    "eu-west-2": (-0.1, 51.5), "eu-west-3": (2.35, 48.9), "eu-central-1": (8.7, 50.1),
    "eu-central-2": (8.5, 47.4), "eu-north-1": (18.1, 59.3), "eu-south-1": (9.2, 45.5),
    "eu-south-2": (-0.9, 41.6), "af-south-1": (18.4, -33.9), "me-south-1": (50.6, 26.1),
    "me-central-1": (54.4, 24.5), "il-central-1": (34.8, 32.1), "ap-east-1": (114.2, 22.3),
    "ap-south-1": (72.9, 19.1), "ap-south-2": (78.5, 17.4), "ap-northeast-1": (139.7, 35.7),
    "ap-northeast-2": (127.0, 37.6), "ap-northeast-3": (135.5, 34.7),
    "ap-southeast-1": (103.8, 1.35), "ap-southeast-2": (151.2, -33.9),
    "ap-southeast-3": (106.8, -6.2), "ap-southeast-4": (145.0, -37.8),
    "ap-southeast-5": (101.7, 3.1), "ap-southeast-7": (100.5, 13.8),
    # GCP
    "gcp:asia-east1": (120.5, 24.1), "gcp:asia-east2": (114.2, 22.3),
    "gcp:asia-northeast1": (139.7, 35.7), "gcp:asia-northeast2": (135.5, 34.7),
    "gcp:asia-northeast3": (127.0, 37.6), "gcp:asia-south1": (72.9, 19.1),
    "gcp:asia-south2": (77.2, 28.6), "gcp:asia-southeast1": (103.8, 1.35),
    "gcp:asia-southeast2": (106.8, -6.2), "gcp:australia-southeast1": (151.2, -33.9),
    "gcp:australia-southeast2": (145.0, -37.8), "gcp:europe-central2": (21.0, 52.2),
    "gcp:europe-north1": (27.2, 60.6), "gcp:europe-west1": (3.8, 50.5),
    "gcp:europe-west2": (-0.1, 51.5), "gcp:europe-west3": (8.7, 50.1),
    "gcp:europe-west4": (6.8, 53.4), "gcp:europe-west6": (8.5, 47.4),
    "gcp:northamerica-northeast1": (-73.6, 45.5), "gcp:northamerica-northeast2": (-79.4, 43.7),
    "gcp:southamerica-east1": (-46.6, -23.5), "gcp:southamerica-west1": (-70.7, -33.4),
    "gcp:us-central1": (-95.9, 41.3), "gcp:us-east1": (-80.0, 33.2),
    "gcp:us-east4": (-77.5, 39.0), "gcp:us-west1": (-121.2, 45.6),
    "gcp:us-west4": (-115.1, 36.2),
    # Azure
    "azure:australiaeast": (151.2, -33.9), "azure:brazilsouth": (-46.6, -23.5),
    "azure:canadacentral": (-79.4, 43.7), "azure:centralindia": (73.9, 18.5),
    "azure:eastasia": (114.2, 22.3), "azure:eastus": (-79.0, 37.4),
    "azure:francecentral": (2.35, 48.9), "azure:germanywestcentral": (8.7, 50.1),
    "azure:japaneast": (139.7, 35.7), "azure:koreacentral": (127.0, 37.6),
    "azure:northcentralus": (-87.6, 41.9), "azure:northeurope": (-6.3, 53.3),
    "azure:norwayeast": (10.75, 59.9), "azure:southafricanorth": (28.0, -26.2),
    "azure:swedencentral": (17.1, 60.7), "azure:switzerlandnorth": (8.5, 47.4),
    "azure:uaenorth": (55.3, 25.3), "azure:uksouth": (-0.1, 51.5),
    "azure:westeurope": (4.9, 52.4), "azure:westus": (-122.4, 37.8),
    "azure:westus3": (-112.1, 33.4),
}  # fmt: skip


def initial_positions(regions: list[str], rtt: dict, width: float = 8.0, height: float = 4.5):
    """Region centres in inches: longitude/latitude when every region is in ``GEO``, else a
    networkx spring layout on 1/RTT; fitted into ``width`` x ``height``. (positions, geographic?)"""
    if len(regions) == 1:
        return {regions[0]: np.zeros(2)}, regions[0] in GEO
    geo = all(r in GEO for r in regions)
    if geo:
        pts = np.array([GEO[r] for r in regions], dtype=float)
    else:
        g = nx.Graph()
        g.add_nodes_from(regions)
        for i, a in enumerate(regions):
            for b in regions[i + 1 :]:
                ms = (_rtt(rtt, a, b) + _rtt(rtt, b, a)) / 2
                g.add_edge(a, b, weight=1.0 / max(ms if math.isfinite(ms) else 100.0, 1.0))
        lay = nx.spring_layout(g, seed=1) if len(regions) > 3 else nx.circular_layout(g)
        pts = np.array([lay[r] for r in regions], dtype=float)
    pts -= pts.min(axis=0)
    rng = pts.max(axis=0)
    scales = [lim / r for lim, r in zip((width, height), rng, strict=True) if r > 0]
    pts *= min(scales) if scales else 1.0
    return {r: pts[i] for i, r in enumerate(regions)}, geo


def _clip(p0: np.ndarray, p1: np.ndarray, centre: np.ndarray, half: np.ndarray):
    """Liang-Barsky: the parameter range [t0, t1] of segment p0-p1 inside a box, or None."""
    t0, t1 = 0.0, 1.0
    d = p1 - p0
    for k in range(2):
        lo, hi = centre[k] - half[k], centre[k] + half[k]
        if abs(d[k]) < 1e-12:
            if p0[k] < lo or p0[k] > hi:
                return None
            continue
        a, b = (lo - p0[k]) / d[k], (hi - p0[k]) / d[k]
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return None
    return t0, t1


def spread_boxes(
    regions: list[str],
    pos: dict[str, np.ndarray],
    sizes: dict[str, tuple[float, float]],
    edges: list[tuple[str, str]],
    gap: float = 0.6,
    clearance: float = 0.3,
) -> dict[str, np.ndarray]:
    """Move boxes (sizes in inches) until none overlap and no edge runs under a third box.

    Deterministic and small: overlapping boxes are pushed apart along the axis that needs the
    least movement; a box an edge passes under is pushed away from that edge. The rough geography
    survives, which is all a topology sketch needs.
    """
    c = np.array([pos[r] for r in regions], dtype=float)
    half = np.array([sizes[r] for r in regions], dtype=float) / 2
    idx = {r: i for i, r in enumerate(regions)}
    ed = [(idx[a], idx[b]) for a, b in edges]
    n = len(regions)
    for it in range(3000):
        moved = False
        for i in range(n):
            for j in range(i + 1, n):
                d = c[j] - c[i]
                over = half[i] + half[j] + gap - np.abs(d)
                if over[0] > 0 and over[1] > 0:
                    k = 0 if over[0] <= over[1] else 1
                    s = np.sign(d[k]) or (1.0 if (i + j + it) % 2 else -1.0)
                    c[i, k] -= s * (over[k] / 2 + 0.01)
                    c[j, k] += s * (over[k] / 2 + 0.01)
                    moved = True
        for k in range(n):
            for i, j in ed:
                if k in (i, j) or _clip(c[i], c[j], c[k], half[k] + clearance) is None:
                    continue
                d = c[j] - c[i]
                norm = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0)
                side = np.sign(np.dot(c[k] - c[i], norm)) or (1.0 if k % 2 else -1.0)
                c[k] += side * norm * 0.08
                c[i] -= side * norm * 0.04
                c[j] -= side * norm * 0.04
                moved = True
        if not moved:
            break
    return {r: c[i] for i, r in enumerate(regions)}


def _rtt(rtt: dict, a: str, b: str) -> float:
    return float((rtt.get(a) or {}).get(b, float("nan")))
