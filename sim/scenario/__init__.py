"""The scenario language: what a run is asked to simulate.

- ``schema``: the pydantic models of every section, with units, defaults and their sources, and the
  checks across sections;
- ``errors``: a problem described in words and located in the YAML (file:line:col);
- ``load``: reading files, ``extends:`` chains and ``--set`` overrides, every problem at once;
- ``jsonschema``: the JSON Schema that ``sim schema`` prints;
- ``reference``: ``docs/scenarios.md``, generated from the models.

Fault kinds are defined in :mod:`sim.faults` and plugged into ``Scenario.faults``.
"""

from sim.scenario.jsonschema import json_schema, show_duration, show_size
from sim.scenario.load import load_scenario, parse_override, to_yaml, validate_data
from sim.scenario.schema import (
    AgentConfig,
    ControlPlaneConfig,
    Duration,
    NetworkConfig,
    Region,
    RunConfig,
    Scenario,
    ScenarioError,
    Size,
    StorageConfig,
    TableConfig,
    TopologyConfig,
    WorkloadConfig,
)

__all__ = [
    "AgentConfig",
    "ControlPlaneConfig",
    "Duration",
    "NetworkConfig",
    "Region",
    "RunConfig",
    "Scenario",
    "ScenarioError",
    "Size",
    "StorageConfig",
    "TableConfig",
    "TopologyConfig",
    "WorkloadConfig",
    "json_schema",
    "load_scenario",
    "parse_override",
    "show_duration",
    "show_size",
    "to_yaml",
    "validate_data",
]
