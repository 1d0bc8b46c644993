"""Running a sweep: every (parameter point, replicate) of a plan, on an engine, into a folder.

``run_sweep(plan, out)`` fills ``out/`` with:

- ``runs.parquet``: one row per finished run, in plan order: ``key``, ``base``, ``point``,
  ``replicate``, ``seed``, the parameters (``param.<key>``, as resolved in the scenario: seconds,
  bytes), ``status`` (``ok`` or ``error``), ``error`` (the traceback), ``wall_s`` (the task's wall
  time), and every figure of the run's summary flattened to a column (``produce_latency_ms.p99``,
  ``unavailability.total_s``; lists such as ``unavailability.windows`` as JSON text);
- ``aggregate.csv`` / ``aggregate.txt``: per parameter point, each kept figure's mean and 95%
  confidence interval (Student's t over the replicates), runs done and failed;
- ``sweep.yaml`` (the sweep as given) and ``sweep.json`` (the plan, the versions);
- plots of each kept figure against each parameter (``figure-<name>.png``), and for a sweep over
  ranges ``sensitivity.csv`` and tornado plots (:mod:`sim.ensemble.sensitivity`).

Long sweeps: every finished run is appended at once to ``runs.journal.jsonl``, and the table is
rewritten (atomically) every half minute, on Ctrl-C and at the end. A re-run into the same folder
reads both and runs only the runs whose key (scenario content, seed, package version) has no
``ok`` row: the missing and the failed ones. A run that raises is a row with its error and seed;
the sweep goes on.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.stats import mean_ci
from sim.ensemble.engine import Engine, InProcess, Task
from sim.ensemble.sweepfile import Plan, figure

META = ["key", "base", "point", "replicate", "seed"]
RESULT_FIRST = ["status", "error", "wall_s"]
PARAM = "param."
WALL_COLUMNS = ("wall_s", "wall_time_s", "model.sim_wall_s")  # the only columns that vary
JOURNAL = "runs.journal.jsonl"
CHECKPOINT_S = 30.0


# -- the task ---------------------------------------------------------------------------------------
def flatten(d: dict, prefix: str = "") -> dict:
    """A summary as flat columns: nested mappings joined with dots, lists as JSON text."""
    out: dict = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, list | tuple):
            out[name] = json.dumps(v)
        else:
            out[name] = v
    return out


def run_row(scenario: dict, seed: int, keep_dir: str | None = None) -> dict:
    """One run as a flat row: a pure function of (resolved scenario, seed), apart from the wall
    times. Never raises: an error is the row's ``status`` and ``error``."""
    t0 = time.perf_counter()
    try:
        from sim.run.runner import run
        from sim.scenario import Scenario

        res = run(Scenario.model_validate(scenario), int(seed))
        row = flatten({k: v for k, v in res.summary.items() if k != "seed"})
        if keep_dir:
            from sim.report.results import write_run

            write_run(res, keep_dir, plots=False)
        del res
        status, error = "ok", None
    except Exception:
        row, status, error = {}, "error", traceback.format_exc()
    return {"status": status, "error": error, "wall_s": time.perf_counter() - t0, **row}


# -- progress ---------------------------------------------------------------------------------------
class Progress:
    """Runs done, failed, and time left: a tqdm bar on a terminal, a line now and then otherwise."""

    def __init__(self, total: int, desc: str, quiet: bool = False):
        self.total, self.done, self.failed = total, 0, 0
        self.quiet = quiet or total == 0
        self.t0 = time.monotonic()
        self.last_line = 0.0
        self.bar = None
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc=desc, leave=False, dynamic_ncols=True)

    def update(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed {self.failed}", refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last_line >= 10 or self.done == self.total:
            self.last_line = now
            el = now - self.t0
            left = el / self.done * (self.total - self.done)
            print(
                f"{self.done}/{self.total} runs, {self.failed} failed, "
                f"{_hms(el)} elapsed, about {_hms(left)} left",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


# -- the folder -------------------------------------------------------------------------------------
def _read_done(out: Path) -> tuple[dict[str, dict], pd.DataFrame | None]:
    """Results already in the folder (table, then journal): run key -> result columns; and the
    rows of the table, to set aside those of another sweep."""
    done: dict[str, dict] = {}
    table = None
    p = out / "runs.parquet"
    if p.exists():
        try:
            table = pd.read_parquet(p)
        except Exception:  # a damaged table: the journal and a re-run rebuild it
            table = None
        if table is not None:
            cols = [c for c in table.columns if c not in META and not c.startswith(PARAM)]
            for rec in table[["key", *cols]].to_dict("records"):
                key = rec.pop("key")
                done[key] = {k: _cell(v) for k, v in rec.items()}
    j = out / JOURNAL
    if j.exists():
        with j.open() as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                if isinstance(rec, dict) and "key" in rec and isinstance(rec.get("row"), dict):
                    prev = done.get(rec["key"])
                    if prev is None or prev.get("status") != "ok" or rec["row"]["status"] == "ok":
                        done[rec["key"]] = rec["row"]
    return done, table


def _cell(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def build_table(plan: Plan, done: dict[str, dict]) -> pd.DataFrame:
    """The rows of the plan that have a result, in plan order."""
    rows = []
    result_cols: dict[str, None] = dict.fromkeys(RESULT_FIRST)
    for r in plan.runs:
        res = done.get(r.key)
        if res is None:
            continue
        pt = plan.points[r.point]
        row = {"key": r.key, "base": pt.base, "point": r.point, "replicate": r.replicate}
        row["seed"] = r.seed
        for p in plan.params:
            row[PARAM + p.key] = pt.resolved[p.key]
        for k in res:
            result_cols.setdefault(k, None)
        row.update(res)
        rows.append(row)
    cols = META + [PARAM + p.key for p in plan.params] + list(result_cols)
    df = pd.DataFrame(rows, columns=cols)
    for c in ("point", "replicate", "seed"):
        df[c] = df[c].astype("int64")
    return df


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


@dataclass
class SweepResult:
    folder: Path
    table: pd.DataFrame
    aggregate: pd.DataFrame | None = None
    ran: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    plots: list[str] = field(default_factory=list)
    sensitivity: pd.DataFrame | None = None
    engine: str = ""


def run_sweep(
    plan: Plan,
    out: str | Path,
    engine: Engine | None = None,
    open_engine=None,
    keep_runs: str | None = None,
    quiet: bool = False,
    fmt: str = "png",
    analyse: bool = True,
) -> SweepResult:
    """Run what the folder lacks, write the table, the aggregate, the plots and the sensitivity.

    ``engine``: an open engine to use; else ``open_engine()`` is called (only if some run is
    missing) and closed at the end; else everything runs in this process. Ctrl-C writes the
    table of what finished and re-raises ``KeyboardInterrupt``."""
    out = Path(out)
    done, old = _read_done(out) if out.is_dir() else ({}, None)
    keys = {r.key for r in plan.runs}
    todo: list = []
    seen: set[str] = set()
    for r in plan.runs:
        if r.key in seen or (done.get(r.key) or {}).get("status") == "ok":
            continue
        seen.add(r.key)
        todo.append(r)
    result = SweepResult(out, pd.DataFrame(), skipped=len(keys) - len(todo))
    own = None
    if todo and engine is None:  # started before anything is written: a bad --scheduler
        own = open_engine() if open_engine is not None else InProcess()  # leaves no folder
        engine = own
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.yaml").write_text(plan.text if plan.text.endswith("\n") else plan.text + "\n")
        from sim.report.results import versions

        info = plan.describe() | {"versions": versions()}
        (out / "sweep.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        if old is not None:
            _set_aside(old[~old["key"].isin(keys)], out, quiet)
        if todo:
            result.engine = engine.description
            tasks = [
                Task(f"run-{r.key}", run_row, (plan.points[r.point].scenario, r.seed, keep_runs))
                for r in todo
            ]
            _execute(plan, out, engine, tasks, done, result, quiet)
    except KeyboardInterrupt:
        result.interrupted = True
        raise
    finally:
        if own is not None:
            try:
                own.close()
            except Exception:
                pass
        if out.is_dir():
            result.table = build_table(plan, done)
            _write_parquet(result.table, out / "runs.parquet")
            (out / JOURNAL).unlink(missing_ok=True)
    if analyse:
        analyse_sweep(plan, result, fmt, quiet)
    return result


def _set_aside(stale: pd.DataFrame, out: Path, quiet: bool) -> None:
    """Rows of another sweep found in the folder go to ``stale-runs.parquet``, not lost."""
    if not len(stale):
        return
    sp = out / "stale-runs.parquet"
    prev = pd.read_parquet(sp) if sp.exists() else None
    _write_parquet(stale if prev is None else pd.concat([prev, stale], ignore_index=True), sp)
    if not quiet:
        print(
            f"{len(stale)} row(s) of another sweep in {out / 'runs.parquet'} set aside in {sp}",
            file=sys.stderr,
        )


def _execute(plan, out, engine, tasks, done, result, quiet) -> None:
    progress = Progress(len(tasks), plan.name, quiet)
    last = time.monotonic()
    try:
        with (out / JOURNAL).open("a") as journal:
            for task, row, err in engine.run(tasks):
                key = task.key.removeprefix("run-")
                if row is None:  # the engine could not run it (its worker died, ...)
                    row = {"status": "error", "error": err, "wall_s": None}
                done[key] = row
                journal.write(json.dumps({"key": key, "row": row}, default=_json_default) + "\n")
                journal.flush()
                ok = row["status"] == "ok"
                result.ran += 1
                result.failed += 0 if ok else 1
                progress.update(ok)
                if time.monotonic() - last > CHECKPOINT_S:
                    last = time.monotonic()
                    _write_parquet(build_table(plan, done), out / "runs.parquet")
    finally:
        progress.close()


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


# -- aggregate --------------------------------------------------------------------------------------
def figure_values(df: pd.DataFrame, name: str) -> pd.Series:
    """A kept figure's values per row (NaN where the run failed or has no such figure)."""
    col = figure(name)[0]
    if col not in df.columns:
        return pd.Series(np.nan, index=df.index)
    v = pd.to_numeric(df[col], errors="coerce").astype(float)
    return v.where(df["status"] == "ok")


def aggregate(plan: Plan, df: pd.DataFrame) -> pd.DataFrame:
    """Per parameter point: runs done and failed, and each kept figure's mean and 95% CI."""
    rows = []
    groups = dict(iter(df.groupby("point"))) if len(df) else {}
    for pt in plan.points:
        g = groups.get(pt.index)
        row = {"point": pt.index, "base": pt.base}
        for p in plan.params:
            row[PARAM + p.key] = pt.resolved[p.key]
        row["runs"] = 0 if g is None else int(len(g))
        row["failed"] = 0 if g is None else int((g["status"] != "ok").sum())
        for name in plan.keep:
            n, m, half = (0, None, None) if g is None else mean_ci(figure_values(g, name))
            row[f"{name}.mean"] = m
            row[f"{name}.ci_low"] = None if half is None else m - half
            row[f"{name}.ci_high"] = None if half is None else m + half
            row[f"{name}.n"] = n
        rows.append(row)
    return pd.DataFrame(rows)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    a = abs(v)
    if a >= 1000 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.1f}" if a >= 10 else f"{v:.3g}"


def _short_key(key: str) -> str:
    return key.split(".")[-1] if not key.split(".")[-1].isdigit() else key


def format_aggregate(plan: Plan, agg: pd.DataFrame, limit: int | None = 40) -> str:
    """The aggregate as text: one line per point, ``mean ±half`` per kept figure."""
    heads = []
    if len(plan.bases) > 1:
        heads.append(("base", lambda r: str(r["base"])))
    for p in plan.params:
        heads.append((_short_key(p.key), lambda r, p=p: _cell_text(r[PARAM + p.key])))
    heads.append(
        ("runs", lambda r: f"{r['runs']}" + (f" ({r['failed']} failed)" if r["failed"] else ""))
    )
    for name in plan.keep:
        _, label, unit = figure(name)

        def cell(r, name=name):
            m, lo = r[f"{name}.mean"], r[f"{name}.ci_low"]
            if m is None or (isinstance(m, float) and math.isnan(m)):
                return "-"
            if lo is None or (isinstance(lo, float) and math.isnan(lo)):
                return _num(m)
            return f"{_num(m)} ±{_num(m - lo)}"

        heads.append((label + (f" ({unit})" if unit else ""), cell))
    records = agg.to_dict("records")
    shown = records if limit is None else records[:limit]
    cells = [[h[1](r) for h in heads] for r in shown]
    widths = [max([len(h[0])] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(h[0].rjust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    if limit is not None and len(records) > limit:
        lines.append(f"... {len(records) - limit} more point(s) in aggregate.csv")
    return "\n".join(lines)


def _cell_text(v) -> str:
    if isinstance(v, float):
        return _num(v)
    return str(v)


def format_overall(plan: Plan, df: pd.DataFrame) -> str:
    """Each kept figure over all runs of each base: mean, 95% CI, range (for sampled designs,
    where every point is different)."""
    lines = [
        f"{'figure':<28}{'base':<34}{'runs':>6}{'mean':>12}  {'95% CI':<22}{'min':>10}{'max':>10}"
    ]
    for name in plan.keep:
        _, label, unit = figure(name)
        for b in plan.bases:
            v = figure_values(df[df["base"] == b.name], name).dropna()
            n, m, half = mean_ci(v)
            ci = "-" if half is None else f"[{_num(m - half)}, {_num(m + half)}]"
            lab = label + (f" ({unit})" if unit else "")
            lines.append(
                f"{lab:<28}{b.name[:33]:<34}{n:>6}{_num(m):>12}  {ci:<22}"
                f"{_num(v.min() if n else None):>10}{_num(v.max() if n else None):>10}"
            )
    return "\n".join(lines)


def analyse_sweep(plan: Plan, result: SweepResult, fmt: str = "png", quiet: bool = False) -> None:
    """Aggregate table, plots and (for ranges) sensitivity, written into the sweep's folder."""
    out, df = result.folder, result.table
    agg = aggregate(plan, df)
    result.aggregate = agg
    agg.to_csv(out / "aggregate.csv", index=False)
    text = format_aggregate(plan, agg, limit=None)
    (out / "aggregate.txt").write_text(text + "\n")
    from sim.ensemble import sweepplots

    plots_dir = out / "plots"
    plots_dir.mkdir(exist_ok=True)
    result.plots = sweepplots.plot_figures(plan, df, plots_dir, fmt)
    if any(p.is_range for p in plan.params) and plan.design != "grid":
        from sim.ensemble import sensitivity

        sens = sensitivity.analyse(plan, df)
        result.sensitivity = sens
        sens.to_csv(out / "sensitivity.csv", index=False)
        result.plots += sensitivity.plot_tornados(plan, sens, plots_dir, fmt)
