"""Revenue against roadmap slip: the plans chosen as every delay cost is scaled by a factor.

    points = frontier(load_scenario_file("colossus.yaml"), points=8)
    for p in points:
        print(p.factor, p.revenue, p.total_slip_days, "← as written" if p.actual else "")

At factor f the planner maximises revenue − f·D, with D the delay cost at the scenario's own
rates. For exact solves, as f grows neither the revenue nor D of the optimum ever rises, and
the optimal plans are the vertices of a concave frontier of revenue against D. With one
training program D is its slip times its rate, so revenue against total slip days is the
same frontier; with several it is close to it.

Which factors:
1. f = 1, the scenario as written (the point marked `actual`);
2. f = 0, delay ignored: the most revenue there is (the programs then get only what is left,
   and may finish late or not at all);
3. a prohibitive f (`prohibitive_factor`): one period of slip of any program costs more than
   every pending request together would earn, so the plan slips as little as it can;
4. the rest of the budget where the frontier is least known. Between two neighbouring
   distinct plans a and b (a at the lower factor) the next solve is at the factor where they
   tie, f = (R_a − R_b) / (D_a − D_b): the plan found there is either a new vertex, better than
   both at that f, or proves that there is none between them (the dichotomic method for
   bi-objective problems), so no solve is spent on a stretch where nothing changes. The
   interval tried first is the one whose chord spans the largest share of the picture.
Identical plans found at several factors are reported once (`factors` lists them all), in
order of factor. Scaled delay costs stay exact: Decimal, rounded to the micro-dollar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise
from typing import Any

import numpy as np

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.periods import Derived
from gpufleet.planning.planner import Planner
from gpufleet.planning.result import PlanResult, PlanStatus
from gpufleet.planning.scenario.model import Scenario, TrainingProgram

DEFAULT_POINTS = 8
DEFAULT_GAP = 1e-3
MIN_POINTS = 3  # zero, as written, prohibitive
ACTUAL = 1.0
_MICRO = Decimal("0.000001")
_SIGNIFICANT = 6  # digits of a tie factor: readable, and exact once written as a Decimal
_INSIDE = 1e-6  # a tie factor this close (relatively) to an end of its interval is that end

# Called after each solve with (solved so far, total planned). When the sweep has found
# everything before its budget is spent, the last call has solved == total (a smaller total).
FrontierProgress = Callable[[int, int], object]


@dataclass(frozen=True)
class FrontierPoint:
    """One plan of the sweep. Money in US dollars, slip in days."""

    factor: float  # the delay-cost multiplier it was found at (1.0 when that is among them)
    revenue: float  # accepted requests, inside the horizon
    total_slip_days: float  # summed over training programs
    delay_cost: float  # at the scaled rates: what the solver traded revenue against
    true_delay_cost: float  # at the scenario's own rates
    objective: float  # revenue − true delay cost: this plan judged by the scenario as written
    scaled_objective: float  # revenue − scaled delay cost: what the solver maximised
    accepted: int  # requests accepted
    accepted_ids: tuple[str, ...]
    slip_days: Mapping[str, float]  # per training program
    unfinished: tuple[str, ...]  # training programs not finished inside the horizon
    status: PlanStatus
    gap: float
    solve_seconds: float
    factors: tuple[float, ...] = ()  # every factor tried that gave this same plan
    result: PlanResult | None = field(default=None, repr=False, compare=False)

    @property
    def actual(self) -> bool:
        """This plan is the one for the delay costs as written."""
        return ACTUAL in self.factors

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "factors": list(self.factors),
            "actual": self.actual,
            "revenue": self.revenue,
            "total_slip_days": self.total_slip_days,
            "delay_cost": self.delay_cost,
            "true_delay_cost": self.true_delay_cost,
            "objective": self.objective,
            "scaled_objective": self.scaled_objective,
            "accepted": self.accepted,
            "accepted_ids": list(self.accepted_ids),
            "slip_days": dict(self.slip_days),
            "unfinished": list(self.unfinished),
            "status": self.status,
            "gap": self.gap,
            "solve_seconds": self.solve_seconds,
        }


def frontier(
    scenario: Scenario,
    points: int = DEFAULT_POINTS,
    gap: float = DEFAULT_GAP,
    time_limit_per_point: float | None = None,
    progress: FrontierProgress | None = None,
    *,
    threads: int | None = None,
) -> list[FrontierPoint]:
    """At most `points` solves (at least 3), the distinct plans ordered by factor.

    Raises `InvalidInput` for an infeasible scenario (no factor changes that) or fewer than
    three points. A scenario where delay costs cannot matter (no training program that can be
    charged for a day) gives one point, the plan as written."""
    if points < MIN_POINTS:
        raise InvalidInput(f"points must be at least {MIN_POINTS}, not {points}")
    planner = Planner(scenario, threads=threads)
    ceiling = prohibitive_factor(planner.derived)
    if ceiling is None:
        plan = _solve(planner, scenario, ACTUAL, gap, time_limit_per_point)
        _report(progress, 1, 1)
        return [plan]
    start = [ACTUAL, 0.0] + ([ceiling] if ceiling > ACTUAL else [])
    solved: list[FrontierPoint] = []
    for factor in start:
        solved.append(_solve(planner, scenario, factor, gap, time_limit_per_point))
        _report(progress, len(solved), points)
    closed: set[tuple[float, float]] = set()
    while len(solved) < points:
        chosen = _next_interval(solved, closed)
        if chosen is None:
            break
        factor, low, high = chosen
        found = _solve(planner, scenario, factor, gap, time_limit_per_point)
        solved.append(found)
        _report(progress, len(solved), points)
        if _same(found, low):  # nothing new below the tie: the stretch above is settled
            closed.add((found.factor, high.factor))
        if _same(found, high):
            closed.add((low.factor, found.factor))
    if len(solved) < points:
        _report(progress, len(solved), len(solved))
    return _distinct(solved)


def scale_delay_costs(scenario: Scenario, factor: Decimal) -> Scenario:
    """The scenario with every training program's delay cost per day times `factor`, exact to
    the micro-dollar (the precision scenario money has)."""
    programs = [
        p.model_copy(
            update={"delay_cost_per_day": (p.delay_cost_per_day * factor).quantize(_MICRO)}
        )
        if isinstance(p, TrainingProgram)
        else p
        for p in scenario.programs
    ]
    return scenario.model_copy(update={"programs": programs})


def prohibitive_factor(derived: Derived) -> float | None:
    """The smallest 1-2-5 factor at which one period of any program's slip costs more than all
    pending requests would earn inside the horizon; None when no program can ever be charged
    (no delay cost, or due after the horizon)."""
    training = derived.training
    per_day = training.delay_cost_usd_per_day
    steps = [
        float(per_day[j] * days[days > 0].min())
        for j, days in enumerate(training.overdue_days)
        if per_day[j] > 0 and (days > 0).any()
    ]
    if not steps:
        return None
    offered = float(derived.requests.revenue_usd.sum())
    return _round_up_nicely(max(offered, 1.0) / min(steps) * 1.001)


def _round_up_nicely(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k at least `value`."""
    exponent = int(np.floor(np.log10(value)))
    for digits in (1, 2, 5, 10):
        nice = float(Decimal(digits).scaleb(exponent))
        if nice >= value:
            return nice
    return float(Decimal(10).scaleb(exponent))  # pragma: no cover - 10·10^k ≥ value always


def _solve(
    planner: Planner,
    scenario: Scenario,
    factor: float,
    gap: float,
    time_limit: float | None,
) -> FrontierPoint:
    """The plan at `factor`: one Planner for the whole sweep, re-priced (only the MILP's
    objective changes) and warm-started from the plan found at the previous factor."""
    planner.reprice(scale_delay_costs(scenario, Decimal(repr(factor))))
    result = planner.plan(gap=gap, time_limit=time_limit)
    if result.status == "infeasible":
        reasons = "; ".join(r.message for r in result.reasons)
        raise InvalidInput(f"the scenario is infeasible at any delay cost: {reasons}")
    rates = {
        p.name: float(p.delay_cost_per_day)
        for p in scenario.programs
        if isinstance(p, TrainingProgram)
    }
    training = [p for p in result.programs if p.kind == "training"]
    slips = {p.name: p.slip_days for p in training}
    true_delay = sum(rates[name] * days for name, days in slips.items())
    accepted = tuple(result.accepted_ids)
    return FrontierPoint(
        factor=factor,
        revenue=result.revenue,
        total_slip_days=sum(slips.values()),
        delay_cost=result.delay_cost,
        true_delay_cost=true_delay,
        objective=result.revenue - true_delay,
        scaled_objective=result.objective,
        accepted=len(accepted),
        accepted_ids=accepted,
        slip_days=slips,
        unfinished=tuple(p.name for p in training if p.status == "unfinished"),
        status=result.status,
        gap=result.gap,
        solve_seconds=result.solve_seconds,
        factors=(factor,),
        result=result,
    )


def _next_interval(
    solved: list[FrontierPoint], closed: set[tuple[float, float]]
) -> tuple[float, FrontierPoint, FrontierPoint] | None:
    """The tie factor of the open interval whose chord covers the most of the picture."""
    revenues = [p.revenue for p in solved]
    delays = [p.true_delay_cost for p in solved]
    revenue_span = max(max(revenues) - min(revenues), 1.0)
    delay_span = max(max(delays) - min(delays), 1.0)
    best: tuple[float, float, FrontierPoint, FrontierPoint] | None = None
    for low, high in pairwise(sorted(solved, key=lambda p: p.factor)):
        if (low.factor, high.factor) in closed:
            continue
        factor = _tie_factor(low, high)
        if factor is None:
            closed.add((low.factor, high.factor))
            continue
        share = (low.revenue - high.revenue) / revenue_span
        share *= (low.true_delay_cost - high.true_delay_cost) / delay_span
        if best is None or share > best[0]:
            best = (share, factor, low, high)
    return None if best is None else best[1:]


def _tie_factor(low: FrontierPoint, high: FrontierPoint) -> float | None:
    """The factor at which the two plans have the same scaled objective, when it lies strictly
    between theirs (for exact solves it always does unless they tie everywhere)."""
    revenue = low.revenue - high.revenue
    delay = low.true_delay_cost - high.true_delay_cost
    if revenue <= 0 or delay <= 0:
        return None
    factor = float(f"{revenue / delay:.{_SIGNIFICANT}g}")
    if not low.factor * (1 + _INSIDE) < factor < high.factor * (1 - _INSIDE):
        return None
    return factor


def _key(point: FrontierPoint) -> tuple[object, ...]:
    slips = tuple(sorted((name, round(days, 6)) for name, days in point.slip_days.items()))
    return (round(point.revenue, 2), slips)


def _same(a: FrontierPoint, b: FrontierPoint) -> bool:
    return _key(a) == _key(b)


def _distinct(solved: list[FrontierPoint]) -> list[FrontierPoint]:
    """Neighbours (by factor) with the same revenue and slips merged into one point: the one
    found as written when it is among them, else the one at the lowest factor."""
    merged: list[list[FrontierPoint]] = []
    for point in sorted(solved, key=lambda p: p.factor):
        if merged and _same(merged[-1][0], point):
            merged[-1].append(point)
        else:
            merged.append([point])
    out: list[FrontierPoint] = []
    for group in merged:
        keep = next((p for p in group if p.factor == ACTUAL), group[0])
        factors = tuple(p.factor for p in group)
        out.append(replace(keep, factors=factors))
    return out


def _report(progress: FrontierProgress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
