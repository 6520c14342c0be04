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
from gpufleet.planning.periods import BoolArray, FloatArray

SolveStatus = Literal["optimal", "feasible", "no_solution", "infeasible"]
_PROGRESS_EVERY_S = 0.25
# HiGHS's default (0.05) finds good plans late on large scenarios: 0.3 halved the time to a
# 0.5% gap on 1,000 requests x 104 weeks and left the Colossus example unchanged.
HEURISTIC_EFFORT = 0.3
_PRICED = 1e-9  # dollars per GPU-period: a dual above this is a price, below it noise
_REMEMBERED = 8  # solutions kept to warm-start later solves from
_NO_LIMIT = 2**31 - 1
_HIGHS_ABS_GAP = 1e-6  # HiGHS's default, in the scaled objective
# Repairing a start with a request forced in (`MilpSolver._repair`): a small MILP, bounded.
_REPAIR_NODES = 200
_REPAIR_GAP = 1e-3
_REPAIR_SHARE = 0.25  # of the solve's time limit, or of the last solve's time without one

# HiGHS options of a cold solve, and of a re-solve that starts from a complete feasible
# solution. A re-solve mostly has to prove the bound again (its incumbent is near the
# optimum already): RENS and the root reduced-cost heuristic then cost more than half of the
# time on the Colossus example and find nothing better, a restart after the root only
# repeats work, and RINS at HiGHS's default effort finds the better plans a re-solve may
# need (a request forced out can make another plan worth a week of slip) early, which
# halves the nodes left to prove it. Measured on the exact quotes of colossus.yaml
# (benchmarks/bench_quote.py): 3-5 s each before, 0.3-1.4 s with these.
_FIRST_SOLVE: dict[str, bool | int | float] = {
    "mip_heuristic_effort": HEURISTIC_EFFORT,
    "mip_heuristic_run_rins": True,
    "mip_heuristic_run_rens": True,
    "mip_heuristic_run_root_reduced_cost": True,
    "mip_allow_restart": True,
}
_RE_SOLVE: dict[str, bool | int | float] = {
    "mip_heuristic_effort": 0.05,
    "mip_heuristic_run_rins": True,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_allow_restart": False,
}


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
class _Solved:
    """A solution of the MILP and the x bounds it was found under."""

    x_lower: FloatArray
    x_upper: FloatArray
    values: FloatArray

    def contains(self, x_lower: FloatArray, x_upper: FloatArray) -> bool:
        """Its bounds were at least as wide: it solved a relaxation of a solve with these."""
        return bool((self.x_lower <= x_lower).all() and (self.x_upper >= x_upper).all())

    def contains_solved(self, other: _Solved) -> bool:
        return self.contains(other.x_lower, other.x_upper)

    def same_bounds(self, other: _Solved) -> bool:
        return bool((self.x_lower == other.x_lower).all() and (self.x_upper == other.x_upper).all())


@dataclass(frozen=True)
class LpOutcome:
    values: FloatArray
    row_duals: FloatArray  # dollars per unit of each row, ≥ 0 on binding ≤ rows


class MilpSolver:
    """The MILP, loaded once. Each `solve` fixes some x by bounds and warm-starts from an
    earlier solution (see `_warm_start`)."""

    def __init__(self, model: Model, *, threads: int | None = None) -> None:
        self._model = model
        self._threads = threads
        self._highs = new_highs(model, integer=True)
        self._solved: list[_Solved] = []  # most recent last
        self._last_seconds = math.inf  # how long the last solve took

    def solve(
        self,
        x_lower: FloatArray,
        x_upper: FloatArray,
        *,
        time_limit: float | None,
        gap: float,
        abs_gap: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> MilpOutcome:
        """`gap` relative; `abs_gap` (dollars) asks for more where it is tighter: see
        `_gaps`."""
        highs, cols = self._highs, self._model.layout.x_cols
        began = time.perf_counter()
        highs.setOptionValue("mip_rel_gap", gap)
        highs.changeColsBounds(len(cols), cols, x_lower, x_upper)
        start = self._warm_start(x_lower, x_upper, gap, time_limit)
        left = None if time_limit is None else max(time_limit - (time.perf_counter() - began), 0.0)
        highs.setOptionValue("time_limit", math.inf if left is None else left)
        _options(highs, _RE_SOLVE if start is not None else _FIRST_SOLVE)
        gaps = _gaps(gap, abs_gap, start)
        _options(highs, gaps)
        started = time.perf_counter()
        watcher = self._watch(progress, started)
        try:
            run(highs, self._threads)
        finally:
            if watcher is not None:
                highs.cbMipInterrupt.unsubscribe(watcher)
        seconds = time.perf_counter() - began
        self._last_seconds = seconds
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
            self._remember(x_lower, x_upper, values)
        optimal = model_status in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kModelEmpty,
        )
        if optimal and self._model.integrality.any() and values is not None:
            # Trust the proof of the solution returned, not the status: given a complete
            # start (setSolution) with presolve on, HiGHS 1.16.0 can answer kOptimal while
            # getSolution() is that start, unchanged (17% below the bound on small.yaml).
            reached = float(self._model.col_cost @ values) + self._model.offset
            optimal = proven(reached, info.mip_dual_bound, gaps)
        bound = _dollars(info.mip_dual_bound) if self._model.integrality.any() else math.inf
        if not optimal and not math.isfinite(bound):
            bound = self._trivial_bound(x_upper)
        if values is None:
            return MilpOutcome("no_solution", None, bound, seconds)
        return MilpOutcome("optimal" if optimal else "feasible", values, bound, seconds)

    def set_objective(self, model: Model) -> None:
        """Take `model`'s objective (same layout and rows); earlier solutions stay feasible
        and warm-start the next solve."""
        self._model = model
        _set_objective(self._highs, model)

    def _trivial_bound(self, x_upper: FloatArray) -> float:
        """Every request that may be accepted, every program on time: for a solver stopped
        before it proved anything better."""
        model, lay = self._model, self._model.layout
        gains = (
            model.col_cost[lay.x_cols] @ x_upper + np.maximum(model.col_cost[lay.z_cols], 0).sum()
        )
        return _dollars(model.offset + float(gains))

    def _remember(self, x_lower: FloatArray, x_upper: FloatArray, values: FloatArray) -> None:
        """Keep the latest solution per set of bounds, at most `_REMEMBERED`; when one must
        go, the oldest whose problem is a restriction of another's (a quote's re-solve
        before the free plan it was quoted against)."""
        solved = _Solved(x_lower.copy(), x_upper.copy(), values)
        kept = [s for s in self._solved if not s.same_bounds(solved)] + [solved]
        while len(kept) > _REMEMBERED:
            narrower = [
                i
                for i, s in enumerate(kept)
                if any(o is not s and o.contains_solved(s) for o in kept)
            ]
            del kept[narrower[0] if narrower else 0]
        self._solved = kept

    def _warm_start(
        self, x_lower: FloatArray, x_upper: FloatArray, gap: float, time_limit: float | None
    ) -> float | None:
        """Start from an earlier solution with its x clipped to the new bounds. When that
        only takes requests out, the whole solution stays feasible (no constraint changed
        but x's bounds): of those, the one worth most under the current objective (the
        free plan less the request, for a quote; the neighbouring factor's plan, for the
        frontier). When every one needs a request forced in, the latest solution of a
        relaxation of this solve (else the latest) is repaired (`_repair`), and failing
        that its x is handed over as a partial start for HiGHS to complete. Returns the
        objective (scaled) of the start when it is a complete feasible solution."""
        if not self._solved:
            return None
        cols, cost = self._model.layout.x_cols, self._model.col_cost
        best: FloatArray | None = None
        for solved in self._solved:
            x = np.round(solved.values[cols])
            if (x < x_lower).any():
                continue
            start = solved.values.copy()
            start[cols] = np.minimum(x, x_upper)
            if best is None or cost @ start > cost @ best:
                best = start
        if best is None:
            wider = [s for s in self._solved if s.contains(x_lower, x_upper)]
            base = (wider or self._solved)[-1].values
            old = np.round(base[cols])
            x = np.clip(old, x_lower, x_upper)
            best = base.copy()
            best[cols] = x
            best = self._repair(best, x > old, x_lower, x_upper, gap, time_limit)
            if best is None:
                self._highs.setSolution(len(cols), cols, x)
                return None
        self._highs.setSolution(len(best), np.arange(len(best)), best)
        return float(self._model.offset + cost @ best)

    def _repair(
        self,
        start: FloatArray,
        raised: BoolArray,
        x_lower: FloatArray,
        x_upper: FloatArray,
        gap: float,
        time_limit: float | None,
    ) -> FloatArray | None:
        """A feasible solution near `start` with the `raised` requests in: a small MILP where
        only the requests that compete with them (on their GPU models, or on models a
        training program could use instead) may change, every other x stays as in `start`.
        Its incumbent is a far better first solution than anything HiGHS finds alone (the
        re-solve then mostly proves the bound). None when there is nothing to choose, when
        every request competes (that MILP would be the whole one), or when no solution was
        found within its node limit and a share of the time limit (or, without one, of the
        time the last solve took)."""
        lay, highs = self._model.layout, self._highs
        near: BoolArray = np.any(self._model.linked_models[self._model.x_model[raised]], axis=0)
        open_ = x_lower < x_upper
        free = near[self._model.x_model] & open_
        if not free.any() or free.sum() == open_.sum():  # nothing to choose, or everything
            return None
        x = start[lay.x_cols]
        lower = np.where(free, x_lower, x)
        upper = np.where(free, x_upper, x)
        highs.changeColsBounds(len(lay.x_cols), lay.x_cols, lower, upper)
        limit = _REPAIR_SHARE * (self._last_seconds if time_limit is None else time_limit)
        _options(highs, {**_RE_SOLVE, "mip_max_nodes": _REPAIR_NODES, "time_limit": limit})
        _options(highs, _gaps(max(gap, _REPAIR_GAP), None, None))
        try:
            run(highs, self._threads)
            found = highs.getInfo().primal_solution_status == 2
            values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
        finally:
            highs.changeColsBounds(len(lay.x_cols), lay.x_cols, x_lower, x_upper)
            highs.setOptionValue("mip_max_nodes", _NO_LIMIT)
        return values if found else None

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
    In that second LP no training program works beyond its requirement (w ≤ work), so a
    program gets no GPUs after the period it finishes in: what it no longer needs is idle.
    """

    def __init__(self, model: Model, *, threads: int | None = None) -> None:
        self._model = model
        self._threads = threads
        self._highs = new_highs(model, integer=False)

    def solve(self, x: FloatArray, z_lower: FloatArray) -> LpOutcome:
        lay, highs = self._model.layout, self._highs
        xc, zc = lay.x_cols, lay.z_cols
        highs.changeColsBounds(len(xc), xc, x, x)
        highs.changeColsBounds(len(zc), zc, z_lower, np.ones(len(zc)))
        if not self._run() and z_lower.any():
            # The MILP's finish held only within its tolerances: let z fall back (the
            # finish reported is read from the work done, never from z).
            highs.changeColsBounds(len(zc), zc, np.zeros(len(zc)), np.ones(len(zc)))
            self._run(strict=True)
        duals = np.asarray(highs.getSolution().row_dual, dtype=np.float64) / OBJECTIVE_SCALE
        return LpOutcome(self._fill(duals), duals)

    def set_objective(self, model: Model) -> None:
        """Take `model`'s objective (same layout and rows)."""
        self._model = model
        _set_objective(self._highs, model)

    def _fill(self, duals: FloatArray) -> FloatArray:
        """The allocation: work as early as possible, never beyond a program's requirement,
        priced rows kept full. Should no allocation keep them all full without work beyond
        a requirement (a degenerate dual on a row only a finished program could use), they
        may go idle instead; the price of an idle row is zero (`assemble.bid_prices`)."""
        lay, highs, model = self._model.layout, self._highs, self._model
        rows = lay.capacity_row[lay.capacity_row >= 0]
        priced = rows[duals[rows] > _PRICED]
        cols = np.arange(lay.num_col, dtype=np.int64)
        wc = lay.w_start + np.arange(len(lay.w_program), dtype=np.int64)
        done = np.minimum(model.col_upper_loose[wc], model.work_need[lay.w_program])
        highs.changeColsCost(len(cols), cols, model.fill_cost)
        highs.changeColsBounds(len(wc), wc, model.col_lower[wc], done)
        change_rows_bounds(highs, priced, model.row_upper[priced], model.row_upper[priced])
        try:
            if not self._run():
                change_rows_bounds(highs, priced, model.row_lower[priced], model.row_upper[priced])
                self._run(strict=True)
            return np.asarray(highs.getSolution().col_value, dtype=np.float64)
        finally:
            highs.changeColsCost(len(cols), cols, model.col_cost)
            highs.changeColsBounds(len(wc), wc, model.col_lower[wc], model.col_upper_loose[wc])
            change_rows_bounds(highs, priced, model.row_lower[priced], model.row_upper[priced])

    def _run(self, *, strict: bool = False) -> bool:
        run(self._highs, self._threads)
        status = self._highs.getModelStatus()
        solved = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kModelEmpty)
        if strict and not solved:
            raise RuntimeError(f"bid-price LP ended {status}")
        return solved


def _set_objective(highs: highspy.Highs, model: Model) -> None:
    cols = np.arange(model.layout.num_col, dtype=np.int64)
    highs.changeColsCost(len(cols), cols, model.col_cost)
    highs.changeObjectiveOffset(model.offset)


def _gaps(gap: float, abs_gap: float | None, start: float | None) -> dict[str, float]:
    """HiGHS stops when either of its gaps is met; `abs_gap` (dollars) is to apply only where
    it is tighter than `gap` would give, so the relative gap is turned off and the absolute
    one set to the lesser of the two, the relative one measured on the start's objective:
    the plan found is worth at least as much, so the proven gap stays within `gap` too.
    Without a complete start of positive objective there is nothing to measure it on, and
    `gap` alone applies."""
    if abs_gap is None or start is None or start <= 0:
        return {"mip_rel_gap": gap, "mip_abs_gap": _HIGHS_ABS_GAP}
    tighter = min(abs_gap * OBJECTIVE_SCALE, gap * start)
    return {"mip_rel_gap": 0.0, "mip_abs_gap": max(tighter, _HIGHS_ABS_GAP)}


def proven(objective: float, bound: float, gaps: dict[str, float]) -> bool:
    """Whether a MILP answer is within the gaps asked for (HiGHS's own stopping rule: the
    relative gap measured on the larger magnitude, or the absolute one), both scaled."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return False
    distance = abs(bound - objective)
    relative = distance / max(abs(bound), abs(objective), 1.0)
    slack = 1e-9  # rounding in HiGHS's own comparison
    return relative <= gaps["mip_rel_gap"] + slack or distance <= gaps["mip_abs_gap"] + slack


def _options(highs: highspy.Highs, options: dict[str, bool | int | float]) -> None:
    for name, value in options.items():
        highs.setOptionValue(name, value)


def _dollars(scaled: float) -> float:
    return scaled / OBJECTIVE_SCALE if math.isfinite(scaled) else scaled
