"""Quotes: the exact value against two independent solves, counter prices that hold when
re-quoted, and the decision rules."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.quote import ABSURD_MULTIPLE, bid_price_cost, quote, with_request
from gpufleet.planning.scenario import Rental, Scenario, load_scenario_file
from tests.conftest import EXAMPLES

GAP = 1e-6
MONEY = 0.01  # dollars: objectives are exact, differences clean to the cent


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_file(EXAMPLES / "small.yaml")


def priced(scenario: Scenario, request_id: str, price: Decimal | float) -> Scenario:
    """The scenario with one request's price changed."""
    requests = [
        r.model_copy(update={"price_per_gpu_hour": Decimal(str(price))})
        if r.id == request_id
        else r
        for r in scenario.rental_requests
    ]
    return scenario.model_copy(update={"rental_requests": requests})


def test_exact_value_is_the_difference_of_two_independent_solves(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=GAP)
    for request in small.rental_requests:
        answer = quote(planner, request.id, free=free, gap=GAP)
        signed = plan(small, gap=GAP, force_accept=[request.id])
        unsigned = plan(small, gap=GAP, force_reject=[request.id])
        assert answer.value_of_signing == pytest.approx(
            signed.objective - unsigned.objective, abs=MONEY
        ), request.id
        assert answer.exact_opportunity_cost == pytest.approx(
            unsigned.objective - (signed.objective - answer.revenue), abs=MONEY
        )
        assert answer.objective_with == pytest.approx(signed.objective, abs=MONEY)
        assert answer.objective_without == pytest.approx(unsigned.objective, abs=MONEY)
        assert answer.bid_price_opportunity_cost >= 0
        assert answer.decision == ("accept" if answer.value_of_signing >= 0 else answer.decision)
        assert answer.value_range is not None
        low, high = answer.value_range
        assert low - MONEY <= answer.value_of_signing <= high + MONEY


def test_small_example_answers(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=GAP)
    answers = {r.id: quote(planner, r.id, free=free, gap=GAP) for r in small.rental_requests}
    rfq3 = answers["rfq-3"]  # the ADR's example: cheap at bid prices, dear in fact
    assert rfq3.bid_price_opportunity_cost < rfq3.revenue < rfq3.exact_opportunity_cost
    assert rfq3.decision == "counter"
    assert rfq3.counter_price_per_gpu_hour == pytest.approx(6.89)
    assert any("model-v2 finishes 14 days later" in line for line in rfq3.reasons)
    assert rfq3.programs[0].days_later == 14
    assert answers["rfq-7"].decision == "accept"
    # rfq-2 would have to pay more than three times its price: not worth countering.
    rfq2 = answers["rfq-2"]
    assert rfq2.decision == "decline"
    assert rfq2.counter_price_per_gpu_hour is None
    assert rfq2.value_of_signing is not None
    needed = 1.40 - rfq2.value_of_signing / rfq2.gpu_hours_in_horizon
    assert needed > ABSURD_MULTIPLE * 1.40


def test_a_counter_price_is_accepted_when_requoted(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=GAP)
    counters = [
        answer
        for answer in (quote(planner, r.id, free=free, gap=GAP) for r in small.rental_requests)
        if answer.decision == "counter"
    ]
    assert {a.request_id for a in counters} >= {"rfq-3"}
    for answer in counters:
        assert answer.counter_price_per_gpu_hour is not None
        again = quote(
            Planner(priced(small, answer.request_id, answer.counter_price_per_gpu_hour)),
            answer.request_id,
            gap=GAP,
        )
        assert again.decision == "accept", again.reasons
        assert again.value_of_signing is not None
        assert again.value_of_signing >= -MONEY
        # One cent less would not do.
        cheaper = answer.counter_price_per_gpu_hour - 0.01
        below = quote(
            Planner(priced(small, answer.request_id, cheaper)), answer.request_id, gap=GAP
        )
        assert below.decision != "accept"


def test_a_request_priced_far_above_its_exact_cost_is_accepted(small: Scenario) -> None:
    answer = quote(Planner(small), "rfq-3", gap=GAP)
    assert answer.exact_opportunity_cost is not None
    hours = answer.gpu_hours_in_horizon
    price = 2 * (answer.exact_opportunity_cost / hours)  # twice what the capacity costs
    rich = quote(Planner(priced(small, "rfq-3", round(price, 2))), "rfq-3", gap=GAP)
    assert rich.decision == "accept"
    assert rich.value_of_signing is not None
    assert rich.value_of_signing > 0


def test_decisions_forced_in_the_plan_quoted_against_are_kept(small: Scenario) -> None:
    planner = Planner(small)
    forced = planner.plan(gap=GAP, force_accept=["rfq-3"])
    answer = quote(planner, "rfq-5", free=forced, gap=GAP)
    both = plan(small, gap=GAP, force_accept=["rfq-3", "rfq-5"])
    only = plan(small, gap=GAP, force_accept=["rfq-3"], force_reject=["rfq-5"])
    assert answer.value_of_signing == pytest.approx(both.objective - only.objective, abs=MONEY)


def test_a_request_that_cannot_fit_is_declined_without_a_price(small: Scenario) -> None:
    huge = Rental.model_validate(
        {"id": "huge", "customer": "c", "gpu_model": "H100", "gpus": 5000,
         "start": "2027-02-01", "end": "2027-03-01", "price_per_gpu_hour": 9}
    )  # fmt: skip
    planner = Planner(with_request(small, huge))
    free = planner.plan(gap=GAP, force_reject=["huge"])
    answer = quote(planner, "huge", free=free, gap=GAP)
    assert answer.decision == "decline"
    assert answer.value_of_signing is None
    assert answer.counter_price_per_gpu_hour is None
    assert any("capacity" in line for line in answer.reasons)


def test_bid_price_cost_and_json(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=GAP)
    for decision in free.decisions:
        assert bid_price_cost(planner, free, decision.id) == pytest.approx(
            decision.opportunity_cost
        )
    data = json.loads(json.dumps(quote(planner, "rfq-3", free=free).to_dict()))
    assert {
        "request_id", "revenue", "bid_price_opportunity_cost", "exact_opportunity_cost",
        "value_of_signing", "decision", "counter_price_per_gpu_hour", "reasons",
    } <= set(data)  # fmt: skip
    assert set(data["seconds"]) == {"free_plan", "bid_price", "exact"}
    assert data["decision"] == "counter"
    assert data["counter_price_per_gpu_hour"] == 6.89


def test_unknown_request_is_invalid_input(small: Scenario) -> None:
    with pytest.raises(InvalidInput, match="no pending rental request"):
        quote(Planner(small), "lease-1")
