"""The plain words of a quote: what the request earns, which programs move, what it displaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpufleet.domain.money import format_usd
from gpufleet.planning.compare import finish_sentence, list_ids
from gpufleet.planning.result import PlanResult, date_text
from gpufleet.planning.scenario import Rental


@dataclass(frozen=True)
class ProgramChange:
    """How one training program moves when the request is signed (with minus without)."""

    name: str
    slip_days_without: float
    slip_days_with: float
    delay_cost_change: float

    @property
    def days_later(self) -> float:
        return self.slip_days_with - self.slip_days_without

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slip_days_without": self.slip_days_without,
            "slip_days_with": self.slip_days_with,
            "days_later": self.days_later,
            "delay_cost_change": self.delay_cost_change,
        }


def headline(rental: Rental, revenue: float, bid_cost: float, beyond: bool) -> list[str]:
    return [
        f"{rental.id} ({rental.customer}): {rental.gpus:,} {rental.gpu_model} from "
        f"{date_text(rental.start)} to {date_text(rental.end)} at "
        f"${rental.price_per_gpu_hour:,.2f}/GPU-hour earns {format_usd(revenue)} inside the "
        "horizon" + (" (it runs past the horizon; the rest is not counted)." if beyond else "."),
        f"At the free plan's bid prices its capacity costs {format_usd(bid_cost)} (a marginal "
        "price: it understates requests that move a program by whole periods).",
    ]


def consequences(
    with_plan: PlanResult,
    without: PlanResult,
    programs: tuple[ProgramChange, ...],
    displaced: tuple[str, ...],
    also: tuple[str, ...],
) -> list[str]:
    lines = []
    for change in programs:
        if abs(change.days_later) < 1e-9:
            continue
        slip = f"slip {change.slip_days_without:g} → {change.slip_days_with:g} days, "
        lines.append(
            finish_sentence(change.name, change.days_later, change.delay_cost_change, slip)
        )
    if not lines:
        lines.append("No training program finishes at another date.")
    revenue = {d.id: d.revenue for d in without.decisions}
    if displaced:
        lost = sum(revenue[i] for i in displaced)
        lines.append(f"To make room the plan drops {list_ids(displaced)} ({format_usd(lost)}).")
    if also:
        gained = sum(revenue[i] for i in also)
        lines.append(f"The plan also signs {list_ids(also)} ({format_usd(gained)}).")
    return lines


def uncertainty(
    low: float, high: float, bounded: bool, with_plan: PlanResult, without: PlanResult
) -> str:
    if not bounded:
        return (
            f"The solver stopped before proving a bound (plans {with_plan.status} and "
            f"{without.status}); the value is the best found, not proven."
        )
    return (
        f"Within the solver's gap the true value lies between {format_usd(low)} and "
        f"{format_usd(high)}; a smaller --gap settles the sign."
    )
