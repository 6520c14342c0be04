"""A plan as data, serialising to the JSON of design/SCENARIO.md.

Additions to the contract's fields (allowed: "other fields may be added"):
- `decisions[].beyond_horizon`: the request runs past the horizon's end (only the part
  inside earns revenue here); `decisions[].forced`: "accept", "reject" or null.
- `programs[]` of kind `inference` have `status` "served" (their needs are hard
  constraints, so a plan that exists serves them), `finish` null and no slip or cost.
- A training program `unfinished` at the horizon's end has `finish` null and `slip_days`
  equal to its overdue days inside the horizon (what it is charged for).
- `reasons`: for an `infeasible` result, each shortfall with its periods and GPU models.
- `bound` is null only when the solver stopped before proving any bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from gpufleet.planning.feasibility import Shortfall
from gpufleet.planning.periods import BoolArray, FloatArray, IntArray

PlanStatus = Literal["optimal", "feasible", "infeasible"]
ProgramStatus = Literal["finished", "unfinished", "served"]


def date_text(moment: datetime) -> str:
    """`YYYY-MM-DD` at midnight UTC (every date a scenario file writes), else ISO 8601."""
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.isoformat()


def _number(value: float) -> int | float:
    """Whole numbers print as integers (days, GPUs); the rest as floats."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


@dataclass(frozen=True)
class Decision:
    id: str
    accepted: bool
    revenue: float  # inside the horizon, whether accepted or not
    opportunity_cost: float
    beyond_horizon: bool
    forced: Literal["accept", "reject"] | None = None


@dataclass(frozen=True)
class ProgramOutcome:
    name: str
    kind: Literal["training", "inference"]
    finish: datetime | None
    slip_days: float
    delay_cost: float
    status: ProgramStatus
    finish_period: int | None = None  # index of the first period with z = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "finish": None if self.finish is None else date_text(self.finish),
            "slip_days": _number(self.slip_days),
            "delay_cost": self.delay_cost,
            "status": self.status,
        }


@dataclass(frozen=True)
class AllocationRow:
    period: int
    start: datetime
    gpu_model: str
    capacity: int
    leases: int
    rentals: int
    programs: dict[str, float]
    idle: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": date_text(self.start),
            "gpu_model": self.gpu_model,
            "capacity": self.capacity,
            "leases": self.leases,
            "rentals": self.rentals,
            "programs": dict(self.programs),
            "idle": self.idle,
        }


@dataclass(frozen=True)
class Arrays:
    """The plan as arrays, for quotes and reports (not serialised)."""

    accepted: BoolArray  # [R] per request in file order
    bid_price: FloatArray  # [M, P] USD per GPU-hour
    program_gpus: FloatArray  # [programs, M, P], training first, then inference
    cumulative_work: FloatArray  # [J, P] GPU-hours (H100-equivalent) done by the end of t
    finish_period: IntArray  # [J], −1 when unfinished


@dataclass(frozen=True)
class PlanResult:
    status: PlanStatus
    objective: float
    bound: float
    gap: float
    revenue: float
    committed_revenue: float
    delay_cost: float
    solve_seconds: float
    decisions: tuple[Decision, ...]
    programs: tuple[ProgramOutcome, ...]
    allocation: tuple[AllocationRow, ...]
    models: tuple[str, ...]
    period_starts: tuple[datetime, ...]
    reasons: tuple[Shortfall, ...] = ()
    arrays: Arrays | None = field(default=None, repr=False, compare=False)

    @property
    def accepted_ids(self) -> list[str]:
        return [d.id for d in self.decisions if d.accepted]

    def program(self, name: str) -> ProgramOutcome:
        return next(p for p in self.programs if p.name == name)

    def bid_prices(self) -> list[dict[str, Any]]:
        if self.arrays is None:
            return []
        prices = self.arrays.bid_price
        return [
            {"period": t, "gpu_model": model, "usd_per_gpu_hour": float(prices[m, t])}
            for t in range(prices.shape[1])
            for m, model in enumerate(self.models)
        ]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound if math.isfinite(self.bound) else None,
            "gap": self.gap if math.isfinite(self.gap) else None,
            "revenue": self.revenue,
            "committed_revenue": self.committed_revenue,
            "delay_cost": self.delay_cost,
            "solve_seconds": self.solve_seconds,
            "decisions": [
                {
                    "id": d.id,
                    "accepted": d.accepted,
                    "revenue": d.revenue,
                    "opportunity_cost": d.opportunity_cost,
                    "beyond_horizon": d.beyond_horizon,
                    "forced": d.forced,
                }
                for d in self.decisions
            ],
            "programs": [p.to_dict() for p in self.programs],
            "allocation": [row.to_dict() for row in self.allocation],
            "bid_prices": self.bid_prices(),
        }
        if self.status == "infeasible":
            data["reasons"] = [
                {
                    "periods": list(r.periods),
                    "start": date_text(self.period_starts[r.periods[0]]) if r.periods else None,
                    "gpu_models": list(r.gpu_models),
                    "needed": r.needed,
                    "available": r.available,
                    "message": r.message,
                }
                for r in self.reasons
            ]
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
