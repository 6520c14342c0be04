"""The frontier: revenue against slip as every delay cost is scaled from zero to prohibitive."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.frontier import (
    FrontierPoint,
    frontier,
    prohibitive_factor,
    scale_delay_costs,
)
from gpufleet.planning.periods import derive
from gpufleet.planning.planner import plan
from gpufleet.planning.scenario import Scenario, TrainingProgram, load_scenario_file
from tests.conftest import EXAMPLES

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_file(EXAMPLES / "small.yaml")


@pytest.fixture(scope="module")
def sweep(small: Scenario) -> tuple[list[FrontierPoint], list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    points = frontier(small, points=8, gap=0.0, progress=lambda d, t: calls.append((d, t)))
    return points, calls


def test_factor_zero_earns_the_most_and_the_prohibitive_end_slips_the_least(
    sweep: tuple[list[FrontierPoint], list[tuple[int, int]]],
) -> None:
    points, _ = sweep
    first, last = points[0], points[-1]
    assert first.factor == 0.0
    assert first.delay_cost == 0.0  # delay ignored
    assert all(first.revenue >= p.revenue - TOLERANCE for p in points)
    assert all(last.total_slip_days <= p.total_slip_days + TOLERANCE for p in points)
    assert last.factor > 1.0
    # small.yaml: model-v2 can make its due date when nothing is rented on GB200 in its way.
    assert last.total_slip_days == 0.0


def test_slip_and_revenue_never_rise_as_the_factor_grows(
    sweep: tuple[list[FrontierPoint], list[tuple[int, int]]],
) -> None:
    points, _ = sweep
    factors = [p.factor for p in points]
    assert factors == sorted(factors)
    assert len(set(factors)) == len(factors)
    for before, after in pairwise(points):
        assert after.total_slip_days <= before.total_slip_days + TOLERANCE
        assert after.revenue <= before.revenue + TOLERANCE
        assert after.true_delay_cost <= before.true_delay_cost + TOLERANCE
        # neighbours that found the same plan are merged into one point
        assert (before.revenue, before.total_slip_days) != (after.revenue, after.total_slip_days)


def test_the_actual_point_is_the_plan_as_written(
    small: Scenario, sweep: tuple[list[FrontierPoint], list[tuple[int, int]]]
) -> None:
    points, _ = sweep
    actual = [p for p in points if p.actual]
    assert len(actual) == 1
    point = actual[0]
    assert point.factor == 1.0
    assert 1.0 in point.factors
    written = plan(small, gap=0.0)
    assert point.objective == pytest.approx(written.objective, abs=0.01)
    assert point.revenue == pytest.approx(written.revenue, abs=0.01)
    assert point.delay_cost == pytest.approx(point.true_delay_cost, abs=0.01)
    assert point.scaled_objective == pytest.approx(point.objective, abs=0.01)
    assert point.result is not None
    assert point.result.objective == pytest.approx(written.objective, abs=0.01)


def test_small_frontier_has_the_three_plans_its_comments_describe(
    sweep: tuple[list[FrontierPoint], list[tuple[int, int]]],
) -> None:
    """small.yaml: rfq-7 alone costs model-v2 a week; declining everything on GB200 that is
    in its way keeps it on time; ignoring delay takes rfq-3 as well."""
    points, _ = sweep
    by_slip = {p.total_slip_days: p for p in points}
    assert set(by_slip) == {28.0, 7.0, 0.0}
    assert "rfq-7" in by_slip[7.0].accepted_ids
    assert "rfq-3" not in by_slip[7.0].accepted_ids
    assert "rfq-3" in by_slip[28.0].accepted_ids
    assert not {"rfq-3", "rfq-7"} & set(by_slip[0.0].accepted_ids)


def test_money_is_consistent_within_each_point(
    small: Scenario, sweep: tuple[list[FrontierPoint], list[tuple[int, int]]]
) -> None:
    points, _ = sweep
    rate = {p.name: float(p.delay_cost_per_day) for p in small.programs if p.kind == "training"}
    for p in points:
        true = sum(rate[name] * days for name, days in p.slip_days.items())
        assert p.true_delay_cost == pytest.approx(true)
        assert p.objective == pytest.approx(p.revenue - p.true_delay_cost)
        assert p.scaled_objective == pytest.approx(p.revenue - p.delay_cost)
        assert p.delay_cost == pytest.approx(p.true_delay_cost * p.factor, abs=0.01)
        assert p.accepted == len(p.accepted_ids)
        assert p.total_slip_days == pytest.approx(sum(p.slip_days.values()))
    json.dumps([p.to_dict() for p in points])  # plain data


def test_progress_counts_every_solve(
    sweep: tuple[list[FrontierPoint], list[tuple[int, int]]],
) -> None:
    points, calls = sweep
    solves = calls[-1][0]
    assert [d for d, _ in calls[:solves]] == list(range(1, solves + 1))  # one call a solve
    assert calls[-1][0] == calls[-1][1]  # finished early: the total shrinks, the bar ends full
    assert all(total in (8, solves) for _, total in calls)
    assert sum(len(p.factors) for p in points) == solves


def test_the_sweep_stops_early_when_no_plan_is_left_to_find(
    sweep: tuple[list[FrontierPoint], list[tuple[int, int]]],
) -> None:
    _, calls = sweep
    assert calls[-1][0] < 8  # three plans; the tie factors proved there is none between


def test_scaling_is_exact_and_touches_only_delay_costs(small: Scenario) -> None:
    scaled = scale_delay_costs(small, Decimal("0.290304"))
    [original] = [p for p in small.programs if isinstance(p, TrainingProgram)]
    [changed] = [p for p in scaled.programs if isinstance(p, TrainingProgram)]
    assert changed.delay_cost_per_day == Decimal("116121.6")
    assert changed.delay_cost_per_day_micros == 116_121_600_000
    assert original.delay_cost_per_day == Decimal(400000)  # the scenario is untouched
    assert changed.model_copy(update={"delay_cost_per_day": original.delay_cost_per_day}) == (
        original
    )
    assert [p for p in scaled.programs if p.kind == "inference"] == [
        p for p in small.programs if p.kind == "inference"
    ]
    odd = scale_delay_costs(small, Decimal(1) / Decimal(3))
    [third] = [p for p in odd.programs if isinstance(p, TrainingProgram)]
    assert third.delay_cost_per_day == Decimal("133333.333333")  # rounded to the micro-dollar


def test_prohibitive_factor_makes_a_period_of_slip_cost_more_than_all_requests(
    small: Scenario,
) -> None:
    derived = derive(small)
    factor = prohibitive_factor(derived)
    assert factor == 10.0
    offered = float(derived.requests.revenue_usd.sum())
    assert factor * 400_000 * 7 > offered


def test_no_delay_cost_that_can_matter_gives_one_point(small: Scenario) -> None:
    inference_only = small.model_copy(
        update={"programs": [p for p in small.programs if p.kind == "inference"]}
    )
    assert prohibitive_factor(derive(inference_only)) is None
    calls: list[tuple[int, int]] = []
    points = frontier(inference_only, points=5, progress=lambda d, t: calls.append((d, t)))
    assert len(points) == 1
    assert points[0].actual
    assert points[0].total_slip_days == 0
    assert calls == [(1, 1)]


def test_fewer_than_three_points_is_refused(small: Scenario) -> None:
    with pytest.raises(InvalidInput, match="at least 3"):
        frontier(small, points=2)


def test_an_infeasible_scenario_is_an_error_naming_why(small: Scenario) -> None:
    programs = [
        p.model_copy(update={"gpus": 100_000}) if p.kind == "inference" else p
        for p in small.programs
    ]
    with pytest.raises(InvalidInput, match="infeasible"):
        frontier(small.model_copy(update={"programs": programs}), points=3)
