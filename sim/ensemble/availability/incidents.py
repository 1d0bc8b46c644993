"""The incident model: classes with a Gamma posterior on their rate and a duration distribution.

`load_incidents()` reads the package's `sim/data/incidents.csv` (written by
`python -m sim.ensemble.availability.fit`). Rate uncertainty and simulation noise are kept apart:
`IncidentModel.draw_rates` draws whole rate vectors from the posteriors (the outer loop of the
nested Monte Carlo), while arrivals, durations and outcomes are drawn later, per month, from other
streams (the inner loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import RatePosterior

SECONDS_PER_YEAR = 365.25 * 86400.0
SCOPES = ("region", "cluster")


@dataclass(frozen=True)
class IncidentClass:
    """One class of incidents.

    `scope` is `region` (the rate is per region-year; each incident hits one region of the cluster)
    or `cluster` (the rate is per cluster-year; the incident hits the cluster as a whole: a bad
    deployment, a correlated multi-region incident). `joint` marks hard classes whose time overlaps
    are simulated together. A shape of 0 means the rate is exactly 0.
    """

    name: str
    scope: str
    gamma_shape: float
    gamma_rate: float
    duration_median_s: float
    duration_sigma: float
    joint: bool = False
    durations_s: tuple[float, ...] = ()
    full_share: float = 1.0
    partial_error_rate: float = 1.0
    basis: str = ""
    source: str = ""
    notes: str = ""

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"{self.name}: scope must be one of {SCOPES}, not {self.scope!r}")
        if self.gamma_shape < 0 or (self.gamma_shape > 0 and self.gamma_rate <= 0):
            raise ValueError(f"{self.name}: bad Gamma({self.gamma_shape}, {self.gamma_rate})")

    @property
    def posterior(self) -> RatePosterior:
        return RatePosterior(self.gamma_shape, self.gamma_rate)

    @property
    def rate_mean(self) -> float:
        """Posterior mean rate, per region-year or per cluster-year."""
        return 0.0 if self.gamma_shape == 0 else self.gamma_shape / self.gamma_rate

    def draw_rates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Rates drawn from the posterior."""
        if self.gamma_shape == 0:
            return np.zeros(size)
        return rng.gamma(self.gamma_shape, 1.0 / self.gamma_rate, size)

    def error_rates(self, n: int) -> np.ndarray:
        """The error rate of each of `n` simulated incidents: the class's mix of full (1.0) and
        partial (`partial_error_rate`) incidents, stratified: the first round(full_share * n)
        are full, the others partial (at least one of each kind when the share is strictly
        between 0 and 1 and n >= 2)."""
        k = int(round(self.full_share * n))
        if n >= 2 and 0.0 < self.full_share < 1.0:
            k = min(max(k, 1), n - 1)
        return np.where(np.arange(n) < k, 1.0, self.partial_error_rate)

    def durations(self, z: np.ndarray) -> np.ndarray:
        """Durations (s) from standard normal draws `z`: lognormal(median, sigma)."""
        if math.isinf(self.duration_median_s):
            return np.full(np.shape(z), np.inf)
        return self.duration_median_s * np.exp(self.duration_sigma * np.asarray(z))


@dataclass(frozen=True)
class IncidentModel:
    """The classes, in a fixed order (the column order of rate vectors)."""

    classes: tuple[IncidentClass, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def __getitem__(self, name: str) -> IncidentClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.classes)

    def mean_rates(self) -> np.ndarray:
        """Posterior mean rates, one per class."""
        return np.array([c.rate_mean for c in self.classes])

    def draw_rates(self, rng: np.random.Generator, n_draws: int) -> np.ndarray:
        """`n_draws` rate vectors from the posteriors, shape (n_draws, n_classes)."""
        return np.column_stack([c.draw_rates(rng, n_draws) for c in self.classes])

    def only(self, *names: str) -> IncidentModel:
        """The model restricted to some classes."""
        return IncidentModel(tuple(self[n] for n in names))

    def with_class(self, name: str, **changes) -> IncidentModel:
        """A copy with one class's fields changed (e.g. `gamma_shape=0` to switch it off)."""
        return IncidentModel(
            tuple(replace(c, **changes) if c.name == name else c for c in self.classes)
        )


def default_path() -> Path:
    return Path(str(resources.files("sim") / "data" / "incidents.csv"))


def _durations(cell: str) -> tuple[float, ...]:
    return tuple(float(x) * 60.0 for x in str(cell).split(";") if x.strip())


def _num(row: dict, key: str, default: float) -> float:
    """A numeric cell, `default` when the column is absent or empty (older tables)."""
    value = row.get(key, "")
    return default if str(value).strip() == "" else float(value)


def load_incidents(path: str | Path | None = None) -> IncidentModel:
    """Read an incident table (the package's own by default)."""
    table = pd.read_csv(path or default_path(), keep_default_na=False)
    classes = []
    for row in table.to_dict("records"):
        joint = row["joint"]
        classes.append(
            IncidentClass(
                name=row["class"],
                scope=row["scope"],
                gamma_shape=float(row["gamma_shape"]),
                gamma_rate=float(row["gamma_rate"]),
                duration_median_s=float(row["duration_median_min"]) * 60.0,
                duration_sigma=float(row["duration_sigma"]),
                joint=joint if isinstance(joint, bool) else str(joint).lower() == "true",
                durations_s=_durations(row["durations_min"]),
                full_share=_num(row, "full_share", 1.0),
                partial_error_rate=_num(row, "partial_error_rate", 1.0),
                basis=row["basis"],
                source=row["source"],
                notes=row["notes"],
            )
        )
    return IncidentModel(tuple(classes))
