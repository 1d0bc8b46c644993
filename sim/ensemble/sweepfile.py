"""Sweep files: which scenario(s), which parameters, how many replicates, which figures to keep.

A sweep file is YAML, checked like a scenario file (every problem at once, one line each,
``file:line:col: field: what was expected``)::

    name: lease-vs-failover
    description: How the lease and the table's failover time set the stall of a leader loss.
    base: ../scenarios/nuke-leader-region.yaml   # or a list; an item may be {file, name, set}
    set: [run.duration=10m, faults.0.at=5m]      # overrides for every base (as --set)
    parameters:
      - key: control_plane.lease_duration        # any key --set takes
        values: [2s, 5s, 10s]                    # a list ...
      - key: table.leader_failover
        range: [2s, 60s]                         # ... or a range, sampled by the design
        scale: log                               # linear (default) or log
        reason: AWS publishes no failover time   # why this range (shown in sweep.json)
    design: lhs          # grid (lists only), random, lhs (Latin hypercube), morris, sobol
    samples: 20          # random/lhs: points; morris: trajectories; sobol: base samples (2^k)
    replicates: 3        # seeded runs per point
    seed: 1              # root of numpy's SeedSequence
    common_random_numbers: false   # true: replicate r has the same seed at every point
    keep: [unavailable_s, produce_p99_ms]        # figures aggregated, plotted and ranked

The plan built from it lists every parameter point (for each base) with its validated scenario,
and every run (point, replicate) with its seed and its key. Seeds come from
``SeedSequence(seed, spawn_key=(point, replicate))`` (``spawn_key=(replicate,)`` with common random
numbers), never from a worker: a run's seed depends only on the sweep. A run's key hashes the
resolved scenario, the seed and the package version, so a re-run into the same folder skips what
is done.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.core.units import parse_duration, parse_size
from sim.scenario import Scenario, ScenarioError, parse_override
from sim.scenario.errors import _check, _clean_loc, _describe, _dotted, _finish, _locate
from sim.scenario.load import _load_chain, _read_yaml, apply_overrides
from sim.scenario.schema import _short, suggest

DESIGNS = ("grid", "random", "lhs", "morris", "sobol")
DEFAULT_SAMPLES = {"random": 10, "lhs": 10, "morris": 10, "sobol": 16}
MAX_RUNS = 1_000_000  # a sweep larger than this is a typo, not a plan
SEED_MASK = 2**63 - 1  # seeds fit a signed 64-bit column

# Figures a sweep can keep: short name -> (column of runs.parquet, label, unit). Any other
# flattened summary column (``records.sent``, ``rpo.lost_window_s`` ...) may be kept by its name.
FIGURES: dict[str, tuple[str, str, str]] = {
    "unavailable_s": ("unavailability.total_s", "stall (unavailable)", "s"),
    "produce_p50_ms": ("produce_latency_ms.p50", "produce p50", "ms"),
    "produce_p99_ms": ("produce_latency_ms.p99", "produce p99", "ms"),
    "e2e_p50_ms": ("e2e_latency_ms.p50", "end-to-end p50", "ms"),
    "e2e_p99_ms": ("e2e_latency_ms.p99", "end-to-end p99", "ms"),
    "lost_acked_records": ("records.lost_acked", "lost acked records", ""),
    "failed_records": ("records.failed", "failed records", ""),
    "duplicated_records": ("records.duplicated", "duplicated records", ""),
    "leader_changes": ("leader.changes", "leader changes", ""),
}
DEFAULT_KEEP = list(FIGURES)
SUMMARY_SECTIONS = (
    "produce_latency_ms", "produce_latency_ms_by_leader", "produce_latency_ms_by_producer_region",
    "e2e_latency_ms", "records", "rpo", "unavailability", "leader", "requests", "files",
    "metadata", "model", "sim_duration_s", "wall_time_s",
)  # fmt: skip


def figure(name: str) -> tuple[str, str, str]:
    """(column, label, unit) of a kept figure."""
    return FIGURES.get(name, (name, name, ""))


# -- the file's shape ------------------------------------------------------------------------------
class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Parameter(_M):
    key: str = Field(min_length=1)
    values: list[Any] | None = None
    range: list[Any] | None = None
    scale: Literal["linear", "log"] = "linear"
    reason: str = ""


class SweepFile(_M):
    name: str | None = None
    description: str = ""
    base: Any = None
    set: list[str] = []
    parameters: list[Parameter] = []
    design: Literal["grid", "random", "lhs", "morris", "sobol"] | None = None
    samples: int | None = Field(None, ge=1, le=MAX_RUNS)
    levels: int = Field(4, ge=2, le=100)
    replicates: int = Field(3, ge=1, le=MAX_RUNS)
    seed: int = Field(1, ge=0, le=2**64 - 1)
    common_random_numbers: bool = False
    keep: list[str] | None = None


class BaseItem(_M):
    file: str = Field(min_length=1)
    name: str | None = None
    set: list[str] = []


_MODELS = {
    (): SweepFile,
    ("parameters", "*"): Parameter,
    ("base",): BaseItem,
    ("base", "*"): BaseItem,
}


# -- the plan --------------------------------------------------------------------------------------
@dataclass
class Param:
    key: str
    path: list
    values: list | None  # a list parameter
    low: float | None = None  # a range parameter
    high: float | None = None
    scale: str = "linear"
    integer: bool = False
    reason: str = ""
    where: str = ""  # where it is written, for messages

    @property
    def is_range(self) -> bool:
        return self.values is None

    def at(self, u: float):
        """The value at ``u`` in [0, 1]: along the range, or the list item of that quantile."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.scale == "log":
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        v = min(max(v, self.low), self.high)
        return int(round(v)) if self.integer else float(v)

    def describe(self) -> dict:
        d: dict = {"key": self.key}
        if self.values is not None:
            d["values"] = self.values
        else:
            d.update(range=[self.low, self.high], scale=self.scale, integer=self.integer)
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass
class Base:
    name: str
    file: str
    set: list[str]
    scenario: Scenario


@dataclass
class Point:
    index: int
    base: str
    values: dict  # key -> value as set (the sweep's own units)
    resolved: dict  # key -> value in the resolved scenario (seconds, bytes ...)
    scenario: dict  # the resolved scenario, model_dump(mode="json")
    unit: list[float] | None = None  # the design's coordinates in [0, 1]^k (sampled designs)


@dataclass
class RunSpec:
    point: int
    replicate: int
    seed: int
    key: str


@dataclass
class Plan:
    name: str
    description: str
    source: str  # the sweep file, or the quick form's command line
    text: str  # the sweep file's text (or the equivalent YAML of the quick form)
    bases: list[Base]
    params: list[Param]
    design: str
    samples: int | None
    levels: int
    replicates: int
    seed: int
    common_random_numbers: bool
    keep: list[str]
    points: list[Point] = field(default_factory=list)
    runs: list[RunSpec] = field(default_factory=list)
    version: str = ""

    def describe(self) -> dict:
        """The plan as JSON (sweep.json), without the per-point scenarios."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "bases": [{"name": b.name, "file": b.file, "set": b.set} for b in self.bases],
            "parameters": [p.describe() for p in self.params],
            "design": self.design,
            "samples": self.samples,
            "levels": self.levels if self.design == "morris" else None,
            "replicates": self.replicates,
            "seed": self.seed,
            "common_random_numbers": self.common_random_numbers,
            "keep": self.keep,
            "points": len(self.points),
            "runs": len(self.runs),
            "version": self.version,
        }


def package_version() -> str:
    from sim import __version__

    return __version__


def run_key(scenario: dict, seed: int, version: str) -> str:
    """What identifies a run: the resolved scenario's content, the seed and the package version."""
    text = json.dumps({"scenario": scenario, "seed": int(seed), "version": version}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def seed_for(root: int, point: int, replicate: int, common: bool) -> int:
    """The run seed of (point, replicate): a child of ``SeedSequence(root)`` keyed by them."""
    key = (replicate,) if common else (point, replicate)
    ss = np.random.SeedSequence(int(root), spawn_key=key)
    hi, lo = (int(x) for x in ss.generate_state(2, dtype=np.uint32))
    return ((hi << 32) | lo) & SEED_MASK


def _design_rng_seed(root: int) -> int:
    """A seed for the design's own sampling, apart from every run seed (a spawn key of length 1
    that no run uses: runs use (point, replicate) or (replicate,) with replicate < 2**31)."""
    ss = np.random.SeedSequence(int(root), spawn_key=(2**32 + 7,))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


# -- reading ----------------------------------------------------------------------------------------
class _Where:
    """Locates a path of the sweep file (``file:line:col``), or names a command-line item."""

    def __init__(self, name: str, root: yaml.Node | None, items: dict | None = None):
        self.name, self.root, self.items = name, root, items or {}

    def __call__(self, loc: tuple, key_wanted: bool = False) -> str:
        if loc in self.items:
            return self.items[loc]
        if self.root is None:
            return self.name
        where, _ = _locate(loc, key_wanted, [(self.name, self.root)], [])
        return where

    def sort_key(self, loc: tuple) -> tuple:
        if self.root is None:
            return (0, 0, 0)
        return _locate(loc, False, [(self.name, self.root)], [])[1]


def _model_at(loc: tuple) -> type[BaseModel] | None:
    generic = tuple("*" if isinstance(p, int) else p for p in loc)
    return _MODELS.get(generic)


def _pydantic_problems(errs: list[dict], data: dict, where: _Where) -> list[tuple]:
    out = []
    for err in errs:
        loc = _clean_loc(data, tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            choices = list(model.model_fields) if model else []
            hint = suggest(loc[-1], choices, 0.5) or (
                f"; expected one of: {', '.join(choices)}" if choices else ""
            )
            msg = f"unknown key {_short(loc[-1])}{hint}"
        elif err["type"] == "literal_error" and loc == ("design",):
            msg = f"expected one of {', '.join(DESIGNS)}; got {_short(err.get('input'))}"
            msg += suggest(err.get("input"), list(DESIGNS), 0.5)
        else:
            msg = _describe(err)
        key_wanted = err["type"] in ("extra_forbidden", "missing")
        out.append((where.sort_key(loc), f"{where(loc, key_wanted)}: {_dotted(loc)}: {msg}"))
    return out


def _number(v: Any) -> tuple[float | None, str | None, bool]:
    """(value, problem, written as a whole number) of a range bound: a number, a duration or a
    size."""
    if isinstance(v, bool) or v is None:
        return None, f"expected a number, a duration (2s) or a size (1KiB), got {_short(v)}", False
    if isinstance(v, int | float):
        if not math.isfinite(v):
            return None, f"expected a finite number, got {_short(v)}", False
        return float(v), None, isinstance(v, int)
    if isinstance(v, str):
        for parse in (parse_duration, parse_size):
            try:
                return float(parse(v)), None, False
            except (ValueError, OverflowError, TypeError):
                continue
    return None, f"expected a number, a duration (2s) or a size (1KiB), got {_short(v)}", False


def _field(path: list) -> tuple[Any, list] | None:
    """(annotation, metadata) of a scenario key, or None when it is not a plain model field."""
    tp: Any = Scenario
    ann, meta = None, []
    for part in path:
        if not (isinstance(tp, type) and issubclass(tp, BaseModel)) or not isinstance(part, str):
            return None
        f = tp.model_fields.get(part)
        if f is None:
            return None
        ann, meta = f.annotation, list(f.metadata)
        tp = ann
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
    return tp, meta


def _is_integer_field(path: list) -> bool | None:
    """True for a whole-number key (int, sizes), False for other numbers, None if unknown."""
    info = _field(path)
    if info is None:
        return None
    tp, _ = info
    if tp is int:
        return True
    if tp is float:
        return False
    return None


def _overrides_item(key: str, value: Any) -> str:
    """A ``--set`` item that sets ``key`` to ``value`` exactly (JSON is valid YAML)."""
    return f"{key}={json.dumps(value)}"


def _get(d: Any, path: list) -> Any:
    for p in path:
        if isinstance(d, dict):
            d = d.get(p)
        elif isinstance(d, list) and isinstance(p, int) and 0 <= p < len(d):
            d = d[p]
        else:
            return None
    return d


def _resolve(raw: dict, sources: list, items: list[str], default_name: str) -> Scenario:
    """``load_scenario`` on an already read file chain: overrides applied, then validated."""
    found: list = []
    data = copy.deepcopy(raw)
    applied = apply_overrides(data, items, sources, found)
    data.setdefault("name", default_name)
    sc = _check(data, sources, applied, found)
    if found or sc is None:
        raise ScenarioError(_finish(found) or ["not a valid scenario"])
    return sc


def load_sweep(
    path: str | Path,
    extra_set: list[str] | None = None,
    replicates: int | None = None,
    seed: int | None = None,
) -> Plan:
    """Read and check a sweep file and build its plan; raise ScenarioError listing every problem.

    ``extra_set``, ``replicates`` and ``seed`` come from the command line (``--set``, ``--seeds``,
    ``--seed``) and take precedence over the file."""
    path = Path(path)
    found: list = []
    data, root = _read_yaml(path, found)
    if data is None:
        raise ScenarioError(_finish(found))
    where = _Where(str(path), root)
    text = path.read_text()
    return _build(data, where, path.parent, path.stem, str(path), text, extra_set, replicates, seed)


def quick_sweep(
    scenario: str,
    replicates: int = 3,
    grid: list[str] | None = None,
    extra_set: list[str] | None = None,
    seed: int | None = None,
) -> Plan:
    """The plan of ``sim sweep SCENARIO --seeds N --grid key=v1,v2 ...``: a grid over the listed
    values of each key (values parsed as YAML, split at commas outside brackets)."""
    params, items, problems = [], {}, []
    for i, item in enumerate(grid or []):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key or not raw.strip():
            problems.append(
                f"--grid {item}: expected key=v1,v2,..., e.g. workload.linger=10ms,25ms"
            )
            continue
        values = []
        for part in _split_top(raw):
            try:
                values.append(yaml.safe_load(part) if part.strip() else "")
            except yaml.YAMLError:
                values.append(part)
        params.append({"key": key, "values": values})
        for sub in ((), ("key",), ("values",)):
            items[("parameters", i, *sub)] = f"--grid {item}"
    if problems:
        raise ScenarioError(problems)
    data = {
        "name": Path(scenario).stem,
        "base": str(Path(scenario).resolve()),
        "parameters": params,
        "replicates": replicates,
    }
    for loc in [("base",), ("replicates",), ("name",), ()]:
        items.setdefault(loc, scenario if loc != ("replicates",) else "--seeds")
    where = _Where(scenario, None, items)
    text = yaml.safe_dump({**data, "base": scenario, "set": list(extra_set or [])}, sort_keys=False)
    return _build(
        data, where, Path("."), Path(scenario).stem, "sim sweep " + scenario, text, extra_set,
        replicates, seed,
    )  # fmt: skip


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside brackets or quotes."""
    out, cur, depth, quote = [], [], 0, None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def _build(
    data: dict,
    where: _Where,
    folder: Path,
    stem: str,
    source: str,
    text: str,
    extra_set: list[str] | None,
    replicates: int | None,
    seed: int | None,
) -> Plan:
    found: list[tuple] = []

    def problem(loc: tuple, msg: str, key_wanted: bool = False) -> None:
        found.append((where.sort_key(loc), f"{where(loc, key_wanted)}: {_dotted(loc)}: {msg}"))

    def fail() -> ScenarioError:
        return ScenarioError(_finish(found))

    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as e:
        found.extend(_pydantic_problems(e.errors(), data, where))
        spec = _pruned(data, e)  # go on without the bad parts, to report the other problems too
    # the bases: a file, an item {file, name, set}, or a list of them
    raw_bases = data.get("base")
    base_items: list[tuple[tuple, BaseItem]] = []
    if raw_bases is None:
        problem(("base",), "required key 'base' is missing: the scenario file(s) to sweep", True)
    else:
        listed = raw_bases if isinstance(raw_bases, list) else [raw_bases]
        if isinstance(raw_bases, list) and not raw_bases:
            problem(("base",), "expected at least one scenario file")
        for i, item in enumerate(listed):
            loc = ("base", i) if isinstance(raw_bases, list) else ("base",)
            if isinstance(item, str) and item.strip():
                base_items.append((loc, BaseItem(file=item)))
            elif isinstance(item, dict):
                try:
                    base_items.append((loc, BaseItem.model_validate(item)))
                except ValidationError as e:
                    errs = [dict(err, loc=(*loc, *err["loc"])) for err in e.errors()]
                    found.extend(_pydantic_problems(errs, data, where))
            else:
                problem(
                    loc, f"expected a scenario file name or {{file, name, set}}, got {_short(item)}"
                )
    if spec is None:
        raise fail()
    replicates = spec.replicates if replicates is None else replicates
    seed = spec.seed if seed is None else seed
    if replicates < 1:
        problem(("replicates",), f"expected at least 1 replicate, got {replicates}")
    keep = spec.keep if spec.keep is not None else list(DEFAULT_KEEP)
    for i, k in enumerate(keep):
        top = k.split(".")[0]
        if k not in FIGURES and top not in SUMMARY_SECTIONS:
            hint = suggest(k, list(FIGURES), 0.5) or f"; expected one of: {', '.join(FIGURES)} "
            if not hint.startswith(" (did"):
                hint += "or a summary figure such as records.sent"
            problem(("keep", i), f"unknown figure {_short(k)}{hint}")
    # the parameters
    params: list[Param] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(spec.parameters):
        loc = ("parameters", i)
        try:
            path, _ = parse_override(f"{p.key}=0")
        except ScenarioError:
            problem(
                (*loc, "key"),
                f"expected a dotted scenario key such as table.leader_failover, got {_short(p.key)}",
            )
            continue
        if p.key in seen:
            problem((*loc, "key"), f"{p.key!r} is swept twice (first in parameters.{seen[p.key]})")
            continue
        seen[p.key] = i
        if (p.values is None) == (p.range is None):
            problem(loc, "expected exactly one of 'values' (a list) or 'range' ([low, high])", True)
            continue
        if p.values is not None:
            if not p.values:
                problem((*loc, "values"), "expected at least one value")
                continue
            params.append(
                Param(p.key, path, list(p.values), reason=p.reason, where=where((*loc, "key")))
            )
            continue
        if len(p.range) != 2:
            problem((*loc, "range"), f"expected [low, high], got {len(p.range)} item(s)")
            continue
        bounds, whole = [], []
        for j, b in enumerate(p.range):
            v, msg, w = _number(b)
            if msg:
                problem((*loc, "range", j), msg)
            bounds.append(v)
            whole.append(w)
        if None in bounds:
            continue
        low, high = bounds
        if not low < high:
            problem(
                (*loc, "range"),
                f"expected low < high, got [{_short(p.range[0])}, {_short(p.range[1])}]",
            )
            continue
        if p.scale == "log" and low <= 0:
            problem((*loc, "range", 0), "a log scale needs a low end above 0")
            continue
        integer = _is_integer_field(path)
        if integer is None:
            integer = all(whole)
        params.append(
            Param(p.key, path, None, low, high, p.scale, bool(integer), p.reason, where((*loc, "key")))
        )  # fmt: skip
    design = spec.design or ("grid" if all(not p.is_range for p in params) else "lhs")
    if design == "grid" and any(p.is_range for p in params):
        first = next(i for i, p in enumerate(spec.parameters) if p.range is not None)
        problem(
            ("parameters", first, "range"),
            "a range needs a sampling design (design: random, lhs, morris or sobol); "
            "a grid takes lists ('values')",
        )
    if design in ("morris", "sobol"):
        for i, p in enumerate(spec.parameters):
            if p.range is None:
                problem(
                    ("parameters", i),
                    f"design {design} moves every input along a range: give 'range', not 'values'",
                    True,
                )
        if not spec.parameters:
            problem(("parameters",), f"design {design} needs at least one parameter", True)
    samples = spec.samples
    if design != "grid" and samples is None:
        samples = DEFAULT_SAMPLES[design]
    if design == "grid" and spec.samples is not None:
        problem(("samples",), "a grid takes no 'samples' (it runs every combination of the lists)")
    if design == "sobol" and samples is not None and samples & (samples - 1):
        problem(("samples",), f"Sobol sampling needs a power of 2, got {samples}")

    # the bases, each read once
    all_set = list(spec.set) + list(extra_set or [])
    bases: list[Base] = []
    raws: list[tuple] = []
    names: dict[str, int] = {}
    for bi, (loc, item) in enumerate(base_items):
        file = (folder / item.file) if not Path(item.file).is_absolute() else Path(item.file)
        chain_found: list = []
        sources: list = []
        raw = _load_chain(file, chain_found, sources)
        items = all_set + list(item.set)
        sc = None
        if raw is not None and not chain_found:
            try:
                sc = _resolve(raw, sources, items, file.stem)
            except ScenarioError as e:
                chain_found.extend(((9, 0, 0), line) for line in e.problems)
        if sc is None:
            if where.root is not None:  # a sweep file: say which base (the quick form has one)
                problem(
                    loc,
                    f"{_short(item.file)} is not a valid scenario with this sweep's overrides (problems below)",
                )
            found.extend(
                _set_located(line, where, spec, item, loc, k)
                for k, (_, line) in enumerate(chain_found)
            )
            continue
        name = item.name or sc.name
        if name in names:
            problem(loc, f"two bases are named {name!r}: give each a distinct 'name'")
            continue
        names[name] = bi
        bases.append(Base(name, str(item.file), items, sc))
        raws.append((raw, sources, items, file.stem))
    if found:
        raise fail()

    plan = Plan(
        name=spec.name or stem, description=spec.description, source=source, text=text,
        bases=bases, params=params, design=design, samples=samples, levels=spec.levels,
        replicates=replicates, seed=seed, common_random_numbers=spec.common_random_numbers,
        keep=keep, version=package_version(),
    )  # fmt: skip
    assignments, units = _design_points(plan)
    total = len(assignments) * len(bases) * replicates
    if total > MAX_RUNS:
        problem(("replicates",), f"the sweep has {total:,} runs: more than {MAX_RUNS:,}")
        raise fail()
    bad_points = 0
    for bi, (raw, sources, items, stem_b) in enumerate(raws):
        for j, assign in enumerate(assignments):
            point_items = items + [_overrides_item(p.key, assign[p.key]) for p in params]
            try:
                sc = _resolve(raw, sources, point_items, stem_b)
            except ScenarioError as e:
                bad_points += 1
                if bad_points <= 3:
                    found.append(
                        ((8, bad_points, 0), _point_problem(e.problems[0], params, assign, where))
                    )
                continue
            dump = sc.model_dump(mode="json")
            if bases[bi].name != sc.name:
                dump["name"] = bases[bi].name
            resolved = {p.key: _plain(_get(dump, p.path)) for p in params}
            plan.points.append(
                Point(len(plan.points), bases[bi].name, dict(assign), resolved, dump,
                      None if units is None else [float(u) for u in units[j]])
            )  # fmt: skip
    if bad_points:
        if bad_points > 3:
            found.append(
                (
                    (8, 4, 0),
                    f"{where(('parameters',))}: parameters: ... and {bad_points - 3} more invalid point(s)",
                )
            )
        raise fail()
    for pt in plan.points:
        for r in range(replicates):
            s = seed_for(seed, pt.index, r, plan.common_random_numbers)
            plan.runs.append(RunSpec(pt.index, r, s, run_key(pt.scenario, s, plan.version)))
    return plan


def _pruned(data: dict, e: ValidationError) -> SweepFile | None:
    """The sweep without the keys (or parameters) that failed, to check the rest; None if even
    that fails."""
    data = dict(data)
    bad_params: set[int] = set()
    for err in e.errors():
        loc = err["loc"]
        if not loc:
            return None
        if loc[0] == "parameters" and len(loc) > 1 and isinstance(loc[1], int):
            bad_params.add(loc[1])
        else:
            data.pop(loc[0], None)
    if bad_params and isinstance(data.get("parameters"), list):
        data["parameters"] = [p for i, p in enumerate(data["parameters"]) if i not in bad_params]
    try:
        return SweepFile.model_validate(data)
    except ValidationError:
        return None


def _set_located(
    line: str, where: _Where, spec: SweepFile, item: BaseItem, loc: tuple, k: int
) -> tuple[tuple, str]:
    """A base's problem (sort key, line), an override of the sweep file pointed at where it is
    written; the base file's own problems after the sweep file's."""
    if line.startswith("--set "):
        for i, s in enumerate(spec.set):
            if line.startswith(f"--set {s}:"):
                return where.sort_key(("set", i)), f"{where(('set', i))}: set: {line[6:]}"
        for i, s in enumerate(item.set):
            if line.startswith(f"--set {s}:") and loc != ("base",):
                at = (*loc, "set", i)
                return where.sort_key(at), f"{where(at)}: {_dotted(at)}: {line[6:]}"
    return (9, 9, k), line


def _point_problem(line: str, params: list[Param], assign: dict, where: _Where) -> str:
    """One invalid parameter point, told at the parameter that made it invalid."""
    for p in params:
        item = _overrides_item(p.key, assign[p.key])
        if line.startswith(f"--set {item}:"):
            rest = line[len(f"--set {item}: ") :]
            return f"{p.where}: parameters ({p.key} = {_short(assign[p.key])}): {rest}"
    shown = ", ".join(f"{p.key}={_short(assign[p.key])}" for p in params)
    return (
        f"{where(('parameters',))}: parameters: the point {shown} is not a valid scenario: {line}"
    )


def _plain(v: Any) -> Any:
    """A resolved value as a table cell: scalars as they are, anything else as JSON text."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v)


def _design_points(plan: Plan) -> tuple[list[dict], np.ndarray | None]:
    """Every parameter point of the design (``key -> value``), and its coordinates in [0, 1]^k
    for sampled designs (what sensitivity analysis needs)."""
    params = plan.params
    if not params:
        return [{}], None
    if plan.design == "grid":
        import itertools

        combos = itertools.product(*[p.values for p in params])
        return [{p.key: v for p, v in zip(params, c, strict=True)} for c in combos], None
    k, n = len(params), int(plan.samples)
    rseed = _design_rng_seed(plan.seed)
    problem = {"num_vars": k, "names": [p.key for p in params], "bounds": [[0.0, 1.0]] * k}
    if plan.design == "random":
        units = np.random.default_rng(rseed).random((n, k))
    elif plan.design == "lhs":
        from SALib.sample import latin

        units = latin.sample(problem, n, seed=rseed)
    elif plan.design == "morris":
        from SALib.sample import morris

        units = morris.sample(problem, n, num_levels=plan.levels, seed=rseed)
    else:  # sobol
        from SALib.sample import sobol

        units = sobol.sample(problem, n, calc_second_order=False, seed=rseed)
    units = np.clip(np.asarray(units, dtype=float), 0.0, 1.0)
    return [{p.key: p.at(u[i]) for i, p in enumerate(params)} for u in units], units
