"""The fault surface: every fault kind touches its components exactly between its start and its
end, and not after; the effects are recorded in the ledger; faults never reach the model by any
other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sim.faults import FAULT_KINDS
from tests.conftest import run_small

START, END, RUN = 10.0, 30.0, 40.0
W1 = "us-west-2"

# one occurrence of every kind, from START to END (an action fires at START)
CASES = {
    "region-outage": {"target": W1},
    "control-plane-outage": {"target": "leader"},
    "data-plane-outage": {"target": W1},
    "zone-outage": {"target": W1, "zone": "b"},
    "bucket-unavailable": {"target": W1},
    "bucket-slow": {"target": W1, "add": "50ms"},
    "bucket-errors": {"target": W1, "rate": 0.3},
    "table-unavailable": {"target": W1},
    "table-slow": {"target": W1, "add": "20ms"},
    "table-errors": {"target": W1, "rate": 0.3},
    "table-leader-lost": {},
    "replication-paused": {"target": W1},
    "partition": {"target": W1},
    "link-degradation": {"target": "us-east-1", "peer": W1, "delay": "20ms", "loss": 0.01},
    # down 6 s, up 3 s: holds 10-16, 19-25, then 28 until the heal at exactly 30
    "control-plane-crash-loop": {"target": W1, "down": "6s", "up": "3s"},
    "control-plane-slow": {"target": W1, "add": "5ms"},
    "bad-deploy": {"target": W1, "step": "2s", "bake": "5s", "detect_after": None},
    "clock-skew": {"target": W1, "offset": "-1s"},
    "load-spike": {"target": W1, "multiplier": 1.5},
    "producers-move": {"target": W1, "to": "us-east-2"},
    "consumers-move": {"target": W1, "to": "us-east-2"},
    "pin-preferred": {"target": "us-east-2"},
    "auto-preference": {},
}


def test_every_kind_has_a_case():
    kinds = {k.model_fields["kind"].annotation.__args__[0] for k in FAULT_KINDS}
    assert kinds == set(CASES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_fault_touches_its_components_exactly_between_start_and_end(kind):
    spec = {"kind": kind, "at": START, "duration": END - START, **CASES[kind]}
    settings = {"table.kind": "eventual"} if kind == "replication-paused" else {}
    res = run_small({"faults": [spec], **settings}, duration=RUN)
    (rec,) = res.faults
    assert rec["start_s"] == START
    eff = res.effects[res.effects["fault"] == rec["id"]]
    if rec["action"]:
        assert not rec["permanent"] and eff.empty
        assert any(kind in t for t in res.events["text"])
        return
    assert rec["end_s"] == END and not rec["permanent"]
    assert not eff.empty, "the fault did nothing"
    # every effect lies within the fault, and every effect is healed by its end
    assert (eff["start_s"] >= START).all() and (eff["start_s"] <= END).all()
    assert eff["end_s"].notna().all()
    assert (eff["end_s"] >= eff["start_s"]).all() and (eff["end_s"] <= END).all()
    assert eff["end_s"].max() == END
    # what the components' histories say: down only inside the fault, up again at its end
    down = eff[eff["effect"] == "down"]
    comps = res.components
    for name in down["component"].unique():
        h = comps[comps["component"] == name]
        assert not h.empty, name
        assert h["t_s"].min() >= START and h["t_s"].max() <= END, name
        assert bool(h.sort_values("t_s", kind="stable")["up"].iloc[-1]), f"{name} left down"


def test_permanent_fault_stays_and_other_faults_heal_at_the_run_end():
    """A permanent fault is not healed; a fault lasting past the run is healed at its end."""
    res = run_small(
        {
            "faults": [
                {"kind": "bucket-unavailable", "target": "us-east-2", "at": 10},
                {"kind": "bucket-unavailable", "target": W1, "at": 10, "duration": 100},
            ]
        },
        duration=RUN,
    )
    permanent, long = res.faults
    assert permanent["permanent"] and permanent["end_s"] is None
    assert long["end_s"] == RUN and long["scheduled_end_s"] == 110.0
    eff = res.effects
    assert eff[eff["fault"] == permanent["id"]]["end_s"].isna().all()
    assert (eff[eff["fault"] == long["id"]]["end_s"] == RUN).all()


def test_crash_loop_heals_at_its_recorded_end():
    """A crash loop recorded as ending at 30 s leaves the control plane up from 30 s (it used
    to stay down until its next restart)."""
    spec = {"kind": "control-plane-crash-loop", "target": W1, "at": 10, "duration": 20,
            "down": "15s", "up": "2s"}  # fmt: skip
    res = run_small({"faults": [spec]}, duration=RUN)
    h = res.components[res.components["component"] == f"control-plane:{W1}"]
    assert list(zip(h["t_s"], h["up"], strict=True)) == [
        (10.0, False), (25.0, True), (27.0, False), (30.0, True),
    ]  # fmt: skip


def test_table_leader_lost_heals_at_its_end():
    """Losing the table's leader role for less than the failover time stalls writes only until
    the fault ends (its heal used to do nothing)."""
    spec = {"kind": "table-leader-lost", "at": 10, "duration": 4}
    res = run_small({"faults": [spec], "table.leader_failover": "30s"}, duration=RUN)
    assert [r for _, r in res.summary["metadata"]["table_leader_changes"]] == ["us-east-1"]
    acks = res.requests["ack_s"].dropna()
    assert acks.between(15, 20).any()  # commits go on after the heal, long before a failover


MODEL = Path(__file__).resolve().parent.parent / "sim" / "model"


def test_model_code_names_no_fault():
    """No module of the model imports the faults, and none names a fault kind."""
    kinds = {k.model_fields["kind"].annotation.__args__[0] for k in FAULT_KINDS}
    for path in MODEL.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("sim.faults"), path.name
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in kinds, (path.name, node.value)
