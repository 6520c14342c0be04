"""Edge cases with answers you can work out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario import parse_scenario
from gpufleet.planning.solver import proven
from tests.unit.test_planner_recompute import check_plan

# One H100 cluster of 100 GPUs from 2027-01-04; GB200 (2.5x) of 40 GPUs from period 2.
WEEK_H = 168


def scenario(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": 1,
        "horizon": {"start": "2027-01-04", "period": "week", "periods": 4},
        "gpu_models": [
            {"name": "H100"},
            {"name": "GB200", "relative_throughput": 2.5},
        ],
        "clusters": [
            {"name": "h", "gpu_model": "H100", "gpus_per_node": 1, "nodes_per_block": 1,
             "blocks_per_pod": 100, "pods": 1},
            {"name": "g", "gpu_model": "GB200", "gpus_per_node": 1, "nodes_per_block": 1,
             "blocks_per_pod": 40, "pods": 1, "online_from": "2027-01-18"},
        ],
    }  # fmt: skip
    base.update(sections)
    return base


def rental(rid: str, model: str, gpus: int, start: str, end: str, price: float) -> dict[str, Any]:
    return {"id": rid, "customer": "c", "gpu_model": model, "gpus": gpus, "start": start,
            "end": end, "price_per_gpu_hour": price}  # fmt: skip


def training(**fields: Any) -> dict[str, Any]:
    return {"name": "train", "kind": "training", "gpu_models": ["GB200"],
            "delay_cost_per_day": 1000, **fields}  # fmt: skip


def solve(data: dict[str, Any], **options: Any) -> PlanResult:
    parsed = parse_scenario(data)
    result = plan(parsed, gap=1e-9, **options)
    if result.status != "infeasible":
        check_plan(parsed, result.to_dict())
    return result


def test_nothing_to_rent_still_plans_the_programs() -> None:
    # 40 GB200 x 2.5 x 168 h = 16,800 H100-hours a week from period 2: two weeks of work.
    result = solve(scenario(programs=[training(work_gpu_hours=33_600, due="2027-02-01")]))
    assert result.decisions == ()
    assert result.revenue == 0
    assert result.program("train").finish is not None
    assert result.program("train").finish.date().isoformat() == "2027-02-01"
    assert result.objective == 0


def test_without_programs_the_richer_of_two_clashing_requests_wins() -> None:
    result = solve(
        scenario(
            rental_requests=[
                rental("cheap", "H100", 60, "2027-01-04", "2027-01-18", 2.0),
                rental("dear", "H100", 60, "2027-01-11", "2027-01-25", 2.5),
                rental("small", "H100", 40, "2027-01-04", "2027-02-01", 1.0),
            ]
        )
    )
    assert result.accepted_ids == ["dear", "small"]
    assert result.revenue == pytest.approx(60 * 336 * 2.5 + 40 * 672 * 1.0)
    assert result.programs == ()
    assert all(row.programs == {} for row in result.allocation)


def test_a_request_wholly_beyond_the_horizon_earns_nothing_and_breaks_nothing() -> None:
    data = scenario(
        rental_requests=[
            rental("later", "H100", 10, "2027-03-01", "2027-04-01", 3.0),
            rental("before", "H100", 10, "2026-11-02", "2026-12-01", 3.0),
            rental("now", "H100", 10, "2027-01-04", "2027-01-11", 1.0),
        ]
    )
    free = solve(data)
    forced = solve(data, force_accept=["later", "before"])
    by_id = {d.id: d for d in forced.decisions}
    assert by_id["later"].revenue == 0
    assert by_id["later"].beyond_horizon
    assert not by_id["before"].beyond_horizon
    assert by_id["later"].accepted
    assert by_id["later"].opportunity_cost == 0
    assert forced.objective == free.objective == pytest.approx(10 * 168 * 1.0)


def test_a_request_reaching_past_the_horizon_earns_only_its_hours_inside() -> None:
    # Horizon ends 2027-02-01; the request runs from Wednesday 2027-01-27 12:00 for a month.
    result = solve(
        scenario(rental_requests=[rental("long", "H100", 8, "2027-01-27T12:00:00+00:00",
                                         "2027-02-27", 2.5)])
    )  # fmt: skip
    decision = result.decisions[0]
    assert decision.beyond_horizon
    assert decision.revenue == pytest.approx(8 * (4.5 * 24) * 2.5)
    assert decision.accepted


def test_capacity_coming_online_mid_way_is_used_only_from_then() -> None:
    data = scenario(
        programs=[training(work_gpu_hours=16_800, due="2027-01-11")],
        rental_requests=[rental("early-gb", "GB200", 10, "2027-01-04", "2027-01-11", 9.0)],
    )
    result = solve(data)
    assert not result.decisions[0].accepted  # no GB200 exists in week 0
    gb_rows = [row for row in result.allocation if row.gpu_model == "GB200"]
    assert [row.capacity for row in gb_rows] == [0, 0, 40, 40]
    assert result.program("train").finish_period == 2
    assert result.program("train").slip_days == 14
    assert result.delay_cost == pytest.approx(14 * 1000)


def test_work_waits_for_earliest_start_in_the_middle_of_a_period() -> None:
    # earliest_start on a Wednesday: the period it falls in starts before it, so no work there.
    data = scenario(
        programs=[training(gpu_models=["H100"], work_gpu_hours=16_800,
                           earliest_start="2027-01-13", due="2027-02-01")]
    )  # fmt: skip
    result = solve(data)
    h100 = {
        row.period: row.programs["train"] for row in result.allocation if row.gpu_model == "H100"
    }
    assert h100[0] == 0
    assert h100[1] == 0
    assert result.program("train").finish_period == 2


def test_a_due_date_inside_a_period_charges_the_days_after_it() -> None:
    # Due Wednesday 2027-01-20; GB200 arrives 2027-01-18 and needs the whole week: finishes
    # at the end of period 2 (2027-01-25), 5 days late.
    result = solve(scenario(programs=[training(work_gpu_hours=16_800, due="2027-01-20")]))
    assert result.program("train").slip_days == 5
    assert result.delay_cost == pytest.approx(5000)


def test_a_program_that_cannot_finish_is_unfinished_and_charged_every_overdue_day() -> None:
    data = scenario(programs=[training(work_gpu_hours=10**9, due="2027-01-11")])
    result = solve(data)
    outcome = result.program("train")
    assert outcome.status == "unfinished"
    assert outcome.finish is None
    assert outcome.slip_days == 21  # 2027-01-11 .. 2027-02-01, the horizon's end
    assert result.delay_cost == pytest.approx(21 * 1000)
    assert result.objective == pytest.approx(-21_000)
    # it still works on what it can: all of GB200 from period 2
    assert [row.programs["train"] for row in result.allocation if row.gpu_model == "GB200"] == [
        0,
        0,
        40,
        40,
    ]


def test_inference_beyond_capacity_is_infeasible_naming_periods_and_models() -> None:
    data = scenario(
        programs=[
            {
                "name": "chat",
                "kind": "inference",
                "gpu_models": ["H100"],
                "gpus": [50, 120, 50, 130],
            },
        ]
    )
    result = solve(data)
    assert result.status == "infeasible"
    reasons = result.to_dict()["reasons"]
    assert [r["periods"] for r in reasons] == [[1], [3]]
    assert all(r["gpu_models"] == ["H100"] for r in reasons)
    assert "H100" in reasons[0]["message"]
    assert "2027-01-11" in reasons[0]["message"]
    json.loads(result.to_json())


def test_shared_inference_shortfall_names_the_set_of_models_that_runs_short() -> None:
    # chat needs 110 of 100 H100 in weeks 0-1: short on H100 alone. In weeks 2-3 chat needs
    # 50 and batch 160 H100-equivalents on H100 or GB200 (40 x 2.5 = 100): 210 > 200.
    data = scenario(
        programs=[
            {"name": "chat", "kind": "inference", "gpu_models": ["H100"],
             "gpus": [110, 110, 50, 50]},
            {"name": "batch", "kind": "inference", "gpu_models": ["H100", "GB200"],
             "gpus": [0, 0, 160, 160]},
        ]
    )  # fmt: skip
    result = solve(data)
    assert result.status == "infeasible"
    reasons = {r.gpu_models: r.periods for r in result.reasons}
    assert reasons == {("H100",): (0, 1), ("H100", "GB200"): (2, 3)}
    assert "chat, batch" in result.reasons[1].message


def test_leases_beyond_capacity_are_infeasible() -> None:
    data = scenario(leases=[rental("lease", "GB200", 10, "2027-01-04", "2027-01-25", 3.0)])
    result = solve(data)
    assert result.status == "infeasible"
    assert [(r.periods, r.gpu_models) for r in result.reasons] == [((0, 1), ("GB200",))]
    assert "leases" in result.reasons[0].message


def test_forcing_in_a_request_that_cannot_fit_is_infeasible_not_an_error() -> None:
    data = scenario(rental_requests=[rental("big", "H100", 101, "2027-01-04", "2027-01-11", 1.0)])
    result = solve(data, force_accept=["big"])
    assert result.status == "infeasible"
    assert "forced" in result.reasons[0].message
    assert solve(data).status == "optimal"


def test_unknown_or_contradictory_forced_ids_are_refused() -> None:
    planner = Planner(parse_scenario(scenario(rental_requests=[
        rental("a", "H100", 1, "2027-01-04", "2027-01-11", 1.0)])))  # fmt: skip
    with pytest.raises(InvalidInput, match="nope"):
        planner.plan(force_accept=["nope"])
    with pytest.raises(InvalidInput, match="both"):
        planner.plan(force_accept=["a"], force_reject=["a"])


def test_an_empty_scenario_plans_to_zero() -> None:
    result = solve(scenario())
    assert result.status == "optimal"
    assert result.objective == 0
    assert len(result.allocation) == 8
    assert all(b["usd_per_gpu_hour"] == 0 for b in result.bid_prices())


def test_a_gpu_model_without_clusters_has_no_capacity_to_rent_or_use() -> None:
    data = scenario(
        gpu_models=[{"name": "H100"}, {"name": "GB200"}, {"name": "B300"}],
        programs=[training(gpu_models=["B300"], work_gpu_hours=1000, due="2027-01-18")],
        rental_requests=[rental("b300", "B300", 8, "2027-01-04", "2027-01-11", 5.0)],
    )
    result = solve(data)
    assert not result.decisions[0].accepted
    assert all(row.capacity == 0 for row in result.allocation if row.gpu_model == "B300")
    assert result.program("train").status == "unfinished"
    assert result.program("train").slip_days == 14


def test_bad_solver_options_are_refused() -> None:
    parsed = parse_scenario(scenario())
    with pytest.raises(InvalidInput, match="gap"):
        plan(parsed, gap=-0.1)
    with pytest.raises(InvalidInput, match="time limit"):
        plan(parsed, time_limit=0)


def test_an_answer_is_optimal_only_within_the_gaps_asked_for() -> None:
    gaps = {"mip_rel_gap": 1e-3, "mip_abs_gap": 1e-6}
    assert proven(999.5, 1000.0, gaps)  # 0.05% from the bound
    # highspy 1.16.0's warm re-solve: "optimal", its solution 17% below its own bound.
    assert not proven(6_025_241.6, 7_289_676.8, gaps)
    assert proven(6_025_241.6, 7_289_676.8, {"mip_rel_gap": 0.0, "mip_abs_gap": 2e6})
    assert not proven(1.0, float("inf"), gaps)
