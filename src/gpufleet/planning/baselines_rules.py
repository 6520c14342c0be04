"""The rules of thumb the optimum is held against: which requests each one would sign.

Every rule reads the model's own arrays (`derive(scenario)`): capacity C[m,t], the periods a
request occupies, leases and inference needs. A request "fits" when the leases, the requests
taken so far, it, and every inference need still fit capacity in every period — the planner's
own direct check (`feasibility.shortfalls`, Hall's condition per period), so a set a rule
returns is always feasible for the MILP.

- `greedy_price`: requests by price per GPU-hour, highest first, each taken while it fits;
  the programs get what is left.
- `first_come`: the same by start date, earliest first.
- `protect_roadmap`: inference needs first (on the GPU models training cannot use, where it
  can), then each training program at full speed — its fastest allowed models up to
  `max_gpus`, from its earliest start until its work is done, most urgent due date first —
  then requests by price in what remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import highspy
import numpy as np

from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.planning.bounds import free_capacity
from gpufleet.planning.feasibility import shortfalls
from gpufleet.planning.periods import BoolArray, Derived, FloatArray, IntArray
from gpufleet.planning.scenario import Scenario

_WORK_TOLERANCE = 1e-9


class Fitter:
    """Requests taken one by one while the commitments still fit `capacity`."""

    def __init__(self, derived: Derived, capacity: IntArray | None = None) -> None:
        self.derived = derived if capacity is None else replace(derived, capacity=capacity)
        models, periods = derived.capacity.shape
        self.accepted = np.zeros(len(derived.requests), dtype=bool)
        self._room = self.derived.capacity - derived.leases.load(models, periods)
        self._inference = len(derived.inference) > 0

    def take(self, r: int) -> bool:
        """Accept request r if everything still fits; True when it was accepted."""
        req = self.derived.requests
        m, span, gpus = int(req.model[r]), req.occupancy(r), int(req.gpus[r])
        if (self._room[m, span.start : span.stop] < gpus).any():
            return False
        self.accepted[r] = True
        if self._inference and shortfalls(self.derived, self.accepted):
            self.accepted[r] = False
            return False
        self._room[m, span.start : span.stop] -= gpus
        return True

    def take_in_order(self, order: Sequence[int]) -> BoolArray:
        for r in order:
            self.take(int(r))
        return self.accepted.copy()


def by_price(scenario: Scenario) -> list[int]:
    """Request indices by price per GPU-hour, highest first (file order breaks ties)."""
    prices = [r.price_per_gpu_hour for r in scenario.rental_requests]
    return sorted(range(len(prices)), key=lambda r: (-prices[r], r))


def by_start(scenario: Scenario) -> list[int]:
    starts = [r.start for r in scenario.rental_requests]
    return sorted(range(len(starts)), key=lambda r: (starts[r], r))


def greedy_price(scenario: Scenario, derived: Derived) -> BoolArray:
    _check_commitments(derived)
    return Fitter(derived).take_in_order(by_price(scenario))


def first_come(scenario: Scenario, derived: Derived) -> BoolArray:
    _check_commitments(derived)
    return Fitter(derived).take_in_order(by_start(scenario))


def protect_roadmap(scenario: Scenario, derived: Derived) -> BoolArray:
    _check_commitments(derived)
    room = free_capacity(derived).astype(np.float64) - inference_allocation(derived).sum(axis=0)
    training = full_speed_training(derived, np.maximum(room, 0.0))
    capacity = derived.capacity - np.floor(training.sum(axis=0) + 1e-6).astype(np.int64)
    return Fitter(derived, capacity).take_in_order(by_price(scenario))


def inference_allocation(derived: Derived) -> FloatArray:
    """[K, M, P] GPUs serving each inference need after leases, kept off the models training
    can use where possible (a small LP: GPUs weighted by what they would give training)."""
    inf = derived.inference
    models, periods = derived.capacity.shape
    out = np.zeros((len(inf), models, periods))
    if not len(inf):
        return out
    rel = derived.relative_throughput
    trainable = derived.training.allowed.any(axis=0)
    weight = 1.0 + 1000.0 * trainable * rel
    free = free_capacity(derived).astype(np.float64)
    k_idx, m_idx = np.nonzero(inf.allowed)
    pairs = len(k_idx)
    # Columns y[pair, t]; rows: capacity (m, t) then serve (k, t).
    k_col = np.repeat(k_idx, periods)
    m_col = np.repeat(m_idx, periods)
    t_col = np.tile(np.arange(periods), pairs)
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ bare
    h.setOptionValue("output_flag", False)
    cap_rows, serve_rows = models * periods, len(inf) * periods
    lower = np.concatenate([np.full(cap_rows, -np.inf), inf.need.ravel().astype(np.float64)])
    upper = np.concatenate([free.ravel(), np.full(serve_rows, np.inf)])
    none = np.zeros(0, dtype=np.int32)
    h.addRows(cap_rows + serve_rows, lower, upper, 0, none, none, np.zeros(0))
    n = pairs * periods
    starts = np.arange(0, 2 * n, 2, dtype=np.int32)
    index = np.empty(2 * n, dtype=np.int32)
    index[0::2] = m_col * periods + t_col
    index[1::2] = cap_rows + k_col * periods + t_col
    value = np.empty(2 * n)
    value[0::2] = 1.0
    value[1::2] = rel[m_col]
    h.addCols(n, weight[m_col], np.zeros(n), np.full(n, np.inf), 2 * n, starts, index, value)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise InvalidInput("the inference needs do not fit beside the leases")
    y = np.asarray(h.getSolution().col_value, dtype=np.float64)
    out[k_col, m_col, t_col] = np.maximum(y, 0.0)
    return out


def full_speed_training(derived: Derived, room: FloatArray) -> FloatArray:
    """[J, M, P] GPUs for each training program at full speed inside `room`: most urgent due
    date first; fastest allowed models first, up to max_gpus, from its first usable period
    until its work is done."""
    train, rel, hours = derived.training, derived.relative_throughput, derived.hours
    models, periods = room.shape
    room = room.copy()
    out = np.zeros((len(train), models, periods))
    order = sorted(range(len(train)), key=lambda j: (train.due[j], j))
    fastest = np.argsort(-rel, kind="stable")
    for j in order:
        left = float(train.work_gpu_hours[j])
        mine = [int(m) for m in fastest if train.allowed[j, m]]
        for t in range(int(train.first_period[j]), periods):
            if left <= _WORK_TOLERANCE * train.work_gpu_hours[j]:
                break
            limit = float(train.max_gpus[j])
            for m in mine:
                g = min(room[m, t], limit, left / (rel[m] * hours))
                if g <= 0:
                    continue
                room[m, t] -= g
                out[j, m, t] += g
                limit -= g
                left -= g * rel[m] * hours
    return out


def _check_commitments(derived: Derived) -> None:
    problems = shortfalls(derived, np.zeros(len(derived.requests), dtype=bool))
    if problems:
        raise InvalidInput(
            "the leases and inference needs alone do not fit; no baseline can be built",
            [Issue("", p.message) for p in problems],
        )
