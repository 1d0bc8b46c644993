"""The cost layer: the shipped price table, price_run on hand-built operation counts, format_cost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from sim.cost import GIB, PriceFileError, format_cost, load_prices, price_run

HEADER = "provider,item,region_or_pair,unit,price_usd,as_of,source,note\n"
SRC = "https://example.org/prices"
MIB = 2**20


def price_file(tmp_path, rows: str, name: str = "prices.csv"):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(rows).lstrip())
    return path


def ops_frame(*rows: dict) -> pd.DataFrame:
    base = {"src_zone": "", "dst_zone": "", "replicas": 1}
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.fixture
def hand_prices(tmp_path):
    path = price_file(
        tmp_path,
        f"""
        aws,s3-standard-put,us-west-2,per 1000 requests,0.005,2025,{SRC},
        aws,transfer-inter-region,us-east-1<->us-west-2,per GB,0.02,2025,{SRC},
        aws,dynamodb-global-table-replicated-write-unit,us-east-1,per million rWRU,0.625,2024-11,{SRC},
        aws,dynamodb-on-demand-write-unit,us-east-1,per million WRU,0.625,2024-11,{SRC},
        aws,transfer-cross-az,*,per GB each direction,0.01,2024,{SRC},
        aws,dynamodb-mrsc-strong-read-unit,*,per million RRU,,2025,{SRC},not found
        """,
    )
    return load_prices(path, replace=True)


def test_hand_computed_case_is_exact(hand_prices):
    ops = ops_frame(
        # 12,345 PUTs from us-east-1 to a us-west-2 bucket, 3 GiB in all
        {"op": "put", "service": "s3-standard", "src": "us-east-1", "dst": "us-west-2",
         "count": 12_345, "bytes": 3 * GIB},
        # 7,000 table writes of 800 B (1 WRU each) applied to 3 replicas
        {"op": "table_write", "service": "mrsc", "src": "us-east-1", "dst": "us-east-1",
         "count": 7_000, "bytes": 7_000 * 800, "replicas": 3},
        # 1,000 writes of 1,500 B (2 WRU each) to a single-region table
        {"op": "table_write", "service": "single-region", "src": "us-east-1", "dst": "us-east-1",
         "count": 1_000, "bytes": 1_000 * 1_500},
    )  # fmt: skip
    cost = price_run(ops, duration_s=600, produced_bytes=GIB, instances=None, prices=hand_prices)
    put = 12_345 / 1000 * 0.005
    transfer = 3 * 0.02
    replicated = 7_000 * 3 * 0.625 / 1e6
    single = 1_000 * 2 * 0.625 / 1e6
    assert cost["items"]["s3-standard-put"] == pytest.approx(put, rel=1e-12)
    assert cost["items"]["transfer-inter-region"] == pytest.approx(transfer, rel=1e-12)
    assert cost["items"]["dynamodb-global-table-replicated-write-unit"] == pytest.approx(
        replicated, rel=1e-12
    )
    assert cost["items"]["dynamodb-on-demand-write-unit"] == pytest.approx(single, rel=1e-12)
    total = put + transfer + replicated + single
    assert cost["total_usd"] == pytest.approx(total, rel=1e-12)
    assert cost["usd_per_gb"] == pytest.approx(total, rel=1e-12)  # 1 GiB produced
    assert cost["usd_per_month"] == pytest.approx(total * 30 * 86400 / 600, rel=1e-12)
    assert cost["unknown"] == [] and cost["complete"] is True


def test_region_pair_without_a_price_is_unknown_not_zero(hand_prices):
    known = ops_frame(
        {"op": "put", "service": "s3-standard", "src": "us-east-1", "dst": "us-west-2",
         "count": 1000, "bytes": GIB},
    )  # fmt: skip
    extra = ops_frame(
        {"op": "transfer", "service": "network", "src": "us-east-1", "dst": "eu-west-1",
         "count": 10, "bytes": 50 * GIB},
    )  # fmt: skip
    base = price_run(known, duration_s=60, produced_bytes=GIB, instances=None, prices=hand_prices)
    both = price_run(
        pd.concat([known, extra], ignore_index=True),
        duration_s=60,
        produced_bytes=GIB,
        instances=None,
        prices=hand_prices,
    )
    assert both["unknown"] == ["transfer-inter-region@us-east-1->eu-west-1"]
    assert both["complete"] is False
    assert both["total_usd"] == pytest.approx(base["total_usd"], rel=1e-12)
    assert both["items"]["transfer-inter-region"] == pytest.approx(0.02)  # only the known pair


def test_service_without_price_and_empty_price_row_are_unknown(hand_prices):
    ops = ops_frame(
        {"op": "put", "service": "azure-blob", "src": "azure:eastus", "dst": "azure:eastus",
         "count": 100, "bytes": MIB},
        {"op": "table_read", "service": "mrsc", "src": "us-east-1", "dst": "us-east-1",
         "count": 100, "bytes": 100 * 200},
    )  # fmt: skip
    cost = price_run(ops, duration_s=60, produced_bytes=MIB, instances=None, prices=hand_prices)
    assert cost["unknown"] == [
        "azure-blob-put@azure:eastus",
        "dynamodb-mrsc-strong-read-unit@us-east-1",
    ]
    assert cost["total_usd"] == 0.0 and cost["items"] == {}
    assert "dynamodb-mrsc-strong-read-unit" not in cost["items"]
    text = format_cost(cost)
    assert "INCOMPLETE" in text and "dynamodb-mrsc-strong-read-unit@us-east-1" in text


def test_retries_cost_more(hand_prices):
    def run(puts: int) -> dict:
        ops = ops_frame(
            {"op": "put", "service": "s3-standard", "src": "us-east-1", "dst": "us-west-2",
             "count": puts, "bytes": puts * 256 * 1024},
        )  # fmt: skip
        return price_run(ops, duration_s=3600, produced_bytes=GIB, instances=None,
                         prices=hand_prices)  # fmt: skip

    clean, retried = run(14_400), run(14_400 + 321)
    assert retried["total_usd"] > clean["total_usd"]
    extra = 321 / 1000 * 0.005 + 321 * 256 * 1024 / GIB * 0.02
    assert retried["total_usd"] - clean["total_usd"] == pytest.approx(extra, rel=1e-9)


def test_zones_transfer_and_storage_access(hand_prices):
    def xfer(src_zone, dst_zone):
        return {"op": "transfer", "service": "network", "src": "us-east-1", "dst": "us-east-1",
                "src_zone": src_zone, "dst_zone": dst_zone, "count": 1, "bytes": GIB}  # fmt: skip

    ops = ops_frame(
        xfer("us-east-1a", "us-east-1b"), xfer("us-east-1a", "us-east-1a"), xfer("", "")
    )
    cost = price_run(ops, duration_s=60, produced_bytes=GIB, instances=None, prices=hand_prices)
    # AWS charges a cross-AZ GB out of one zone and into the other: 2 x 0.01 for 1 GiB
    assert cost["items"] == {"transfer-cross-az": pytest.approx(0.02)}
    assert cost["complete"]


def test_shipped_table_every_row_has_source_and_date():
    table = load_prices()
    frame = table.to_frame()
    assert len(frame) >= 40
    assert frame["source"].str.match(r"^https?://\S+$").all()
    assert frame["as_of"].str.match(r"^\d{4}(-\d{2}(-\d{2})?)?$").all()
    # rows without a price say so; estimates and third-party rows say so in the note
    unknown = frame[frame["price_usd"].isna()]
    assert unknown["note"].str.startswith("not found").all()
    for item in ("s3-standard-put", "s3-express-one-zone-upload", "transfer-inter-region",
                 "dynamodb-global-table-replicated-write-unit", "ec2-m7g-large"):  # fmt: skip
        assert item in set(frame["item"]), item


def test_shipped_table_matches_the_shared_data_where_they_overlap():
    """The package copy keeps the shared prices (../shared/data/cloud_prices_usd.csv) unchanged."""
    t = load_prices()
    assert t.lookup("aws", "s3-standard-put", "us-east-1").price_usd == 0.005
    assert t.lookup("aws", "s3-express-one-zone-put", "us-east-1").price_usd == 0.00113
    assert t.lookup("aws", "transfer-inter-region", "us-east-2->us-east-1").price_usd == 0.01
    assert t.lookup("aws", "transfer-inter-region", "us-west-2->us-east-1").price_usd == 0.02
    assert t.lookup("aws", "transfer-inter-region", "us-east-1->eu-west-1") is None
    assert t.lookup("aws", "dynamodb-mrsc-witness-write", "us-east-1").price_usd is None


@pytest.mark.parametrize(
    "body, message",
    [
        (f"aws,s3-standard-put,us-east-1,per 1000 requests,cheap,2025,{SRC},\n", ":2: price_usd"),
        (f"aws,s3-standard-put,us-east-1,per 1000 requests,-1,2025,{SRC},\n", ":2: price_usd"),
        (f"aws,s3-standard-put,us-east-1,per request,0.1,2025,{SRC},\n", ":2: unknown unit"),
        ("aws,s3-standard-put,us-east-1,per 1000 requests,0.1,2025,,\n", ":2: source is empty"),
        (f"aws,s3-standard-put,us-east-1,per 1000 requests,0.1,last year,{SRC},\n", ":2: as_of"),
        (f"aws,s3-standard-put,us-east-1,per 1000 requests,0.1,2025,{SRC}\n", ":2: expected 8"),
        (
            f"aws,s3-standard-put,us-east-1,per 1000 requests,0.1,2025,{SRC},\n"
            f"aws,s3-standard-put,us-east-1,per 1000 requests,0.2,2025,{SRC},\n",
            ":3: aws/s3-standard-put/us-east-1 is already priced on line 2",
        ),
        (f"aws,transfer-inter-region,us-east-1<->,per GB,0.1,2025,{SRC},\n", ":2: region pair"),
    ],
)
def test_bad_price_file_is_a_clean_error(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + body)
    with pytest.raises(PriceFileError) as err:
        load_prices(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_bad_header_and_missing_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("item,price\ns3,1\n")
    with pytest.raises(PriceFileError, match=r"bad\.csv:1: the header must be"):
        load_prices(path)
    with pytest.raises(PriceFileError, match=r"nope\.csv: cannot read"):
        load_prices(tmp_path / "nope.csv")


def test_unit_that_does_not_fit_the_item_is_an_error(tmp_path):
    path = price_file(tmp_path, f"aws,s3-standard-put,us-west-2,per hour,1,2025,{SRC},\n")
    ops = ops_frame(
        {"op": "put", "service": "s3-standard", "src": "us-west-2", "dst": "us-west-2",
         "count": 1, "bytes": 1},
    )  # fmt: skip
    with pytest.raises(PriceFileError, match=r"prices\.csv:2: unit 'per hour' does not fit"):
        price_run(ops, duration_s=1, produced_bytes=1, instances=None, prices=path)


def test_override_file_replaces_one_row_and_keeps_the_rest(tmp_path):
    path = price_file(
        tmp_path, f"aws,s3-standard-put,us-east-1,per 1000 requests,0.5,2030,{SRC},\n"
    )
    table = load_prices(path)
    assert table.lookup("aws", "s3-standard-put", "us-east-1").price_usd == 0.5
    assert table.lookup("aws", "s3-standard-put", "us-west-2").price_usd == 0.005
    assert len(table) == len(load_prices())


def test_reference_shape_cost_per_gb_by_hand():
    """9 agents (3 regions x 3 zones) flush every 250 ms to 3 buckets (one a region) for 1 hour.

    Each agent produces 1 MiB/s, so each flush is a 256 KiB PUT to each bucket. Prices come from
    the shipped rows, read here directly from the table (not through price_run's lookup).
    """
    regions = ["us-east-1", "us-east-2", "us-west-2"]
    flushes = 3600 * 4
    per_put = 256 * 1024
    rows = []
    for a in regions:  # 3 agents (zones) per region, aggregated per (agent region, bucket)
        for b in regions:
            count = 3 * flushes
            rows.append({"op": "put", "service": "s3-standard", "src": a, "dst": b,
                         "count": count, "bytes": count * per_put})  # fmt: skip
    ops = ops_frame(*rows)
    assert ops["count"].sum() == 9 * 3 * 14_400
    produced = 9 * 3600 * MIB

    frame = load_prices().to_frame()

    def row(item, where):
        hit = frame[(frame["provider"] == "aws") & (frame["item"] == item)
                    & (frame["region_or_pair"] == where)]  # fmt: skip
        assert len(hit) == 1
        return float(hit["price_usd"].iloc[0])

    put_price = row("s3-standard-put", "us-east-1")
    assert put_price == row("s3-standard-put", "us-east-2") == row("s3-standard-put", "us-west-2")
    near, far = (
        row("transfer-inter-region", "us-east-1<->us-east-2"),
        row("transfer-inter-region", "us-*<->us-*"),
    )
    copy_gib = 3 * 3600 * MIB / GIB  # one region's 3 agents, one copy, one hour
    # each region sends its copies to the two others: east-1<->east-2 near, the rest far
    transfer = copy_gib * ((near + far) + (near + far) + (far + far))
    puts = 9 * 3 * 14_400 / 1000 * put_price
    by_hand = (puts + transfer) / (produced / GIB)

    cost = price_run(ops, duration_s=3600, produced_bytes=produced, instances=None)
    assert cost["complete"]
    assert cost["usd_per_gb"] == pytest.approx(by_hand, rel=0.01)
    assert cost["usd_per_gb"] == pytest.approx(by_hand, rel=1e-9)
    assert cost["items"]["transfer-ec2-to-s3-same-region"] == 0.0  # the local copy: free
    assert cost["usd_per_month"] == pytest.approx((puts + transfer) * 720, rel=1e-9)


def test_storage_retention_and_instances():
    ops = ops_frame(
        {"op": "put", "service": "s3-express", "src": "us-east-1", "dst": "us-east-1",
         "count": 1000, "bytes": 10 * GIB, "stored_bytes": 8 * GIB},
    )  # fmt: skip
    inst = pd.DataFrame(
        [{"role": "agent", "region": "us-east-1", "count": 3, "hours": 2.0},
         {"role": "control_plane", "region": "gcp:us-east4", "count": 1, "hours": 2.0}]
    )  # fmt: skip
    none = price_run(ops, duration_s=7200, produced_bytes=8 * GIB, instances=inst)
    kept = price_run(ops, duration_s=7200, produced_bytes=8 * GIB, instances=inst,
                     retention_days=15)  # fmt: skip
    assert "s3-express-one-zone-storage" not in none["items"]
    assert kept["items"]["s3-express-one-zone-storage"] == pytest.approx(8 * 0.5 * 0.11)
    assert none["items"]["s3-express-one-zone-upload"] == pytest.approx(10 * 0.0032)
    assert none["items"]["s3-express-one-zone-put"] == pytest.approx(1000 / 1000 * 0.00113)
    assert none["items"]["ec2-m7g-large"] == pytest.approx(6 * 0.0816)
    assert none["unknown"] == ["gce-n2-standard-2@gcp:us-east4"]  # no GCP instance price shipped
    assert "storage: data kept 15 days" in format_cost(kept)


def test_spanner_is_priced_by_node_hours():
    one = ops_frame(
        {"op": "table_write", "service": "spanner", "src": "gcp:us-east4", "dst": "gcp:us-east4",
         "count": 5000, "bytes": 5000 * 300},
    )  # fmt: skip
    cost = price_run(one, duration_s=1800, produced_bytes=GIB, instances=None, spanner_nodes=2)
    assert cost["items"] == {"spanner-regional-node": pytest.approx(2 * 0.5 * 0.90)}
    multi = one.assign(replicas=3)
    cost = price_run(multi, duration_s=1800, produced_bytes=GIB, instances=None)
    assert cost["unknown"] == [
        "spanner-multi-region-node@gcp:us-east4",
        "spanner-replication@gcp:us-east4",
    ]


def test_bad_ops_are_errors_not_unknowns():
    with pytest.raises(ValueError, match="unknown op"):
        price_run(
            ops_frame({"op": "delete", "service": "s3-standard", "src": "us-east-1",
                       "dst": "us-east-1", "count": 1, "bytes": 0}),
            duration_s=1, produced_bytes=0, instances=None,
        )  # fmt: skip
    with pytest.raises(ValueError, match="lacks the column"):
        price_run(pd.DataFrame({"op": ["put"]}), duration_s=1, produced_bytes=0, instances=None)


def test_cost_layer_does_not_import_the_model():
    code = (
        "import sys, sim.cost; "
        "bad = [m for m in sys.modules if m.startswith(('sim.model', 'sim.run', 'sim.faults'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
