"""Reading a run folder back (the layout is described in :mod:`sim.report.results`).

Plots, reports and notebooks read runs through ``load_run`` only: they never import the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

TABLES = ("requests", "attempts", "files", "batches", "receipts", "ops", "components", "effects")


def load_run(folder: str | Path) -> dict:
    """Read a run folder back: summary, scenario text, tables and timelines."""
    folder = Path(folder)
    out: dict = {"summary": json.loads((folder / "summary.json").read_text())}
    out["scenario_yaml"] = (folder / "scenario.yaml").read_text()
    for name in TABLES:
        p = folder / f"{name}.parquet"
        out[name] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
    out["leader"] = pd.read_csv(folder / "leader.csv")
    out["faults"] = json.loads((folder / "faults.json").read_text())
    out["topology"] = json.loads((folder / "topology.json").read_text())
    ev = folder / "events.csv"
    out["events"] = pd.read_csv(ev) if ev.exists() else pd.DataFrame()
    return out
