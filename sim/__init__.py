"""A discrete-event simulator and failure-injection lab for multi-region streaming on object storage.

Public API: ``load_scenario`` reads and validates a scenario file, ``run`` runs it from one seed
(a ``RunResult``), ``write_run`` writes a results folder, ``load_run`` reads one back. They are
imported lazily, so that reading results (plots, reports) never loads the model.
"""

from __future__ import annotations

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "load_run",
    "load_scenario",
    "run",
    "write_run",
]
__version__ = "0.1.0"

_WHERE = {
    "RunResult": "sim.run.runner",
    "run": "sim.run.runner",
    "Scenario": "sim.scenario",
    "ScenarioError": "sim.scenario",
    "load_scenario": "sim.scenario",
    "write_run": "sim.report.results",
    "load_run": "sim.report.results",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
