"""Growable numpy columns indexed by global row id, whose settled prefix can be given back.

The model indexes the ledger's columns with global ids (request ids, file ids, wire ids) and
keeps those ids for as long as it needs them. A column here is a plain numpy array over an
anonymous private memory mapping: the model reads and writes it exactly as before (no wrapper,
no offset arithmetic on the hot path), and once the ledger has written a prefix of rows to the
run's Parquet tables it hands the pages holding them back to the operating system
(``madvise(MADV_DONTNEED)``). Those pages then read as zeros and cost no memory: the resident
size of a column is its live window (the rows not yet settled, plus one page), whatever the run's
length. Growth copies only the live window into a larger mapping, at the same offsets.

The ledger gives rows back only once nothing in the model reads or writes them any more (see
``Ledger.spill``); on a platform without ``madvise`` the memory is simply kept.
"""

from __future__ import annotations

import mmap

import numpy as np

PAGE = mmap.PAGESIZE
CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap.mmap, "madvise")
FILL_ROWS = 1 << 15  # rows filled ahead at a time (the fill value is written, not the page)


class Column:
    """One column (or a fixed-width block of columns, ``width`` > 1) of ``dtype``, rows filled
    with ``fill`` (a scalar, or one value per column of the block) as they come into use."""

    __slots__ = ("dtype", "fill", "width", "cap", "arr", "_mm", "filled", "free_rows", "freed")

    def __init__(self, dtype, fill, capacity: int = 1 << 16, width: int = 1):
        self.dtype = np.dtype(dtype)
        self.width = width
        self.fill = fill
        self.cap = 0
        self.arr = None
        self._mm = None
        self.filled = 0  # rows [0, filled) hold their fill value (or data)
        self.free_rows = 0  # rows below this were given back
        self.freed = 0  # bytes given back at the start of the mapping (page multiple)
        self._remap(max(int(capacity), 1))
        self.ensure(0)

    @property
    def row_bytes(self) -> int:
        return self.dtype.itemsize * self.width

    def _remap(self, cap: int) -> None:
        """A mapping of ``cap`` rows; the live window [free_rows, filled) copied to it."""
        mm = mmap.mmap(-1, cap * self.row_bytes, flags=mmap.MAP_PRIVATE)
        arr = np.frombuffer(mm, dtype=self.dtype, count=cap * self.width)
        if self.width > 1:
            arr = arr.reshape(cap, self.width)
        if self.arr is not None:
            lo, hi = self.free_rows, min(self.filled, cap)
            arr[lo:hi] = self.arr[lo:hi]
            # the released prefix of the new mapping was never touched: nothing to give back
            self.freed = (lo * self.row_bytes) // PAGE * PAGE
        self.arr, self._mm, self.cap = arr, mm, cap

    def ensure(self, end: int) -> np.ndarray:
        """Room for rows up to ``end`` (exclusive), filled; returns the (maybe new) array."""
        if end > self.cap:
            cap = self.cap
            while cap < end:
                cap *= 2
            self._remap(cap)
        if end > self.filled or self.filled == 0:
            hi = min(self.cap, max(end, self.filled + FILL_ROWS))
            self.arr[self.filled : hi] = self.fill
            self.filled = hi
        return self.arr

    def release(self, upto: int) -> None:
        """Rows below ``upto`` will never be read or written again: give their pages back."""
        if upto <= self.free_rows:
            return
        self.free_rows = upto
        if not CAN_RELEASE:
            return
        end = (upto * self.row_bytes) // PAGE * PAGE
        if end > self.freed:
            self._mm.madvise(mmap.MADV_DONTNEED, self.freed, end - self.freed)
            self.freed = end
