"""The lab's own experiments: the Philly trace replayed onto the simulation clock.

The package ships four weeks of it (`gpufleet/data/philly-4weeks.csv.gz`, see the README
beside it): submit offset, duration and GPUs of 46,070 real jobs of 1–32 GPUs. A stream
repeats those weeks from its origin for as long as the simulation runs, `copies` times over
(each copy shifted by its own seeded offset) to scale the lab's demand to a larger fleet.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from gpufleet.domain.errors import InvalidInput

PACKAGED_TRACE = "philly-4weeks.csv.gz"
TRACE_PERIOD = 28 * 24 * 3600  # the packaged excerpt covers four weeks


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


def load_trace(path: Path | None = None) -> list[TraceJob]:
    """Jobs of the packaged excerpt, or of a `submit_s,duration_s,gpus` file (.gz or not),
    sorted by submit time."""
    if path is None:
        raw = (resources.files("gpufleet") / "data" / PACKAGED_TRACE).read_bytes()
    else:
        raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    jobs = [
        TraceJob(int(row["submit_s"]), int(row["duration_s"]), int(row["gpus"]))
        for row in csv.DictReader(io.StringIO(text))
    ]
    if not jobs or any(j.submit < 0 or j.duration <= 0 or j.gpus <= 0 for j in jobs):
        raise InvalidInput(
            "an experiment trace needs rows of submit_s ≥ 0, duration_s > 0, gpus > 0"
        )
    return sorted(jobs, key=lambda j: j.submit)


class ExperimentStream:
    """Arrivals of a trace repeated every `period` seconds from `origin`, `copies` times."""

    def __init__(
        self,
        jobs: Sequence[TraceJob],
        origin: int,
        *,
        copies: int = 1,
        seed: int = 0,
        period: int = TRACE_PERIOD,
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
