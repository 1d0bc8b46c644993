"""The run folder: everything a run produced, written so that a half-written folder never looks complete.

Layout of ``<out>/<scenario>/<run-id>/``:

- ``summary.json``: the figures of spec section 6 (and more), see ``sim.run.runner``.
- ``scenario.yaml``: the resolved scenario, every default filled in, with the seed used.
- ``run.json``: run id, versions of the lab and its main dependencies, command line, status.
- ``requests.parquet``, ``attempts.parquet``, ``files.parquet``, ``batches.parquet``,
  ``receipts.parquet``: the per-request, per-attempt, per-file, per-metadata-batch and
  per-consumer-receipt tables behind the summary.
- ``ops.parquet``: request counts and bytes by operation, service and place (PUTs with retries,
  late PUTs, replica copies and repairs; GETs; table writes) for costs;
  ``components.parquet``: every component's up/down transitions; ``effects.parquet``: what each
  fault did to which component, from when to when.
- ``leader.csv``, ``faults.json``, ``events.csv``, ``topology.json``: the leader timeline (with
  epochs), each fault as it fired (kind, resolved target, every parameter, drawn values, label,
  start and end), the run's event log, and the topology with its RTT matrix.
- ``plots/``: the figures (``sim.report.plots``), rendered from the files above only.

The folder is written under a hidden temporary name and renamed at the end. A failed run leaves
``<run-id>.failed/`` holding ``error.txt`` and whatever it had, never a folder that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.report.folder import TABLES, load_run  # noqa: F401 - load_run re-exported

if TYPE_CHECKING:  # reading a run folder (plots, reports) must not import the model
    from sim.run.runner import RunResult

VERSIONED = ("simpy", "numpy", "pandas", "pyarrow", "matplotlib", "networkx", "pydantic", "PyYAML")


def versions() -> dict:
    """Versions of the lab, Python and the main dependencies."""
    out = {"sim": _version("sim"), "python": platform.python_version()}
    for name in VERSIONED:
        out[name] = _version(name)
    return out


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def new_run_dir(out: str | Path, scenario: str, seed: int) -> tuple[Path, Path]:
    """(final path, temporary path) for a new run folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(out) / scenario
    run_id = f"{stamp}-seed{seed}"
    final = base / run_id
    k = 1
    while final.exists() or (base / f"{run_id}.failed").exists():
        k += 1
        final = base / f"{run_id}-{k}"
    tmp = base / f".{final.name}.partial"
    return final, tmp


def write_tables(res: RunResult, folder: Path) -> None:
    """Write the summary, the resolved scenario and the tables into ``folder``."""
    from sim.scenario import to_yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(res.summary, indent=2, allow_nan=False) + "\n")
    (folder / "scenario.yaml").write_text(to_yaml(res.scenario))
    for name in TABLES:
        df: pd.DataFrame = getattr(res, name)
        df.to_parquet(folder / f"{name}.parquet", index=False)
    res.leader.to_csv(folder / "leader.csv", index=False)
    (folder / "faults.json").write_text(json.dumps(res.faults, indent=2, allow_nan=False) + "\n")
    (folder / "topology.json").write_text(json.dumps(res.topology, indent=2) + "\n")
    res.events.to_csv(folder / "events.csv", index=False)


def write_run(
    res: RunResult,
    out: str | Path = "results",
    plots: bool = True,
    fmt: str = "png",
    argv: list[str] | None = None,
) -> Path:
    """Write a complete run folder and return its path (renamed into place only when complete)."""
    final, tmp = new_run_dir(out, res.scenario.name, res.seed)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        write_tables(res, tmp)
        info = {
            "run_id": final.name,
            "scenario": res.scenario.name,
            "seed": res.seed,
            "versions": versions(),
            "argv": argv or [],
            "status": "complete",
        }
        if plots:
            from sim.report import plots as plotmod

            info["plots"] = plotmod.render_all(tmp, fmt=fmt)
        (tmp / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, final)
    except BaseException:
        _failed_dir(final, traceback.format_exc(), partial=tmp)
        raise
    return final


def _failed_dir(final: Path, error: str, partial: Path | None = None) -> Path:
    """``<run-id>.failed/`` holding ``error.txt`` (and what a partial folder had, if any)."""
    fail = final.with_name(final.name + ".failed")
    if partial is not None and partial.exists():
        os.replace(partial, fail)
    else:
        fail.mkdir(parents=True, exist_ok=True)
    (fail / "error.txt").write_text(error)
    return fail


def record_failure(out: str | Path, scenario: str, seed: int, exc_text: str) -> Path:
    """A run that failed before it produced results: ``<run-id>.failed/error.txt``."""
    final, _ = new_run_dir(out, scenario, seed)
    return _failed_dir(final, exc_text)
