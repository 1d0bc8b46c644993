"""The price table: one row per item and region (or region pair), each with its unit, date and source.

The shipped table is ``sim/data/prices_usd.csv`` (sources in ``sim/data/SOURCES.md``). Columns::

    provider,item,region_or_pair,unit,price_usd,as_of,source,note

- ``provider``: ``aws`` or ``gcp`` (any other name is accepted; nothing in the model asks for it).
- ``item``: the priced thing (``s3-standard-put``, ``transfer-inter-region``, ...).
- ``region_or_pair``: a region (``us-east-1``, ``us-east4``: no provider prefix, the ``provider``
  column says whose), or a pair ``A->B`` (one direction) or ``A<->B`` (both). Each side may be an
  ``fnmatch`` pattern (``us-*<->us-*``; ``*`` alone means any region or pair). A row without pattern
  characters wins over a pattern; among patterns the first row of the file wins.
- ``unit``: one of :data:`UNITS`. A GB is 2**30 bytes, as both AWS and Google bill it (the S3 FAQ's
  Express example divides by 1,048,576 KB; the GCS page defines 1 GB as 2^30 bytes).
- ``price_usd``: a number >= 0, or empty: an item whose price is *not known* (the row says where it
  was looked for). An empty price is reported as unknown, never taken as zero.
- ``as_of`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) and ``source`` (a URL) are required on every
  row; ``note`` says "third party" or "estimate" where that applies.

``load_prices(path)`` reads a file of the same columns. By default its rows *override* the shipped
rows with the same (provider, item, region_or_pair) and add the others (``replace=True`` uses the
file alone). A bad file raises :class:`PriceFileError` naming the file and line.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path

import pandas as pd

COLUMNS = ["provider", "item", "region_or_pair", "unit", "price_usd", "as_of", "source", "note"]

#: unit -> (quantity kind, quantity per priced unit). Kinds: ``requests``; ``bytes`` (per GB; the
#: ``each direction`` unit is charged at both ends of a transfer); ``byte_months`` (GB-month);
#: ``units`` (DynamoDB request units, priced per million); ``hours``; ``factor`` (not a price:
#: kept for reference, never used to price).
UNITS: dict[str, tuple[str, float]] = {
    "per 1000 requests": ("requests", 1000.0),
    "per 1000 operations": ("requests", 1000.0),
    "per GB": ("bytes", 2.0**30),
    "per GB each direction": ("bytes_both_ends", 2.0**30),
    "per GB-month": ("byte_months", 2.0**30),
    "per million WRU": ("units", 1e6),
    "per million RRU": ("units", 1e6),
    "per million rWRU": ("units", 1e6),
    "per hour": ("hours", 1.0),
    "per node-hour": ("hours", 1.0),
    "WRU per 1 KB": ("factor", 1.0),
}

_AS_OF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_PATTERN_CHARS = set("*?[")


class PriceFileError(ValueError):
    """A price file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class PriceRow:
    provider: str
    item: str
    region_or_pair: str
    unit: str
    price_usd: float | None  # None: listed, but no price is known
    as_of: str
    source: str
    note: str
    file: str
    line: int

    @property
    def kind(self) -> str:
        return UNITS[self.unit][0]

    @property
    def per(self) -> float:
        return UNITS[self.unit][1]

    @property
    def is_pattern(self) -> bool:
        return any(c in _PATTERN_CHARS for c in self.region_or_pair)


def _split_pair(text: str) -> tuple[str, str, bool] | None:
    """``A<->B`` -> (A, B, True); ``A->B`` -> (A, B, False); a plain region -> None."""
    if "<->" in text:
        a, b = text.split("<->", 1)
        return a.strip(), b.strip(), True
    if "->" in text:
        a, b = text.split("->", 1)
        return a.strip(), b.strip(), False
    return None


def _matches(row: PriceRow, where: str) -> bool:
    """Whether a row's region_or_pair covers ``where`` (a region, or ``src->dst``)."""
    pattern = row.region_or_pair
    if pattern == "*":
        return True
    want = _split_pair(where)
    have = _split_pair(pattern)
    if want is None or have is None:
        return want is None and have is None and fnmatchcase(where, pattern)
    (s, d, _), (a, b, both) = want, have
    if fnmatchcase(s, a) and fnmatchcase(d, b):
        return True
    return both and fnmatchcase(s, b) and fnmatchcase(d, a)


class PriceTable:
    """Rows of a price file, looked up by (provider, item, where)."""

    def __init__(self, rows: list[PriceRow]):
        self.rows = rows
        self._by_item: dict[tuple[str, str], list[PriceRow]] = {}
        for row in rows:
            self._by_item.setdefault((row.provider, row.item), []).append(row)

    def lookup(self, provider: str, item: str, where: str) -> PriceRow | None:
        """The row pricing ``item`` at ``where``: an exact row first, else the first pattern."""
        rows = self._by_item.get((provider, item), [])
        for row in rows:
            if not row.is_pattern and _matches(row, where):
                return row
        for row in rows:
            if row.is_pattern and _matches(row, where):
                return row
        return None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{c: getattr(r, c) for c in COLUMNS} for r in self.rows], columns=COLUMNS
        )

    def __len__(self) -> int:
        return len(self.rows)


def _parse_rows(text: str, name: str) -> list[PriceRow]:
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader)
    except StopIteration:
        raise PriceFileError(
            f"{name}:1: empty file; expected the header {','.join(COLUMNS)}"
        ) from None
    header = [h.strip() for h in header]
    if header != COLUMNS:
        raise PriceFileError(
            f"{name}:1: the header must be {','.join(COLUMNS)}; got {','.join(header)}"
        )
    rows: list[PriceRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(COLUMNS):
            raise PriceFileError(
                f"{name}:{line}: expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), "
                f"got {len(fields)} (quote a field that holds a comma)"
            )
        v = dict(zip(COLUMNS, (f.strip() for f in fields), strict=True))
        for col in ("provider", "item", "region_or_pair", "unit", "as_of", "source"):
            if not v[col]:
                raise PriceFileError(f"{name}:{line}: {col} is empty (every row needs one)")
        if v["unit"] not in UNITS:
            raise PriceFileError(
                f"{name}:{line}: unknown unit {v['unit']!r}; known units: {', '.join(UNITS)}"
            )
        if not _AS_OF.match(v["as_of"]):
            raise PriceFileError(
                f"{name}:{line}: as_of {v['as_of']!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"
            )
        pair = _split_pair(v["region_or_pair"])
        if pair is not None and (not pair[0] or not pair[1]):
            raise PriceFileError(
                f"{name}:{line}: region pair {v['region_or_pair']!r} must be A->B or A<->B"
            )
        price: float | None
        if v["price_usd"] == "":
            price = None
        else:
            try:
                price = float(v["price_usd"])
            except ValueError:
                raise PriceFileError(
                    f"{name}:{line}: price_usd {v['price_usd']!r} is not a number "
                    "(leave it empty for a price that is not known)"
                ) from None
            if not math.isfinite(price) or price < 0:
                raise PriceFileError(f"{name}:{line}: price_usd must be a number >= 0")
        key = (v["provider"], v["item"], v["region_or_pair"])
        if key in seen:
            raise PriceFileError(
                f"{name}:{line}: {'/'.join(key)} is already priced on line {seen[key]}"
            )
        seen[key] = line
        rows.append(
            PriceRow(
                provider=v["provider"],
                item=v["item"],
                region_or_pair=v["region_or_pair"],
                unit=v["unit"],
                price_usd=price,
                as_of=v["as_of"],
                source=v["source"],
                note=v["note"],
                file=name,
                line=line,
            )
        )
    return rows


def shipped_prices_text() -> str:
    return resources.files("sim").joinpath("data/prices_usd.csv").read_text(encoding="utf-8")


def load_prices(path: str | Path | None = None, *, replace: bool = False) -> PriceTable:
    """The shipped price table, with the rows of ``path`` (if given) overriding it.

    With ``replace=True`` only the rows of ``path`` are used.
    """
    shipped = _parse_rows(shipped_prices_text(), "sim/data/prices_usd.csv")
    if path is None:
        return PriceTable(shipped)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PriceFileError(f"{path}: cannot read the price file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise PriceFileError(f"{path}: not a UTF-8 text file") from None
    override = _parse_rows(text, str(path))
    if replace:
        return PriceTable(override)
    keys = {(r.provider, r.item, r.region_or_pair) for r in override}
    kept = [r for r in shipped if (r.provider, r.item, r.region_or_pair) not in keys]
    return PriceTable(override + kept)
