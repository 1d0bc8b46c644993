"""Scenario files: typed, validated, with units, defaults and clear errors.

A scenario is a YAML file validated by the pydantic models below. Unknown keys are errors, units
are explicit (``250ms``, ``30s``, ``8MiB``) and normalised to seconds and bytes, and every default
is the one documented (with its source, or marked an estimate) in the key's description. The
fault kinds (the ``faults:`` list) are defined in :mod:`sim.faults`; ``extends:`` names another
scenario file (relative to this one) to start from; ``--set dotted.key=value`` overrides are
checked against the same models. ``docs/scenarios.md`` is generated from these models
(``python -m sim.docs --write``) and ``sim schema`` writes their JSON Schema.

Bad input: every problem of a file is reported in one pass, as one line
``file:line:col: field.path: what was expected`` (``--set KEY=VALUE: field.path: ...`` for an
override), with the closest valid name for a misspelt key, literal or region. To get *all* the
problems at once, a check lives at the lowest level that has what it needs:

- per field: types, units, ranges, region names (``Region``, checked against the regions of the
  shipped RTT data) and distinct lists;
- per section: checks within one section (``warmup`` shorter than ``duration``, p99 >= p50);
- across sections (regions of the storage, table, control plane, workload and faults must be
  topology regions; the quorum must fit the buckets): ``Scenario._validate_together``, a wrap
  validator that runs them on every section that is valid on its own, even when other sections
  are not, and reports them together with the field errors.

Each problem is located in the YAML through the node marks of ``yaml.compose``: the offending
key for an unknown key or a whole section, the value otherwise, in whichever file of an
``extends:`` chain holds it.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import types
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from sim.faults import FaultSpec, fault_region_problems
from sim.network import known_regions
from sim.units import parse_duration, parse_size

__all__ = [
    "AgentConfig",
    "ControlPlaneConfig",
    "Duration",
    "NetworkConfig",
    "Region",
    "RunConfig",
    "Scenario",
    "ScenarioError",
    "Size",
    "StorageConfig",
    "TableConfig",
    "TopologyConfig",
    "WorkloadConfig",
    "json_schema",
    "load_scenario",
    "parse_override",
    "to_yaml",
    "validate_data",
]

_DURATION_HINT = "expected a duration such as 250ms, 30s, 2m or 1h"
_SIZE_HINT = "expected a size such as 512B, 1KiB or 8MiB"
MAX_INT = 2**64 - 1  # the largest whole number a scenario may hold (seeds are 64-bit)


# -- value types --------------------------------------------------------------------------------
def suggest(got: object, choices: list[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``got`` (both when two are
    equally close, as ``us-est-2`` is to us-east-2 and us-west-2), or ``''``."""
    word = str(got)
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=2, cutoff=cutoff)
    if not close:
        return ""
    ratio = [difflib.SequenceMatcher(None, word, c).ratio() for c in close]
    if len(close) == 2 and ratio[1] >= ratio[0] - 1e-9:
        return f" (did you mean {close[0]!r} or {close[1]!r}?)"
    return f" (did you mean {close[0]!r}?)"


def _short(v: object, width: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= width else text[: width - 3] + "..."


@lru_cache(maxsize=1)
def _known_regions() -> tuple[str, ...]:
    return tuple(known_regions())


def _duration(v: object) -> float:
    """Seconds for a duration (``250ms``, ``2m``, a bare number of seconds); finite."""
    try:
        s = parse_duration(v)
    except (OverflowError, TypeError):
        raise ValueError(f"{_DURATION_HINT}, got {_short(v)}") from None
    if not math.isfinite(s):
        raise ValueError(f"{_DURATION_HINT} (finite), got {_short(v)}")
    return s


def _size(v: object) -> int:
    """Bytes for a size (``8MiB``, ``1KiB``, a bare number of bytes); finite."""
    try:
        return parse_size(v)
    except (OverflowError, TypeError):
        raise ValueError(f"{_SIZE_HINT}, got {_short(v)}") from None


def _region(v: str) -> str:
    """A region name the shipped RTT data knows."""
    known = _known_regions()
    if v not in known:
        hint = suggest(v, list(known)) or (
            ": expected an AWS region such as us-east-1, or gcp:REGION / azure:REGION"
            " (see sim/data/SOURCES.md)"
        )
        raise PydanticCustomError("unknown_region", f"unknown region {_short(v)}{hint}")
    return v


def _preference(v: str) -> str:
    """``auto``, ``none`` or a region name."""
    if v in ("auto", "none") or v in _known_regions():
        return v
    choices = ["auto", "none", *_known_regions()]
    raise PydanticCustomError(
        "bad_preference",
        f"expected 'auto', 'none' or a region, got {_short(v)}{suggest(v, choices)}",
    )


def _distinct(values: list) -> list:
    """No name listed twice."""
    seen = set()
    for v in values:
        if v in seen:
            raise PydanticCustomError("duplicate", f"{_short(v)} is listed twice")
        seen.add(v)
    return values


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]
Region = Annotated[str, AfterValidator(_region)]
Regions = Annotated[list[Region], AfterValidator(_distinct)]
Preference = Annotated[str, AfterValidator(_preference)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _fail(model: str, problems: list[tuple[tuple, str, Any]]) -> None:
    """Raise every ``(loc, message, input)`` problem at once (locations relative to ``model``)."""
    if problems:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(type=PydanticCustomError("mismatch", msg), loc=loc, input=got)
                for loc, msg, got in problems
            ],
        )


# -- sections -----------------------------------------------------------------------------------
class RunConfig(_Model):
    """How long to simulate, from which seed, and how to judge unavailability."""

    duration: Duration = Field(
        3600.0, description="Simulated time (spec section 4: a 1-hour reference run)."
    )
    seed: int | None = Field(
        None,
        description="Root seed of every random stream; absent: drawn, then recorded in the results.",
    )
    warmup: Duration = Field(
        10.0,
        description="Requests sent before this are left out of latency percentiles (estimate).",
    )
    unavailability_threshold: Duration = Field(
        1.0,
        description="Shortest stall with requests outstanding and none acknowledged that counts "
        "as unavailability (spec section 6).",
    )

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        """The warm-up ends before the run does."""
        if self.warmup >= self.duration:
            _fail("run", [(("warmup",), "warm-up must be shorter than the run", self.warmup)])
        return self


class TopologyConfig(_Model):
    """Regions of the cluster and zones per region."""

    regions: Regions = Field(
        ["us-east-1", "us-east-2", "us-west-2"],
        min_length=1,
        description="Regions of the cluster, distinct; the first is the default home of the "
        "table. Names are those of the shipped RTT data: AWS (us-east-1), gcp:REGION, "
        "azure:REGION (sim/data/SOURCES.md). Default: the US triad of spec section 4.",
    )
    zones_per_region: int = Field(
        3, ge=1, le=6, description="Availability zones per region (AWS regions have 3 or more)."
    )


class NetworkConfig(_Model):
    """Jitter added to every RTT sample (the RTTs themselves come from the shipped data)."""

    jitter_ms: float = Field(
        0.3,
        ge=0,
        description="Mean of the exponential jitter added to every RTT, ms (Skyplane ping mean "
        "deviation 0.05-0.7 ms).",
    )


class StorageConfig(_Model):
    """Buckets (one per region) and the write quorum."""

    profile: Literal["s3-standard", "s3-express"] = Field(
        "s3-standard",
        description="Latency profile of the buckets: s3-standard (PUT calibrated to the "
        "published produce latency, GET from quickwit.io) or s3-express (estimates inside AWS's "
        "'single-digit millisecond' claim); see sim/storage.py.",
    )
    regions: Regions | None = Field(
        None,
        min_length=1,
        description="One bucket in each of these topology regions; absent: every region.",
    )
    quorum: int | None = Field(
        None,
        ge=1,
        description="A file is durable once this many buckets hold it (k of n); absent: a "
        "majority of the buckets.",
    )
    replication: Literal["quorum", "async"] = Field(
        "quorum",
        description="quorum: parallel PUTs to every bucket, durable at `quorum` of them (the real "
        "system). async: PUT to the agent's own region's bucket only, acknowledged after it, and "
        "copied to the other buckets by asynchronous bucket replication (the rejected design).",
    )
    replication_lag_p50: Duration = Field(
        5.0,
        description="async: median replication lag. S3 replication: 'most objects in seconds' "
        "(AWS docs); 5 s is an estimate.",
    )
    replication_lag_p9999: Duration = Field(
        900.0,
        description="async: 99.99th percentile of the lag: S3 Replication Time Control SLA, "
        "99.99% of objects within 15 minutes.",
    )
    put_attempts: int = Field(4, ge=1, description="PUT attempts per bucket (estimate).")
    repair_delay: Duration = Field(
        60.0,
        description="A PUT that failed is re-copied this long after its bucket is back (estimate).",
    )


class TableConfig(_Model):
    """The metadata table: its kind, replicas and timings."""

    kind: Literal["mrsc", "spanner", "single-region", "eventual"] = Field(
        "mrsc",
        description="mrsc: DynamoDB multi-region strong consistency (3 regions); spanner: "
        "majority quorum with a default leader; single-region: one home region; eventual: "
        "multi-region eventually consistent (last writer wins). See sim/table.py.",
    )
    regions: Regions | None = Field(
        None,
        min_length=1,
        description="Replica regions, topology regions; absent: every region (single-region: "
        "the first). An mrsc table spans exactly 3 (or 2 and a witness).",
    )
    leader_region: Region | None = Field(
        None,
        description="Internal leader (mrsc), default leader (spanner) or home (single-region); "
        "absent: the first table region.",
    )
    witness: Region | None = Field(
        None,
        description="mrsc/spanner: a table region that votes but serves no reads; absent: none.",
    )
    local_p50_ms: float = Field(
        8.0,
        gt=0,
        description="Median of an operation at the local replica, ms (estimate: DynamoDB "
        "single-digit ms service side, 10-20 ms observed by clients).",
    )
    local_p99_ms: float = Field(
        25.0, gt=0, description="p99 of an operation at the local replica, ms (estimate)."
    )
    op_timeout: Duration = Field(
        1.0, description="An operation that cannot reach its quorum fails after this (estimate)."
    )
    leader_failover: Duration = Field(
        10.0, description="Time to elect a new internal table leader (estimate)."
    )
    replication_lag_p50_ms: float = Field(
        300.0,
        gt=0,
        description="eventual: median replication lag, ms (estimate from DynamoDB global "
        "tables' 'within a second or less').",
    )
    replication_lag_p99_ms: float = Field(
        1000.0, gt=0, description="eventual: p99 replication lag, ms (estimate)."
    )
    conflict_window: Duration = Field(
        0.0,
        description="mrsc: extra window in which writes from two regions collide and one fails "
        "(estimate; 0: only truly concurrent writes).",
    )

    @model_validator(mode="after")
    def _check(self) -> TableConfig:
        """Percentiles in order."""
        problems = []
        if self.local_p99_ms < self.local_p50_ms:
            problems.append((("local_p99_ms",), "p99 must be at least p50", self.local_p99_ms))
        if self.replication_lag_p99_ms < self.replication_lag_p50_ms:
            problems.append(
                (
                    ("replication_lag_p99_ms",),
                    "p99 must be at least p50",
                    self.replication_lag_p99_ms,
                )
            )
        _fail("table", problems)
        return self


class ControlPlaneConfig(_Model):
    """Regional control planes: leader election, the lease, preference and soft-failure detection."""

    regions: Regions | None = Field(
        None,
        min_length=1,
        description="Regions with a control plane, topology regions; absent: every region.",
    )
    coordination: Literal["leader", "active-active"] = Field(
        "leader",
        description="leader: only the lease holder commits; active-active: every region commits "
        "through the table's conditional writes.",
    )
    preference: Preference = Field(
        "auto",
        description="Preferred leader region: auto (the region with the lowest commit latency), "
        "none (no rigging), or a control-plane region to pin.",
    )
    instances: int = Field(8, ge=1, description="Instances per regional control plane (estimate).")
    concurrency: int = Field(
        64, ge=1, description="Requests one instance serves at once (estimate)."
    )
    service_p50_ms: float = Field(
        1.0, gt=0, description="Median service time of a request, ms (estimate)."
    )
    service_p99_ms: float = Field(
        5.0, gt=0, description="p99 service time of a request, ms (estimate)."
    )
    lease_duration: Duration = Field(
        5.0, description="Leader lease length (estimate: not published)."
    )
    renew_interval: Duration = Field(
        1.0, description="The leader renews its lease this often (estimate: not published)."
    )
    non_preferred_delay: Duration = Field(
        2.0,
        description="Rigging: a non-preferred region waits this long after a lease expires "
        "before trying to take it (estimate).",
    )
    handover_hold: Duration = Field(
        10.0,
        description="auto: a better region must stay better this long before leadership moves "
        "(estimate).",
    )
    pinned_handover_hold: Duration = Field(
        0.0, description="Pinned: delay before handing over to the pinned region (estimate)."
    )
    auto_margin: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="auto: a region needs this fraction lower commit latency to become "
        "preferred (estimate).",
    )
    latency_ewma_tau: Duration = Field(
        20.0,
        description="Time constant of each region's table latency and error averages (an "
        "exponentially weighted moving average in time): long enough that sampling noise does "
        "not move leadership, short enough to follow a soft failure (estimate).",
    )
    responsive_window: Duration = Field(
        3.0, description="A region is responsive if its heartbeat is this fresh (estimate)."
    )
    clock_margin: Duration = Field(
        0.1,
        description="Safety margin taken off the lease for clock error (estimate).",
    )
    soft_failure_detection: bool = Field(
        True,
        description="Soft-failure detector on: a region whose table operations stay too slow "
        "or failing is no longer preferred (estimate of the real system's behaviour).",
    )
    soft_failure_threshold: Duration = Field(
        0.25, description="Table latency EWMA above this is too slow (estimate)."
    )
    soft_failure_error_rate: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Table error EWMA (fraction of operations) above this is failing (estimate).",
    )
    soft_failure_window: Duration = Field(
        10.0,
        description="How long a region must stay bad before it is called degraded, or good "
        "before it is healthy again (estimate).",
    )
    max_batch: int = Field(64, ge=1, description="Files per group commit (estimate).")
    ops_per_commit: int = Field(
        1,
        ge=1,
        description="Sequential table operations per commit (estimate: one conditional write).",
    )

    @model_validator(mode="after")
    def _check(self) -> ControlPlaneConfig:
        """Percentiles in order."""
        if self.service_p99_ms < self.service_p50_ms:
            _fail(
                "control_plane",
                [(("service_p99_ms",), "p99 must be at least p50", self.service_p99_ms)],
            )
        return self


class AgentConfig(_Model):
    """Agents (the stateless brokers): batching into files and commit routing."""

    per_zone: int = Field(1, ge=1, description="Agents in every zone of every region.")
    batch_timeout: Duration = Field(
        0.25, description="A file is flushed this long after its first record (WarpStream docs)."
    )
    max_file_size: Size = Field(
        8 * 1024 * 1024,
        description="A file is flushed once it reaches this size (WarpStream docs).",
    )
    commit_timeout: Duration = Field(
        2.0, description="No answer from a control plane: try the next one (estimate)."
    )
    suspect_period: Duration = Field(
        10.0, description="A region that timed out is avoided this long (estimate)."
    )
    commit_backoff: Duration = Field(
        0.05, description="First backoff after 'no leader' (estimate); doubles on each retry."
    )
    commit_backoff_max: Duration = Field(1.0, description="Largest commit backoff (estimate).")


class WorkloadConfig(_Model):
    """Producers and consumers (spec section 4 reference workload by default)."""

    producer_regions: Regions | None = Field(
        None, description="Regions with producers, topology regions; absent: every region."
    )
    producers_per_zone: int = Field(
        1, ge=0, description="Producers in every zone of those regions."
    )
    records_per_s: float = Field(
        1000.0, ge=0, description="Records per second sent by each producer (spec section 4)."
    )
    record_size: Size = Field(1024, description="Size of a record (spec section 4).")
    linger: Duration = Field(
        0.025,
        description="A producer batch waits this long for more records (WarpStream's "
        "recommended client config).",
    )
    request_timeout: Duration = Field(
        30.0, description="A produce request times out after this (Kafka request.timeout.ms)."
    )
    delivery_timeout: Duration = Field(
        120.0, description="A record fails after this (Kafka delivery.timeout.ms)."
    )
    retry_backoff: Duration = Field(
        0.1, description="First retry backoff (Kafka retry.backoff.ms)."
    )
    retry_backoff_max: Duration = Field(
        1.0, description="Largest retry backoff (Kafka retry.backoff.max.ms, 3.7+)."
    )
    consumer_regions: Regions | None = Field(
        None, description="Regions with consumers, topology regions; absent: every region."
    )
    consumers_per_region: int = Field(1, ge=0, description="Consumers in each of those regions.")
    poll_interval: Duration = Field(
        0.4,
        description="Consumer poll interval (estimate, calibrated to the published end-to-end "
        "latency).",
    )


SECTIONS: dict[str, type[BaseModel]] = {
    "run": RunConfig,
    "topology": TopologyConfig,
    "network": NetworkConfig,
    "storage": StorageConfig,
    "table": TableConfig,
    "control_plane": ControlPlaneConfig,
    "agents": AgentConfig,
    "workload": WorkloadConfig,
}
_FAULT = TypeAdapter(FaultSpec)


class Scenario(_Model):
    """A whole scenario file."""

    name: str = Field(
        "unnamed",
        description="Name of the scenario, used in results folder names; absent: the file name.",
    )
    description: str = Field("", description="One line on what the scenario studies (sim list).")
    extends: str | None = Field(
        None,
        description="A scenario file (relative to this one) to start from: its keys are merged "
        "under this file's, mappings key by key, lists replaced whole.",
    )
    run: RunConfig = Field(default_factory=RunConfig, description=RunConfig.__doc__)
    topology: TopologyConfig = Field(
        default_factory=TopologyConfig, description=TopologyConfig.__doc__
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig, description=NetworkConfig.__doc__)
    storage: StorageConfig = Field(default_factory=StorageConfig, description=StorageConfig.__doc__)
    table: TableConfig = Field(default_factory=TableConfig, description=TableConfig.__doc__)
    control_plane: ControlPlaneConfig = Field(
        default_factory=ControlPlaneConfig, description=ControlPlaneConfig.__doc__
    )
    agents: AgentConfig = Field(default_factory=AgentConfig, description=AgentConfig.__doc__)
    workload: WorkloadConfig = Field(
        default_factory=WorkloadConfig, description=WorkloadConfig.__doc__
    )
    faults: list[FaultSpec] = Field(
        default_factory=list,
        description="Faults and operator actions, each with a kind, a start (at), a duration "
        "(absent: permanent) and a target; see the fault reference.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _validate_together(cls, data: Any, handler) -> Scenario:
        """Validate the fields, then the checks across sections, and report both together.

        The cross-section checks run on every section that is valid on its own, so a file
        with a bad duration in ``run`` still hears that its storage quorum exceeds its buckets.
        """
        try:
            sc = handler(data)
        except ValidationError as e:
            errors = _as_details(e)
            parts = _valid_parts(data)
            sc = None
        else:
            errors = []
            parts = {name: getattr(sc, name) for name in SECTIONS}
            parts["faults"] = list(enumerate(sc.faults))
        for loc, msg, got in _fit_together(parts):
            errors.append(
                InitErrorDetails(type=PydanticCustomError("mismatch", msg), loc=loc, input=got)
            )
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return sc


_KNOWN_ERROR_TYPES = frozenset(get_args(ErrorType))


def _as_details(e: ValidationError) -> list[InitErrorDetails]:
    """A ValidationError's errors, ready to be raised again with more."""
    out = []
    for err in e.errors():
        if err["type"] in _KNOWN_ERROR_TYPES:
            d = InitErrorDetails(type=err["type"], loc=err["loc"], input=err["input"])
            if "ctx" in err:
                d["ctx"] = err["ctx"]
        else:
            d = InitErrorDetails(
                type=PydanticCustomError(err["type"], err["msg"]),
                loc=err["loc"],
                input=err["input"],
            )
        out.append(d)
    return out


def _valid_parts(data: Any) -> dict[str, Any]:
    """Each section validated on its own (None where it is not valid); faults item by item."""
    if not isinstance(data, dict):
        return {}
    parts: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        try:
            parts[name] = model.model_validate(data[name]) if name in data else model()
        except ValidationError:
            parts[name] = None
    raw = data.get("faults", [])
    if isinstance(raw, list):
        parts["faults"] = []
        for i, item in enumerate(raw):
            try:
                parts["faults"].append((i, _FAULT.validate_python(item)))
            except ValidationError:
                pass
    return parts


def _fit_together(parts: dict[str, Any]) -> list[tuple[tuple, str, Any]]:
    """Checks across sections, on the sections given (None: invalid, skipped); fills the
    region-dependent defaults. Returns ``(loc, message, input)`` per problem."""
    out: list[tuple[tuple, str, Any]] = []
    topo = parts.get("topology")
    if topo is None:
        return out  # every check below is about the topology's regions
    regions = list(topo.regions)

    def within(loc: tuple, values: list[str] | None, default: list[str]) -> list[str]:
        if values is None:
            return list(default)
        for i, v in enumerate(values):
            if v not in regions:
                out.append(
                    (
                        loc + (i,),
                        f"{v!r} is not one of the topology's regions "
                        f"({', '.join(regions)}){suggest(v, regions)}",
                        v,
                    )
                )
        return list(values)

    s = parts.get("storage")
    if s is not None:
        s.regions = within(("storage", "regions"), s.regions, regions)
        if s.quorum is None:
            s.quorum = len(s.regions) // 2 + 1
        elif s.quorum > len(s.regions):
            out.append(
                (
                    ("storage", "quorum"),
                    f"quorum {s.quorum} exceeds the {len(s.regions)} bucket(s)",
                    s.quorum,
                )
            )
    t = parts.get("table")
    if t is not None:
        default_table = regions[:1] if t.kind == "single-region" else regions
        t.regions = within(("table", "regions"), t.regions, default_table)
        if t.leader_region is None:
            t.leader_region = t.regions[0]
        elif t.leader_region not in t.regions:
            out.append(
                (
                    ("table", "leader_region"),
                    f"{t.leader_region!r} holds no replica (table regions: "
                    f"{', '.join(t.regions)}){suggest(t.leader_region, t.regions)}",
                    t.leader_region,
                )
            )
        if t.kind == "mrsc" and len(t.regions) != 3:
            out.append(
                (
                    ("table", "regions"),
                    f"an mrsc table spans exactly 3 regions (or 2 and a witness), "
                    f"got {len(t.regions)}",
                    t.regions,
                )
            )
        if t.witness is not None and t.witness not in t.regions:
            out.append(
                (
                    ("table", "witness"),
                    f"{t.witness!r} is not a table region{suggest(t.witness, t.regions)}",
                    t.witness,
                )
            )
    c = parts.get("control_plane")
    if c is not None:
        c.regions = within(("control_plane", "regions"), c.regions, regions)
        if c.preference not in ("auto", "none") and c.preference not in c.regions:
            out.append(
                (
                    ("control_plane", "preference"),
                    f"expected 'auto', 'none' or a control-plane region ({', '.join(c.regions)}), "
                    f"got {c.preference!r}{suggest(c.preference, c.regions)}",
                    c.preference,
                )
            )
    w = parts.get("workload")
    if w is not None:
        w.producer_regions = within(("workload", "producer_regions"), w.producer_regions, regions)
        w.consumer_regions = within(("workload", "consumer_regions"), w.consumer_regions, regions)
    for i, spec in parts.get("faults") or []:
        for path, msg, got, choices in fault_region_problems(spec, regions):
            if got is not None:
                msg = f"{msg}, got {_short(got)}{suggest(got, choices)}"
            out.append((("faults", i, *path), msg, got))
    return out


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# -- describing a validation error ---------------------------------------------------------------
def _unwrap(tp: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def union_members(tp: Any) -> list[type[BaseModel]]:
    """The models of a (discriminated) union of models, in order; ``[]`` for anything else."""
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
    return []


def _literal_values(model: type[BaseModel], name: str = "kind") -> tuple:
    f = model.model_fields.get(name)
    if f is None or get_origin(f.annotation) is not Literal:
        return ()
    return get_args(f.annotation)


def _type_at(raw_loc: tuple) -> Any:
    """The declared type at a pydantic error location (with its union tags), or None."""
    tp: Any = Scenario
    for part in raw_loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(part) if isinstance(part, str) else None
            if f is None:
                return None
            tp = f.annotation
        elif get_origin(tp) is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif members := union_members(tp):
            tp = next((m for m in members if part in _literal_values(m)), None)
            if tp is None:
                return None
        else:
            return None
    return tp


def _keys_at(raw_loc: tuple) -> list[str]:
    tp = _unwrap(_type_at(raw_loc))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


_EXPECTED = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "greater_than": "expected a value greater than {gt}",
    "greater_than_equal": "expected a value of at least {ge}",
    "less_than": "expected a value less than {lt}",
    "less_than_equal": "expected a value of at most {le}",
    "too_short": "expected at least {min_length} item(s)",
    "too_long": "expected at most {max_length} item(s)",
    "none_required": "expected nothing (null)",
    "invalid_key": "expected a key name (text)",
}


def _describe(err: dict) -> str:
    """What was expected, in words, for one pydantic error."""
    typ, raw = err["type"], tuple(err["loc"])
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if typ == "extra_forbidden":
        choices = _keys_at(raw[:-1])
        msg = f"unknown key {_short(raw[-1])}"
        hint = suggest(raw[-1], choices, cutoff=0.5)
        if hint:
            return msg + hint
        return msg + (f"; expected one of: {', '.join(choices)}" if choices else "")
    if typ == "missing":
        return f"required key {_short(raw[-1])} is missing"
    if typ == "literal_error":
        opts = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        return f"expected one of {', '.join(opts)}; got {_short(got)}{suggest(got, opts, 0.5)}"
    if typ in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "kind")).strip("'")
        tags = [str(t) for m in union_members(_type_at(raw)) for t in _literal_values(m, disc)]
        if typ == "union_tag_not_found":
            return f"required key {disc!r} is missing; expected one of: {', '.join(tags)}"
        tag = ctx.get("tag")
        hint = suggest(tag, tags, 0.5) or f"; expected one of: {', '.join(tags)}"
        return f"unknown {disc} {_short(tag)}{hint}"
    if typ == "value_error":
        return str(ctx.get("error") or err["msg"])
    if typ in _EXPECTED:
        try:
            expected = _EXPECTED[typ].format(**ctx)
        except (KeyError, IndexError, ValueError):
            expected = _EXPECTED[typ]
        return f"{expected}, got {_short(got)}"
    if typ not in _KNOWN_ERROR_TYPES:  # our own messages, already phrased
        return err["msg"]
    msg = err["msg"]
    return f"{msg[:1].lower()}{msg[1:]}, got {_short(got)}"


# -- locating a problem in the YAML ---------------------------------------------------------------
def _clean_loc(data: Any, raw_loc: tuple) -> tuple:
    """A pydantic location without its union tags, as a path in the raw data."""
    out: list = []
    cur = data
    for i, part in enumerate(raw_loc):
        last = i == len(raw_loc) - 1
        if isinstance(cur, dict):
            if part in cur:
                out.append(part)
                cur = cur[part]
            elif last:
                out.append(part)  # a missing or forbidden key
            continue  # otherwise a union tag
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
            continue
        if last and not out:
            out.append(part)
        # a tag below a scalar: nothing more to follow
    return tuple(out)


def _shown(text: object) -> str:
    """Text as it can be shown on one line (quoted when it holds odd characters)."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def _dotted(loc: tuple) -> str:
    return ".".join(_shown(p) for p in loc) or "(top level)"


def _find_node(root: yaml.Node, loc: tuple, key_wanted: bool) -> tuple[yaml.Node, int]:
    """The node a problem at ``loc`` should point at, and how deep ``loc`` exists in the file."""
    cur, key, depth = root, None, 0
    for part in loc:
        nxt = nkey = None
        if isinstance(cur, yaml.MappingNode):
            for k, v in cur.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt, nkey = v, k  # the last duplicate wins, as in the loaded data
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(cur.value):
                nxt = cur.value[part]
        if nxt is None:
            return (key or cur), depth
        cur, key, depth = nxt, nkey, depth + 1
    if key is not None and (key_wanted or isinstance(cur, yaml.MappingNode | yaml.SequenceNode)):
        return key, depth
    return cur, depth


Source = tuple[str, "yaml.Node | None"]  # (file name, composed YAML) of each file of a chain
Applied = tuple[tuple, str]  # (path, "--set" item) of each override


def _locate(loc: tuple, key_wanted: bool, sources: list[Source], applied: list[Applied]):
    """``(where, sort key)``: ``file:line:col`` (or ``--set ITEM``) for a problem at ``loc``."""
    for i in range(len(applied) - 1, -1, -1):
        path, item = applied[i]
        if loc[: len(path)] == path:
            return f"--set {_shown(item)}", (len(sources), i, 0)
    best = None
    for si, (name, root) in enumerate(sources):
        if root is None:
            continue
        node, depth = _find_node(root, loc, key_wanted)
        if best is None or depth > best[0]:
            best = (depth, si, name, node)
    if best is None:
        return (sources[0][0] if sources else "<scenario>"), (0, 0, 0)
    _, si, name, node = best
    m = node.start_mark
    return f"{name}:{m.line + 1}:{m.column + 1}", (si, m.line, m.column)


# -- numbers no field can hold --------------------------------------------------------------------
def _scan_numbers(data: Any) -> list[tuple[tuple, str]]:
    """Whole numbers too large for any field, replaced in ``data`` by infinity (which every
    number field rejects or treats as 'never') so validators meet no overflow. Returns the
    ``(loc, message)`` of each."""
    out: list[tuple[tuple, str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple]] = [(data, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:  # YAML aliases share objects
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in list(items):
                if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
                    out.append((loc + (k,), f"number too large (at most {MAX_INT})"))
                    node[k] = math.inf
                elif isinstance(v, dict | list):
                    stack.append((v, loc + (k,)))
    return out


def _check(
    data: dict, sources: list[Source], applied: list[Applied], found: list[tuple[tuple, str]]
) -> Scenario | None:
    """Validate ``data``; append every problem to ``found`` as (sort key, line)."""
    too_large = _scan_numbers(data)
    for loc, msg in too_large:
        where, key = _locate(loc, False, sources, applied)
        found.append((key, f"{where}: {_dotted(loc)}: {msg}"))
    skip = {loc for loc, _ in too_large}
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = _clean_loc(data, tuple(err["loc"]))
            if loc in skip and err["type"] != "extra_forbidden":
                continue
            key_wanted = err["type"] in ("extra_forbidden", "missing")
            where, key = _locate(loc, key_wanted, sources, applied)
            line = f"{where}: {_dotted(loc)}: {_describe(err)}"
            if len(line) > 1000:
                line = line[:997] + "..."
            found.append((key, line))
        return None


def _finish(found: list[tuple[tuple, str]]) -> list[str]:
    """Problems in file order, each once."""
    out: list[str] = []
    for _, line in sorted(found, key=lambda kl: kl[0]):
        line = line.replace("\r", "\\r").replace("\n", "\\n")  # one line per problem
        if line not in out:
            out.append(line)
    return out


# -- loading ------------------------------------------------------------------------------------
def _deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _duplicates(root: yaml.Node, name: str, si: int, found: list) -> None:
    """Report keys given twice in one mapping (YAML keeps the last silently)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in first:
                        m = k.start_mark
                        found.append(
                            (
                                (si, m.line, m.column),
                                f"{name}:{m.line + 1}:{m.column + 1}: "
                                f"{_dotted(loc + (k.value,))}: duplicate key {k.value!r} (first "
                                f"given on line {first[k.value].start_mark.line + 1})",
                            )
                        )
                    else:
                        first[k.value] = k
                    stack.append((v, loc + (k.value,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, loc + (i,)) for i, v in enumerate(node.value))


MAX_NESTING = 50  # a scenario needs a handful of levels; deeper input is refused up front


def _nesting_depth(text: str) -> int | None:
    """The deepest nesting of collections in a YAML text, from the (iterative) scanner, so that
    deep input is refused the same way whatever the interpreter's stack; None if it does not scan
    (the parser then reports why)."""
    opening = (
        yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
        yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken,
    )  # fmt: skip
    depth = deepest = 0
    try:
        for tok in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(tok, opening):
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if deepest > MAX_NESTING:
                        return deepest
            elif isinstance(
                tok, yaml.BlockEndToken | yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken
            ):
                depth -= 1
    except (yaml.YAMLError, ValueError, OverflowError):
        return None
    return deepest


def _read_yaml(path: Path, found: list, si: int = 0) -> tuple[dict | None, yaml.Node | None]:
    """The mapping and the composed nodes of one YAML file; None and a problem if impossible.
    ``si`` is the file's place in its ``extends`` chain (to sort problems in file order)."""
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        found.append(((0, 0, 0), f"{name}: cannot read the file ({e.strerror or e})"))
        return None, None
    except UnicodeDecodeError as e:
        found.append(((0, 0, 0), f"{name}: not a text file (not UTF-8 at byte {e.start})"))
        return None, None
    depth = _nesting_depth(text)
    if depth is not None and depth > MAX_NESTING:
        found.append(((0, 0, 0), f"{name}: nested too deeply (more than {MAX_NESTING} levels)"))
        return None, None
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters at once
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid"
        if e.context and e.context.startswith("expected"):
            problem = f"{e.context}, {problem}"
        if "\t" in problem or "'\\t'" in problem:
            problem += " (indent with spaces: YAML does not allow tabs)"
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        found.append(((0, 0, 0), f"{where}: not valid YAML: {problem}"))
        return None, None
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        found.append(((0, 0, 0), f"{name}:{line}: not valid YAML: {e.reason} ({e.character!r})"))
        return None, None
    except yaml.YAMLError as e:
        found.append(((0, 0, 0), f"{name}: not valid YAML: {e}"))
        return None, None
    except (ValueError, OverflowError) as e:  # e.g. an integer of more than 4300 digits
        why = "a number with too many digits" if "digits" in str(e) else str(e)
        found.append(((0, 0, 0), f"{name}: not valid YAML: {why}"))
        return None, None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        found.append(
            (
                (0, 0, 0),
                f"{name}:1:1: (top level): expected a mapping of keys such as 'run:' and "
                f"'faults:', got a {type(data).__name__}",
            )
        )
        return None, None
    _duplicates(root, name, si, found)
    return data, root


def _load_chain(path: Path, found: list, sources: list[Source], seen: tuple = ()) -> dict | None:
    """The raw mapping of a scenario file with its ``extends`` chain merged in."""
    data, root = _read_yaml(path, found, len(sources))
    if data is None:
        return None
    sources.append((str(path), root))
    parent = data.get("extends")
    if parent is None:
        return data
    where, (_, line, col) = _locate(("extends",), False, [(str(path), root)], [])
    key = (len(sources) - 1, line, col)
    chain = " -> ".join(p.name for p in (*seen, path))
    if not isinstance(parent, str) or not parent.strip():
        found.append(
            (key, f"{where}: extends: expected a scenario file name, got {_short(parent)}")
        )
        return None
    try:
        ppath = (path.parent / parent).resolve()
        me = path.resolve()
        exists = ppath.is_file()
    except (OSError, ValueError, RuntimeError) as e:
        found.append((key, f"{where}: extends: cannot use {_short(parent)} ({e})"))
        return None
    if ppath == me or ppath in seen:
        found.append((key, f"{where}: extends: circular: {chain} -> {ppath.name}"))
        return None
    if not exists:
        found.append((key, f"{where}: extends: no such file {ppath}"))
        return None
    pdata = _load_chain(ppath, found, sources, (*seen, me))
    if pdata is None:
        return None
    pdata.pop("name", None)
    pdata.pop("description", None)
    merged = _deep_merge(pdata, data)
    merged["extends"] = parent
    return merged


def parse_override(item: str) -> tuple[list, Any]:
    """``a.b.c=value`` as (path, YAML-parsed value); digits in the path index lists."""
    key, eq, raw = item.partition("=")
    parts = [p.strip() for p in key.split(".")]
    if not eq or not key.strip() or any(not p for p in parts):
        raise ScenarioError(
            [f"--set {_shown(item)}: expected dotted.key=value, e.g. workload.linger=10ms"]
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        value = raw
    return [int(p) if p.isdigit() else p for p in parts], value


def _apply_override(data: dict, path: list, value: Any, item: str | None = None) -> None:
    """Set ``value`` at ``path`` in ``data`` (creating mappings on the way)."""
    item = item if item is not None else f"{'.'.join(map(str, path))}=..."
    cur: Any = data
    for depth, p in enumerate(path):
        last = depth == len(path) - 1
        here = _dotted(tuple(path[:depth])) if depth else "(top level)"
        if isinstance(cur, list):
            if not (isinstance(p, int) and 0 <= p <= len(cur) - (0 if last else 1)):
                raise ScenarioError(
                    [
                        f"--set {_shown(item)}: {here}: no item {p!r} in a list of {len(cur)} (count from 0)"
                    ]
                )
            if last:
                if p == len(cur):
                    cur.append(value)
                else:
                    cur[p] = value
                return
            cur = cur[p]
        elif isinstance(cur, dict):
            if last:
                cur[p] = value
                return
            if cur.get(p) is None:
                if isinstance(path[depth + 1], int):
                    raise ScenarioError(
                        [f"--set {_shown(item)}: {_dotted(tuple(path[: depth + 1]))}: no such list"]
                    )
                cur[p] = {}
            cur = cur[p]
        else:
            raise ScenarioError(
                [f"--set {_shown(item)}: {here}: holds {_short(cur)}, not a mapping or a list"]
            )


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, merge, override and validate a scenario file; raise ScenarioError on any problem."""
    found: list[tuple[tuple, str]] = []
    sources: list[Source] = []
    sc = None
    try:
        data = _load_chain(Path(path), found, sources)
        if data is not None:
            applied: list[Applied] = []
            for item in overrides or []:
                try:
                    p, v = parse_override(item)
                    _apply_override(data, p, v, item)
                    applied.append((tuple(p), item))
                except ScenarioError as e:
                    found.extend(((len(sources), len(applied), 0), line) for line in e.problems)
            data.setdefault("name", Path(path).stem)
            sc = _check(data, sources, applied, found)
    except RecursionError:
        found.append(((0, 0, 0), f"{path}: nested too deeply"))
    if found or sc is None:
        raise ScenarioError(_finish(found) or [f"{path}: not a valid scenario"])
    return sc


def validate_data(data: Any, where: str = "<scenario>", root: yaml.Node | None = None) -> Scenario:
    """Validate a mapping as a scenario; raise ScenarioError naming every problem."""
    if not isinstance(data, dict):
        raise ScenarioError([f"{where}: (top level): expected a mapping of keys"])
    found: list[tuple[tuple, str]] = []
    try:
        data = copy.deepcopy(data)
        sc = _check(data, [(where, root)], [], found)
    except RecursionError:
        raise ScenarioError([f"{where}: nested too deeply"]) from None
    if found or sc is None:
        raise ScenarioError(_finish(found) or [f"{where}: not a valid scenario"])
    return sc


def to_yaml(sc: Scenario) -> str:
    """The resolved scenario as YAML (every default filled in)."""
    return yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False)


# -- JSON Schema ----------------------------------------------------------------------------------
# Validator functions whose values are written differently from their Python type (a duration
# is a float in seconds, written "250ms"): their schema is a shared definition instead.
_DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*(us|ms|s|min|m|h|d)?\s*$"
_SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$"
TYPE_NAMES = {  # definition name -> how the reference names the type
    "Duration": "duration",
    "SignedDuration": "duration, may be negative",
    "DurationOrRange": "duration or [low, high]",
    "Size": "size",
    "Region": "region",
    "Preference": "auto, none or a region",
}


def special_type(func: Any) -> str | None:
    """The definition name of a validator function's values (``Duration`` ...), or None."""
    name = getattr(func, "__name__", "")
    module = getattr(func, "__module__", "")
    table = {
        ("sim.scenario", "_duration"): "Duration",
        ("sim.units", "parse_duration"): "Duration",
        ("sim.scenario", "_size"): "Size",
        ("sim.units", "parse_size"): "Size",
        ("sim.scenario", "_region"): "Region",
        ("sim.scenario", "_preference"): "Preference",
        ("sim.faults", "_parse_range"): "DurationOrRange",
        ("sim.faults", "_parse_signed"): "SignedDuration",
    }
    if (module, name) in table:
        return table[(module, name)]
    if "duration" in name:
        return "Duration"
    return None


def _definitions() -> dict[str, dict]:
    duration = {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": _DURATION_PATTERN},
        ],
        "description": "A duration: 500us, 250ms, 30s, 2m, 1h, 1.5d; a bare number is seconds.",
    }
    return {
        "Duration": duration,
        "SignedDuration": {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _DURATION_PATTERN.replace(r"^\s*", r"^\s*-?")},
            ],
            "description": "A duration that may be negative (-3s).",
        },
        "DurationOrRange": {
            "anyOf": [
                {"$ref": "#/$defs/Duration"},
                {
                    "type": "array",
                    "items": {"$ref": "#/$defs/Duration"},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ],
            "description": "A duration, or [low, high] drawn uniformly from the run's seed.",
        },
        "Size": {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": _SIZE_PATTERN},
            ],
            "description": "A size: 512B, 4KB, 1KiB, 8MiB, 1GiB; a bare number is bytes.",
        },
        "Region": {
            "type": "string",
            "enum": list(_known_regions()),
            "description": "A region of the shipped RTT data (sim/data/SOURCES.md).",
        },
        "Preference": {
            "anyOf": [{"enum": ["auto", "none"]}, {"$ref": "#/$defs/Region"}],
            "description": "auto, none, or a region to pin.",
        },
    }


class _SchemaGenerator(GenerateJsonSchema):
    """Refers durations, sizes and regions to their definitions (they are written as text)."""

    def _special(self, schema, fallback):
        name = special_type(schema.get("function", {}).get("function"))
        return {_MARK: name} if name else fallback(schema)

    def function_before_schema(self, schema):
        return self._special(schema, super().function_before_schema)

    def function_after_schema(self, schema):
        return self._special(schema, super().function_after_schema)

    def function_plain_schema(self, schema):
        return self._special(schema, super().function_plain_schema)


def show_duration(seconds: float) -> str:
    """A duration as it would be written in a scenario: ``25ms``, ``90s``, ``1h``."""
    if seconds == 0:
        return "0s"
    units = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6))
    fits = [(u, seconds / f) for u, f in units if abs(seconds) / f >= 1 - 1e-9]
    if not fits:
        return f"{seconds / 1e-6:g}us"
    for u, n in fits:
        if abs(n - round(n)) < 1e-6 and (u != "us" or len(fits) == 1):
            return f"{round(n)}{u}"
    return f"{fits[0][1]:g}{fits[0][0]}"


def show_size(n: int) -> str:
    """A size as it would be written in a scenario: ``8MiB``, ``1KiB``, ``1000B``."""
    for u, f in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n and n % f == 0:
            return f"{n // f}{u}"
    return f"{n}B"


def show_value(value: Any, type_name: str | None) -> str:
    """A default value as written in a scenario file."""
    if type_name in ("Duration", "SignedDuration", "DurationOrRange") and isinstance(
        value, int | float
    ):
        return show_duration(float(value))
    if type_name == "Size" and isinstance(value, int):
        return show_size(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else "''"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v, type_name) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _with_defaults(node: Any) -> Any:
    """Append each property's default, written as in a file, to its description (editors show
    the description on hover)."""
    if isinstance(node, dict):
        for prop in (node.get("properties") or {}).values():
            if isinstance(prop, dict) and prop.get("default") is not None and "description" in prop:
                refs = [prop.get("$ref", "")] + [a.get("$ref", "") for a in prop.get("anyOf", [])]
                name = next((r.rsplit("/", 1)[-1] for r in refs if r), None)
                prop["description"] += f" Default: {show_value(prop['default'], name)}."
        for v in node.values():
            _with_defaults(v)
    elif isinstance(node, list):
        for v in node:
            _with_defaults(v)
    return node


_MARK = "x-sim-type"  # placeholder while pydantic generates (it resolves every "$ref" it sees)


def _refer(node: Any) -> Any:
    """Replace the placeholders by references to the shared definitions."""
    if isinstance(node, dict):
        out = {k: _refer(v) for k, v in node.items() if k != _MARK}
        if _MARK in node:
            out = {"$ref": f"#/$defs/{node[_MARK]}", **out}
        return out
    if isinstance(node, list):
        return [_refer(v) for v in node]
    return node


def json_schema() -> dict:
    """The JSON Schema of scenario files (for editors: see docs/scenarios.md)."""
    schema = _with_defaults(_refer(Scenario.model_json_schema(schema_generator=_SchemaGenerator)))
    schema["$defs"] = {**schema.get("$defs", {}), **_definitions()}
    schema["title"] = "sim scenario"
    schema["description"] = (
        "A scenario file of the sim streaming simulator (generated by `sim schema`; "
        "reference: docs/scenarios.md)."
    )
    return schema
