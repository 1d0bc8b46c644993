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
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.report.folder import (  # noqa: F401 - re-exported for callers of results
    RUN_FILES,
    TABLES,
    RunFolderError,
    check_complete,
    load_run,
)

if TYPE_CHECKING:  # reading a run folder (plots, reports) must not import the model
    from sim.run.runner import RunResult

# every file of a complete run folder (besides run.json, written last, and plots/)
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


def _reserve(base: Path, run_id: str) -> tuple[Path, Path]:
    """(final path, temporary path) for a new run folder, the temporary one created.

    The hidden ``.<id>.partial`` folder is the lock on the name: it is created with an exclusive
    ``mkdir`` (atomic), and only then is the final name checked to be free. Two runs of the same
    scenario and seed in the same second, in two processes, therefore get two folders (``-2``)."""
    base.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        name = run_id if k == 1 else f"{run_id}-{k}"
        final, tmp = base / name, base / f".{name}.partial"
        k += 1
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        if final.exists() or final.with_name(name + ".failed").exists():
            tmp.rmdir()
            continue
        return final, tmp


def new_run_dir(out: str | Path, scenario: str, seed: int) -> tuple[Path, Path]:
    """(final path, temporary path, already created) for a new run folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return _reserve(Path(out) / scenario, f"{stamp}-seed{seed}")


def check_out(out: str | Path) -> str | None:
    """Why results cannot be written under ``out`` (checked before a run starts), or None."""
    path = Path(out)
    try:
        if path.exists() and not path.is_dir():
            return f"--out {out}: not a folder (a file of that name exists)"
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"--out {out}: cannot create the results folder ({e.strerror or e})"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"--out {out}: cannot write in the results folder (permission denied)"
    return None


def write_tables(res: RunResult, folder: Path) -> None:
    """Write the summary, the resolved scenario and the tables into ``folder``."""
    from sim.scenario import to_yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(res.summary, indent=2, allow_nan=False) + "\n")
    (folder / "scenario.yaml").write_text(to_yaml(res.scenario))
    tables = getattr(res, "tables", {})
    for name in TABLES:
        dest = folder / f"{name}.parquet"
        if name in tables:
            # a table written as the run went moves into the folder (and is read from there)
            tables[name].write(dest, move=True)
        else:
            df: pd.DataFrame = getattr(res, name)
            df.to_parquet(dest, index=False)
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
    plot_jobs: int = 1,
    plot_worker=None,
) -> Path:
    """Write a complete run folder and return its path (renamed into place only when complete);
    ``plot_jobs`` 2 draws the plots in two processes (``sim.report.plots.render_all``);
    ``plot_worker``: a ``sim.report.plot_worker.PlotWorker`` to draw them (its own ``jobs``)."""
    final, tmp = new_run_dir(out, res.scenario.name, res.seed)
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
        if plots and plot_worker is not None:
            info["plots"] = plot_worker.render(tmp, fmt=fmt)
        elif plots:
            from sim.report import plots as plotmod

            info["plots"] = plotmod.render_all(tmp, fmt=fmt, jobs=plot_jobs)
        missing = [f for f in RUN_FILES if not (tmp / f).is_file()]
        if missing:
            raise RunFolderError(f"{tmp}: not written: {', '.join(missing)}")
        (tmp / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        os.rename(tmp, final)  # the name is ours (see _reserve): never onto another run
        for t in getattr(res, "tables", {}).values():  # tables moved in are read from there
            if t.path is not None and t.path.parent == tmp:
                t.path = final / t.path.name
    except BaseException as e:
        e.failed_dir = _failed_dir(final, traceback.format_exc(), partial=tmp)
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
    final, tmp = new_run_dir(out, scenario, seed)
    return _failed_dir(final, exc_text, partial=tmp)
