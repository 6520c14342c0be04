"""Assembling a sparse constraint matrix from numpy blocks, without per-entry Python work."""

from __future__ import annotations

import numpy as np

from gpufleet.planning.periods import FloatArray, IntArray


class Triplets:
    """Rows added block by block, entries as (row, column, value) arrays; `csc()` sorts them
    into the column-wise form HiGHS takes."""

    def __init__(self) -> None:
        self._rows: list[IntArray] = []
        self._cols: list[IntArray] = []
        self._vals: list[FloatArray] = []
        self._lower: list[FloatArray] = []
        self._upper: list[FloatArray] = []
        self.count = 0

    def add_rows(self, lower: FloatArray, upper: FloatArray) -> IntArray:
        """Append rows with these bounds; returns their indices."""
        first = self.count
        self._lower.append(np.asarray(lower, dtype=np.float64))
        self._upper.append(np.asarray(upper, dtype=np.float64))
        self.count += len(lower)
        return np.arange(first, self.count, dtype=np.int64)

    def add(self, rows: IntArray, cols: IntArray, vals: FloatArray | float) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self._rows.append(rows)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape))

    @property
    def lower(self) -> FloatArray:
        return np.concatenate(self._lower) if self._lower else np.zeros(0)

    @property
    def upper(self) -> FloatArray:
        return np.concatenate(self._upper) if self._upper else np.zeros(0)

    def csc(self, num_col: int) -> tuple[IntArray, IntArray, FloatArray]:
        """(start, index, value) with start of length num_col + 1."""
        if not self._rows:
            return np.zeros(num_col + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0)
        r = np.concatenate(self._rows)
        c = np.concatenate(self._cols)
        v = np.concatenate(self._vals)
        order = np.lexsort((r, c))
        start = np.zeros(num_col + 1, dtype=np.int64)
        np.cumsum(np.bincount(c, minlength=num_col), out=start[1:])
        return start, r[order], v[order]


def ragged_arange(lengths: IntArray) -> IntArray:
    """Concatenation of arange(n) for each n in `lengths`."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - lengths, lengths)


def grid(shape: tuple[int, int], first: IntArray, second: IntArray, values: IntArray) -> IntArray:
    """A [shape] array of −1 with `values` placed at (first, second): an index lookup."""
    out = np.full(shape, -1, dtype=np.int64)
    out[first, second] = values
    return out
