"""What-if: how a plan with forced decisions differs from the free optimum, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.domain.money import format_usd
from gpufleet.planning.result import PlanResult


@dataclass(frozen=True)
class ProgramShift:
    name: str
    slip_days: float  # forced minus free; positive: later
    delay_cost: float


@dataclass(frozen=True)
class Comparison:
    revenue: float  # forced minus free
    delay_cost: float
    objective: float
    programs: tuple[ProgramShift, ...]
    newly_accepted: tuple[str, ...]
    newly_declined: tuple[str, ...]

    def sentences(self) -> list[str]:
        """What a capacity team reads: money gained or lost, days each program moves, net."""
        lines = []
        if self.newly_accepted:
            lines.append(f"Accepts {list_ids(self.newly_accepted)} that the optimum declines.")
        if self.newly_declined:
            lines.append(f"Declines {list_ids(self.newly_declined)} that the optimum accepts.")
        verb = "gains" if self.revenue >= 0 else "loses"
        lines.append(f"Rental revenue {verb} {format_usd(abs(self.revenue))}.")
        for shift in self.programs:
            if abs(shift.slip_days) < 1e-9:
                continue
            lines.append(finish_sentence(shift.name, shift.slip_days, shift.delay_cost))
        if all(abs(s.slip_days) < 1e-9 for s in self.programs):
            lines.append("No program finishes at another date.")
        net = "better" if self.objective > 0 else "worse"
        lines.append(
            f"Net effect: {format_usd(abs(self.objective))} {net} than the free optimum."
            if abs(self.objective) >= 0.5
            else "Net effect: none; this is as good as the free optimum."
        )
        return lines


def compare(free: PlanResult, forced: PlanResult) -> Comparison:
    before = {p.name: p for p in free.programs}
    shifts = tuple(
        ProgramShift(
            p.name,
            p.slip_days - before[p.name].slip_days,
            p.delay_cost - before[p.name].delay_cost,
        )
        for p in forced.programs
        if p.kind == "training"
    )
    was = {d.id: d.accepted for d in free.decisions}
    return Comparison(
        revenue=forced.revenue - free.revenue,
        delay_cost=forced.delay_cost - free.delay_cost,
        objective=forced.objective - free.objective,
        programs=shifts,
        newly_accepted=tuple(d.id for d in forced.decisions if d.accepted and not was[d.id]),
        newly_declined=tuple(d.id for d in forced.decisions if not d.accepted and was[d.id]),
    )


def list_ids(ids: tuple[str, ...]) -> str:
    """The first five ids and how many more: a sentence stays a sentence."""
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def finish_sentence(name: str, days_later: float, delay_cost: float, detail: str = "") -> str:
    """`frontier-pretrain finishes 42 days later (delay cost +$2.10B).`"""
    direction = "later" if days_later > 0 else "earlier"
    sign = "+" if delay_cost >= 0 else "−"
    return (
        f"{name} finishes {abs(days_later):g} days {direction} "
        f"({detail}delay cost {sign}{format_usd(abs(delay_cost))})."
    )
