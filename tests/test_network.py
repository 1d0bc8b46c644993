"""The network: RTTs from the shipped matrices, jitter, links that fail."""

import numpy as np
import pytest

from sim.core.latency import Slowdown
from sim.core.rng import Streams
from sim.model.network import Network, base_rtt_ms, known_regions

TRIAD = ["us-east-1", "us-east-2", "us-west-2"]


def test_us_triad_rtts_match_the_shipped_matrix():
    """The US triad RTTs are those of the cloudping.co matrix (spec section 3)."""
    assert base_rtt_ms("us-east-1", "us-east-2") == pytest.approx(14.668)
    assert base_rtt_ms("us-east-1", "us-west-2") == pytest.approx(64.269)
    assert base_rtt_ms("us-east-2", "us-west-2") == pytest.approx(51.1)
    assert 2 < base_rtt_ms("us-east-1", "us-east-1") < 6  # endpoint RTT on the diagonal


def test_gcp_regions_use_the_vm_ping_profiles():
    """GCP names resolve through the Skyplane VM ping data (zones folded into regions)."""
    assert "gcp:us-east4" in known_regions()
    assert 10 < base_rtt_ms("gcp:us-east4", "gcp:us-east1") < 20
    with pytest.raises(KeyError):
        base_rtt_ms("us-east-1", "nowhere-1")


def test_sampled_rtt_has_a_small_positive_jitter():
    """Sampled RTTs never go below the base and add about the configured mean jitter."""
    net = Network(TRIAD, Streams(1).block("n"), jitter_ms=0.3)
    x = np.array([net.rtt("us-east-1", "us-west-2") for _ in range(20_000)]) * 1000
    assert x.min() >= 64.269 - 1e-9
    assert x.mean() - 64.269 == pytest.approx(0.3, abs=0.02)


def test_cut_link_breaks_the_path_both_ways_for_requests():
    """A request needs both directions: cutting one makes the path unusable until it heals."""
    net = Network(TRIAD, Streams(1).block("n"))
    assert net.path_ok("us-east-1", "us-west-2")
    net.link("us-west-2", "us-east-1").take_down(10.0)
    assert not net.path_ok("us-east-1", "us-west-2")
    assert not net.path_ok_throughout("us-east-1", "us-west-2", 5.0, 12.0)
    assert net.path_ok_throughout("us-east-1", "us-west-2", 1.0, 9.0)
    net.link("us-west-2", "us-east-1").bring_up(20.0)
    assert net.path_ok("us-east-1", "us-west-2") and not net.pristine


def test_degradation_adds_delay_and_heals():
    """A degraded path adds its delay; restoring it brings the RTT back."""
    net = Network(TRIAD, Streams(1).block("n"))
    s = Slowdown(0.1, 1.0, 0.0)
    links = (net.link("us-east-1", "us-east-2"), net.link("us-east-2", "us-east-1"))
    for lk in links:
        lk.add_slowdown(s, 1.0)
    slow = np.median([net.rtt("us-east-1", "us-east-2") for _ in range(1000)])
    for lk in links:
        lk.remove_slowdown(s, 2.0)
    fast = np.median([net.rtt("us-east-1", "us-east-2") for _ in range(1000)])
    assert slow - fast == pytest.approx(0.1, abs=0.005)
