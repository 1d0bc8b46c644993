"""The percentiles of a sample streamed in chunks (two passes, bounded memory) are
``np.percentile``'s on the whole sample, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.run import checks


def _chunks(v: np.ndarray, size: int, codes: np.ndarray | None = None):
    def gen():
        for i in range(0, len(v), size):
            yield v[i : i + size], ([] if codes is None else [codes[i : i + size]])

    return gen


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 101, 1000, 4097, 50_000])
@pytest.mark.parametrize("kind", ["lognormal", "ties", "negative"])
def test_streamed_percentiles_are_numpys(n, kind):
    rng = np.random.default_rng(n)
    if kind == "lognormal":
        v = np.exp(rng.normal(6.0, 0.5, n)) + rng.random(n)
    elif kind == "ties":
        v = rng.integers(0, 5, n).astype(float) * 100.0
    else:
        v = rng.normal(0.0, 50.0, n)
    v[rng.random(n) < 0.01] = np.nan  # non-finite values are left out, as latency_stats does
    whole = checks.latency_stats(v)
    got, _ = checks.streamed_stats(_chunks(v, 997))
    for k in ("count", "p50", "p90", "p99", "p999", "max"):
        assert got[k] == whole[k], k
    # the mean is the chunks' sums over the count: the same to the summary's 3 decimals here
    assert got["mean"] == pytest.approx(whole["mean"], abs=1e-3)
    # unrounded, the order statistics and the interpolation are numpy's to the last bit
    fin = v[np.isfinite(v)]
    st = checks.StreamedStats()
    for c in np.array_split(fin, 5):
        st.add(c)
    st.plan()
    for c in np.array_split(fin, 3):
        st.collect(c)
    want = np.percentile(fin, checks.PERCENTILES)
    vals = {k: np.sort(np.concatenate(p)) for k, p in st._parts.items()}
    got_q = []
    for p, nx, g in st._ranks():

        def at(r):
            k = st._want[r]
            return vals[k][r - (int(st._cum[k - 1]) if k > 0 else 0)]

        got_q.append(checks._lerp(at(p), at(nx), g))
    assert np.array_equal(np.array(got_q), want)


def test_streamed_groups_are_each_groups_own():
    rng = np.random.default_rng(3)
    v = np.exp(rng.normal(6.0, 0.4, 20_000))
    codes = rng.integers(-1, 3, len(v))
    whole, (groups,) = checks.streamed_stats(_chunks(v, 3000, codes), (3,))
    assert whole == checks.latency_stats(v) | {"mean": whole["mean"]}
    for g in range(3):
        want = checks.latency_stats(v[codes == g])
        assert {k: groups[g][k] for k in ("count", "p50", "p99")} == {
            k: want[k] for k in ("count", "p50", "p99")
        }


def test_no_values():
    whole, (groups,) = checks.streamed_stats(lambda: iter(()), (2,))
    assert whole["count"] == 0 and whole["p50"] is None
    assert [g["count"] for g in groups] == [0, 0]


def test_a_long_runs_latency_figures_are_the_short_ones(monkeypatch):
    """The summary's latency blocks computed in two streamed passes (as for a run beyond
    ``STREAM_ABOVE`` steady requests) are the ones computed from the whole sample."""
    from sim.run.runner import run
    from sim.scenario import validate_data
    from tests.conftest import small

    sc = validate_data(small(duration=60))
    whole = run(sc, 5).summary
    monkeypatch.setattr(checks, "STREAM_ABOVE", 1000)
    streamed = run(sc, 5).summary
    keys = ("produce_latency_ms", "produce_latency_ms_by_leader",
            "produce_latency_ms_by_producer_region", "e2e_latency_ms")  # fmt: skip
    assert whole["produce_latency_ms"]["count"] > 10 * 1000
    for k in keys:
        a, b = dict(whole[k]), dict(streamed[k])
        if "mean" in a:
            assert b.pop("mean") == pytest.approx(a.pop("mean"), abs=1e-3)
        assert a == b, k
