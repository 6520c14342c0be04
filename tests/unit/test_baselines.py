"""Baselines: the optimum beats every rule of thumb, each rule's set fits capacity by an
independent check, and protecting the roadmap keeps every training program on schedule."""

from __future__ import annotations

import functools

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.baselines import (
    COMPARE_COLUMNS,
    RULES,
    Baseline,
    baselines,
    compare_table,
)
from gpufleet.planning.planner import Planner
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario import Scenario, TrainingProgram, load_scenario_file, parse_scenario
from tests.conftest import EXAMPLES
from tests.unit.test_planner_bruteforce import can_run
from tests.unit.test_planner_recompute import (
    capacity,
    check_plan,
    occupies,
    periods_of,
    random_scenario,
)

GAP = 1e-6
SEEDS = [1, 4, 9, 16, 23]


def solved(scenario: Scenario) -> tuple[PlanResult, dict[str, Baseline]]:
    planner = Planner(scenario)
    optimal = planner.plan(gap=GAP)
    return optimal, {b.name: b for b in baselines(planner, gap=GAP)}


def rentals_fit(s: Scenario, accepted: set[str]) -> bool:
    """Leases and accepted requests within capacity in every (model, period), from the text
    of SCENARIO.md (not from the planner's arrays)."""
    cap = capacity(s)
    held = [*s.leases, *(r for r in s.rental_requests if r.id in accepted)]
    for t, (start, end) in enumerate(periods_of(s)):
        for model in {m.name for m in s.gpu_models}:
            used = sum(r.gpus for r in held if r.gpu_model == model and occupies(r, start, end))
            if used > cap[model, t]:
                return False
    return True


def fits(s: Scenario, accepted: set[str]) -> bool:
    """Rentals fit and inference is served (an independent LP, training may wait)."""
    training = [p for p in s.programs if isinstance(p, TrainingProgram)]
    return rentals_fit(s, accepted) and can_run(s, frozenset(accepted), (None,) * len(training))


def scenario_named(label: str) -> Scenario:
    if label == "small":
        return load_scenario_file(EXAMPLES / "small.yaml")
    return parse_scenario(random_scenario(int(label.removeprefix("seed-")), requests=10))


LABELS = ["small", *(f"seed-{seed}" for seed in SEEDS)]


@functools.cache
def case(label: str) -> tuple[Scenario, PlanResult, dict[str, Baseline]]:
    scenario = scenario_named(label)
    return (scenario, *solved(scenario))


@pytest.mark.parametrize("label", LABELS)
def test_the_optimum_beats_every_baseline_and_each_set_fits(label: str) -> None:
    scenario, optimal, found = case(label)
    assert set(found) == set(RULES)
    for name, baseline in found.items():
        assert baseline.feasible, f"{label} {name}"
        assert baseline.objective is not None
        assert optimal.objective >= baseline.objective - GAP * max(1.0, abs(optimal.bound)) - 0.01
        assert optimal.bound >= baseline.objective - 0.01
        margin = baseline.margin(optimal)
        assert margin is not None
        assert margin >= -GAP * max(1.0, abs(optimal.bound)) - 0.01
        assert fits(scenario, set(baseline.accepted)), f"{label} {name} overbooks"
        check_plan(scenario, baseline.plan.to_dict())  # its objective recomputes
        assert set(baseline.plan.accepted_ids) == set(baseline.accepted)


@pytest.mark.parametrize("label", LABELS)
def test_greedy_rules_take_requests_while_capacity_lasts(label: str) -> None:
    """Each request a greedy rule declines does not fit beside those it took before it."""
    scenario, _, found = case(label)
    requests = scenario.rental_requests
    index = range(len(requests))
    orders = {
        "greedy-price": sorted(index, key=lambda r: (-requests[r].price_per_gpu_hour, r)),
        "first-come": sorted(index, key=lambda r: (requests[r].start, r)),
    }
    for name, order in orders.items():
        taken: set[str] = set()
        accepted = set(found[name].accepted)
        for r in order:
            rid = requests[r].id
            if rid in accepted:
                taken.add(rid)
            else:
                assert not fits(scenario, taken | {rid}), f"{label} {name} declined {rid}"


@pytest.mark.parametrize("label", LABELS)
def test_protect_roadmap_makes_no_program_later_than_the_optimum(label: str) -> None:
    _, optimal, found = case(label)
    protect = found["protect-roadmap"].plan
    best = {p.name: p.slip_days for p in optimal.programs}
    for program in protect.programs:
        assert program.slip_days <= best[program.name] + 1e-9, f"{label} {program.name}"
    assert found["protect-roadmap"].total_slip_days <= found["greedy-price"].total_slip_days


def test_small_example_baselines() -> None:
    _, optimal, found = case("small")
    # Highest prices first happens to be optimal here; first come first served is not.
    assert found["greedy-price"].objective == pytest.approx(optimal.objective)
    assert found["first-come"].margin(optimal) == pytest.approx(11_049_292.8)
    assert found["protect-roadmap"].plan.program("model-v2").slip_days == 0
    rows = compare_table(optimal, list(found.values()))
    assert [row[0] for row in rows] == ["optimal", *found]
    assert all(len(row) == len(COMPARE_COLUMNS) for row in rows)
    assert rows[2][5] == "$11.05M"
    data = found["first-come"].to_dict(optimal)
    assert data["optimal_margin"] == pytest.approx(11_049_292.8)
    assert data["status"] == "optimal"


def test_a_scenario_works_as_well_as_a_planner_and_unknown_rules_are_refused() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    only = baselines(scenario, names=["first-come"], gap=GAP)
    assert [b.name for b in only] == ["first-come"]
    with pytest.raises(InvalidInput, match="unknown baseline"):
        baselines(scenario, names=["random"])


def test_infeasible_commitments_are_refused() -> None:
    data = random_scenario(2, requests=3)
    data["programs"] = [
        {"name": "serve", "kind": "inference", "gpu_models": ["H100"], "gpus": 100_000}
    ]
    with pytest.raises(InvalidInput, match="do not fit"):
        baselines(parse_scenario(data))


@pytest.mark.slow
def test_colossus_baselines() -> None:
    scenario = load_scenario_file(EXAMPLES / "colossus.yaml")
    planner = Planner(scenario, threads=2)
    optimal = planner.plan(gap=1e-3)
    found = baselines(planner, gap=1e-4)
    print()
    for b in found:
        assert b.objective is not None
        print(f"{b.name}: ${b.objective:,.0f}, optimal's margin ${b.margin(optimal):,.0f}")
        assert optimal.bound >= b.objective
        assert fits(scenario, set(b.accepted))
    best = {p.name: p.slip_days for p in optimal.programs}
    protect = next(b for b in found if b.name == "protect-roadmap")
    assert all(p.slip_days <= best[p.name] for p in protect.plan.programs)
