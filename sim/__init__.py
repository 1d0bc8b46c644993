"""A discrete-event simulator and failure-injection lab for multi-region streaming on object storage.

Public API: ``load_scenario`` reads and validates a scenario file, ``run`` runs it from one seed,
``write_run`` writes a results folder.
"""

from sim.runner import RunResult, run
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run"]
__version__ = "0.1.0"
