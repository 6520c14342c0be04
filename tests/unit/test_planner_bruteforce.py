"""The MILP's optimum equals brute force: every accept/decline subset, each with the best
finish for every training program that an independent LP (prefix sums, one variable at a
time, written from SCENARIO.md) proves feasible."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import highspy
import pytest

from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.scenario import Scenario, TrainingProgram, parse_scenario
from tests.unit.test_planner_recompute import (
    capacity,
    occupies,
    overdue_days,
    periods_of,
    random_scenario,
    rental_revenue,
)


def can_run(s: Scenario, accepted: frozenset[str], finish: tuple[int | None, ...]) -> bool:
    """Is there an allocation serving inference and finishing training program j by the end
    of period finish[j] (None: no requirement), next to the leases and `accepted`?"""
    periods = periods_of(s)
    hours = 168 if s.horizon.period == "week" else 24
    rel = {m.name: m.relative_throughput for m in s.gpu_models}
    cap = capacity(s)
    h = highspy.Highs()
    h.silent()
    y: dict[tuple[str, str, int], highspy.highs_var] = {}
    for p in s.programs:
        for m in p.gpu_models:
            earliest = p.earliest_start if isinstance(p, TrainingProgram) else None
            for t, (start, _) in enumerate(periods):
                blocked = earliest is not None and start < earliest
                y[p.name, m, t] = h.addVariable(lb=0, ub=0 if blocked else math.inf)
    for t, (start, end) in enumerate(periods):
        for model in rel:
            held = sum(
                r.gpus
                for r in [*s.leases, *(q for q in s.rental_requests if q.id in accepted)]
                if r.gpu_model == model and occupies(r, start, end)
            )
            users = [v for (_, m, tt), v in y.items() if m == model and tt == t]
            if held > cap[model, t]:
                return False
            if users:
                h.addConstr(h.qsum(users) <= cap[model, t] - held)
    training = [p for p in s.programs if isinstance(p, TrainingProgram)]
    for p in s.programs:
        for t in range(len(periods)):
            mine = [(rel[m], y[p.name, m, t]) for m in p.gpu_models]
            if isinstance(p, TrainingProgram):
                if p.max_gpus is not None:
                    h.addConstr(h.qsum([v for _, v in mine]) <= p.max_gpus)
            else:
                need = p.gpus if isinstance(p.gpus, int) else p.gpus[t]
                h.addConstr(h.qsum([r * v for r, v in mine]) >= need)
    for p, f in zip(training, finish, strict=True):
        if f is not None:
            done = [rel[m] * hours * y[p.name, m, t] for m in p.gpu_models for t in range(f + 1)]
            h.addConstr(h.qsum(done) >= p.work_gpu_hours)
    h.run()
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def delay_cost(s: Scenario, p: TrainingProgram, finish: int | None) -> Fraction:
    periods = periods_of(s)
    last = len(periods) - 1 if finish is None else finish
    days = sum((overdue_days(p, *periods[t]) for t in range(last + 1)), Fraction(0))
    return days * Fraction(str(p.delay_cost_per_day))


def best_value(s: Scenario, accepted: frozenset[str], floor: float = -math.inf) -> float | None:
    """Revenue of `accepted` minus the least delay cost any feasible allocation allows;
    None when infeasible or when it cannot beat `floor`."""
    revenue = sum(
        (rental_revenue(s, r) for r in s.rental_requests if r.id in accepted), Fraction(0)
    )
    training = [p for p in s.programs if isinstance(p, TrainingProgram)]
    options = [[*range(len(periods_of(s))), None] for _ in training]
    combos = sorted(
        itertools.product(*options),
        key=lambda combo: sum(delay_cost(s, p, f) for p, f in zip(training, combo, strict=True)),
    )
    for combo in combos:
        delay = sum(
            (delay_cost(s, p, f) for p, f in zip(training, combo, strict=True)), Fraction(0)
        )
        value = float(revenue - delay)
        if value <= floor:
            return None
        if can_run(s, accepted, combo):
            return value
    return None


def brute_force(s: Scenario) -> float:
    ids = [r.id for r in s.rental_requests]
    revenue = {r.id: float(rental_revenue(s, r)) for r in s.rental_requests}
    subsets = [frozenset(c) for k in range(len(ids) + 1) for c in itertools.combinations(ids, k)]
    subsets.sort(key=lambda c: -sum(revenue[i] for i in c))
    best = -math.inf
    for subset in subsets:
        if sum(revenue[i] for i in subset) <= best:
            break  # delay costs are never negative: no later subset can win
        value = best_value(s, subset, floor=best)
        if value is not None:
            best = value
    return best


@pytest.mark.parametrize("seed", range(10))
def test_optimum_equals_brute_force_over_all_subsets(seed: int) -> None:
    n = 10 if seed < 3 else 8
    scenario = parse_scenario(random_scenario(100 + seed, requests=n, periods=5))
    result = plan(scenario, gap=1e-9)
    expected = brute_force(scenario)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # and the plan's own subset is worth what the plan says
    mine = best_value(scenario, frozenset(result.accepted_ids))
    assert mine == pytest.approx(result.objective, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_forced_decisions_give_the_best_plan_for_that_subset(seed: int) -> None:
    scenario = parse_scenario(random_scenario(200 + seed, requests=8, periods=5))
    planner = Planner(scenario)
    free = planner.plan(gap=1e-9)
    ids = [r.id for r in scenario.rental_requests]
    rng = random.Random(seed)
    for _ in range(4):
        chosen = frozenset(i for i in ids if rng.random() < 0.4)
        expected = best_value(scenario, chosen)
        forced = planner.plan(
            gap=1e-9, force_accept=sorted(chosen), force_reject=sorted(set(ids) - chosen)
        )
        if expected is None:
            assert forced.status == "infeasible"
            assert forced.to_dict()["reasons"]
            continue
        assert forced.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
        assert forced.objective <= free.objective + 1e-6 * abs(free.objective)
        assert set(forced.accepted_ids) == chosen
