"""The lab's own experiments: a trace of real jobs replayed onto the simulation clock.

`gpufleet.operations.philly` finds the trace (the Philly table where it lives, else a small
packaged excerpt) and its period. A stream repeats the trace from its origin for as long as
the simulation runs, `copies` times over (each copy shifted by its own seeded offset) to
scale the lab's demand to a larger fleet.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpufleet.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class TraceJob:
    submit: int  # seconds after the trace's origin
    duration: int  # seconds
    gpus: int


@dataclass(frozen=True, slots=True)
class Arrival:
    """An experiment submitted at `at` (simulation clock) for `duration` seconds."""

    name: str
    at: int
    duration: int
    gpus: int


class ExperimentStream:
    """Arrivals of a trace repeated every `period` seconds from `origin`, `copies` times."""

    def __init__(
        self,
        jobs: Sequence[TraceJob],
        origin: int,
        *,
        copies: int = 1,
        seed: int = 0,
        period: int,
    ) -> None:
        if copies < 1:
            raise InvalidInput("experiment copies must be at least 1")
        if not jobs or period <= jobs[-1].submit:
            raise InvalidInput("the trace must be non-empty and shorter than its period")
        self.jobs = list(jobs)
        self._submits = [j.submit for j in self.jobs]
        self.origin = origin
        self.period = period
        rng = np.random.default_rng([seed, 0x5EED])
        # Copy 0 is the trace as it was; the others start at their own point of it.
        self.shifts = [0] + [int(x) for x in rng.integers(0, period, copies - 1)]

    def between(self, start: int, end: int) -> list[Arrival]:
        """Arrivals with start ≤ at < end, in time order (names are unique and stable)."""
        start = max(start, self.origin)
        found: list[Arrival] = []
        for copy, shift in enumerate(self.shifts):
            base = self.origin - shift  # cycle c of this copy begins at base + c × period
            first = max(0, (start - base) // self.period)
            cycle = first
            while base + cycle * self.period < end:
                lo = base + cycle * self.period
                i = bisect.bisect_left(self._submits, start - lo)
                j = bisect.bisect_left(self._submits, end - lo)
                for k in range(i, j):
                    job = self.jobs[k]
                    at = lo + job.submit
                    if at >= self.origin:
                        found.append(Arrival(f"exp-{copy}.{cycle}.{k}", at, job.duration, job.gpus))
                cycle += 1
        found.sort(key=lambda a: (a.at, a.name))
        return found
