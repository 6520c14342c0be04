"""Bid prices, opportunity costs, warm re-solves, progress and time limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario import load_scenario_file, parse_scenario
from gpufleet.planning.solver import Progress
from tests.unit.test_planner_recompute import check_plan, random_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "gpufleet" / "examples"


def test_a_late_program_prices_its_capacity_at_the_delay_it_would_save() -> None:
    # small.yaml: model-v2 finishes one week late (end of period 22). A GB200-hour before
    # then is worth $400,000/day x 7 days x 2.5 / 15,000,000 H100-hours of work: the share
    # of the late week it would win back. From the finish period on, it is worth nothing.
    result = plan(load_scenario_file(EXAMPLES / "small.yaml"), gap=1e-9)
    assert result.arrays is not None
    models = list(result.models)
    gb200 = result.arrays.bid_price[models.index("GB200")]
    finish = result.program("model-v2").finish_period
    assert finish == 22
    online = 4  # the GB200 cluster arrives 2027-02-01
    assert gb200[online:finish] == pytest.approx(400_000 * 7 * 2.5 / 15_000_000)
    assert np.all(gb200[:online] == 0)
    assert np.all(gb200[finish:] == 0)
    assert np.all(result.arrays.bid_price[models.index("H100")] == 0)


def test_opportunity_cost_is_gpus_times_hours_times_bid_prices() -> None:
    result = plan(load_scenario_file(EXAMPLES / "small.yaml"), gap=1e-9)
    rfq7 = next(d for d in result.decisions if d.id == "rfq-7")
    # 2,016 GB200 for 3 weeks (periods 13-15) at the price above
    assert rfq7.opportunity_cost == pytest.approx(2016 * 3 * 168 * 400_000 * 7 * 2.5 / 15e6)


@pytest.mark.parametrize("seed", range(6))
def test_bid_prices_are_never_negative_and_zero_on_idle_capacity(seed: int) -> None:
    scenario = parse_scenario(random_scenario(300 + seed, requests=10, periods=8))
    result = plan(scenario, gap=1e-9)
    assert result.arrays is not None
    idle = np.zeros_like(result.arrays.bid_price)
    for row in result.allocation:
        idle[result.models.index(row.gpu_model), row.period] = row.idle
    assert (result.arrays.bid_price >= 0).all()
    assert (result.arrays.bid_price[idle > 1e-6] == 0).all()
    check_plan(scenario, result.to_dict())


def test_warm_re_solves_agree_with_cold_ones() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    planner = Planner(scenario)
    first = planner.plan(gap=1e-9)
    forced = planner.plan(gap=1e-9, force_accept=["rfq-3"])  # rfq-7 must then go
    again = planner.plan(gap=1e-9)
    cold = plan(scenario, gap=1e-9, force_accept=["rfq-3"])
    assert forced.objective == pytest.approx(cold.objective, rel=1e-9)
    assert again.objective == pytest.approx(first.objective, rel=1e-9)
    assert "rfq-3" in forced.accepted_ids
    assert "rfq-7" not in forced.accepted_ids
    assert forced.objective < first.objective
    assert forced.program("model-v2").slip_days == 21


def test_forcing_out_an_accepted_request_never_helps() -> None:
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    planner = Planner(scenario)
    free = planner.plan(gap=1e-9)
    for rid in free.accepted_ids:
        without = planner.plan(gap=1e-9, force_reject=[rid])
        assert rid not in without.accepted_ids
        assert without.objective <= free.objective + 1e-6


@pytest.mark.slow
def test_stopping_early_still_returns_a_valid_plan() -> None:
    scenario = load_scenario_file(EXAMPLES / "colossus.yaml")
    seen: list[Progress] = []

    def stop_at_once(progress: Progress) -> bool:
        seen.append(progress)
        return True

    stopped = plan(scenario, gap=1e-9, progress=stop_at_once)
    assert seen
    assert stopped.status == "feasible"
    check_plan(scenario, stopped.to_dict())

    rushed = plan(scenario, gap=1e-9, time_limit=0.01)
    assert rushed.status == "feasible"
    check_plan(scenario, rushed.to_dict())


def test_a_new_thread_count_between_solves_is_honoured() -> None:
    # HiGHS shares one scheduler per process; asking for another size must not fail.
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    results = [plan(scenario, gap=1e-9, threads=n) for n in (None, 2, 1, None)]
    assert {r.status for r in results} == {"optimal"}
    assert len({round(r.objective, 3) for r in results}) == 1


def gpus_after_finish(result: PlanResult) -> dict[str, float]:
    """GPUs each finished training program is given after its finish period, per program."""
    after: dict[str, float] = {}
    for outcome in result.programs:
        if outcome.kind == "training" and outcome.finish_period is not None:
            after[outcome.name] = sum(
                row.programs.get(outcome.name, 0.0)
                for row in result.allocation
                if row.period > outcome.finish_period
            )
    return after


@pytest.mark.parametrize("seed", range(8))
def test_a_finished_program_gets_no_gpus_after_its_finish(seed: int) -> None:
    # What it no longer needs is idle (or goes to another program), and priced nowhere.
    scenario = parse_scenario(random_scenario(500 + seed, requests=10, periods=10))
    result = plan(scenario, gap=1e-9)
    assert result.arrays is not None
    for name, gpus in gpus_after_finish(result).items():
        assert gpus == 0.0, name
    for row in result.allocation:
        assert row.idle >= 0
        if row.idle > 1e-6 * max(1, row.capacity):
            m = result.models.index(row.gpu_model)
            assert result.arrays.bid_price[m, row.period] == 0
    check_plan(scenario, result.to_dict())


def test_small_example_model_v2_stops_using_gb200_once_done() -> None:
    # small.yaml: model-v2 finishes at the end of period 22; before, the price LP left it
    # the GB200 nobody rented for the rest of the horizon.
    result = plan(load_scenario_file(EXAMPLES / "small.yaml"), gap=1e-9)
    finish = result.program("model-v2").finish_period
    assert finish == 22
    assert gpus_after_finish(result) == {"model-v2": 0.0}
    idle_after = [
        row.idle for row in result.allocation if row.gpu_model == "GB200" and row.period > finish
    ]
    assert max(idle_after) > 0  # the capacity it no longer needs is idle now
