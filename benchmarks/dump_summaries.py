"""Dump every shipped scenario's summary (wall-time fields removed) to one JSON file, to diff
two versions of the model run on the same seeds.

    PYTHONPATH=<tree> python benchmarks/dump_summaries.py OUT.json [--seed 1] [--only NAME ...]
        [--spool-rows N] [--spool-margin S]
    python benchmarks/dump_summaries.py --diff A.json B.json

The scenarios are read from this file's tree (``scenarios/*.yaml``); the model is whatever
``sim`` is on the import path, so the same script dumps main and a branch. ``--diff`` prints
every summary key whose value differs and exits 1 if any does. ``--spool-rows`` and
``--spool-margin`` pass the ledger's row-group size and settling margin to ``run`` (a tree
without them: leave them out), to show that streaming changes no result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALL_KEYS = {"wall_time_s", "sim_wall_s"}


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in WALL_KEYS}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def _flat(x, prefix=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _flat(v, f"{prefix}[{i}]")
    else:
        yield prefix, x


def dump(out: Path, seed: int, only: list[str], spool: dict | None = None) -> None:
    from sim.run.runner import run
    from sim.scenario import load_scenario

    res = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if only and path.stem not in only:
            continue
        r = run(load_scenario(path), seed, **(spool or {}))
        res[path.stem] = _strip(json.loads(json.dumps(r.summary, default=str)))
        print(path.stem, flush=True)
        del r
        out.write_text(json.dumps(res, indent=1, sort_keys=True))  # after each: a crash keeps


def diff(a: Path, b: Path) -> int:
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    bad = 0
    for name in sorted(set(da) | set(db)):
        fa = dict(_flat(da.get(name, {})))
        fb = dict(_flat(db.get(name, {})))
        for k in sorted(set(fa) | set(fb)):
            if fa.get(k, "<absent>") != fb.get(k, "<absent>"):
                bad += 1
                print(f"{name}: {k}: {fa.get(k, '<absent>')!r} -> {fb.get(k, '<absent>')!r}")
    print(f"{len(set(da) | set(db))} scenarios, {bad} differing values")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--spool-rows", type=int)
    ap.add_argument("--spool-margin", type=float)
    ap.add_argument("--diff", nargs=2, metavar=("A", "B"))
    a = ap.parse_args(argv)
    if a.diff:
        return diff(Path(a.diff[0]), Path(a.diff[1]))
    spool = {}
    if a.spool_rows is not None:
        spool["spool_rows"] = a.spool_rows
    if a.spool_margin is not None:
        spool["spool_margin"] = a.spool_margin
    dump(Path(a.out), a.seed, a.only, spool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
