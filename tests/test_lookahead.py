"""The file in flight and the fault schedule's lookahead (``sim.core.events.Horizon``): the same
results as the general path, fewer events, and a fault inside the lookahead is an error."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.core.events import Horizon
from sim.faults.schedule import Nemesis
from sim.model.agent import Agent, _FileInFlight
from tests.conftest import run_small

FAULTS = {
    "faults": [
        {"kind": "bucket-unavailable", "target": "us-east-2", "at": 12, "duration": 8},
        {"kind": "control-plane-outage", "target": "leader", "at": 30, "duration": 10},
        {"kind": "data-plane-outage", "target": "us-west-2", "at": 50, "duration": 5},
    ]
}
TABLES = ("requests", "attempts", "files", "batches")


def _same(a, b) -> None:
    sa = {k: v for k, v in a.summary.items() if k not in ("model", "wall_time_s")}
    sb = {k: v for k, v in b.summary.items() if k not in ("model", "wall_time_s")}
    assert sa == sb
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.mark.parametrize("faults", [False, True], ids=["quiet", "faults"])
def test_files_in_flight_and_early_answers_change_no_result(monkeypatch, faults):
    """Every file on the general path, files in flight without the lookahead, and both: the
    same summary and tables; the lookahead saves about one event per file in a quiet world."""
    over = FAULTS if faults else None
    both = run_small(over, duration=70)
    monkeypatch.setattr(_FileInFlight, "early", None)  # deliver: no early answers
    no_early = run_small(over, duration=70)
    monkeypatch.setattr(Agent, "fast_files", False)
    general = run_small(over, duration=70)
    _same(both, general)
    _same(no_early, general)
    files = general.summary["files"]["flushed"]
    saved = no_early.summary["model"]["events"] - both.summary["model"]["events"]
    assert general.summary["model"]["events"] == no_early.summary["model"]["events"]
    if not faults:
        assert saved > 0.95 * files
    else:  # a bucket went down at 12 s: from then on the world is not quiet (12 s of 70)
        early = (general.files["flush_s"] < 11.5).sum()
        assert 0.95 * early < saved <= (general.files["flush_s"] < 12.0).sum()


def test_the_schedule_bounds_the_lookahead(monkeypatch):
    """Before a fault the horizon is its start, while it is active there is none, after its end
    it is the next start, and never past the run's end."""
    seen = []
    orig = Nemesis._update_horizon

    def spy(self):
        orig(self)
        seen.append((self.env.now, self.horizon.until))

    monkeypatch.setattr(Nemesis, "_update_horizon", spy)
    run_small(
        {"faults": [
            {"kind": "bucket-unavailable", "target": "us-east-2", "at": 12, "duration": 8},
            {"kind": "bucket-unavailable", "target": "us-west-2", "at": 30, "duration": 5},
        ]},
        duration=50,
    )  # fmt: skip
    inf = float("-inf")
    assert seen[0] == (0.0, 12.0)
    assert (12.0, inf) in seen and (20.0, 30.0) in seen and (30.0, inf) in seen
    assert seen[-1] == (35.0, 50.0)


def test_a_fault_inside_the_lookahead_is_an_error(monkeypatch):
    """A schedule that hides its faults (the horizon always the run's end) lets answers be acted
    on past a fault: the fault's effect raises instead of giving a silently different run."""

    def blind(self):
        if self.horizon is not None:
            self.horizon.until = self.run_end

    monkeypatch.setattr(Nemesis, "_update_horizon", blind)
    with pytest.raises(RuntimeError, match="inside the model's lookahead"):
        run_small(
            {
                "faults": [
                    {
                        "kind": "data-plane-outage",
                        "target": "us-west-2",
                        "at": 10,
                        "duration": 1,
                        "every": 3,
                    }  # fmt: skip
                ]
            },
            duration=40,
        )


def test_horizon_check():
    h = Horizon()
    assert h.until == float("-inf")
    h.check(0.0)
    h.promise(5.0)
    h.promise(3.0)
    assert h.promised == 5.0
    h.check(5.0)
    with pytest.raises(RuntimeError):
        h.check(4.9)
