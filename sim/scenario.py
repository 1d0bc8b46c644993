"""Scenario files: typed, validated, with units, defaults and clear errors.

A scenario is a YAML file validated by the pydantic models below. Unknown keys are errors, units
are explicit (``250ms``, ``30s``, ``8MiB``) and normalised to seconds and bytes, and every default
is the one documented (with its source) in the module that uses it. ``extends:`` names another
scenario file (relative to this one) to start from; ``--set dotted.key=value`` overrides are
checked against the same models. A wrong file raises ``ScenarioError`` with one line per problem:
``file:line:col: field.path: what was expected`` (with the closest valid name for a misspelling).
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from sim.network import known_regions
from sim.units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(_Model):
    """How long to simulate, from which seed, and how to judge unavailability."""

    duration: Duration = Field(3600.0, description="simulated time (spec section 4: 1 hour)")
    seed: int | None = Field(None, description="root seed; drawn and recorded when absent")
    warmup: Duration = Field(10.0, description="excluded from latency percentiles (estimate)")
    unavailability_threshold: Duration = Field(
        1.0, description="shortest stall counted (spec section 6)"
    )


class TopologyConfig(_Model):
    """Regions of the cluster and zones per region."""

    regions: list[str] = Field(["us-east-1", "us-east-2", "us-west-2"], min_length=1)
    zones_per_region: int = Field(3, ge=1, le=6)


class NetworkConfig(_Model):
    """Jitter added to every RTT sample."""

    jitter_ms: float = Field(0.3, ge=0, description="Skyplane ping mean deviation 0.05-0.7 ms")


class StorageConfig(_Model):
    """Buckets and the write quorum."""

    profile: Literal["s3-standard", "s3-express"] = "s3-standard"
    regions: list[str] | None = Field(
        None, description="one bucket per region; default: all regions"
    )
    quorum: int | None = Field(None, ge=1, description="k of n; default a majority of the buckets")
    put_attempts: int = Field(4, ge=1, description="PUT attempts per bucket (estimate)")
    repair_delay: Duration = Field(
        60.0, description="a failed PUT is re-copied this long after the bucket is back (estimate)"
    )


class TableConfig(_Model):
    """The metadata table kind and its timings."""

    kind: Literal["mrsc", "spanner", "single-region", "eventual"] = "mrsc"
    regions: list[str] | None = Field(
        None, description="replica regions; default: all regions (single-region: the first)"
    )
    leader_region: str | None = Field(
        None,
        description="internal leader (mrsc), default leader (spanner), home (single-region); default the first",
    )
    witness: str | None = Field(
        None, description="mrsc/spanner: a witness region (votes, serves no reads)"
    )
    local_p50_ms: float = Field(
        8.0,
        gt=0,
        description="DynamoDB single-digit ms service side, 10-20 ms client-observed: estimate",
    )
    local_p99_ms: float = Field(25.0, gt=0)
    op_timeout: Duration = Field(
        1.0, description="an operation that cannot reach its quorum fails after this (estimate)"
    )
    leader_failover: Duration = Field(
        10.0, description="time to elect a new internal table leader (estimate)"
    )
    replication_lag_p50_ms: float = Field(
        300.0, gt=0, description="eventual kind: MREC 'within a second or less' (estimate)"
    )
    replication_lag_p99_ms: float = Field(1000.0, gt=0)
    conflict_window: Duration = Field(
        0.0, description="mrsc: extra window in which writes from two regions collide"
    )


class ControlPlaneConfig(_Model):
    """Regional control planes, leader election and preference."""

    regions: list[str] | None = Field(None, description="default: all regions")
    coordination: Literal["leader", "active-active"] = "leader"
    preference: str = Field("auto", description="'auto', 'none', or a region to pin")
    instances: int = Field(8, ge=1, description="estimate")
    concurrency: int = Field(64, ge=1, description="requests per instance at once (estimate)")
    service_p50_ms: float = Field(1.0, gt=0, description="estimate")
    service_p99_ms: float = Field(5.0, gt=0, description="estimate")
    lease_duration: Duration = Field(5.0, description="estimate: not published")
    renew_interval: Duration = Field(1.0, description="estimate: not published")
    non_preferred_delay: Duration = Field(
        2.0, description="rigging: how long a non-preferred region waits after expiry (estimate)"
    )
    handover_hold: Duration = Field(
        10.0, description="auto: a better region must stay better this long (estimate)"
    )
    pinned_handover_hold: Duration = Field(
        0.0, description="pinned: delay before handing over to the pinned region"
    )
    auto_margin: float = Field(
        0.1, ge=0, lt=1, description="auto: needs this much lower latency to move (estimate)"
    )
    latency_ewma_alpha: float = Field(0.2, gt=0, le=1)
    responsive_window: Duration = Field(
        3.0, description="a region is responsive if its heartbeat is this fresh"
    )
    clock_margin: Duration = Field(0.1, description="safety margin on the lease for clock error")
    max_batch: int = Field(64, ge=1, description="files per group commit (estimate)")
    ops_per_commit: int = Field(
        1, ge=1, description="table operations per commit (estimate: one conditional write)"
    )


class AgentConfig(_Model):
    """Agents: batching and commit routing."""

    per_zone: int = Field(1, ge=1)
    batch_timeout: Duration = Field(0.25, description="WarpStream docs: 250 ms default")
    max_file_size: Size = Field(8 * 1024 * 1024, description="WarpStream docs: 8 MiB")
    commit_timeout: Duration = Field(
        2.0, description="no answer from a control plane: try the next (estimate)"
    )
    suspect_period: Duration = Field(
        10.0, description="a region that timed out is avoided this long (estimate)"
    )
    commit_backoff: Duration = Field(0.05, description="first backoff on 'no leader' (estimate)")
    commit_backoff_max: Duration = Field(1.0)


class WorkloadConfig(_Model):
    """Producers and consumers (spec section 4 reference workload by default)."""

    producer_regions: list[str] | None = Field(None, description="default: all regions")
    producers_per_zone: int = Field(1, ge=0)
    records_per_s: float = Field(1000.0, ge=0)
    record_size: Size = Field(1024)
    linger: Duration = Field(0.025, description="WarpStream default config: 25 ms")
    request_timeout: Duration = Field(30.0, description="Kafka default")
    delivery_timeout: Duration = Field(120.0, description="Kafka default")
    retry_backoff: Duration = Field(0.1, description="Kafka retry.backoff.ms")
    retry_backoff_max: Duration = Field(1.0, description="Kafka retry.backoff.max.ms (3.7+)")
    consumer_regions: list[str] | None = Field(None, description="default: all regions")
    consumers_per_region: int = Field(1, ge=0)
    poll_interval: Duration = Field(
        0.4, description="estimate, calibrated to the published end-to-end latency"
    )


class FaultSpec(_Model):
    """One scheduled fault."""

    kind: Literal["region-outage"]
    target: str = Field(description="a region, or leader / follower / table-leader / random")
    at: Duration
    duration: Duration | None = Field(None, description="absent: permanent")
    data: Literal["retained", "destroyed"] = "retained"
    scope: Literal["all", "control-plane", "data-plane"] = "all"


class Scenario(_Model):
    """A whole scenario file."""

    name: str = "unnamed"
    description: str = ""
    extends: str | None = None
    run: RunConfig = Field(default_factory=RunConfig)
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    table: TableConfig = Field(default_factory=TableConfig)
    control_plane: ControlPlaneConfig = Field(default_factory=ControlPlaneConfig)
    agents: AgentConfig = Field(default_factory=AgentConfig)
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    faults: list[FaultSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _resolve(self) -> Scenario:
        """Fill region-dependent defaults and check that the pieces fit together."""
        regions = self.topology.regions
        known = set(known_regions())
        for i, r in enumerate(regions):
            if r not in known:
                raise _field_error(
                    ("topology", "regions", i), f"unknown region {r!r}", r, sorted(known)
                )
        if len(set(regions)) != len(regions):
            raise _field_error(("topology", "regions"), "regions must be distinct")

        def sub(path: tuple, values: list[str] | None, default: list[str]) -> list[str]:
            if values is None:
                return list(default)
            for i, v in enumerate(values):
                if v not in regions:
                    raise _field_error(
                        path + (i,), f"{v!r} is not one of the topology's regions", v, regions
                    )
            return list(values)

        s = self.storage
        s.regions = sub(("storage", "regions"), s.regions, regions)
        if s.quorum is None:
            s.quorum = len(s.regions) // 2 + 1
        if s.quorum > len(s.regions):
            raise _field_error(
                ("storage", "quorum"), f"quorum {s.quorum} exceeds the {len(s.regions)} buckets"
            )
        t = self.table
        default_table = regions[:1] if t.kind == "single-region" else regions
        t.regions = sub(("table", "regions"), t.regions, default_table)
        if t.leader_region is None:
            t.leader_region = t.regions[0]
        elif t.leader_region not in t.regions:
            raise _field_error(
                ("table", "leader_region"),
                f"{t.leader_region!r} holds no replica",
                t.leader_region,
                t.regions,
            )
        if t.kind == "mrsc" and len(t.regions) != 3:
            raise _field_error(
                ("table", "regions"), "an MRSC table spans exactly 3 regions (or 2 and a witness)"
            )
        if t.witness is not None and t.witness not in t.regions:
            raise _field_error(
                ("table", "witness"), f"{t.witness!r} is not a table region", t.witness, t.regions
            )
        if t.local_p99_ms < t.local_p50_ms:
            raise _field_error(("table", "local_p99_ms"), "p99 must be at least p50")
        c = self.control_plane
        c.regions = sub(("control_plane", "regions"), c.regions, regions)
        if c.preference not in ("auto", "none") and c.preference not in c.regions:
            raise _field_error(
                ("control_plane", "preference"),
                "expected 'auto', 'none' or a control-plane region",
                c.preference,
                ["auto", "none"] + c.regions,
            )
        if c.service_p99_ms < c.service_p50_ms:
            raise _field_error(("control_plane", "service_p99_ms"), "p99 must be at least p50")
        w = self.workload
        w.producer_regions = sub(("workload", "producer_regions"), w.producer_regions, regions)
        w.consumer_regions = sub(("workload", "consumer_regions"), w.consumer_regions, regions)
        for i, f in enumerate(self.faults):
            if f.target not in regions and f.target not in (
                "leader",
                "follower",
                "table-leader",
                "random",
            ):
                raise _field_error(
                    ("faults", i, "target"),
                    "expected a region or leader/follower/table-leader/random",
                    f.target,
                    regions + ["leader", "follower", "table-leader", "random"],
                )
        if self.run.warmup >= self.run.duration:
            raise _field_error(("run", "warmup"), "warm-up must be shorter than the run")
        return self


class _FieldError(ValueError):
    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc = loc


def _field_error(
    loc: tuple, msg: str, got: str | None = None, choices: list[str] | None = None
) -> _FieldError:
    if got is not None and choices:
        close = difflib.get_close_matches(str(got), [str(c) for c in choices], n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    return _FieldError(loc, msg)


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# -- loading ------------------------------------------------------------------------------------
def _node_at(node, loc: tuple):
    """The YAML node at a validation error's location (as deep as it exists) and whether it is the key."""
    cur = node
    for part in loc:
        if isinstance(cur, yaml.MappingNode):
            nxt = None
            for k, v in cur.value:
                if k.value == part:
                    nxt = v
                    key = k
                    break
            if nxt is None:
                return cur
            if part == loc[-1]:
                return key if isinstance(nxt, yaml.MappingNode | yaml.SequenceNode) else nxt
            cur = nxt
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            cur = cur.value[part]
        else:
            return cur
    return cur


def _where(path: str, root, loc: tuple) -> str:
    if root is None:
        return f"{path}"
    node = _node_at(root, loc)
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


_EXPECT = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _describe(err: dict, allowed: dict[tuple, list[str]]) -> str:
    typ = err["type"]
    loc = tuple(err["loc"])
    if typ == "extra_forbidden":
        choices = allowed.get(loc[:-1], [])
        msg = f"unknown key {loc[-1]!r}"
        close = difflib.get_close_matches(str(loc[-1]), choices, n=1, cutoff=0.5)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        elif choices:
            msg += f"; expected one of: {', '.join(choices)}"
        return msg
    if typ == "missing":
        return "required key is missing"
    if typ == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"expected {expected}, got {err.get('input')!r}"
        opts = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        close = difflib.get_close_matches(str(err.get("input")), opts, n=1, cutoff=0.5)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        return msg
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return (
        f"{msg} (got {err.get('input')!r})"
        if typ not in ("value_error",) and "input" in err
        else msg
    )


def _allowed_keys() -> dict[tuple, list[str]]:
    """Valid keys at each mapping path of the scenario schema (for 'did you mean')."""
    out: dict[tuple, list[str]] = {(): list(Scenario.model_fields)}
    for name, f in Scenario.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out[(name,)] = list(ann.model_fields)
    return out


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path, problems: list[str]):
    try:
        text = path.read_text()
    except OSError as e:
        problems.append(f"{path}: cannot read the file ({e.strerror or e})")
        return None, None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problems.append(f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}")
        return None, None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(
            f"{path}:1:1: a scenario file must be a mapping of keys (got {type(data).__name__})"
        )
        return None, None
    return data, root


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` as (path, YAML-parsed value)."""
    if "=" not in item:
        raise ScenarioError([f"--set {item}: expected dotted.key=value"])
    key, _, raw = item.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ScenarioError([f"--set {item}: expected dotted.key=value"])
    return [int(p) if p.isdigit() else p for p in parts], value


def _apply_override(data: dict, path: list, value) -> None:
    cur = data
    for p in path[:-1]:
        if isinstance(cur, list) and isinstance(p, int) and p < len(cur):
            cur = cur[p]
            continue
        if not isinstance(cur, dict):
            raise ScenarioError([f"--set {'.'.join(map(str, path))}: {p!r} is not a mapping"])
        cur = cur.setdefault(p, {})
    if isinstance(cur, list) and isinstance(path[-1], int) and path[-1] < len(cur):
        cur[path[-1]] = value
    elif isinstance(cur, dict):
        cur[path[-1]] = value
    else:
        raise ScenarioError(
            [f"--set {'.'.join(map(str, path))}: cannot set inside a {type(cur).__name__}"]
        )


def load_data(path: str | Path, problems: list[str], _seen: tuple = ()) -> tuple[dict | None, Any]:
    """The raw mapping of a scenario file with its ``extends`` chain merged in."""
    path = Path(path)
    data, root = _read_yaml(path, problems)
    if data is None:
        return None, None
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            problems.append(
                f"{_where(str(path), root, ('extends',))}: extends: expected a file name"
            )
            return None, None
        ppath = (path.parent / parent).resolve()
        if ppath in _seen:
            problems.append(
                f"{_where(str(path), root, ('extends',))}: extends: {parent} extends itself"
            )
            return None, None
        if not ppath.exists():
            problems.append(
                f"{_where(str(path), root, ('extends',))}: extends: no such file {parent}"
            )
            return None, None
        pdata, _ = load_data(ppath, problems, _seen + (ppath,))
        if pdata is None:
            return None, None
        pdata.pop("name", None)
        pdata.pop("description", None)
        data = _deep_merge(pdata, data)
        data["extends"] = parent
    return data, root


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, merge, override and validate a scenario file; raise ScenarioError on any problem."""
    problems: list[str] = []
    data, root = load_data(path, problems)
    if data is None:
        raise ScenarioError(problems)
    for item in overrides or []:
        p, v = parse_override(item)
        _apply_override(data, p, v)
    data.setdefault("name", Path(path).stem)
    return validate_data(data, str(path), root)


def validate_data(data: dict, where: str = "<scenario>", root=None) -> Scenario:
    """Validate a mapping as a scenario; raise ScenarioError naming every problem."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        allowed = _allowed_keys()
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            ctx_err = err.get("ctx", {}).get("error")
            if isinstance(ctx_err, _FieldError):
                loc = ctx_err.loc
                msg = str(ctx_err)
            else:
                msg = _describe(err, allowed)
            dotted = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{_where(where, root, loc)}: {dotted}: {msg}")
        raise ScenarioError(problems) from None


def to_yaml(sc: Scenario) -> str:
    """The resolved scenario as YAML (every default filled in)."""
    return yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False)
