"""Availability in nines (issue 11): the incident model and its composition over months.

- `incidents`: load the fitted incident model (`sim/data/incidents.csv`), draw rates from posteriors;
- `compose`: nested Monte Carlo over months on common incident histories, overlaps through a hook,
  importance sampling for the rare ones;
- `summary`: downtime distribution, SLA figures, nines with intervals;
- `fit`: regenerate the incident table (`python -m sim.ensemble.availability.fit`);
- `stats`: Gamma posteriors and quantiles, lognormal fits, Ford et al.'s 120 s bursts.

Independent of the model and the runner: the simulator's part is to supply `OutcomeSample`s and,
for overlapping incidents, a `JointHook`.
"""

from .compose import (
    BUDGETS_S,
    MONTH_S,
    Composition,
    Design,
    Incident,
    JointHook,
    Outcome,
    OutcomeSample,
    compose,
)
from .incidents import IncidentClass, IncidentModel, load_incidents
from .summary import summarise

__all__ = [
    "BUDGETS_S",
    "MONTH_S",
    "Composition",
    "Design",
    "Incident",
    "IncidentClass",
    "IncidentModel",
    "JointHook",
    "Outcome",
    "OutcomeSample",
    "compose",
    "load_incidents",
    "summarise",
]
