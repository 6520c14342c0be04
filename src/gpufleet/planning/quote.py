"""Quote a rental request: what signing it is worth against the roadmap, and what to answer.

    planner = Planner(scenario)
    answer = quote(planner, "rfq-3")              # solves the free plan first
    answer.decision, answer.counter_price_per_gpu_hour, answer.reasons

Two figures, as ADR 0004 asks:
- *Bid-price opportunity cost* (fast, no solve): Σ over the periods the request occupies of
  gpus × H × the free plan's bid price. Marginal, so it understates a request large enough to
  move a program by whole periods.
- *Exact value of signing* = objective(forced in) − objective(forced out). The free plan is
  one of the two already (it accepts the request or it does not), so one warm-started solve
  gives the other. Exact opportunity cost = objective(out) − (objective(in) − revenue).

The decision is made on the exact value: `accept` when signing is worth ≥ 0; else `counter`
at the least price per GPU-hour (rounded up to the cent) that makes it worth 0 — revenue
inside the horizon is linear in the price and the plan with the request stays feasible, so
that price is enough — unless it is more than `ABSURD_MULTIPLE` × the asked price or the
request earns nothing inside the horizon: then `decline`.

Both objectives come from solves within `gap`, the re-solve also within `PRECISION` × the
request's revenue in dollars where that is tighter (so that a small request's value is not
lost in a gap of millions); `value_range` bounds the true value with the solver's proven
bounds: [objective(in) − bound(out), bound(in) − objective(out)]. The re-solve starts warm
from the free plan (less the request, or repaired around it: solver.py). The plan
with the request, less the request, is a plan without it, so objective(out) is never taken
below objective(in) − revenue (a re-solve within its gap may return a worse one): the exact
opportunity cost is never negative.

A request that is not in the scenario yet: `with_request(scenario, read_request_text(...))`
(quote_request.py), then quote it against the plan solved with it forced out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any, Literal

from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.domain.money import format_usd
from gpufleet.planning.assemble import opportunity_cost
from gpufleet.planning.compare import compare
from gpufleet.planning.periods import SECONDS_PER_HOUR, overlap_seconds
from gpufleet.planning.planner import Planner
from gpufleet.planning.quote_request import (
    NEW_REQUEST_CUSTOMER,
    NEW_REQUEST_ID,
    parse_request,
    read_request_text,
    with_request,
)
from gpufleet.planning.quote_text import ProgramChange, consequences, headline, uncertainty
from gpufleet.planning.result import PlanResult, date_text
from gpufleet.planning.scenario import Rental
from gpufleet.planning.solver import ProgressCallback

__all__ = [
    "ABSURD_MULTIPLE", "DEFAULT_QUOTE_GAP", "NEW_REQUEST_CUSTOMER", "NEW_REQUEST_ID", "PRECISION",
    "ProgramChange", "Quote", "QuoteDecision", "bid_price_cost", "parse_request", "quote",
    "read_request_text", "with_request",
]  # fmt: skip

QuoteDecision = Literal["accept", "counter", "decline"]

DEFAULT_QUOTE_GAP = 1e-3
# The re-solve proves its objective to within this share of the request's revenue where
# that is tighter than the relative gap (`Planner.plan(abs_gap=...)`): on colossus.yaml at
# gap 1e-3 the relative gap alone is ±$12M, more than most requests earn, and value_range
# then straddles zero; at half the revenue it proves the sign of most (rfq-001: from
# −$6.1M…$17.9M to $2.2M…$17.9M) for 0.2-0.3 s more. A tenth made rfq-150 take 6 s.
PRECISION = 0.5
ABSURD_MULTIPLE = 3  # a counter price above this many times the asked price is a decline
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Quote:
    request_id: str
    customer: str
    gpu_model: str
    gpus: int
    start: str
    end: str
    price_per_gpu_hour: float
    gpu_hours_in_horizon: float
    revenue: float  # inside the horizon
    beyond_horizon: bool
    bid_price_opportunity_cost: float
    exact_opportunity_cost: float | None  # None when the request cannot be signed at all
    value_of_signing: float | None
    value_range: tuple[float, float] | None  # what the solver proved, given its gap
    decision: QuoteDecision
    counter_price_per_gpu_hour: float | None
    reasons: tuple[str, ...]
    programs: tuple[ProgramChange, ...]
    displaces: tuple[str, ...]  # accepted without the request, declined with it
    also_takes: tuple[str, ...]  # declined without it, accepted with it
    objective_with: float | None
    objective_without: float
    status_with: str
    status_without: str
    free_plan_seconds: float  # solving the plan quoted against (not part of the quote)
    bid_price_seconds: float
    exact_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "customer": self.customer,
            "gpu_model": self.gpu_model,
            "gpus": self.gpus,
            "start": self.start,
            "end": self.end,
            "price_per_gpu_hour": self.price_per_gpu_hour,
            "gpu_hours_in_horizon": self.gpu_hours_in_horizon,
            "revenue": self.revenue,
            "beyond_horizon": self.beyond_horizon,
            "bid_price_opportunity_cost": self.bid_price_opportunity_cost,
            "exact_opportunity_cost": self.exact_opportunity_cost,
            "value_of_signing": self.value_of_signing,
            "value_range": None if self.value_range is None else list(self.value_range),
            "decision": self.decision,
            "counter_price_per_gpu_hour": self.counter_price_per_gpu_hour,
            "reasons": list(self.reasons),
            "programs": [p.to_dict() for p in self.programs],
            "displaces": list(self.displaces),
            "also_takes": list(self.also_takes),
            "objective_with": self.objective_with,
            "objective_without": self.objective_without,
            "status_with": self.status_with,
            "status_without": self.status_without,
            "seconds": {
                "free_plan": self.free_plan_seconds,
                "bid_price": self.bid_price_seconds,
                "exact": self.exact_seconds,
            },
        }


def bid_price_cost(planner: Planner, free: PlanResult, request_id: str) -> float:
    """Σ over the periods the request occupies of gpus × H × the free plan's bid price."""
    if free.arrays is None:
        raise InvalidInput("the plan has no bid prices (it is infeasible)")
    return opportunity_cost(planner.derived, free.arrays.bid_price, _index(planner, request_id))


def quote(
    planner: Planner,
    request_id: str,
    *,
    free: PlanResult | None = None,
    gap: float = DEFAULT_QUOTE_GAP,
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
) -> Quote:
    """Quote the pending request `request_id` of the planner's scenario. `free` is the plan to
    quote against (solved here when None); decisions it forces on other requests are kept in
    the re-solve. Raises `InvalidInput` for an unknown id or an infeasible scenario."""
    r = _index(planner, request_id)
    if free is None:
        free = planner.plan(gap=gap, time_limit=time_limit, progress=progress)
    if free.status == "infeasible" or free.arrays is None:
        raise InvalidInput(
            "cannot quote: the scenario is infeasible without this request",
            [Issue("", reason.message) for reason in free.reasons],
        )

    started = time.perf_counter()
    bid_cost = bid_price_cost(planner, free, request_id)
    bid_seconds = time.perf_counter() - started

    started = time.perf_counter()
    signed = bool(free.arrays.accepted[r])
    keep_in = [d.id for d in free.decisions if d.forced == "accept" and d.id != request_id]
    keep_out = [d.id for d in free.decisions if d.forced == "reject" and d.id != request_id]
    other = planner.plan(
        gap=gap,
        time_limit=time_limit,
        force_accept=keep_in if signed else [*keep_in, request_id],
        force_reject=[*keep_out, request_id] if signed else keep_out,
        progress=progress,
        abs_gap=PRECISION * float(planner.derived.requests.revenue_usd[r]),
    )
    with_plan, without = (free, other) if signed else (other, free)
    answer = _answer(planner, r, with_plan, without, bid_cost)
    exact_seconds = time.perf_counter() - started
    return Quote(
        **answer,
        free_plan_seconds=free.solve_seconds,
        bid_price_seconds=bid_seconds,
        exact_seconds=exact_seconds,
    )


def _answer(
    planner: Planner, r: int, with_plan: PlanResult, without: PlanResult, bid_cost: float
) -> dict[str, Any]:
    rental = planner.scenario.rental_requests[r]
    horizon = planner.scenario.horizon
    hours = Fraction(overlap_seconds(rental.start, rental.end, horizon.start, horizon.end))
    gpu_hours = rental.gpus * hours / SECONDS_PER_HOUR
    revenue = float(planner.derived.requests.revenue_usd[r])
    facts: dict[str, Any] = {
        "request_id": rental.id,
        "customer": rental.customer,
        "gpu_model": rental.gpu_model,
        "gpus": rental.gpus,
        "start": date_text(rental.start),
        "end": date_text(rental.end),
        "price_per_gpu_hour": float(rental.price_per_gpu_hour),
        "gpu_hours_in_horizon": float(gpu_hours),
        "revenue": revenue,
        "beyond_horizon": bool(planner.derived.requests.beyond_horizon[r]),
        "bid_price_opportunity_cost": bid_cost,
        "status_with": with_plan.status,
        "status_without": without.status,
    }
    head = headline(rental, revenue, bid_cost, bool(facts["beyond_horizon"]))
    if with_plan.status == "infeasible":
        return {
            **facts,
            "exact_opportunity_cost": None,
            "value_of_signing": None,
            "value_range": None,
            "decision": "decline",
            "counter_price_per_gpu_hour": None,
            "reasons": (
                *head,
                "It does not fit beside the leases and the inference needs:",
                *(f"  {reason.message}" for reason in with_plan.reasons),
                "Decline: no price makes room for it.",
            ),
            "programs": (),
            "displaces": (),
            "also_takes": (),
            "objective_with": None,
            "objective_without": without.objective,
        }

    # The plan with the request, minus it, is a plan without it: never count less than that
    # (a re-solve within its gap can return a worse one).
    dropped = with_plan.objective - revenue
    kept = without.objective >= dropped - 0.005
    objective_without = without.objective if kept else dropped
    value = _cents(with_plan.objective - objective_without)
    exact_cost = _cents(revenue - value)
    diff = compare(without, with_plan)
    before = {p.name: p.slip_days for p in without.programs}
    after = {p.name: p.slip_days for p in with_plan.programs}
    programs = tuple(
        ProgramChange(s.name, before[s.name], after[s.name], s.delay_cost)
        for s in diff.programs
        if kept
    )
    displaced = diff.newly_declined if kept else ()
    also = tuple(i for i in diff.newly_accepted if i != rental.id and kept)
    decision, counter, verdict = _decide(rental, value, gpu_hours)
    low = with_plan.objective - without.bound
    high = with_plan.bound - objective_without
    bounded = math.isfinite(low) and math.isfinite(high)
    reasons = [
        *head,
        *(
            consequences(with_plan, without, programs, displaced, also)
            if kept
            else [
                "Without it the best plan known is the same plan less this request (the "
                "re-solve found none better within its gap): nothing else changes."
            ]
        ),
        f"Net: signing is worth {format_usd(value)} (exact opportunity cost "
        f"{format_usd(exact_cost)}).",
        verdict,
    ]
    if not bounded or low < 0 <= high:
        reasons.append(uncertainty(low, high, bounded, with_plan, without))
    return {
        **facts,
        "exact_opportunity_cost": exact_cost,
        "value_of_signing": value,
        "value_range": (low, high) if bounded else None,
        "decision": decision,
        "counter_price_per_gpu_hour": counter,
        "reasons": tuple(reasons),
        "programs": programs,
        "displaces": displaced,
        "also_takes": also,
        "objective_with": with_plan.objective,
        "objective_without": objective_without,
    }


def _decide(
    rental: Rental, value: float, gpu_hours: Fraction
) -> tuple[QuoteDecision, float | None, str]:
    price = rental.price_per_gpu_hour
    if value >= 0:
        return "accept", None, "Accept: it is worth at least what it costs the roadmap."
    if gpu_hours <= 0:
        return "decline", None, "Decline: it earns nothing inside the horizon, so no price helps."
    needed = Decimal(repr(-value)) / Decimal(gpu_hours.numerator) * Decimal(gpu_hours.denominator)
    counter = (price + needed).quantize(_CENT, rounding=ROUND_CEILING)
    if counter > ABSURD_MULTIPLE * price:
        return (
            "decline",
            None,
            f"Decline: it would pay only at ${counter:,.2f}/GPU-hour or more, over "
            f"{ABSURD_MULTIPLE}× the ${price:,.2f} asked.",
        )
    return (
        "counter",
        float(counter),
        f"Counter at ${counter:,.2f}/GPU-hour (asked ${price:,.2f}): the least price at which "
        "signing pays for what it costs the roadmap.",
    )


def _cents(amount: float) -> float:
    """Differences of exact objectives, cleaned of float noise (and of −0)."""
    return round(amount, 2) + 0.0


def _index(planner: Planner, request_id: str) -> int:
    ids = planner.derived.requests.ids
    try:
        return ids.index(request_id)
    except ValueError:
        raise InvalidInput(f"no pending rental request with id {request_id!r}") from None
