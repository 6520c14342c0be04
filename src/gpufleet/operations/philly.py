"""Where the lab's experiment stream comes from: the Philly trace, read where it lives.

The trace (Jeon et al., USENIX ATC 2019; Microsoft, CC-BY-4.0; the job table of
petuum/adaptdl) is not copied into the project. `experiment_trace()` finds it, in order:

1. `GPUFLEET_PHILLY_TRACE`, a path to `philly.csv` (or to a `submit_s,duration_s,gpus` file,
   gzipped or not). Set to a path that does not exist, the packaged excerpt is used: a way
   to run without the shared data even where it is present.
2. `shared/data/philly.csv` beside the repository: searched upward from the current
   directory and from this package's source, a few levels each (../shared/data/philly.csv
   from the repository root).
3. The packaged excerpt `gpufleet/data/philly-excerpt.csv.gz`: one busy day of the trace
   (see the README beside it), replayed every day.

The full table is replayed from its first dense week (2017-10-02, the weeks before hold a
few dozen jobs) to its end, cyclically; `TraceSource.label` says which one a run used, and
every report of experiment figures prints it.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from gpufleet.domain.errors import InvalidInput
from gpufleet.operations.experiments import TraceJob

ENV = "GPUFLEET_PHILLY_TRACE"
PACKAGED = "philly-excerpt.csv.gz"
DAY = 24 * 3600
FULL_ORIGIN = datetime(2017, 10, 2, tzinfo=UTC)  # the first dense week of philly.csv
SEARCH_LEVELS = 4  # how far up from the current directory and the package to look
CREDIT = (
    "Microsoft Philly traces (Jeon et al., USENIX ATC '19, CC-BY-4.0), job table via petuum/adaptdl"
)


@dataclass(frozen=True)
class TraceSource:
    """A trace ready to replay: its jobs (submit offsets from its origin), the period after
    which it repeats, and a label naming where it came from."""

    jobs: tuple[TraceJob, ...]
    period: int  # seconds; > the last submit
    kind: str  # "file" (the full table or a file named by the environment) | "excerpt"
    path: str | None
    label: str


def find_trace_file(start: Path | None = None) -> Path | None:
    """The Philly table this process should read, or None for the packaged excerpt."""
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() else None
    here = Path(__file__).resolve().parent
    for base in (start or Path.cwd(), here):
        for folder in [base.resolve(), *base.resolve().parents][: SEARCH_LEVELS + 1]:
            candidate = folder / "shared" / "data" / "philly.csv"
            if candidate.is_file():
                return candidate
    return None


def experiment_trace(start: Path | None = None) -> TraceSource:
    """The lab's experiment stream as found now (see the module docstring)."""
    path = find_trace_file(start)
    if path is None:
        return packaged_trace(missing=os.environ.get(ENV) or None)
    stat = path.stat()
    return _file_trace(str(path), stat.st_mtime_ns, stat.st_size)


def packaged_trace(missing: str | None = None) -> TraceSource:
    jobs = _packaged_jobs()
    why = f"{ENV}={missing} not found; " if missing else "../shared/data/philly.csv not found; "
    label = (
        f"packaged one-day excerpt of the Philly trace ({len(jobs):,} jobs of 2017-10-20, "
        f"replayed every day; {why}{CREDIT})"
    )
    return TraceSource(jobs, DAY, "excerpt", None, label)


def load_trace(path: Path | None = None) -> list[TraceJob]:
    """Jobs of `path` (the Philly table, or a `submit_s,duration_s,gpus` file, .gz or not),
    or of the packaged excerpt, sorted by submit time."""
    if path is None:
        return list(_packaged_jobs())
    return list(_parse(path.read_bytes())[0])


@lru_cache(maxsize=1)
def _packaged_jobs() -> tuple[TraceJob, ...]:
    raw = (resources.files("gpufleet") / "data" / PACKAGED).read_bytes()
    return _parse(raw)[0]


@lru_cache(maxsize=4)
def _file_trace(path: str, mtime_ns: int, size: int) -> TraceSource:
    """Read once per process and file version: the full table takes about a second."""
    jobs, origin = _parse(Path(path).read_bytes())
    period = math.ceil((jobs[-1].submit + 1) / DAY) * DAY
    first = "" if origin is None else f" from {origin:%Y-%m-%d}"
    label = f"{path} ({len(jobs):,} jobs{first}, replayed every {period // DAY} days; {CREDIT})"
    return TraceSource(jobs, period, "file", path, label)


def _parse(raw: bytes) -> tuple[tuple[TraceJob, ...], datetime | None]:
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or ())
    origin: datetime | None = None
    try:
        if {"submit_s", "duration_s", "gpus"} <= fields:
            jobs = [
                TraceJob(int(r["submit_s"]), int(r["duration_s"]), int(r["gpus"])) for r in reader
            ]
        elif {"timestamp", "duration", "num_gpus"} <= fields:
            origin, base = FULL_ORIGIN, int(FULL_ORIGIN.timestamp())
            jobs = []
            for r in reader:
                if not r["num_gpus"] or not r["duration"]:
                    continue
                submit = _epoch(r["timestamp"]) - base
                if submit >= 0:  # from the first dense week on
                    jobs.append(
                        TraceJob(submit, max(1, round(float(r["duration"]))), int(r["num_gpus"]))
                    )
        else:
            raise InvalidInput(
                "an experiment trace has columns submit_s,duration_s,gpus or the Philly "
                f"table's timestamp,duration,num_gpus (found: {', '.join(sorted(fields))})"
            )
    except ValueError as error:
        raise InvalidInput(f"an experiment trace row is not a number: {error}") from error
    if not jobs or any(j.submit < 0 or j.duration <= 0 or j.gpus <= 0 for j in jobs):
        raise InvalidInput(
            "an experiment trace needs rows of submit_s ≥ 0, duration_s > 0, gpus > 0"
        )
    return tuple(sorted(jobs, key=lambda j: j.submit)), origin


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).replace(tzinfo=UTC).timestamp())
