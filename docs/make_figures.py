"""Regenerate the figures shown in the README from shipped scenarios.

    python docs/make_figures.py

Runs scenarios/leader-control-plane-to-zero.yaml, nuke-leader-region.yaml and
soft-failure-slow-table.yaml (seed 1, as shipped) into a temporary folder and copies two plots of each into docs/img/.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from sim.report.results import write_run
from sim.run.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {
    "leader-control-plane-to-zero": ["produce_latency", "leader_timeline"],
    "nuke-leader-region": ["produce_latency", "leader_timeline", "topology"],
    "soft-failure-slow-table": ["produce_latency"],
}


def main() -> int:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, plots in FIGURES.items():
            res = run(load_scenario(ROOT / "scenarios" / f"{name}.yaml"))
            run_dir = write_run(res, tmp)
            for p in plots:
                shutil.copy(run_dir / "plots" / f"{p}.png", out / f"{name}-{p}.png")
                print(f"docs/img/{name}-{p}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
