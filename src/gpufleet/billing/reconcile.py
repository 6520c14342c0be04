"""Planned revenue per month: what the planner's accepted requests and the signed leases
earn in each calendar month at their contract prices (GPUs × hours inside the month ×
price, rounded half down once per rental and month)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gpufleet.billing.arith import round_half_down
from gpufleet.billing.months import Month
from gpufleet.billing.rating import SECONDS_PER_HOUR
from gpufleet.planning.periods import overlap_seconds


@dataclass(frozen=True)
class PlannedRental:
    gpus: int
    start: datetime
    end: datetime
    price_micros: int  # per GPU-hour


def planned_by_month(rentals: Iterable[PlannedRental], months: Sequence[Month]) -> dict[str, int]:
    planned = {str(m): 0 for m in months}
    for rental in rentals:
        for month in months:
            seconds = overlap_seconds(rental.start, rental.end, month.start, month.end)
            if seconds:
                exact = rental.gpus * seconds * rental.price_micros
                planned[str(month)] += round_half_down(exact, SECONDS_PER_HOUR)
    return planned
