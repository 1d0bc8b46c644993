"""Scenario files: typed, validated, with units, defaults and clear errors.

A scenario is a YAML file validated by the pydantic models below. Unknown keys are errors, units
are explicit (``250ms``, ``30s``, ``8MiB``) and normalised to seconds and bytes, and every default
is the one documented (with its source, or marked an estimate) in the key's description. The
fault kinds (the ``faults:`` list) are defined in :mod:`sim.faults`; ``extends:`` names another
scenario file (relative to this one) to start from; ``--set dotted.key=value`` overrides are
checked against the same models. ``docs/scenarios.md`` is generated from these models
(``python -m sim.scenario.reference --write``) and ``sim schema`` writes their JSON Schema.

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

import difflib
import math
import reprlib
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args

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
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from sim.core.units import parse_duration, parse_size
from sim.faults import FaultSpec, fault_region_problems
from sim.faults.kinds import ACTIONS
from sim.model.network import known_regions

_DURATION_HINT = "expected a duration such as 250ms, 30s, 2m or 1h"
_SIZE_HINT = "expected a size such as 512B, 1KiB or 8MiB"
MAX_INT = 2**64 - 1  # the largest whole number a scenario may hold (seeds are 64-bit)
MAX_SEED = MAX_INT  # sim.core.rng seeds every stream from the root seed's 64 bits


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


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple = 3, 4, 4, 4
_REPR.maxstring = _REPR.maxother = 200
_REPR.maxlong = 100


def _short(v: object, width: int = 60) -> str:
    """A value's repr cut to ``width``, built from at most a few levels and items (a value
    made of nested YAML aliases may stand for billions of items)."""
    text = _REPR.repr(v)
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
        ge=0,
        le=MAX_SEED,
        description="Root seed of every random stream, 0 to 2**64 - 1 (what the random streams "
        "take); absent: drawn, then recorded in the results.",
    )
    warmup: Duration = Field(
        10.0,
        description="Requests sent before this are left out of latency percentiles (estimate).",
    )
    unavailability_threshold: Duration = Field(
        1.0,
        gt=0,
        description="Shortest stall with requests outstanding and none acknowledged that counts "
        "as unavailability (spec section 6).",
    )
    recovery_bound: Duration = Field(
        120.0,
        gt=0,
        description="The `recovers` check: after the last fault heals, acknowledgements resume "
        "and throughput is back to 80% of its pre-fault level within this (estimate: twice the "
        "producers' delivery timeout of retries settling).",
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
    """Buckets (one per region, or one per zone) and the write quorum."""

    profile: Literal["s3-standard", "s3-express"] = Field(
        "s3-standard",
        description="Latency profile of the buckets: s3-standard (PUT calibrated to the "
        "published produce latency, GET from quickwit.io) or s3-express (estimates inside AWS's "
        "'single-digit millisecond' and 'up to 10x faster' claims); see sim/model/storage.py.",
    )
    regions: Regions | None = Field(
        None,
        min_length=1,
        description="One bucket in each of these topology regions; absent: every region.",
    )
    zonal: bool = Field(
        False,
        description="One bucket per availability zone of each storage region instead of one "
        "per region: S3 Express One Zone directory buckets, which live in one zone and go down "
        "with it (AWS: 'data is stored in a single Availability Zone'); the quorum then spans "
        "the zones, the way the vendor first built its quorum of buckets. Use with profile "
        "s3-express.",
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
        gt=0,
        description="async: median replication lag. S3 replication: 'most objects in seconds' "
        "(AWS docs); 5 s is an estimate.",
    )
    replication_lag_p9999: Duration = Field(
        900.0,
        gt=0,
        description="async: 99.99th percentile of the lag: S3 Replication Time Control SLA, "
        "99.99% of objects within 15 minutes. At least the p50.",
    )
    put_attempts: int = Field(4, ge=1, description="PUT attempts per bucket (estimate).")
    repair_delay: Duration = Field(
        60.0,
        description="A PUT that failed is re-copied this long after its bucket is back (estimate).",
    )

    @model_validator(mode="after")
    def _check(self) -> StorageConfig:
        """Percentiles in order (the lag distribution is built for every agent, whatever the
        replication)."""
        if self.replication_lag_p9999 < self.replication_lag_p50:
            _fail(
                "storage",
                [
                    (
                        ("replication_lag_p9999",),
                        "p99.99 must be at least p50",
                        self.replication_lag_p9999,
                    )
                ],
            )
        return self


class TableConfig(_Model):
    """The metadata table: its kind, replicas and timings."""

    kind: Literal["mrsc", "spanner", "single-region", "eventual"] = Field(
        "mrsc",
        description="mrsc: DynamoDB multi-region strong consistency (3 regions); spanner: "
        "majority quorum with a default leader; single-region: one home region; eventual: "
        "multi-region eventually consistent (last writer wins). See sim/model/table.py.",
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
        description="mrsc/spanner: a table region that takes part in the write quorum but "
        "'does not support reads or writes' (AWS): a control plane there calls the nearest "
        "replica's endpoint and pays the round trip; absent: none.",
    )
    local_p50_ms: float = Field(
        3.5,
        gt=0,
        description="Median of an operation at the local replica, ms: inside the vendor's "
        "'sub 5ms' reads and writes for single-region DynamoDB and Spanner (estimate within "
        "that bound).",
    )
    local_p99_ms: float = Field(
        12.0,
        gt=0,
        description="p99 of an operation at the local replica, ms (estimate: within the 10-20 ms "
        "clients observe, Dynobase).",
    )
    op_timeout: Duration = Field(
        1.0, description="An operation that cannot reach its quorum fails after this (estimate)."
    )
    leader_failover: Duration = Field(
        10.0,
        description="Time for the table to elect a new internal leader once the leader's "
        "replica is lost (mrsc: not published, an estimate; AWS says only that the remaining "
        "replicas go on serving, RPO 0, so results that hang on it are shown across 0-30 s in "
        "docs/img/failover-sweep.png. spanner: 10 s, the Paxos leader lease, Corbett et al., "
        "OSDI 2012).",
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
        1.0,
        gt=0,
        description="The leader renews its lease this often (estimate: not published). More "
        "than 0: a control plane that is down waits this long between two checks.",
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
        gt=0,
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
        le=100,
        description="Sequential table operations per commit (estimate: one conditional write; "
        "at most 100, each a table round trip, which already makes a commit take seconds).",
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
        0.25,
        gt=0,
        description="A file is flushed this long after its first record (WarpStream docs).",
    )
    max_file_size: Size = Field(
        8 * 1024 * 1024,
        ge=1,
        le=2**63 - 1,
        description="A file is flushed once it reaches this size (WarpStream docs); at least "
        "one record.",
    )
    commit_timeout: Duration = Field(
        2.0,
        gt=0,
        description="No answer from a control plane: try the next one (estimate).",
    )
    suspect_period: Duration = Field(
        10.0, description="A region that timed out is avoided this long (estimate)."
    )
    commit_backoff: Duration = Field(
        0.05, description="First backoff after 'no leader' (estimate); doubles on each retry."
    )
    commit_backoff_max: Duration = Field(1.0, description="Largest commit backoff (estimate).")
    request_bound: Duration = Field(
        5.0,
        description="An agent answers a produce request with an error (which the producer "
        "retries) when it cannot get its file durable and committed within this long of the "
        "request's arrival (estimate: the real bound is not published; the producers' own "
        "request_timeout applies when it is longer).",
    )


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
    record_size: Size = Field(
        1024, ge=1, le=2**63 - 1, description="Size of a record (spec section 4)."
    )
    linger: Duration = Field(
        0.025,
        description="A producer batch waits this long for more records (WarpStream's "
        "recommended client config).",
    )
    request_timeout: Duration = Field(
        30.0,
        description="A produce request with no answer times out after this (Kafka "
        "request.timeout.ms, default 30000: Kafka producer configs).",
    )
    delivery_timeout: Duration = Field(
        120.0,
        description="A record fails after this from its first send (Kafka delivery.timeout.ms, "
        "default 120000: Kafka producer configs).",
    )
    retry_backoff: Duration = Field(
        0.1,
        description="First retry backoff (Kafka retry.backoff.ms, default 100: Kafka producer "
        "configs); doubles per retry with +-20% jitter (KIP-580).",
    )
    retry_backoff_max: Duration = Field(
        1.0,
        description="Largest retry backoff (Kafka retry.backoff.max.ms, default 1000, Kafka "
        "3.7+: KIP-580).",
    )
    idempotence: bool = Field(
        True,
        description="Kafka enable.idempotence (default true since Kafka 3.0, KIP-679): a retried "
        "request carries the same producer id and sequence, and one already committed is not "
        "committed again, so retries never duplicate. false: a retry of a request whose first "
        "attempt did commit appears twice in the log.",
    )
    max_in_flight: int = Field(
        5,
        ge=1,
        description="Kafka max.in.flight.requests.per.connection (default 5: Kafka producer "
        "configs; at most 5 with idempotence): produce requests a producer has sent to its "
        "agent and not yet had answered. Batches ready while the cap is reached wait in the "
        "producer and go out together in the next request.",
    )
    max_request_size: Size = Field(
        1024 * 1024,
        ge=1,
        le=2**63 - 1,
        description="Kafka max.request.size (default 1048576: Kafka producer configs): waiting "
        "batches that go out together fill a request up to this size (at least one batch).",
    )
    buffer_memory: Size = Field(
        32 * 1024 * 1024,
        description="Kafka buffer.memory (default 33554432: Kafka producer configs): bytes a "
        "producer holds until they are acknowledged or finally fail; a batch that finds it "
        "full waits for space (send() blocks; producers.blocked_s in the summary).",
    )
    max_block: Duration = Field(
        60.0,
        description="Kafka max.block.ms (default 60000: Kafka producer configs): a send() "
        "blocked this long on a full buffer fails its records (records.failed_max_block, "
        "producers.block_timeouts).",
    )
    consumer_regions: Regions | None = Field(
        None,
        min_length=1,
        description="Regions with consumers, topology regions; absent: every region.",
    )
    consumers_per_region: int = Field(
        1,
        ge=1,
        description="Consumers in each of those regions (at least one: the run's end-to-end "
        "figures need a consumer).",
    )
    poll_interval: Duration = Field(
        0.4,
        gt=0,
        description="Consumer poll interval (estimate, calibrated to the published end-to-end "
        "latency).",
    )
    read_from: Literal["first-listed", "nearest"] = Field(
        "first-listed",
        description="Which bucket a consumer reads a file from. first-listed (default): the first "
        "bucket of storage.regions that holds it, wherever the consumer is: an estimate of the "
        "shipping behaviour (the vendor names reading from the co-located bucket as future work, "
        "to make multi-region cheaper; which bucket it reads today is not published). nearest: the "
        "nearest bucket that holds it (that future work).",
    )

    @model_validator(mode="after")
    def _check(self) -> WorkloadConfig:
        """Kafka's own rule (ProducerConfig refuses anything else): a record may fail only after
        its batch had its linger and one full request timeout, or it is failed before it is sent."""
        if self.idempotence and self.max_in_flight > 5:
            _fail(
                "workload",
                [
                    (
                        ("max_in_flight",),
                        "must be at most 5 with idempotence on, as Kafka requires",
                        self.max_in_flight,
                    )
                ],
            )
        if self.delivery_timeout < self.linger + self.request_timeout:
            _fail(
                "workload",
                [
                    (
                        ("delivery_timeout",),
                        "must be at least linger + request_timeout "
                        f"({self.linger + self.request_timeout:g} s), as Kafka requires",
                        self.delivery_timeout,
                    )
                ],
            )
        return self


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


MUTANTS = (
    "ack-after-one-put",
    "ack-before-commit",
    "no-fencing",
    "lease-overrun",
    "count-failed-put",
    "non-idempotent-commit",
    "consumer-skips",
)
MutantName = Literal[MUTANTS]  # type: ignore[valid-type]


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
    # a deliberately broken design for the checkers' own tests (``sim fuzz --mutant``); left out
    # of the documentation and the JSON Schema on purpose
    mutant: SkipJsonSchema[MutantName | None] = Field(
        None,
        exclude_if=lambda v: v is None,
        description="A deliberately broken design (tests and sim fuzz --mutant only).",
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
        topo = parts.get("topology")
        per = topo.zones_per_region if (s.zonal and topo is not None) else 1
        n_buckets = len(s.regions) * per
        if s.quorum is None:
            s.quorum = n_buckets // 2 + 1
        elif s.quorum > n_buckets:
            out.append(
                (
                    ("storage", "quorum"),
                    f"quorum {s.quorum} exceeds the {n_buckets} bucket(s)",
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
    faults = parts.get("faults") or []
    for i, spec in faults:
        region_problems = fault_region_problems(spec, regions)
        for path, msg, got, choices in region_problems:
            if got is not None:
                msg = f"{msg}, got {_short(got)}{suggest(got, choices)}"
            out.append((("faults", i, *path), msg, got))
        if not region_problems:
            for path, msg, got in _fault_problems(spec, parts, regions):
                out.append((("faults", i, *path), msg, got))
    if w is not None:
        out.extend(_request_size_problems(w, faults))
        a = parts.get("agents")
        if a is not None and a.max_file_size < w.record_size:
            # smaller files are not made (a file holds whole requests): the flush loop would
            # only wake byte_rate / max_file_size times a second for nothing
            out.append(
                (
                    ("agents", "max_file_size"),
                    f"a file holds at least one record: expected at least workload.record_size "
                    f"({w.record_size} B), got {a.max_file_size} B",
                    a.max_file_size,
                )
            )
    return out


# -- faults that could never fire, or would do nothing -------------------------------------------
# kinds whose injection looks up the target's control plane (a region without one is a crash)
_CP_KINDS = ("control-plane-outage", "control-plane-crash-loop", "control-plane-slow",
             "clock-skew", "bad-deploy", "pin-preferred")  # fmt: skip
_BUCKET_KINDS = ("bucket-unavailable", "bucket-slow", "bucket-errors")
_TABLE_KINDS = ("table-unavailable", "table-slow", "table-errors")
_SLOW_KINDS = ("bucket-slow", "table-slow", "control-plane-slow")
REQUEST_BYTES_MAX = 2**63 - 1  # sim.ledger: a request's bytes are int64
REQUEST_RECORDS_MAX = 2**31 - 1  # sim.ledger: a request's record count is int32


def _low_high(v: Any) -> tuple[float, float]:
    return (float(v[0]), float(v[1])) if isinstance(v, tuple) else (float(v), float(v))


def _fault_problems(spec: Any, parts: dict[str, Any], regions: list[str]):
    """``(path in the fault, message, value)`` for a fault that can never fire in the run, or
    whose target or parameters name nothing the model has, or that would change nothing."""
    out: list[tuple[tuple, str, Any]] = []
    kind = spec.kind
    run = parts.get("run")
    end = run.duration if run is not None else None
    at_lo, at_hi = _low_high(spec.at)
    if end is not None and at_lo >= end:
        out.append(
            (
                ("at",),
                f"starts at {at_lo:g} s, when the run (run.duration {end:g} s) is over: "
                "it would never fire",
                spec.at,
            )
        )
    if spec.until is not None:
        if spec.every is None:
            out.append((("until",), "until is used only with every (a repeated fault)", spec.until))
        elif spec.until <= at_lo:
            out.append(
                (
                    ("until",),
                    f"until ({spec.until:g} s) is not after at ({at_lo:g} s): it would never fire",
                    spec.until,
                )
            )
    if spec.duration is not None and kind not in ACTIONS and _low_high(spec.duration)[1] == 0:
        out.append(
            (
                ("duration",),
                "a fault that lasts 0 s heals the moment it starts and has no effect "
                "(leave duration out for a permanent fault)",
                spec.duration,
            )
        )
    if (
        spec.every is not None
        and spec.duration is not None
        and kind not in ACTIONS
        and _low_high(spec.duration)[1] > spec.every
    ):
        # each repetition would still be in force when the next starts: thousands of nested
        # copies of one fault (a property test drew every 1.5 us with 0.78 s: minutes of run)
        out.append(
            (
                ("duration",),
                f"lasts up to {_low_high(spec.duration)[1]:g} s but repeats every "
                f"{spec.every:g} s: its repetitions would overlap (make duration at most every)",
                spec.duration,
            )
        )
    t = spec.target if spec.target in regions else None  # a concrete region, or symbolic
    cp = parts.get("control_plane")
    st = parts.get("storage")
    tb = parts.get("table")
    w = parts.get("workload")
    topo = parts.get("topology")
    if kind in _CP_KINDS and cp is not None:
        cps = list(cp.regions)
        if t is not None and t not in cps:
            out.append(
                (
                    ("target",),
                    f"{t!r} has no control plane (control_plane.regions: {', '.join(cps)})",
                    t,
                )
            )
        elif t is None and kind != "pin-preferred" and set(cps) != set(regions):
            maybe = spec.target in ("follower", "random") or (
                spec.target == "leader" and regions[0] not in cps
            )
            if maybe:
                out.append(
                    (
                        ("target",),
                        f"{spec.target} may resolve to a region without a control plane "
                        f"(control_plane.regions: {', '.join(cps)}); name a region",
                        spec.target,
                    )
                )
        for j, r in enumerate(getattr(spec, "cycle", None) or []):
            if r in regions and r not in cps:
                out.append(
                    (("cycle", j), f"{r!r} has no control plane to prefer ({', '.join(cps)})", r)
                )
    if kind in _BUCKET_KINDS and st is not None and t is not None and t not in st.regions:
        out.append(
            (("target",), f"{t!r} has no bucket (storage.regions: {', '.join(st.regions)})", t)
        )
    if kind in _TABLE_KINDS and tb is not None and cp is not None and t is not None:
        reps = sorted(set(tb.regions) | set(cp.regions))
        if t not in reps:
            out.append(
                (("target",), f"{t!r} has no table replica or endpoint ({', '.join(reps)})", t)
            )
    if kind == "replication-paused" and tb is not None and tb.kind != "eventual":
        out.append(
            (
                ("kind",),
                f"replication-paused acts only on an eventual table (table.kind is {tb.kind})",
                kind,
            )
        )
    if kind == "table-leader-lost" and tb is not None and tb.kind not in ("mrsc", "spanner"):
        out.append(
            (
                ("kind",),
                f"a {tb.kind} table has no internal leader to lose (only mrsc and spanner)",
                kind,
            )
        )
    if kind in _SLOW_KINDS and spec.add == 0 and spec.multiplier == 1 and spec.extra_sigma == 0:
        out.append(
            (
                ("kind",),
                f"{kind} with add 0, multiplier 1 and extra_sigma 0 slows nothing: "
                "set at least one of them",
                kind,
            )
        )
    if kind in ("bucket-errors", "table-errors") and spec.rate == 0:
        out.append((("rate",), "a rate of 0 fails nothing: expected more than 0", spec.rate))
    if kind == "bad-deploy" and spec.error_rate == 0:
        out.append((("error_rate",), "an error_rate of 0 fails nothing: expected more than 0", 0.0))
    if kind == "control-plane-crash-loop" and spec.down == 0:
        out.append(
            (
                ("down",),
                "expected more than 0: a control plane that restarts at once never is down "
                "(and with up: 0 the loop would never let time pass)",
                spec.down,
            )
        )
    if kind == "zone-outage" and topo is not None:
        letters = [chr(ord("a") + k) for k in range(topo.zones_per_region)]
        if spec.zone not in letters:
            out.append(
                (
                    ("zone",),
                    f"no zone {spec.zone!r}: a region has {topo.zones_per_region} zone(s), "
                    f"{', '.join(letters)} (topology.zones_per_region)",
                    spec.zone,
                )
            )
    if kind == "partition":
        out.extend(_partition_problems(spec, regions))
    if kind == "link-degradation":
        if spec.target == spec.peer:
            out.append(
                (("peer",), "a link needs two regions: peer is the target itself", spec.peer)
            )
        if spec.delay == 0 and spec.jitter == 0 and spec.loss == 0:
            out.append(
                (
                    ("kind",),
                    "link-degradation with delay 0, jitter 0 and loss 0 changes nothing: "
                    "set at least one of them",
                    kind,
                )
            )
    if kind in ("producers-move", "consumers-move") and spec.to == spec.target:
        out.append((("to",), f"the {kind.split('-')[0]} are already in {spec.to!r}", spec.to))
    if kind == "load-spike":
        if spec.multiplier == 1:
            out.append((("multiplier",), "a multiplier of 1 changes nothing", spec.multiplier))
        if (
            w is not None
            and t is not None
            and (t not in w.producer_regions or not w.producers_per_zone)
        ):
            out.append((("target",), f"{t!r} has no producers (workload.producer_regions)", t))
    if kind == "producers-move" and w is not None and t is not None and t not in w.producer_regions:
        out.append((("target",), f"{t!r} has no producers (workload.producer_regions)", t))
    if kind == "consumers-move" and w is not None and t is not None and t not in w.consumer_regions:
        out.append((("target",), f"{t!r} has no consumers (workload.consumer_regions)", t))
    return out


def _partition_problems(spec: Any, regions: list[str]) -> list[tuple[tuple, str, Any]]:
    out: list[tuple[tuple, str, Any]] = []
    if len(regions) < 2:
        return [
            (
                ("kind",),
                "a partition needs at least two topology regions to cut between",
                "partition",
            )
        ]
    if spec.mode != "groups":
        if spec.groups is not None:
            out.append((("groups",), "groups are used only with mode: groups", spec.groups))
        return out
    groups = spec.groups or []
    where: dict[str, int] = {}
    for gi, g in enumerate(groups):
        if not g:
            out.append((("groups", gi), "an empty group: list the regions on this side", g))
        for j, r in enumerate(g):
            if r in where:
                side = "twice in this group" if where[r] == gi else f"also in group {where[r]}"
                out.append((("groups", gi, j), f"{r!r} is {side}: a region is on one side", r))
            else:
                where[r] = gi
    if groups and sum(1 for g in groups if g) < 2:
        out.append(
            (("groups",), "needs at least two non-empty groups: nothing is cut otherwise", groups)
        )
    return out


def _request_size_problems(w: Any, faults: list) -> list[tuple[tuple, str, Any]]:
    """A produce request carries 1 + Poisson(rate x linger) records (sim.model.producers); the
    ledger holds its record count as a 32-bit integer and its bytes as a 64-bit one. Refuse a
    workload whose requests (load spikes included) could overflow either, with a margin of ten
    standard deviations of the Poisson count."""
    peak, loc, got = 1.0, ("workload", "records_per_s"), w.records_per_s
    biggest = 1.0
    for i, spec in faults:
        if spec.kind == "load-spike" and spec.multiplier > 1:
            peak *= spec.multiplier  # spikes may overlap: the worst case multiplies them
            if spec.multiplier > biggest:
                biggest, loc, got = spec.multiplier, ("faults", i, "multiplier"), spec.multiplier
    lam = w.records_per_s * peak * w.linger
    worst = 1 + lam + 10 * math.sqrt(lam) + 10
    size = worst * w.record_size
    if not math.isfinite(size) or size > REQUEST_BYTES_MAX or worst > REQUEST_RECORDS_MAX:
        spikes = " (with the load spikes' multipliers)" if peak > 1 else ""
        return [
            (
                loc,
                f"a produce request{spikes} would carry up to ~{worst:.3g} records of "
                f"{w.record_size} B = {size:.3g} B; the model holds a request of at most "
                f"{REQUEST_RECORDS_MAX} records and {REQUEST_BYTES_MAX} B: lower records_per_s, "
                "linger or record_size" + (" or the multiplier" if peak > 1 else ""),
                got,
            )
        ]
    return []


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def scenario_warnings(sc: Scenario) -> list[str]:
    """Things that may be intended but may also make a fault do nothing in this run (printed
    before a run and by ``sim validate``): drawn starts that may fall after the end, symbolic
    targets that may resolve to the fault's other end."""
    out = []
    end = sc.run.duration
    for i, spec in enumerate(sc.faults):
        where = f"faults.{i} ({spec.kind})"
        lo, hi = _low_high(spec.at)
        if lo < end <= hi:
            out.append(
                f"{where}: at is drawn from [{lo:g} s, {hi:g} s] and may fall after the end of "
                f"the run ({end:g} s): it then never fires"
            )
        if spec.every is not None and spec.until is not None and lo < spec.until <= hi:
            out.append(f"{where}: until ({spec.until:g} s) may come before the drawn at")
        other = getattr(spec, "peer", None) or getattr(spec, "to", None)
        if other is not None and spec.target in ("leader", "follower", "table-leader", "random"):
            out.append(
                f"{where}: target {spec.target} may resolve to {other!r} when it fires, and "
                "the fault then does nothing"
            )
    return out
