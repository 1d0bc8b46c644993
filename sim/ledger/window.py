"""Growable numpy columns indexed by global row id, whose settled prefix can be given back.

The model indexes the ledger's columns with global ids (request ids, file ids, wire ids) and
keeps those ids for as long as it needs them. A column here is a plain numpy array over an
anonymous private memory mapping: the model reads and writes it exactly as before (no wrapper,
no offset arithmetic on the hot path), and once the ledger has written a prefix of rows to the
run's Parquet tables it hands the pages holding them back to the operating system
(``madvise(MADV_DONTNEED)``) and makes them inaccessible (``mprotect(PROT_NONE)``). They cost
no memory: the resident size of a column is its live window (the rows not yet settled, plus one
page), whatever the run's length. Growth copies only the live window into a larger mapping, at the
same offsets.

The ledger gives rows back only once nothing in the model reads or writes them any more (see
``Ledger.spill``). A read or write of a row given back would otherwise see zeros, silently; with
its pages protected it stops the process instead (a segmentation fault, and with ``faulthandler``
enabled, as ``run`` does, the Python stack of the reader). ``GUARD`` turns the protection off
(``SIM_LEDGER_GUARD=0``: the pages are still given back, and read as zeros). On a platform
without ``madvise`` the memory is simply kept.
"""

from __future__ import annotations

import ctypes
import mmap
import os

import numpy as np

PAGE = mmap.PAGESIZE
CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap.mmap, "madvise")
GUARD = os.environ.get("SIM_LEDGER_GUARD", "1") != "0"


def _mprotect():
    try:
        f = ctypes.CDLL(None, use_errno=True).mprotect
    except (OSError, AttributeError):
        return None
    f.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    f.restype = ctypes.c_int
    return f


_MPROTECT = _mprotect() if CAN_RELEASE else None
PROT_NONE = 0


def _protect(addr: int, length: int) -> None:
    """No read or write of ``length`` bytes at ``addr`` (page-aligned) from now on."""
    if GUARD and _MPROTECT is not None and length > 0:
        if _MPROTECT(addr, length, PROT_NONE) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")


FILL_ROWS = 1 << 15  # rows filled ahead at a time (the fill value is written, not the page)


class Column:
    """One column (or a fixed-width block of columns, ``width`` > 1) of ``dtype``, rows filled
    with ``fill`` (a scalar, or one value per column of the block) as they come into use."""

    __slots__ = (
        "dtype", "fill", "width", "cap", "arr", "_mm", "_addr", "filled", "free_rows", "freed",
    )  # fmt: skip

    def __init__(self, dtype, fill, capacity: int = 1 << 16, width: int = 1):
        self.dtype = np.dtype(dtype)
        self.width = width
        self.fill = fill
        self.cap = 0
        self.arr = None
        self._mm = None
        self._addr = 0
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
            # the released prefix of the new mapping was never touched: nothing to give back,
            # but no access either
            self.freed = (lo * self.row_bytes) // PAGE * PAGE
        addr = arr.__array_interface__["data"][0]
        if self.freed and CAN_RELEASE:
            _protect(addr, self.freed)
        self.arr, self._mm, self._addr, self.cap = arr, mm, addr, cap

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
            _protect(self._addr + self.freed, end - self.freed)
            self.freed = end
