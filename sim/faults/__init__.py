"""Faults and operator actions, and the one surface through which they touch the model.

- ``surface``: the fault surface, a small typed protocol (hold down, slow, fail a fraction, cut or
  degrade links, move clients, pin the preferred region, skew a clock);
- ``kinds``: each fault kind a small class: its scenario syntax, what it does through the surface,
  its heal, and how plots draw it;
- ``schedule``: occurrences, symbolic targets resolved at fire time, the run's nemesis process
  with its final heal.
"""

from sim.faults.kinds import FAULT_KINDS, SYMBOLIC_TARGETS, FaultSpec, fault_region_problems

__all__ = ["FAULT_KINDS", "SYMBOLIC_TARGETS", "FaultSpec", "fault_region_problems"]
