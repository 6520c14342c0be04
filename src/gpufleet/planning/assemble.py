"""Turn solver values into a `PlanResult`: decisions, finishes, allocation and bid prices.

Money is recomputed exactly from the chosen decisions (not read back from the solver), so
`objective` is exactly `revenue − delay_cost` of the plan reported. A training program
finishes in the first period whose cumulative work reaches `work_gpu_hours` within a relative
`WORK_TOLERANCE` (the solver's own feasibility tolerance is far tighter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gpufleet.planning.bounds import free_capacity
from gpufleet.planning.feasibility import Shortfall
from gpufleet.planning.milp import Model
from gpufleet.planning.periods import BoolArray, Derived, FloatArray, IntArray, usd
from gpufleet.planning.result import (
    AllocationRow,
    Arrays,
    Decision,
    PlanResult,
    PlanStatus,
    ProgramOutcome,
)

WORK_TOLERANCE = 1e-6
_IDLE_TOLERANCE = 1e-6  # GPUs per GPU of capacity: below this a row counts as full


@dataclass(frozen=True)
class Forced:
    accept: BoolArray  # [R]
    reject: BoolArray  # [R]


def assemble(
    derived: Derived,
    model: Model,
    accepted: BoolArray,
    values: FloatArray,
    row_duals: FloatArray,
    *,
    status: PlanStatus,
    bound: float,
    seconds: float,
    forced: Forced,
) -> PlanResult:
    """`accepted` per request in file order; `values` and `row_duals` from the price LP."""
    gpus = program_gpus(derived, model, values)
    work = cumulative_work(derived, gpus)
    finish = finish_periods(derived, work)
    gpus[after_finish(derived, gpus, finish)] = 0.0
    work = cumulative_work(derived, gpus)
    programs, delay = program_outcomes(derived, finish)
    revenue = sum(
        (v for v, a in zip(derived.requests.revenue_micros, accepted, strict=True) if a),
        Fraction(0),
    )
    committed = sum(derived.leases.revenue_micros, Fraction(0))
    objective = usd(revenue - delay)
    if status == "optimal" and not math.isfinite(bound):
        bound = objective  # no integer variable: the LP optimum is its own proof
    bound = max(bound, objective) if math.isfinite(bound) else bound
    gap = (bound - objective) / max(1.0, abs(bound)) if math.isfinite(bound) else math.inf

    models, periods = derived.capacity.shape
    rentals = derived.requests.load(models, periods, accepted)
    idle = free_capacity(derived) - rentals - gpus.sum(axis=0)
    prices = bid_prices(derived, model, row_duals, idle)
    decisions = tuple(
        Decision(
            id=rid,
            accepted=bool(accepted[r]),
            revenue=float(derived.requests.revenue_usd[r]),
            opportunity_cost=opportunity_cost(derived, prices, r),
            beyond_horizon=bool(derived.requests.beyond_horizon[r]),
            forced="accept" if forced.accept[r] else "reject" if forced.reject[r] else None,
        )
        for r, rid in enumerate(derived.requests.ids)
    )
    return PlanResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=max(0.0, gap),
        revenue=usd(revenue),
        committed_revenue=usd(committed),
        delay_cost=usd(delay),
        solve_seconds=seconds,
        decisions=decisions,
        programs=programs,
        allocation=allocation(derived, gpus, rentals, np.maximum(idle, 0.0)),
        models=derived.models,
        period_starts=tuple(derived.period_start(t) for t in range(derived.periods)),
        arrays=Arrays(accepted, prices, gpus, work, finish),
    )


def program_gpus(derived: Derived, model: Model, values: FloatArray) -> FloatArray:
    """[program, model, period] GPUs; training programs first, then inference."""
    lay = model.layout
    count = len(derived.training) + len(derived.inference)
    gpus = np.zeros((count, *derived.capacity.shape))
    y = values[lay.y_start : lay.y_start + len(lay.y_program)]
    gpus[lay.y_program, lay.y_model, lay.y_period] = np.maximum(y, 0.0)
    return gpus


def after_finish(derived: Derived, gpus: FloatArray, finish: IntArray) -> BoolArray:
    """[program, model, period] True where a training program has finished: the price LP
    gives it nothing there (it never works beyond its requirement), up to solver noise
    that the allocation reports as zero."""
    mask = np.zeros(gpus.shape, dtype=bool)
    periods = np.arange(derived.periods)
    for j, f in enumerate(finish):
        if f >= 0:
            mask[j, :, periods > f] = True
    return mask


def cumulative_work(derived: Derived, gpus: FloatArray) -> FloatArray:
    """[J, P] H100-equivalent GPU-hours of each training program done by the end of t."""
    train = gpus[: len(derived.training)]
    per_period = np.einsum("jmt,m->jt", train, derived.relative_throughput) * derived.hours
    return np.cumsum(per_period, axis=1)


def finish_periods(derived: Derived, work: FloatArray) -> IntArray:
    """[J] first period with the work complete, −1 when it never is inside the horizon."""
    done = work >= derived.training.work_gpu_hours[:, None] * (1 - WORK_TOLERANCE)
    first = np.argmax(done, axis=1) if done.size else np.zeros(0, dtype=np.int64)
    return np.where(done.any(axis=1), first, -1).astype(np.int64)


def program_outcomes(
    derived: Derived, finish: IntArray
) -> tuple[tuple[ProgramOutcome, ...], Fraction]:
    training = derived.training
    outcomes: list[ProgramOutcome] = []
    total = Fraction(0)
    for j, name in enumerate(training.names):
        f = int(finish[j])
        # Σ_t (1 − z[j,t−1])·overdue(j,t): every period up to and including the finish one.
        charged = int(training.overdue_seconds[j, : f + 1 if f >= 0 else None].sum())
        cost = training.delay_cost_micros(j, charged)
        total += cost
        end = derived.period_end(f) if f >= 0 else None
        slip = max(0.0, (end - training.due[j]).total_seconds()) if end else float(charged)
        outcomes.append(
            ProgramOutcome(
                name=name,
                kind="training",
                finish=end,
                slip_days=slip / 86_400,
                delay_cost=usd(cost),
                status="finished" if f >= 0 else "unfinished",
                finish_period=f if f >= 0 else None,
            )
        )
    outcomes += [
        ProgramOutcome(name, "inference", None, 0.0, 0.0, "served")
        for name in derived.inference.names
    ]
    return tuple(outcomes), total


def bid_prices(
    derived: Derived, model: Model, row_duals: FloatArray, idle: FloatArray
) -> FloatArray:
    """[M, P] USD per GPU-hour: the capacity row's dual / H, never negative, and zero where
    the plan leaves capacity idle (complementary slackness, cleaned of solver noise)."""
    rows = model.layout.capacity_row
    duals = np.where(rows >= 0, row_duals[np.maximum(rows, 0)] if len(row_duals) else 0.0, 0.0)
    slack = idle > _IDLE_TOLERANCE * np.maximum(1, derived.capacity)
    prices: FloatArray = np.where(slack, 0.0, np.maximum(duals, 0.0)) / derived.hours
    return prices


def opportunity_cost(derived: Derived, prices: FloatArray, r: int) -> float:
    """Σ over the periods request r occupies of gpus × H × bid price."""
    req = derived.requests
    periods = req.occupancy(r)
    per_gpu = float(prices[req.model[r], periods.start : periods.stop].sum())
    return float(req.gpus[r]) * derived.hours * per_gpu


def allocation(
    derived: Derived, gpus: FloatArray, rentals: IntArray, idle: FloatArray
) -> tuple[AllocationRow, ...]:
    models, periods = derived.capacity.shape
    leases = derived.leases.load(models, periods)
    allowed = np.vstack([derived.training.allowed, derived.inference.allowed]).reshape(-1, models)
    names = derived.training.names + derived.inference.names
    rows: list[AllocationRow] = []
    for t in range(periods):
        start = derived.period_start(t)
        for m, model in enumerate(derived.models):
            rows.append(
                AllocationRow(
                    period=t,
                    start=start,
                    gpu_model=model,
                    capacity=int(derived.capacity[m, t]),
                    leases=int(leases[m, t]),
                    rentals=int(rentals[m, t]),
                    programs={
                        name: float(gpus[p, m, t]) for p, name in enumerate(names) if allowed[p, m]
                    },
                    idle=float(idle[m, t]),
                )
            )
    return tuple(rows)


def infeasible(
    derived: Derived, reasons: list[Shortfall], seconds: float, forced: Forced
) -> PlanResult:
    committed = sum(derived.leases.revenue_micros, Fraction(0))
    return PlanResult(
        status="infeasible",
        objective=0.0,
        bound=0.0,
        gap=0.0,
        revenue=0.0,
        committed_revenue=usd(committed),
        delay_cost=0.0,
        solve_seconds=seconds,
        decisions=tuple(
            Decision(
                id=rid,
                accepted=False,
                revenue=float(derived.requests.revenue_usd[r]),
                opportunity_cost=0.0,
                beyond_horizon=bool(derived.requests.beyond_horizon[r]),
                forced="accept" if forced.accept[r] else "reject" if forced.reject[r] else None,
            )
            for r, rid in enumerate(derived.requests.ids)
        ),
        programs=(),
        allocation=(),
        models=derived.models,
        period_starts=tuple(derived.period_start(t) for t in range(derived.periods)),
        reasons=tuple(reasons),
    )
