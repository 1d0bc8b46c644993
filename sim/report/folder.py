"""Reading a run folder back (the layout is described in :mod:`sim.report.results`): checking it
is complete (``check_complete``) and loading it (``load_run``), a missing or damaged file named
in a ``RunFolderError``. Plots, reports and notebooks read runs through here only: they never
import the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

TABLES = ("requests", "attempts", "files", "batches", "receipts", "ops", "components", "effects")
# every file of a complete run folder (besides run.json, written last, and plots/)
RUN_FILES = ("summary.json", "scenario.yaml", *(f"{t}.parquet" for t in TABLES), "leader.csv",
             "faults.json", "topology.json", "events.csv")  # fmt: skip


class RunFolderError(Exception):
    """A run folder that cannot be read as a complete run: one line naming the file."""


def check_complete(folder: str | Path) -> None:
    """Raise RunFolderError unless ``folder`` is a run folder that was completed: not a
    ``.failed`` or hidden ``.partial`` one, with ``run.json`` saying complete and every file."""
    folder = Path(folder)
    name = folder.resolve().name
    if name.endswith(".failed"):
        raise RunFolderError(
            f"{folder}: a failed run (see {folder / 'error.txt'}), not a complete run folder"
        )
    if name.endswith(".partial") or name.startswith("."):
        raise RunFolderError(
            f"{folder}: an unfinished run (stopped or still writing), not a complete run folder"
        )
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a run folder")
    info_path = folder / "run.json"
    if not info_path.is_file():
        raise RunFolderError(f"{info_path}: missing: not a complete run folder")
    info = _json(info_path)
    if not isinstance(info, dict) or info.get("status") != "complete":
        raise RunFolderError(f"{info_path}: the run is not marked complete")
    for f in RUN_FILES:
        if not (folder / f).is_file():
            raise RunFolderError(f"{folder / f}: missing: the run folder is incomplete")


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunFolderError(f"{path}: damaged ({_why(e)})") from None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0][:200] if text else type(e).__name__) or type(e).__name__


def _table(path: Path, read) -> pd.DataFrame:
    if not path.is_file():
        raise RunFolderError(f"{path}: missing")
    try:
        return read(path)
    except Exception as e:  # pyarrow and pandas raise many kinds on a damaged file
        raise RunFolderError(f"{path}: damaged table ({_why(e)})") from None


def load_run(
    folder: str | Path, tables: tuple[str, ...] = TABLES, columns: dict | None = None
) -> dict:
    """Read a run folder back: summary, scenario text, tables and timelines. A missing or
    damaged file raises RunFolderError naming it (never an empty table in its place).
    ``tables``: the Parquet tables to read (the others are only checked to exist), so a reader
    that needs two tables does not hold all of them in memory; ``columns``: for some of them,
    the only columns to read (a day's requests table is tens of millions of rows)."""
    columns = columns or {}
    folder = Path(folder)
    out: dict = {"summary": _json(folder / "summary.json")}
    if not isinstance(out["summary"], dict):
        raise RunFolderError(f"{folder / 'summary.json'}: damaged (not a mapping)")
    try:
        out["scenario_yaml"] = (folder / "scenario.yaml").read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{folder / 'scenario.yaml'}: cannot read ({_why(e)})") from None
    for name in TABLES:
        if name in tables:
            cols = columns.get(name)
            out[name] = _table(
                folder / f"{name}.parquet", lambda p, c=cols: pd.read_parquet(p, columns=c)
            )
        elif not (folder / f"{name}.parquet").is_file():
            raise RunFolderError(f"{folder / f'{name}.parquet'}: missing")
    out["leader"] = _table(folder / "leader.csv", pd.read_csv)
    out["faults"] = _json(folder / "faults.json")
    out["topology"] = _json(folder / "topology.json")
    out["events"] = _table(folder / "events.csv", pd.read_csv)
    return out
