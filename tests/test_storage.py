"""Object storage: the quorum rule."""

import math

from hypothesis import given
from hypothesis import strategies as st

from sim.model.quorum import quorum_time


@given(
    st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.booleans()), min_size=1, max_size=7),
    st.integers(1, 7),
)
def test_quorum_completes_at_kth_fastest_successful_put(puts, k):
    """A k-of-n write is durable exactly when the k-th fastest successful PUT completes."""
    times = [t for t, _ in puts]
    ok = [o for _, o in puts]
    q = quorum_time(times, ok, k)
    good = sorted(t for t, o in puts if o)
    if len(good) < k:
        assert math.isinf(q)
    else:
        assert q == good[k - 1]
        assert sum(1 for t in good if t <= q) >= k
        assert sum(1 for t in good if t < q) < k


def test_quorum_in_a_run_is_the_second_put_of_three(steady):
    """In a run, each acknowledged file's quorum time is the 2nd earliest of its 3 PUT ends."""
    f = steady.files
    acked = f[f["status"] == 1]
    ends = acked[[c for c in f.columns if c.startswith("put_end_s[")]].to_numpy()
    states = acked[[c for c in f.columns if c.startswith("put_state[")]].to_numpy()
    assert len(acked) > 100
    for q, e, s in zip(acked["quorum_s"].to_numpy(), ends, states, strict=True):
        verified = sorted(e[s == 0])
        assert q == verified[1]
