"""The run's per-row tables as they leave the ledger: row groups in a Parquet file, or in memory.

A long run writes its settled rows (requests, attempts, files, metadata batches) to Parquet as it
goes, a row group at a time (``Spool``); a short one never fills a row group and keeps its rows
in memory. Either way the checks after the run see a ``Table``: they read the columns they need,
one at a time (``column``) or a row group at a time (``chunks``), and never the whole table at
once unless it is small (``frame``, for tests and notebooks).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class Table:
    """A table held as a DataFrame (``frame``) or as a Parquet file (``path``)."""

    def __init__(self, frame: pd.DataFrame | None = None, path: Path | None = None):
        assert (frame is None) != (path is None)
        self._frame = frame
        self.path = None if path is None else Path(path)

    @property
    def in_memory(self) -> bool:
        return self._frame is not None

    def __len__(self) -> int:
        if self._frame is not None:
            return len(self._frame)
        return pq.ParquetFile(self.path).metadata.num_rows

    @property
    def columns(self) -> list[str]:
        if self._frame is not None:
            return list(self._frame.columns)
        return list(pq.ParquetFile(self.path).schema_arrow.names)

    def chunks(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The rows a row group at a time, with at least ``columns`` (in memory: the whole
        frame at once, all its columns, no copy)."""
        if self._frame is not None:
            yield self._frame
            return
        pf = pq.ParquetFile(self.path)
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, columns=columns).to_pandas()

    def row_group(self, i: int) -> pd.DataFrame:
        """Row group ``i`` with all its columns, the same rows as the ``i``-th of ``chunks``
        (in memory: the whole frame, no copy)."""
        if self._frame is not None:
            assert i == 0
            return self._frame
        return pq.ParquetFile(self.path).read_row_group(i).to_pandas()

    def column(self, name: str) -> np.ndarray:
        """One column as a fresh numpy array (categoricals: their integer codes)."""
        if self._frame is not None:
            return _numpy(self._frame[name]).copy()
        pf = pq.ParquetFile(self.path)
        n = pf.metadata.num_rows
        out = None
        pos = 0
        for i in range(pf.num_row_groups):
            part = _numpy(pf.read_row_group(i, columns=[name]).to_pandas()[name])
            if out is None:
                out = np.empty(n, dtype=part.dtype)
            out[pos : pos + len(part)] = part
            pos += len(part)
        if out is None:
            return _numpy(pf.schema_arrow.empty_table().to_pandas()[name])
        return out

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table (or some of its columns) as one DataFrame."""
        if self._frame is not None:
            return self._frame if columns is None else self._frame[list(columns)]
        return pd.read_parquet(self.path, columns=columns)

    def write(self, dest: Path, move: bool = False) -> None:
        """Write the table to ``dest`` (a Parquet file); a spilled table is moved there when
        ``move`` (and then read from there), else copied."""
        if self._frame is not None:
            t = pa.Table.from_pandas(self._frame, preserve_index=False)
            pq.write_table(t, dest, use_dictionary=dictionary_columns(t.schema))
        elif move:
            try:
                os.replace(self.path, dest)
            except OSError:  # another file system
                shutil.move(self.path, dest)
            self.path = Path(dest)
        else:
            shutil.copyfile(self.path, dest)


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary-encoding in Parquet: small integers (codes, states,
    counts), strings and categoricals. Floats and ids are nearly all distinct: Parquet's
    default tries a dictionary for every column and falls back page by page, which cost half
    of the writing time of the requests, attempts and files tables (same values either way;
    the files come out about as large)."""
    return [
        f.name
        for f in schema
        if (pa.types.is_integer(f.type) and f.type.bit_width <= 16)
        or pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_dictionary(f.type)
    ]


def _numpy(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy()
    return s.to_numpy()


class Spool:
    """Row groups appended to one Parquet file as a run goes (the schema of the first).

    The encoding and writing of a row group runs in a background thread (Arrow releases the
    interpreter lock while it encodes), so the simulation goes on meanwhile on another core;
    the row groups are written one at a time in the order given, so the file is the same. The
    frame handed to ``write`` must own its data (the ledger's frames are copies). An error in
    the writer is raised by the next ``write`` or by ``close``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._writer = None
        self._schema = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.rows = 0
        self.groups = 0

    @property
    def started(self) -> bool:
        return self._writer is not None

    def write(self, df: pd.DataFrame) -> None:
        """Append ``df`` as one row group."""
        t = pa.Table.from_pandas(df, preserve_index=False, schema=self._schema)
        if self._writer is None:
            self._schema = t.schema
            self._writer = pq.ParquetWriter(
                self.path, self._schema, use_dictionary=dictionary_columns(self._schema)
            )
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="spool")
        self._collect(wait=False)
        self._pending.append(
            self._pool.submit(self._writer.write_table, t, row_group_size=max(len(df), 1))
        )
        self.rows += len(df)
        self.groups += 1

    def _collect(self, wait: bool) -> None:
        """Forget the row groups written (all of them when ``wait``), raising a writer's error."""
        while self._pending and (wait or self._pending[0].done()):
            self._pending.pop(0).result()

    def close(self) -> Table:
        """The file, complete, as a table."""
        try:
            self._collect(wait=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        self._writer.close()
        return Table(path=self.path)
