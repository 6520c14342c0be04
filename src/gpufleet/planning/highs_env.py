"""HiGHS instances for the planner: the model passed as arrays, output off, one thread count.

HiGHS runs every solve of a process on one scheduler, started with the `threads` option of
the first solve; a later solve asking for another count fails unless the scheduler is reset.
`run` keeps them in step: a solve that names no count uses the current one, and one that
names another resets the scheduler first (so do not change the count while another thread
is solving).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import highspy

from gpufleet.planning.milp import Model
from gpufleet.planning.periods import FloatArray, IntArray


class _Scheduler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: int | None = None  # None: HiGHS's own default
        self._started = False

    def prepare(self, highs: highspy.Highs, threads: int | None) -> None:
        with self._lock:
            if threads is None or threads == self._threads:
                if self._threads is not None:
                    highs.setOptionValue("threads", self._threads)
            else:
                if self._started:
                    highspy.Highs.resetGlobalScheduler(True)
                self._threads = threads
                highs.setOptionValue("threads", threads)
            self._started = True


_SCHEDULER = _Scheduler()


def new_highs(model: Model, *, integer: bool) -> highspy.Highs:
    """A quiet HiGHS holding `model` (the LP relaxation with loose bounds when not integer)."""
    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ bare
    highs.setOptionValue("output_flag", False)
    lay = model.layout
    status = highs.passModel(
        lay.num_col,
        lay.num_row,
        len(model.value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize),
        model.offset,
        model.col_cost,
        model.col_lower,
        model.col_upper if integer else model.col_upper_loose,
        model.row_lower,
        model.row_upper,
        model.start,
        model.index,
        model.value,
        model.integrality if integer else model.integrality * 0,
    )
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused the planning model")
    return highs


def run(highs: highspy.Highs, threads: int | None) -> None:
    _SCHEDULER.prepare(highs, threads)
    if highs.run() == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS failed: {highs.getModelStatus()}")


def change_rows_bounds(
    highs: highspy.Highs, rows: IntArray, lower: FloatArray, upper: FloatArray
) -> None:
    # In highspy since 1.7 but missing from its type stubs.
    change: Callable[[int, IntArray, FloatArray, FloatArray], object]
    change = getattr(highs, "changeRowsBounds")  # noqa: B009
    change(len(rows), rows, lower, upper)
