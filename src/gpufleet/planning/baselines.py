"""Baselines: what rules of thumb would earn, on the same objective as the optimum.

    planner = Planner(scenario)
    optimal = planner.plan()
    rows = compare_table(optimal, baselines(planner))
    table("Against rules of thumb", COMPARE_COLUMNS, rows)      # gpufleet.cli.output.table

Each rule (`baselines_rules.py`) picks a set of requests; the set is then evaluated with the
planner's own MILP, every x fixed (`force_accept` the set, `force_reject` the rest), which gives
the best program schedule for that set: revenue of the set − delay cost, exactly the objective
of design/SCENARIO.md. The rules only choose what to sign, so the comparison is fair to them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.money import format_usd
from gpufleet.planning.baselines_rules import first_come, greedy_price, protect_roadmap
from gpufleet.planning.periods import BoolArray, Derived
from gpufleet.planning.planner import DEFAULT_GAP, Planner
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario import Scenario

Rule = Callable[[Scenario, Derived], BoolArray]

RULES: dict[str, tuple[Rule, str]] = {
    "greedy-price": (greedy_price, "highest price per GPU-hour first, while capacity lasts"),
    "first-come": (first_come, "earliest start first, while capacity lasts"),
    "protect-roadmap": (
        protect_roadmap,
        "programs at full speed first, then the highest prices in what is left",
    ),
}

COMPARE_COLUMNS = [
    "plan", "accepted #", "revenue USD", "delay cost USD", "objective USD",
    "margin USD", "margin %", "slip days #",
]  # fmt: skip


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    accepted: tuple[str, ...]
    plan: PlanResult  # the MILP with every decision fixed to the rule's
    rule_seconds: float  # choosing the set
    evaluate_seconds: float  # the MILP that schedules the programs for it

    @property
    def feasible(self) -> bool:
        return self.plan.status != "infeasible"

    @property
    def objective(self) -> float | None:
        return self.plan.objective if self.feasible else None

    @property
    def total_slip_days(self) -> float:
        return total_slip_days(self.plan)

    def margin(self, optimal: PlanResult) -> float | None:
        """How much more the optimal plan earns (≥ 0 up to the solvers' gaps)."""
        return None if self.objective is None else optimal.objective - self.objective

    def to_dict(self, optimal: PlanResult | None = None) -> dict[str, Any]:
        plan = self.plan
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "status": plan.status,
            "accepted": list(self.accepted),
            "objective": self.objective,
            "revenue": plan.revenue if self.feasible else None,
            "delay_cost": plan.delay_cost if self.feasible else None,
            "bound": plan.bound if self.feasible and math.isfinite(plan.bound) else None,
            "programs": [p.to_dict() for p in plan.programs if p.kind == "training"],
            "total_slip_days": self.total_slip_days if self.feasible else None,
            "seconds": {"rule": self.rule_seconds, "evaluate": self.evaluate_seconds},
        }
        if optimal is not None:
            margin = self.margin(optimal)
            data["optimal_margin"] = margin
            data["optimal_margin_fraction"] = (
                None if margin is None or self.objective is None else _fraction(margin, self)
            )
        if not self.feasible:
            data["reasons"] = [r.message for r in plan.reasons]
        return data


def baselines(
    planner_or_scenario: Planner | Scenario,
    *,
    names: Iterable[str] = tuple(RULES),
    gap: float = DEFAULT_GAP,
    time_limit: float | None = None,
    threads: int | None = None,
) -> list[Baseline]:
    """Each rule's set of requests, evaluated with the planner's MILP (x fixed). A Planner
    is reused warm (its next `plan()` starts from the last baseline's solution, which is
    feasible for any decisions). Raises `InvalidInput` for an unknown rule or when the
    leases and inference needs alone do not fit."""
    planner = (
        planner_or_scenario
        if isinstance(planner_or_scenario, Planner)
        else Planner(planner_or_scenario, threads=threads)
    )
    chosen = list(names)
    unknown = [n for n in chosen if n not in RULES]
    if unknown:
        known = ", ".join(RULES)
        raise InvalidInput(f"unknown baseline {', '.join(unknown)} (known: {known})")
    ids = planner.derived.requests.ids
    results = []
    for name in chosen:
        rule, description = RULES[name]
        started = time.perf_counter()
        mask = rule(planner.scenario, planner.derived)
        rule_seconds = time.perf_counter() - started
        accepted = tuple(rid for rid, on in zip(ids, mask, strict=True) if on)
        rejected = [rid for rid, on in zip(ids, mask, strict=True) if not on]
        started = time.perf_counter()
        plan = planner.plan(
            gap=gap, time_limit=time_limit, force_accept=accepted, force_reject=rejected
        )
        evaluate_seconds = time.perf_counter() - started
        results.append(Baseline(name, description, accepted, plan, rule_seconds, evaluate_seconds))
    return results


def compare_table(optimal: PlanResult, rows: Iterable[Baseline]) -> list[tuple[Any, ...]]:
    """Rows for `COMPARE_COLUMNS`: the optimal plan, then each baseline with the optimal
    plan's margin over it (USD, and as a share of the baseline's objective) and the total
    slip days of its training programs."""
    table: list[tuple[Any, ...]] = [
        (
            "optimal",
            len(optimal.accepted_ids),
            format_usd(optimal.revenue),
            format_usd(optimal.delay_cost),
            format_usd(optimal.objective),
            None,
            None,
            total_slip_days(optimal),
        )
    ]
    for b in rows:
        if not b.feasible:
            table.append((b.name, len(b.accepted), "infeasible", None, None, None, None, None))
            continue
        margin = b.margin(optimal)
        assert margin is not None
        table.append(
            (
                b.name,
                len(b.accepted),
                format_usd(b.plan.revenue),
                format_usd(b.plan.delay_cost),
                format_usd(b.plan.objective),
                format_usd(margin),
                f"{_fraction(margin, b):+.1%}",
                b.total_slip_days,
            )
        )
    return table


def total_slip_days(plan: PlanResult) -> float:
    return float(sum(p.slip_days for p in plan.programs if p.kind == "training"))


def _fraction(margin: float, baseline: Baseline) -> float:
    return margin / max(1.0, abs(baseline.plan.objective))
