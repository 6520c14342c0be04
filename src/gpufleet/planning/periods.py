"""Derived quantities of design/SCENARIO.md as arrays: what the MILP and the checks read.

Period t is [S + t·L, S + (t+1)·L). Conventions where SCENARIO.md leaves a choice:

- A rental *occupies* the periods overlapping [start, end): `first ≤ t < stop`; a rental
  wholly outside the horizon occupies none (`first == stop`) and earns nothing inside it.
- Money is exact: revenue and delay cost are kept as `Fraction`s of micro-dollars (prices
  are exact micro-dollars, durations exact seconds) and turned into floats only for the
  solver and for JSON.
- `overdue_days(j, t)` is the length, in days, of the part of period t after `due`; a due
  date inside a period (not at a period boundary, or not at midnight) gives a fractional
  number of days.
- A program may use period t only when t *starts* on or after its `earliest_start` (as
  capacity counts from the first period starting on or after `online_from`), so that no
  work is ever done before `earliest_start`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from gpufleet.planning.capacity import capacity_by_period
from gpufleet.planning.scenario.model import (
    Horizon,
    InferenceProgram,
    Rental,
    Scenario,
    TrainingProgram,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
MICROS_PER_USD = 1_000_000


def seconds(delta: timedelta) -> int:
    """Whole seconds of a duration (instants are parsed to at most microseconds; a
    sub-second remainder is dropped, which no scenario date produces)."""
    return delta.days * SECONDS_PER_DAY + delta.seconds


def overlap_seconds(a: datetime, b: datetime, lo: datetime, hi: datetime) -> int:
    """Seconds of [a, b) ∩ [lo, hi)."""
    return max(0, seconds(min(b, hi) - max(a, lo)))


def occupied_range(horizon: Horizon, start: datetime, end: datetime) -> tuple[int, int]:
    """(first, stop): the periods overlapping [start, end), clipped to the horizon."""
    length = horizon.period_length
    first = max(0, (start - horizon.start) // length)
    stop = min(horizon.periods, -((horizon.start - end) // length))
    return (first, stop) if first < stop else (0, 0)


def usd(micros: Fraction | int) -> float:
    """Exact micro-dollars as float dollars, for the solver and for JSON."""
    return float(Fraction(micros) / MICROS_PER_USD)


@dataclass(frozen=True)
class Rentals:
    """Requests or leases, one entry per rental, in file order."""

    ids: tuple[str, ...]
    model: IntArray  # index into Derived.models
    gpus: IntArray
    first: IntArray  # first occupied period
    stop: IntArray  # one past the last occupied period (== first when none)
    revenue_micros: tuple[Fraction, ...]  # inside the horizon, exact
    revenue_usd: FloatArray
    beyond_horizon: BoolArray  # [start, end) reaches past the horizon's end

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def occupies_any(self) -> BoolArray:
        return self.stop > self.first

    def load(self, models: int, periods: int, mask: BoolArray | None = None) -> IntArray:
        """GPUs occupied per (model, period) by the rentals selected by `mask`."""
        keep = np.ones(len(self), dtype=bool) if mask is None else mask
        diff = np.zeros((models, periods + 1), dtype=np.int64)
        np.add.at(diff, (self.model[keep], self.first[keep]), self.gpus[keep])
        np.add.at(diff, (self.model[keep], self.stop[keep]), -self.gpus[keep])
        return np.cumsum(diff, axis=1)[:, :periods]

    def occupancy(self, index: int) -> range:
        return range(int(self.first[index]), int(self.stop[index]))


@dataclass(frozen=True)
class Training:
    """Training programs, one row per program in file order."""

    names: tuple[str, ...]
    allowed: BoolArray  # [J, M]
    work_gpu_hours: FloatArray  # [J]
    max_gpus: FloatArray  # [J], inf when unlimited
    first_period: IntArray  # [J], first period it may use (P when none)
    overdue_seconds: IntArray  # [J, P], seconds of period t after due
    delay_cost_micros_per_day: tuple[int, ...]
    due: tuple[datetime, ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def overdue_days(self) -> FloatArray:
        return self.overdue_seconds / SECONDS_PER_DAY

    @property
    def delay_cost_usd_per_day(self) -> FloatArray:
        return np.array(self.delay_cost_micros_per_day, dtype=np.float64) / MICROS_PER_USD

    def delay_cost_micros(self, j: int, overdue_seconds: int) -> Fraction:
        return Fraction(self.delay_cost_micros_per_day[j] * overdue_seconds, SECONDS_PER_DAY)


@dataclass(frozen=True)
class Inference:
    names: tuple[str, ...]
    allowed: BoolArray  # [K, M]
    need: IntArray  # [K, P], H100-equivalent GPUs per period

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Derived:
    """Everything the model needs from a scenario, as arrays indexed [model, period]."""

    horizon: Horizon
    hours: int  # H, hours per period
    models: tuple[str, ...]  # every declared GPU model, in declaration order
    relative_throughput: FloatArray  # [M]
    capacity: IntArray  # [M, P]
    requests: Rentals
    leases: Rentals
    training: Training
    inference: Inference

    @property
    def periods(self) -> int:
        return self.horizon.periods

    def period_start(self, t: int) -> datetime:
        return self.horizon.period_start(t)

    def period_end(self, t: int) -> datetime:
        return self.horizon.period_start(t + 1)


def derive(scenario: Scenario) -> Derived:
    horizon = scenario.horizon
    models = tuple(m.name for m in scenario.gpu_models)
    by_model = capacity_by_period(
        scenario.clusters, horizon, scenario.reliability.unavailable_fraction
    )
    capacity = np.zeros((len(models), horizon.periods), dtype=np.int64)
    for i, name in enumerate(models):
        if name in by_model:
            capacity[i] = by_model[name]
    index = {name: i for i, name in enumerate(models)}
    training = [p for p in scenario.programs if isinstance(p, TrainingProgram)]
    inference = [p for p in scenario.programs if isinstance(p, InferenceProgram)]
    return Derived(
        horizon=horizon,
        hours=horizon.period_hours,
        models=models,
        relative_throughput=np.array(
            [m.relative_throughput for m in scenario.gpu_models], dtype=np.float64
        ),
        capacity=capacity,
        requests=_rentals(scenario.rental_requests, horizon, index),
        leases=_rentals(scenario.leases, horizon, index),
        training=_training(training, horizon, index),
        inference=_inference(inference, horizon, index),
    )


def _rentals(items: list[Rental], horizon: Horizon, index: dict[str, int]) -> Rentals:
    ranges = [occupied_range(horizon, r.start, r.end) for r in items]
    revenue = tuple(
        Fraction(
            r.gpus * r.price_micros * overlap_seconds(r.start, r.end, horizon.start, horizon.end),
            SECONDS_PER_HOUR,
        )
        for r in items
    )
    return Rentals(
        ids=tuple(r.id for r in items),
        model=np.array([index[r.gpu_model] for r in items], dtype=np.int64),
        gpus=np.array([r.gpus for r in items], dtype=np.int64),
        first=np.array([a for a, _ in ranges], dtype=np.int64),
        stop=np.array([b for _, b in ranges], dtype=np.int64),
        revenue_micros=revenue,
        revenue_usd=np.array([usd(v) for v in revenue], dtype=np.float64),
        beyond_horizon=np.array([r.end > horizon.end for r in items], dtype=bool),
    )


def _allowed(names: list[list[str]], index: dict[str, int]) -> BoolArray:
    allowed = np.zeros((len(names), len(index)), dtype=bool)
    for j, models in enumerate(names):
        allowed[j, [index[m] for m in models]] = True
    return allowed


def _training(programs: list[TrainingProgram], horizon: Horizon, index: dict[str, int]) -> Training:
    periods = horizon.periods
    starts = [horizon.period_start(t) for t in range(periods + 1)]
    overdue = np.array(
        [
            [overlap_seconds(starts[t], starts[t + 1], p.due, horizon.end) for t in range(periods)]
            for p in programs
        ],
        dtype=np.int64,
    ).reshape(len(programs), periods)
    first = [
        next((t for t in range(periods) if starts[t] >= (p.earliest_start or starts[0])), periods)
        for p in programs
    ]
    return Training(
        names=tuple(p.name for p in programs),
        allowed=_allowed([p.gpu_models for p in programs], index),
        work_gpu_hours=np.array([p.work_gpu_hours for p in programs], dtype=np.float64),
        max_gpus=np.array(
            [np.inf if p.max_gpus is None else p.max_gpus for p in programs], dtype=np.float64
        ),
        first_period=np.array(first, dtype=np.int64),
        overdue_seconds=overdue,
        delay_cost_micros_per_day=tuple(p.delay_cost_per_day_micros for p in programs),
        due=tuple(p.due for p in programs),
    )


def _inference(
    programs: list[InferenceProgram], horizon: Horizon, index: dict[str, int]
) -> Inference:
    need = np.array(
        [[p.gpus_in(t) for t in range(horizon.periods)] for p in programs], dtype=np.int64
    ).reshape(len(programs), horizon.periods)
    return Inference(
        names=tuple(p.name for p in programs),
        allowed=_allowed([p.gpu_models for p in programs], index),
        need=need,
    )
