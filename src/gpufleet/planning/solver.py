"""HiGHS runs: the MILP (kept loaded for warm-started re-solves) and the bid-price LP.

The only I/O of the planner happens here, inside HiGHS; output is switched off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np

from gpufleet.planning.highs_env import change_rows_bounds, new_highs, run
from gpufleet.planning.milp import OBJECTIVE_SCALE, Model
from gpufleet.planning.periods import FloatArray

SolveStatus = Literal["optimal", "feasible", "no_solution", "infeasible"]
_PROGRESS_EVERY_S = 0.25
# HiGHS's default (0.05) finds good plans late on large scenarios: 0.3 halved the time to a
# 0.5% gap on 1,000 requests x 104 weeks and left the Colossus example unchanged.
HEURISTIC_EFFORT = 0.3
_PRICED = 1e-9  # dollars per GPU-period: a dual above this is a price, below it noise


@dataclass(frozen=True)
class Progress:
    """What the MILP has proven so far, in dollars; None until known."""

    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None


# Return True to stop the solver early (it keeps its best solution so far).
ProgressCallback = Callable[[Progress], bool | None]


@dataclass(frozen=True)
class MilpOutcome:
    status: SolveStatus
    values: FloatArray | None  # column values, None without a solution
    bound: float  # dollars; inf when nothing was proven
    seconds: float


@dataclass(frozen=True)
class LpOutcome:
    values: FloatArray
    row_duals: FloatArray  # dollars per unit of each row, ≥ 0 on binding ≤ rows


class MilpSolver:
    """The MILP, loaded once. Each `solve` fixes some x by bounds and warm-starts from the
    previous solution (in full when it is still feasible, else its x as a partial start)."""

    def __init__(self, model: Model, *, threads: int | None = None) -> None:
        self._model = model
        self._threads = threads
        self._highs = new_highs(model, integer=True)
        self._highs.setOptionValue("mip_heuristic_effort", HEURISTIC_EFFORT)
        self._last: FloatArray | None = None

    def solve(
        self,
        x_lower: FloatArray,
        x_upper: FloatArray,
        *,
        time_limit: float | None,
        gap: float,
        progress: ProgressCallback | None = None,
    ) -> MilpOutcome:
        highs, cols = self._highs, self._model.layout.x_cols
        highs.changeColsBounds(len(cols), cols, x_lower, x_upper)
        highs.setOptionValue("mip_rel_gap", gap)
        highs.setOptionValue("time_limit", math.inf if time_limit is None else time_limit)
        self._warm_start(x_lower, x_upper)
        started = time.perf_counter()
        watcher = self._watch(progress, started)
        try:
            run(highs, self._threads)
        finally:
            if watcher is not None:
                highs.cbMipInterrupt.unsubscribe(watcher)
        seconds = time.perf_counter() - started
        model_status = highs.getModelStatus()
        info = highs.getInfo()
        if model_status == highspy.HighsModelStatus.kInfeasible:
            return MilpOutcome("infeasible", None, math.inf, seconds)
        values: FloatArray | None = None
        if info.primal_solution_status == 2 or model_status in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kModelEmpty,
        ):
            values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
            self._last = values
        optimal = model_status in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kModelEmpty,
        )
        bound = _dollars(info.mip_dual_bound) if self._model.integrality.any() else math.inf
        if not optimal and not math.isfinite(bound):
            bound = self._trivial_bound(x_upper)
        if values is None:
            return MilpOutcome("no_solution", None, bound, seconds)
        return MilpOutcome("optimal" if optimal else "feasible", values, bound, seconds)

    def _trivial_bound(self, x_upper: FloatArray) -> float:
        """Every request that may be accepted, every program on time: for a solver stopped
        before it proved anything better."""
        model, lay = self._model, self._model.layout
        gains = (
            model.col_cost[lay.x_cols] @ x_upper + np.maximum(model.col_cost[lay.z_cols], 0).sum()
        )
        return _dollars(model.offset + float(gains))

    def _warm_start(self, x_lower: FloatArray, x_upper: FloatArray) -> None:
        if self._last is None:
            return
        cols = self._model.layout.x_cols
        start = self._last.copy()
        x = np.clip(np.round(start[cols]), x_lower, x_upper)
        if (x > np.round(start[cols])).any():  # a request forced in: only x is still valid
            self._highs.setSolution(len(cols), cols, x)
        else:  # only requests taken out: the whole solution stays feasible
            start[cols] = x
            self._highs.setSolution(len(start), np.arange(len(start)), start)

    def _watch(
        self, progress: ProgressCallback | None, started: float
    ) -> Callable[[highspy.HighsCallbackEvent], None] | None:
        if progress is None:
            return None
        last = [0.0]

        def on_event(event: highspy.HighsCallbackEvent) -> None:
            now = time.perf_counter()
            if now - last[0] < _PROGRESS_EVERY_S:
                return
            last[0] = now
            out = event.data_out
            objective = _dollars(out.mip_primal_bound)
            bound = _dollars(out.mip_dual_bound)
            known = math.isfinite(objective) and math.isfinite(bound)
            gap = (bound - objective) / max(1.0, abs(bound)) if known else None
            report = Progress(
                now - started,
                objective if math.isfinite(objective) else None,
                bound if math.isfinite(bound) else None,
                gap,
            )
            if progress(report) and event.data_in is not None:
                event.data_in.user_interrupt = True

        self._highs.cbMipInterrupt.subscribe(on_event)
        return on_event


class PriceLp:
    """The LP for bid prices: x fixed at the plan's values, z at least the plan's values
    (and at most 1, continuous), everything else as in the MILP.

    Its duals price capacity; its allocation is then re-optimised for the second objective
    (`Model.fill_cost`: training work as early as possible) with every priced capacity row
    kept full, so spare capacity goes to the programs while a priced row never turns idle.
    """

    def __init__(self, model: Model, *, threads: int | None = None) -> None:
        self._model = model
        self._threads = threads
        self._highs = new_highs(model, integer=False)

    def solve(self, x: FloatArray, z_lower: FloatArray) -> LpOutcome:
        lay, highs, model = self._model.layout, self._highs, self._model
        xc, zc = lay.x_cols, lay.z_cols
        highs.changeColsBounds(len(xc), xc, x, x)
        highs.changeColsBounds(len(zc), zc, z_lower, np.ones(len(zc)))
        if not self._run() and z_lower.any():
            # The MILP's finish held only within its tolerances: let z fall back (the
            # finish reported is read from the work done, never from z).
            highs.changeColsBounds(len(zc), zc, np.zeros(len(zc)), np.ones(len(zc)))
            self._run(strict=True)
        duals = np.asarray(highs.getSolution().row_dual, dtype=np.float64) / OBJECTIVE_SCALE

        rows = lay.capacity_row[lay.capacity_row >= 0]
        priced = rows[duals[rows] > _PRICED]
        cols = np.arange(lay.num_col, dtype=np.int64)
        highs.changeColsCost(len(cols), cols, model.fill_cost)
        change_rows_bounds(highs, priced, model.row_upper[priced], model.row_upper[priced])
        try:
            self._run(strict=True)
            values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
        finally:
            highs.changeColsCost(len(cols), cols, model.col_cost)
            change_rows_bounds(highs, priced, model.row_lower[priced], model.row_upper[priced])
        return LpOutcome(values, duals)

    def _run(self, *, strict: bool = False) -> bool:
        run(self._highs, self._threads)
        status = self._highs.getModelStatus()
        solved = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kModelEmpty)
        if strict and not solved:
            raise RuntimeError(f"bid-price LP ended {status}")
        return solved


def _dollars(scaled: float) -> float:
    return scaled / OBJECTIVE_SCALE if math.isfinite(scaled) else scaled
