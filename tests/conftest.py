"""Shared helpers: small scenarios built in code, run quickly."""

from __future__ import annotations

import pytest

from sim.run.runner import run
from sim.scenario import validate_data


def small(overrides: dict | None = None, duration: float = 120.0, seed: int = 7) -> dict:
    """The reference topology with a short run, as a raw scenario mapping."""
    data = {
        "name": "test",
        "run": {"duration": duration, "seed": seed, "warmup": 5.0},
        "table": {"kind": "mrsc", "leader_region": "us-east-1"},
    }
    for key, value in (overrides or {}).items():
        cur = data
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
    return data


def run_small(overrides: dict | None = None, duration: float = 120.0, seed: int = 7):
    """Validate and run a small scenario."""
    return run(validate_data(small(overrides, duration, seed)))


@pytest.fixture(scope="session")
def steady():
    """A 2-minute steady-state run of the reference setup (shared by several tests)."""
    return run_small()
