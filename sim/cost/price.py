"""Price a run's operation counts: ``price_run(ops, ...)`` -> the summary's ``cost`` block.

Contract (what the ledger hands over)
-------------------------------------
``ops``: one row per (op, service, src, dst, zones, replicas) with totals. Columns:

- ``op``: ``put`` | ``get`` | ``table_write`` | ``table_read`` | ``transfer``.
- ``service``: for put/get the storage profile ``s3-standard`` | ``s3-express`` | ``gcs``; for table
  ops the table kind ``mrsc`` | ``eventual`` | ``single-region`` (DynamoDB on AWS regions) or
  ``spanner``; for transfer ``network``. A service with no pricing rule is reported as unknown
  (``SERVICE-OP@REGION``), never priced as zero; an unknown ``op`` is a ValueError.
- ``src``: the caller's / sender's region; ``dst``: the bucket's / table endpoint's / receiver's
  region. Regions are written as in scenarios: ``us-east-1`` (AWS), ``gcp:us-east4``,
  ``azure:eastus`` (no Azure prices are shipped: those items come out unknown).
- ``src_zone``, ``dst_zone`` (optional, default ""): zone names (``us-east-1a``) or "".
- ``replicas`` (optional, default 1): for table writes, the replica regions the write is applied
  to, witness excluded.
- ``witness`` (optional, default 0): for MRSC table writes, 1 if the table has a witness region.
- ``count``: requests (every attempt: retries, late PUTs, repairs included).
- ``bytes``: payload bytes of those requests, all attempts included.
- ``stored_bytes`` (optional, default ``bytes``): for puts, the bytes that landed and are kept
  (used only when ``retention_days`` > 0; without the column failed attempts count as stored).

What is charged for each row
----------------------------
- put/get: the request price of the profile in the bucket's region (``dst``); for S3 Express also
  the per-GB upload (put) or retrieval (get) charge on every byte. The payload crosses the network
  from the sender (put: ``src``; get: ``dst``) to the receiver: in one region it is free (S3 FAQ: EC2
  to S3 in a region; the same for GCS, zones ignored: the buckets are regional endpoints); across
  regions it is charged as ``transfer-inter-region`` for the pair, on the sending provider; across
  providers it is ``transfer-inter-cloud`` (no price shipped: unknown). **Do not also emit transfer
  rows for PUT/GET payloads**: they would be counted twice.
- table_write on DynamoDB (AWS region): write units = ``count x ceil(bytes per write / 1 KB)`` (at
  least 1 a write; 1 WRU per 1 KB, AWS DynamoDB developer guide, "Read/write capacity mode"). A
  single-region table (or ``replicas`` <= 1) pays ``dynamodb-on-demand-write-unit``; a global table
  (``mrsc``, ``eventual``) pays ``dynamodb-global-table-replicated-write-unit`` once per replica
  (global-tables-billing page: one rWRU per replica per write), all at the ``dst`` region's price; a
  witness adds ``dynamodb-mrsc-witness-write`` (price not known). The replication traffic between
  replicas is **not** inferred (the ops do not say which regions): emit it as ``transfer`` rows.
- table_read on DynamoDB: read units = ``count x ceil(bytes per read / 4 KB)`` (a strongly
  consistent read: 1 RRU per 4 KB, same guide); ``mrsc`` reads are
  ``dynamodb-mrsc-strong-read-unit`` (billing not known), others ``dynamodb-on-demand-read-unit``.
- Spanner (``spanner``, or any table op in a ``gcp:`` region): no per-request charge; the run pays
  ``spanner_nodes`` nodes for its duration (``spanner-multi-region-node`` if any write goes to more
  than one replica, else ``spanner-regional-node``) and ``spanner-replication`` per GB for
  ``bytes x (replicas - 1)``.
- transfer: between regions ``transfer-inter-region`` (priced by pair, sender's provider); within a
  region across two named zones ``transfer-cross-az`` (AWS: per GB each direction, so twice) or
  ``transfer-inter-zone`` (GCP: sender pays); within a zone, or with a zone "", free (no line).

``instances``: ``role`` (``agent`` | ``control_plane``), ``region``, ``count``, ``hours``, and
optionally ``type`` (a price item such as ``ec2-m7g-large``); without it the provider's default in
``DEFAULT_INSTANCE`` is used (AWS ``ec2-m7g-large``, a stand-in named by the price table; GCP
``gce-n2-standard-2``, no price shipped: unknown).

Storage: with ``retention_days`` > 0, each put's stored bytes are charged ``retention_days / 30``
GB-months of the profile's storage price in the bucket's region (a month is 30 days here). The
default 0 leaves storage out (the run's data are not retained).

Result: ``{total_usd, usd_per_gb, usd_per_month, items, unknown, complete, retention_days,
lines}``. ``total_usd`` covers the known items only; ``complete`` is False when ``unknown`` is not
empty. ``usd_per_gb`` is per GB (2**30 bytes) produced (None when nothing was produced);
``usd_per_month`` scales the total by 30 days / duration (the run's workload held for a month).
``items`` maps item -> USD (regions summed); ``lines`` has one entry per (item, where) with the
quantity, unit, price and source; ``unknown`` lists ``ITEM@WHERE`` strings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.cost.prices import PriceFileError, PriceTable, load_prices

GIB = 2**30
MONTH_S = 30 * 86400.0
#: 1 WRU per 1 KB written, 1 RRU per 4 KB read strongly consistent (AWS DynamoDB developer guide,
#: "Read/write capacity mode"; docs.aws.amazon.com/amazondynamodb/latest/developerguide/
#: capacity-mode.html).
WRU_BYTES = 1024
RRU_BYTES = 4096

DEFAULT_INSTANCE = {"aws": "ec2-m7g-large", "gcp": "gce-n2-standard-2"}
OPS = ("put", "get", "table_write", "table_read", "transfer")
_STORAGE = {
    "s3-standard": ("aws", "s3-standard-put", "s3-standard-get", "s3-standard-storage"),
    "s3-express": (
        "aws",
        "s3-express-one-zone-put",
        "s3-express-one-zone-get",
        "s3-express-one-zone-storage",
    ),
    "gcs": ("gcp", "gcs-regional-class-a", "gcs-regional-class-b", "gcs-regional-storage"),
}
_SAME_REGION_STORAGE = {
    "aws": "transfer-ec2-to-s3-same-region",
    "gcp": "transfer-gce-to-gcs-same-region",
}
_CROSS_ZONE = {"aws": "transfer-cross-az", "gcp": "transfer-inter-zone"}
_DYNAMO_KINDS = ("mrsc", "eventual", "single-region")


def split_region(region: str) -> tuple[str, str]:
    """``gcp:us-east4`` -> (``gcp``, ``us-east4``); ``us-east-1`` -> (``aws``, ``us-east-1``)."""
    if ":" in region:
        provider, name = region.split(":", 1)
        return provider, name
    return "aws", region


@dataclass
class _Line:
    item: str
    where: str
    quantity: float  # in the row's unit (1000 requests, GB, GB-month, million units, hours)
    unit: str
    price_usd: float
    usd: float
    source: str
    as_of: str


class _Bill:
    def __init__(self, prices: PriceTable):
        self.prices = prices
        self.lines: dict[tuple[str, str], _Line] = {}
        self.unknown: set[str] = set()

    def add(self, provider: str, item: str, where: str, kind: str, amount: float) -> None:
        """Charge ``amount`` (requests, bytes, byte-months, request units or hours) of ``item``."""
        if amount == 0:
            return
        row = self.prices.lookup(provider, item, where)
        label = where if provider == "aws" else f"{provider}:{where}"
        if row is None or row.price_usd is None:
            self.unknown.add(f"{item}@{label}")
            return
        ends = 1.0
        row_kind = row.kind
        if row_kind == "bytes_both_ends":
            row_kind, ends = "bytes", 2.0
        if row_kind != kind:
            raise PriceFileError(
                f"{row.file}:{row.line}: unit {row.unit!r} does not fit {item} "
                f"(it is charged by {kind.replace('_', '-')})"
            )
        quantity = amount * ends / row.per
        usd = quantity * row.price_usd
        key = (item, label)
        if key in self.lines:
            line = self.lines[key]
            line.quantity += quantity
            line.usd += usd
        else:
            self.lines[key] = _Line(
                item, label, quantity, row.unit, row.price_usd, usd, row.source, row.as_of
            )


def _as_table(prices) -> PriceTable:
    if prices is None:
        return load_prices()
    if isinstance(prices, PriceTable):
        return prices
    if isinstance(prices, str | Path):
        return load_prices(prices)
    raise TypeError("prices must be None, a PriceTable or a path to a price file")


def _units(count: float, nbytes: float, unit_bytes: int) -> float:
    """Request units for ``count`` requests of ``nbytes`` in all (at least one a request)."""
    if count <= 0:
        return 0.0
    per = max(1, math.ceil(nbytes / count / unit_bytes))
    return count * per


def _network(bill: _Bill, sender: str, receiver: str, nbytes: float, s_zone="", r_zone="") -> None:
    """Bytes moved between compute (agent, control plane, replicas) from sender to receiver."""
    sp, sr = split_region(sender)
    rp, rr = split_region(receiver)
    if sp != rp:
        bill.add(sp, "transfer-inter-cloud", f"{sr}->{rp}:{rr}", "bytes", nbytes)
    elif sr != rr:
        bill.add(sp, "transfer-inter-region", f"{sr}->{rr}", "bytes", nbytes)
    elif s_zone and r_zone and s_zone != r_zone:
        bill.add(sp, _CROSS_ZONE.get(sp, "transfer-cross-zone"), sr, "bytes", nbytes)


def _payload(bill: _Bill, sender: str, receiver: str, nbytes: float) -> None:
    """A PUT/GET payload between compute and a (regional) bucket endpoint."""
    sp, sr = split_region(sender)
    rp, rr = split_region(receiver)
    if sp == rp and sr == rr:
        item = _SAME_REGION_STORAGE.get(sp, "transfer-to-storage-same-region")
        bill.add(sp, item, sr, "bytes", nbytes)
    else:
        _network(bill, sender, receiver, nbytes)


def _column(ops: pd.DataFrame, name: str, default) -> pd.Series:
    if name in ops.columns:
        return ops[name].fillna(default)
    return pd.Series([default] * len(ops), index=ops.index)


def price_run(
    ops: pd.DataFrame,
    *,
    duration_s: float,
    produced_bytes: int,
    instances: pd.DataFrame | None = None,
    prices: PriceTable | str | Path | None = None,
    retention_days: float = 0.0,
    spanner_nodes: float = 1.0,
) -> dict:
    """The cost block of a run (see the module docstring for the contract)."""
    if duration_s <= 0:
        raise ValueError("duration_s must be > 0")
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    table = _as_table(prices)
    bill = _Bill(table)
    missing = [c for c in ("op", "service", "src", "dst", "count", "bytes") if c not in ops]
    if missing:
        raise ValueError(f"ops lacks the column(s) {', '.join(missing)}")
    bad = sorted(set(ops["op"]) - set(OPS))
    if bad:
        raise ValueError(f"unknown op(s) {', '.join(map(str, bad))}; known: {', '.join(OPS)}")

    frame = pd.DataFrame(
        {
            "op": ops["op"],
            "service": ops["service"],
            "src": ops["src"],
            "dst": ops["dst"],
            "src_zone": _column(ops, "src_zone", ""),
            "dst_zone": _column(ops, "dst_zone", ""),
            "replicas": _column(ops, "replicas", 1),
            "witness": _column(ops, "witness", 0),
            "count": ops["count"].astype(float),
            "bytes": ops["bytes"].astype(float),
            "stored_bytes": _column(ops, "stored_bytes", float("nan")).astype(float),
        }
    )
    if (frame["count"] < 0).any() or (frame["bytes"] < 0).any():
        raise ValueError("ops count and bytes must be >= 0")

    spanner_regions: set[str] = set()
    spanner_multi = False
    for r in frame.itertuples(index=False):
        dst_provider, dst_region = split_region(r.dst)
        if r.op in ("put", "get"):
            spec = _STORAGE.get(r.service)
            if spec is None:
                bill.unknown.add(f"{r.service}-{r.op}@{r.dst}")
                continue
            _, put_item, get_item, storage_item = spec
            if r.op == "put":
                bill.add(dst_provider, put_item, dst_region, "requests", r.count)
                if r.service == "s3-express":
                    bill.add(
                        dst_provider, "s3-express-one-zone-upload", dst_region, "bytes", r.bytes
                    )
                _payload(bill, r.src, r.dst, r.bytes)
                if retention_days > 0:
                    stored = r.bytes if math.isnan(r.stored_bytes) else r.stored_bytes
                    months = retention_days * 86400.0 / MONTH_S
                    bill.add(dst_provider, storage_item, dst_region, "byte_months", stored * months)
            else:
                bill.add(dst_provider, get_item, dst_region, "requests", r.count)
                if r.service == "s3-express":
                    bill.add(
                        dst_provider, "s3-express-one-zone-retrieval", dst_region, "bytes", r.bytes
                    )
                _payload(bill, r.dst, r.src, r.bytes)
        elif r.op in ("table_write", "table_read"):
            if r.service == "spanner" or (dst_provider == "gcp" and r.service == "single-region"):
                spanner_regions.add(r.dst)
                if r.op == "table_write" and r.replicas > 1:
                    spanner_multi = True
                    bill.add(
                        "gcp", "spanner-replication", dst_region, "bytes",
                        r.bytes * (r.replicas - 1),
                    )  # fmt: skip
                continue
            if r.service not in _DYNAMO_KINDS or dst_provider != "aws":
                bill.unknown.add(f"{r.service}-{r.op}@{r.dst}")
                continue
            if r.op == "table_write":
                units = _units(r.count, r.bytes, WRU_BYTES)
                if r.service == "single-region" or r.replicas <= 1:
                    bill.add("aws", "dynamodb-on-demand-write-unit", dst_region, "units", units)
                else:
                    bill.add(
                        "aws", "dynamodb-global-table-replicated-write-unit", dst_region,
                        "units", units * r.replicas,
                    )  # fmt: skip
                if r.service == "mrsc" and r.witness > 0:
                    bill.add(
                        "aws", "dynamodb-mrsc-witness-write", dst_region, "units",
                        units * r.witness,
                    )  # fmt: skip
            else:
                units = _units(r.count, r.bytes, RRU_BYTES)
                item = (
                    "dynamodb-mrsc-strong-read-unit"
                    if r.service == "mrsc"
                    else "dynamodb-on-demand-read-unit"
                )
                bill.add("aws", item, dst_region, "units", units)
        else:  # transfer
            _network(bill, r.src, r.dst, r.bytes, str(r.src_zone), str(r.dst_zone))

    if spanner_regions:
        item = "spanner-multi-region-node" if spanner_multi else "spanner-regional-node"
        where = ",".join(split_region(x)[1] for x in sorted(spanner_regions))
        bill.add("gcp", item, where, "hours", spanner_nodes * duration_s / 3600.0)

    if instances is not None and len(instances):
        missing = [c for c in ("role", "region", "count", "hours") if c not in instances]
        if missing:
            raise ValueError(f"instances lacks the column(s) {', '.join(missing)}")
        types = _column(instances, "type", "")
        for (_, inst), kind in zip(instances.iterrows(), types, strict=True):
            provider, region = split_region(inst["region"])
            item = kind or DEFAULT_INSTANCE.get(provider, f"{provider}-instance")
            bill.add(provider, item, region, "hours", float(inst["count"]) * float(inst["hours"]))

    items: dict[str, float] = defaultdict(float)
    for line in bill.lines.values():
        items[line.item] += line.usd
    total = float(sum(items.values()))
    unknown = sorted(bill.unknown)
    return {
        "total_usd": total,
        "usd_per_gb": total / (produced_bytes / GIB) if produced_bytes > 0 else None,
        "usd_per_month": total * MONTH_S / duration_s,
        "items": {k: float(v) for k, v in sorted(items.items(), key=lambda kv: -kv[1])},
        "unknown": unknown,
        "complete": not unknown,
        "retention_days": float(retention_days),
        "lines": [
            {
                "item": ln.item,
                "where": ln.where,
                "quantity": float(ln.quantity),
                "unit": ln.unit,
                "price_usd": float(ln.price_usd),
                "usd": float(ln.usd),
                "as_of": ln.as_of,
                "source": ln.source,
            }
            for ln in sorted(bill.lines.values(), key=lambda ln: (ln.item, ln.where))
        ],
    }


def _usd(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.2f}"
    return f"{x:.4g}" if abs(x) < 0.01 else f"{x:.4f}"


def format_cost(cost: dict) -> str:
    """A plain-text table of a cost block, for ``sim report``."""
    items = cost.get("items", {})
    total = cost.get("total_usd", 0.0) or 0.0
    width = max([len("per month at this workload")] + [len(k) for k in items]) + 2
    out = [f"{'Cost (USD)':<{width}}{'run':>12}{'share':>9}"]
    for item, usd in items.items():
        share = f"{100 * usd / total:.1f}%" if total > 0 else "-"
        out.append(f"  {item:<{width - 2}}{_usd(usd):>12}{share:>9}")
    out.append(f"  {'total':<{width - 2}}{_usd(total):>12}")
    out.append(f"  {'per GB produced':<{width - 2}}{_usd(cost.get('usd_per_gb')):>12}")
    out.append(
        f"  {'per month at this workload':<{width - 2}}{_usd(cost.get('usd_per_month')):>12}"
    )
    if cost.get("retention_days"):
        out.append(f"  storage: data kept {cost['retention_days']:g} days")
    else:
        out.append("  storage: not included (retention 0 days)")
    unknown = cost.get("unknown") or []
    if unknown:
        out.append(f"  INCOMPLETE: {len(unknown)} item(s) with no known price, not in the total:")
        out.extend(f"    {u}" for u in unknown)
    return "\n".join(out)


def price_counts(
    ops: pd.DataFrame,
    instances: dict[str, dict[str, int]],
    duration_s: float,
    produced_bytes: int,
    prices: PriceTable | str | Path | None = None,
) -> dict:
    """A run's cost block from what its folder keeps: the counts (``ops.parquet``), the
    instances per role and region (``topology.json``'s ``instances``: role -> region -> count,
    each running the whole run), the duration and the bytes produced; figures rounded to 1e-6."""
    hours = duration_s / 3600.0
    rows = [
        (role, region, int(n), hours)
        for role, per in sorted(instances.items())
        for region, n in sorted(per.items())
        if n
    ]
    frame = pd.DataFrame(rows, columns=["role", "region", "count", "hours"])
    out = price_run(
        ops, duration_s=duration_s, produced_bytes=produced_bytes, instances=frame, prices=prices
    )
    for k in ("total_usd", "usd_per_gb", "usd_per_month"):
        if out[k] is not None:
            out[k] = round(float(out[k]), 6)
    out["items"] = {k: round(float(v), 6) for k, v in sorted(out["items"].items())}
    return out
