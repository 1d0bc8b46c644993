"""Components: nested holds, destruction, and history queries."""

import numpy as np

from sim.model.component import INF, Component


def test_nested_holds_keep_a_component_down_until_the_last_heals():
    """Two overlapping faults: the component is up again only when both have healed."""
    c = Component("x", "r")
    c.take_down(1.0)
    c.take_down(2.0)
    c.bring_up(3.0)
    assert not c.is_up
    c.bring_up(4.0)
    assert c.is_up and c.down_intervals(10.0) == [(1.0, 4.0)]


def test_destroyed_never_comes_back():
    """A destroyed component stays down whatever heals."""
    c = Component("x", "r")
    c.destroy(5.0)
    c.bring_up(6.0)
    assert not c.is_up and c.destroyed and c.destroyed_at == 5.0
    assert c.next_up_after(6.0) == INF


def test_history_queries():
    """up_at, up_throughout, first_down_after and their vectorised forms agree with the history."""
    c = Component("x", "r")
    c.take_down(10.0)
    c.bring_up(20.0)
    assert c.up_at(5.0) and not c.up_at(15.0) and c.up_at(25.0)
    assert (
        c.up_throughout(0.0, 9.9) and not c.up_throughout(5.0, 12.0) and c.up_throughout(20.0, 30.0)
    )
    assert c.first_down_after(0.0) == 10.0 and c.next_up_after(12.0) == 20.0
    t = np.array([5.0, 15.0, 25.0])
    assert c.up_mask(t).tolist() == [True, False, True]
    assert c.up_throughout_mask(
        np.array([0.0, 5.0, 21.0]), np.array([9.0, 11.0, 29.0])
    ).tolist() == [True, False, True]


def test_error_rates_compose():
    """Two error rates in force fail 1 - (1 - a)(1 - b) of requests; removing one restores the other."""
    c = Component("x", "r")
    c.add_error_rate(0.5)
    c.add_error_rate(0.5)
    assert c.error_rate == 0.75
    c.remove_error_rate(0.5)
    assert c.error_rate == 0.5
