"""The MILP HiGHS solves pools inference (one set of y columns, served per union of model
sets); the price LP keeps one set per program. Both must have the same optimum, and the
warm re-solves built on them (quotes, what-ifs, the frontier's re-pricing) must agree with
cold solves."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.frontier import scale_delay_costs
from gpufleet.planning.milp import build
from gpufleet.planning.periods import derive
from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.scenario import load_scenario_file, parse_scenario
from gpufleet.planning.solver import MilpSolver
from tests.conftest import EXAMPLES
from tests.unit.test_planner_recompute import check_plan, random_scenario

GAP = 0.0
MONEY = 0.01


def with_inference(seed: int) -> dict[str, Any]:
    """A random scenario with two or three inference programs on overlapping model sets
    (one on H100 only, one on either, maybe one on GB200 only), needs near what fits."""
    rng = random.Random(seed)
    doc = random_scenario(seed, requests=8, periods=6)
    doc["programs"] = [p for p in doc["programs"] if p["kind"] == "training"]
    h100 = sum(
        c["gpus_per_node"] * c["nodes_per_block"] * c["blocks_per_pod"] * c["pods"]
        for c in doc["clusters"]
        if c["gpu_model"] == "H100"
    )
    gb200 = next(c for c in doc["clusters"] if c["gpu_model"] == "GB200")
    online = (date.fromisoformat(gb200["online_from"][:10]) - date(2027, 1, 4)).days // 7
    sets = [["H100"], ["H100", "GB200"]] + ([["GB200"]] if rng.random() < 0.5 else [])
    for k, models in enumerate(sets):
        top = [h100 // 4 + 2] * 6 if models != ["GB200"] else [0] * online + [9] * 6
        doc["programs"].append(
            {"name": f"serve-{k}", "kind": "inference", "gpu_models": models,
             "gpus": [rng.randrange(0, top[t] + 1) for t in range(6)]}
        )  # fmt: skip
    return doc


def optimum(model_pooled: bool, doc: dict[str, Any]) -> float | None:
    derived = derive(parse_scenario(doc))
    model = build(derived, pooled=model_pooled)
    count = len(model.layout.x_request)
    outcome = MilpSolver(model).solve(np.zeros(count), np.ones(count), time_limit=None, gap=GAP)
    if outcome.values is None:
        return None
    return float(model.col_cost @ outcome.values + model.offset)


@pytest.mark.parametrize("seed", range(12))
def test_pooled_inference_has_the_same_optimum_as_one_set_of_columns_per_program(
    seed: int,
) -> None:
    doc = with_inference(700 + seed)
    derived = derive(parse_scenario(doc))
    pooled, apart = build(derived, pooled=True), build(derived)
    assert pooled.layout.num_col < apart.layout.num_col
    assert (pooled.layout.x_request == apart.layout.x_request).all()
    assert (pooled.layout.z_program == apart.layout.z_program).all()
    assert (pooled.layout.z_period == apart.layout.z_period).all()
    together, separately = optimum(True, doc), optimum(False, doc)
    assert (together is None) == (separately is None)
    if together is not None and separately is not None:
        assert together == pytest.approx(separately, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_plans_from_the_pooled_milp_recompute(seed: int) -> None:
    scenario = parse_scenario(with_inference(800 + seed))
    result = plan(scenario, gap=GAP)
    if result.status != "infeasible":
        check_plan(scenario, result.to_dict())


def test_one_inference_program_is_not_pooled() -> None:
    derived = derive(load_scenario_file(EXAMPLES / "small.yaml"))
    pooled, apart = build(derived, pooled=True), build(derived)
    assert pooled.layout.num_col == apart.layout.num_col
    assert (pooled.value == apart.value).all()


def test_repricing_a_loaded_planner_equals_planning_the_scaled_scenario() -> None:
    small = load_scenario_file(EXAMPLES / "small.yaml")
    planner = Planner(small)
    first = planner.plan(gap=GAP)
    for factor in ("0", "0.5", "3", "1"):
        scaled = scale_delay_costs(small, Decimal(factor))
        planner.reprice(scaled)
        warm = planner.plan(gap=GAP)
        cold = plan(scaled, gap=GAP)
        assert warm.objective == pytest.approx(cold.objective, abs=MONEY), factor
        assert warm.delay_cost == pytest.approx(cold.delay_cost, abs=MONEY), factor
        check_plan(scaled, warm.to_dict())
    assert warm.objective == pytest.approx(first.objective, abs=MONEY)


def test_repricing_from_no_delay_cost_rebuilds_the_model() -> None:
    small = load_scenario_file(EXAMPLES / "small.yaml")
    free = scale_delay_costs(small, Decimal(0))
    planner = Planner(free)
    planner.plan(gap=GAP)  # built without z columns: nothing was charged
    planner.reprice(small)
    assert planner.plan(gap=GAP).objective == pytest.approx(
        plan(small, gap=GAP).objective, abs=MONEY
    )


def test_repricing_refuses_a_scenario_that_differs_in_more_than_delay_costs() -> None:
    small = load_scenario_file(EXAMPLES / "small.yaml")
    planner = Planner(small)
    other = small.model_copy(update={"rental_requests": small.rental_requests[1:]})
    with pytest.raises(InvalidInput):
        planner.reprice(other)


def test_a_quote_sequence_starts_each_re_solve_from_the_free_plan() -> None:
    # Forcing one request out, then another: the second re-solve must start from the free
    # plan (less that request), not from the first re-solve's plan, and agree with cold.
    small = load_scenario_file(EXAMPLES / "small.yaml")
    planner = Planner(small)
    free = planner.plan(gap=GAP)
    for rid in free.accepted_ids:
        warm = planner.plan(gap=GAP, force_reject=[rid])
        cold = plan(small, gap=GAP, force_reject=[rid])
        assert warm.objective == pytest.approx(cold.objective, abs=MONEY), rid
    for rid in (d.id for d in free.decisions if not d.accepted):
        warm = planner.plan(gap=GAP, force_accept=[rid])
        cold = plan(small, gap=GAP, force_accept=[rid])
        assert warm.status == cold.status
        assert warm.objective == pytest.approx(cold.objective, abs=MONEY), rid
