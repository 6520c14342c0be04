"""The lab's internal programs on concrete nodes when a plan is applied: best effort.

The planner gives each program GPUs per period and model (`allocation[].programs`). After a
plan's contracts are placed (all or none), `place_programs` books those GPUs as the lab's
own holds (tenant 0, `HoldKind.TRAINING`: whole nodes, gang-placed in whole blocks, firm, so
spares replace their failed nodes and accepts cannot preempt them):

- Consecutive periods with the same whole number of GPUs are one hold (a steady program is
  one booking, not one per week); each hold is all or nothing, as a gang.
- The planner counts every GPU, the engine keeps a spare share of every pod, so the exact
  allocation may not fit. Then the hold is asked again smaller, in whole blocks: at most
  what the engine says is free over the window, then halves, a few tries; what is still
  missing is reported short (GPUs per program, model and periods, with the engine's reason).
- Only periods that start within `lookahead` of now are booked: a plan is re-solved and
  re-applied long before its later periods come, and holding years of the fleet for the
  lab would refuse every accept in between. The response says how many were left for later.
- Applying a plan releases, from now on, the program holds of the plans applied before it
  (a newer plan's allocation replaces theirs); re-applying the same plan keeps its holds,
  but a run it booked to an earlier end (a shorter lookahead then) is released and booked
  anew, never twice.
- What came up short is asked again by the simulation's daily chunks
  (`retry_short_programs`), within the windows the last apply booked, as capacity frees.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gpufleet.adapters.db.repos import events as events_repo
from gpufleet.adapters.db.repos import placement as placement_repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.domain.timeutil import parse_instant
from gpufleet.placement import HoldKind, Placement, RefusalReason, Request, seconds
from gpufleet.planning.scenario.model import Horizon
from gpufleet.services.placement import PlacementSession

MAX_TRIES = 6  # smaller asks per hold before it is reported short
HOLDER_LENGTH = 90  # placement_holds.holder is 100, with room for a '~N' of a re-booking


@dataclass(frozen=True)
class ProgramHold:
    """One program's GPUs of one model over consecutive periods [first, last]."""

    program: str
    gpu_model: str
    first_period: int
    last_period: int
    start: datetime  # the window booked (from now if the periods began already)
    end: datetime
    wanted: int  # GPUs the plan allocated
    placed: int  # GPUs booked (0: none)
    holder: str
    reason: str | None  # why it is short, the engine's words

    @property
    def short(self) -> int:
        return self.wanted - self.placed

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program, "gpu_model": self.gpu_model,
            "periods": [self.first_period, self.last_period],
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "wanted_gpus": self.wanted, "placed_gpus": self.placed, "short_gpus": self.short,
            "holder": self.holder if self.placed else None, "reason": self.reason,
        }  # fmt: skip


@dataclass(frozen=True)
class ProgramsPlaced:
    holds: list[ProgramHold]
    released: list[str]  # earlier bookings ended from now on: other plans', shorter runs'
    later_periods: int  # allocations of periods beyond the lookahead, not booked now

    def summary(self) -> dict[str, Any]:
        return {
            "wanted_gpus": sum(h.wanted for h in self.holds),
            "placed_gpus": sum(h.placed for h in self.holds),
            "short": [h.to_dict() for h in self.holds if h.short],
            "holds": len([h for h in self.holds if h.placed]),
            "released": self.released, "later_periods": self.later_periods,
        }  # fmt: skip


def release_earlier_plans(s: PlacementSession, plan_id: str) -> list[str]:
    """Ends, from now on, the program holds that earlier applied plans booked."""
    base = max(s.clock, seconds(s.now))
    released = []
    for holder in list(s.placer.holders()):
        hold = s.placer.hold(holder)
        r = hold.request
        if r.kind != HoldKind.TRAINING or not holder.startswith("plan-") or hold.ended:
            continue
        if holder.startswith(f"{plan_id}:") or hold.end <= base:
            continue
        if hold.end < r.end:  # released by an apply before (a firm hold ends early no other way)
            continue
        s.placer.release(holder, base)
        released.append(holder)
    return released


def place_programs(
    s: PlacementSession, plan_id: str, plan: dict[str, Any], horizon: Horizon,
    lookahead: timedelta, released: list[str],
) -> ProgramsPlaced:  # fmt: skip
    """Books the plan's program allocations that start within `lookahead` (see the module
    docstring); the caller saves the placed holders and `released`."""
    base = max(s.clock, seconds(s.now))
    horizon_end = base + int(lookahead.total_seconds())
    length = int(horizon.period_length.total_seconds())
    runs, later = _runs(plan.get("allocation", []), base, horizon_end, length)
    known = set(placement_repo.known_holders(s.conn, [_holder(plan_id, *r[:3]) for r in runs]))
    ours = [holder for holder in s.placer.bookings.holds if holder.startswith(f"{plan_id}:")]
    holds = []
    for program, model, first, last, start, end, wanted in runs:
        begin = max(start, base)
        holder = _holder(plan_id, program, model, first)
        kept = _kept(s, ours, holder, end)
        if kept is not None:  # this plan was applied before: kept as it is, retried parts too
            placed = min(wanted, _booked_gpus(s, holder, begin))
            holds.append(ProgramHold(program, model, first, last, at(begin), at(end), wanted,
                                     placed, kept, None))  # fmt: skip
            continue
        for shorter in _booked_before(s, ours, holder, end):  # a longer lookahead than then:
            s.placer.release(shorter, base)  # the run is booked anew, not a second time
            released.append(shorter)
        if holder in known or holder in s.placer.bookings.holds:
            # booked once and released since (by a newer plan, or just above): a new name
            holder = _unused_name(s, holder, "~", 2)
        placed, reason = _gang(s, holder, model, wanted, begin, end)
        holds.append(ProgramHold(program, model, first, last, at(begin), at(end), wanted,
                                 placed, holder, reason))  # fmt: skip
    return ProgramsPlaced(holds, released, later)


@dataclass(frozen=True)
class Recovered:
    """GPUs of a short program hold found later, booked as one more hold of the program."""

    program: str
    gpu_model: str
    holder: str
    gpus: int
    start: int
    end: int
    still_short: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program, "gpu_model": self.gpu_model, "holder": self.holder,
            "gpus": self.gpus, "start": at(self.start).isoformat(),
            "end": at(self.end).isoformat(), "still_short_gpus": self.still_short,
        }  # fmt: skip


@dataclass(frozen=True)
class ProgramsRetried:
    plan_id: str | None  # the plan applied last (None: no plan applied yet)
    recovered: list[Recovered]
    still_short: int  # GPUs of that plan's booked windows still missing, after this retry

    @property
    def gpus(self) -> int:
        return sum(r.gpus for r in self.recovered)

    def summary(self) -> dict[str, Any]:
        return {"recovered_gpus": self.gpus, "still_short_gpus": self.still_short,
                "recovered": [r.to_dict() for r in self.recovered]}  # fmt: skip


def retry_short_programs(s: PlacementSession) -> ProgramsRetried:
    """Asks again, from the clock on, for what the last applied plan's program holds came up
    short, within the windows its apply booked (ADR 0010): capacity freed since (leases
    ended or released, failed nodes repaired) goes to the lab's programs before the next
    apply. Each missing part is one more gang of whole blocks (`holder+N`), best effort as
    at apply; what was found since (by earlier retries) is not asked twice. The caller
    saves the recovered holders."""
    applied = _last_programs_placed(s)
    if applied is None:
        return ProgramsRetried(None, [], 0)
    plan_id, summary = applied
    recovered: list[Recovered] = []
    still = 0
    for short in summary.get("short", []):
        program, model = str(short["program"]), str(short["gpu_model"])
        begin, end = max(_epoch(short["start"]), s.clock), _epoch(short["end"])
        if end <= begin:
            continue  # its window is over
        family = _holder(plan_id, program, model, int(short["periods"][0]))
        missing = int(short["wanted_gpus"]) - _booked_gpus(s, family, begin)
        if missing <= 0:
            continue
        holder = _unused_name(s, family, "+", 1)
        placed, _ = _gang(s, holder, model, missing, begin, end)
        still += missing - placed
        if placed:
            recovered.append(Recovered(program, model, holder, placed, begin, end,
                                       missing - placed))  # fmt: skip
    return ProgramsRetried(plan_id, recovered, still)


def _last_programs_placed(s: PlacementSession) -> tuple[str, dict[str, Any]] | None:
    """The plan applied last and what its programs got (its `plan.programs_placed` event:
    the event is the record, as for preemption notices)."""
    last, after = None, 0
    while page := events_repo.page(s.conn, tenant_id=None, after=after, limit=1000,
                                   kind="plan.programs_placed"):  # fmt: skip
        last, after = page[-1], page[-1].id
    return None if last is None else (last.subject, last.data)


def _booked_gpus(s: PlacementSession, family: str, begin: int) -> int:
    """GPUs the program run `family` holds after `begin`: its hold, a re-booking (`~N`) and
    the parts found by retries (`+N`)."""
    ours = (f"{family}~", f"{family}+")
    return sum(
        hold.request.gpus
        for holder, hold in s.placer.bookings.holds.items()
        if (holder == family or holder.startswith(ours)) and not hold.ended and hold.end > begin
    )


Run = tuple[str, str, int, int, int, int, int]  # program, model, first, last, start, end, GPUs


def _runs(rows: list[dict[str, Any]], base: int, until: int, length: int) -> tuple[list[Run], int]:
    """Consecutive periods of a program and model with the same whole GPUs, over periods
    starting before `until`, less the runs over by `base`; and how many (program, model,
    period) allocations start later. A run keeps its first period (its holder's name) while
    it lasts, however many of its periods are over: a plan applied again later finds the
    holds it booked the first time instead of booking the rest of a run once more."""
    series: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    later = 0
    for row in sorted(rows, key=lambda r: (int(r["period"]), str(r["gpu_model"]))):
        start = _epoch(row["start"])
        for program, gpus in row.get("programs", {}).items():
            wanted = math.floor(float(gpus) + 1e-6)  # the planner's GPUs are continuous
            if wanted <= 0:
                continue
            if start >= until:
                later += 1
                continue
            series.setdefault((program, str(row["gpu_model"])), []).append(
                (int(row["period"]), start, wanted)
            )
    runs: list[Run] = []
    for (program, model), points in sorted(series.items()):
        first, start, wanted = points[0]
        last, end = first, start + length
        for period, when, gpus in points[1:]:
            if gpus == wanted and period == last + 1:
                last, end = period, when + length
                continue
            runs.append((program, model, first, last, start, end, wanted))
            first, last, start, end, wanted = period, period, when, when + length, gpus
        runs.append((program, model, first, last, start, end, wanted))
    return [r for r in runs if r[5] > base], later


def _gang(
    s: PlacementSession, holder: str, model: str, wanted: int, start: int, end: int
) -> tuple[int, str | None]:
    """Places the largest gang it finds of at most `wanted` GPUs: (GPUs placed, why short)."""
    span = s.placer.topology.model(model)
    if span is None:
        return 0, f"no {model} GPUs in the fleet"
    block = span.nodes_per_block * span.gpus_per_node
    size, reason = wanted, None
    for _ in range(MAX_TRIES):
        if size <= 0:
            break
        result = s.placer.place(Request.training(holder, model, size, start, end, False))
        if isinstance(result, Placement):
            return size, reason
        reason = result.message
        if result.reason == RefusalReason.NOT_ENOUGH_CAPACITY and result.free_gpus < size:
            size = min(size - 1, result.free_gpus) // block * block
        else:  # enough GPUs, but not as whole free blocks: ask for less
            size = size // 2 // block * block
    return 0, reason


def _kept(s: PlacementSession, ours: list[str], family: str, end: int) -> str | None:
    """The hold of the program run `family` still booked to `end` (not released by a newer
    plan), itself or its re-booking `~N`; `ours`: the plan's holders in the engine."""
    for holder in ours:
        if holder == family or holder.startswith(f"{family}~"):
            hold = s.placer.hold(holder)
            if not hold.ended and hold.end >= end:
                return holder
    return None


def _booked_before(s: PlacementSession, ours: list[str], family: str, end: int) -> list[str]:
    """The holds of the program run `family` (itself, `~N`, retry parts `+N`) that are not
    released and end before `end`: booked by an apply of the plan with a shorter lookahead."""
    found = []
    for holder in ours:
        if holder == family or holder.startswith((f"{family}~", f"{family}+")):
            hold = s.placer.hold(holder)
            if not hold.ended and hold.end == hold.request.end < end:
                found.append(holder)
    return found


def _unused_name(s: PlacementSession, holder: str, mark: str, first: int) -> str:
    """`holder` + `mark` + the first number from `first` that no hold has, in the engine or
    stored (a hold over before the clock is no longer in the engine but keeps its name):
    `~N` re-books a released program hold, `+N` is a retry's part (`_booked_gpus`)."""
    for n in range(first, 10_000):
        name = f"{holder}{mark}{n}"
        if name not in s.placer.bookings.holds and not placement_repo.known_holders(s.conn, [name]):
            return name
    raise AssertionError(f"no free name for {holder!r}{mark}N")


def _holder(plan_id: str, program: str, model: str, first: int) -> str:
    name = f"{plan_id}:{program}:{model}:p{first}"
    if len(name) <= HOLDER_LENGTH:
        return name
    digest = hashlib.sha256(f"{program}:{model}".encode()).hexdigest()[:16]
    return f"{plan_id}:{digest}:p{first}"


def _epoch(text: object) -> int:
    return seconds(parse_instant(str(text)))
