"""A new request for a quote: validated like a scenario item, with paths, then added."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.planner import Planner, plan
from gpufleet.planning.quote import (
    NEW_REQUEST_CUSTOMER,
    NEW_REQUEST_ID,
    parse_request,
    quote,
    read_request_text,
    with_request,
)
from gpufleet.planning.scenario import Scenario, load_scenario_file
from tests.conftest import EXAMPLES

REQUEST = """\
gpu_model: GB200
gpus: 576
start: 2027-03-01
end: 2027-04-05
price_per_gpu_hour: 9.50
"""


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_file(EXAMPLES / "small.yaml")


def issues(excinfo: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [str(issue) for issue in excinfo.value.issues]


def test_a_request_file_gets_default_id_and_customer(small: Scenario) -> None:
    rental = read_request_text(REQUEST, small)
    assert (rental.id, rental.customer) == (NEW_REQUEST_ID, NEW_REQUEST_CUSTOMER)
    assert rental.gpus == 576
    assert rental.price_per_gpu_hour == Decimal("9.5")
    augmented = with_request(small, rental)
    assert [r.id for r in augmented.rental_requests][-1] == NEW_REQUEST_ID
    assert len(small.rental_requests) == 7  # the original is untouched


def test_end_before_start_is_reported_at_its_path(small: Scenario) -> None:
    text = REQUEST.replace("end: 2027-04-05", "end: 2027-02-01")
    with pytest.raises(InvalidInput) as excinfo:
        read_request_text(text, small, "req.yaml")
    assert issues(excinfo) == ["end: must be after start"]
    assert "req.yaml" in excinfo.value.message


def test_every_problem_is_reported_with_its_path(small: Scenario) -> None:
    data = {"id": "rfq-1", "gpu_model": "B300", "gpus": 0, "start": "2027-03-01",
            "end": "2027-04-01", "price_per_gpu_hour": 2, "colour": "red"}  # fmt: skip
    with pytest.raises(InvalidInput) as excinfo:
        parse_request(data, small)
    found = issues(excinfo)
    assert "colour: unknown key" in found
    assert any(line.startswith("gpus: ") for line in found)
    assert any(line.startswith("gpu_model: unknown GPU model 'B300'") for line in found)
    assert any(line.startswith("id: duplicate id 'rfq-1'") for line in found)


def test_interruptible_needs_notice_and_text_must_be_a_mapping(small: Scenario) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        read_request_text(REQUEST + "class: interruptible\n", small)
    assert issues(excinfo) == ["notice_hours: must be > 0 for interruptible capacity"]
    with pytest.raises(InvalidInput, match="mapping"):
        read_request_text("- 1\n- 2\n", small)
    with pytest.raises(InvalidInput, match="not a valid request"):
        read_request_text("gpus: [\n", small)


def test_a_new_request_is_quoted_against_the_plan_without_it(small: Scenario) -> None:
    augmented = with_request(small, read_request_text(REQUEST, small))
    planner = Planner(augmented)
    without = planner.plan(gap=1e-6, force_reject=[NEW_REQUEST_ID])
    answer = quote(planner, NEW_REQUEST_ID, free=without, gap=1e-6)
    # The plan without it is the plan of the original scenario.
    assert without.objective == pytest.approx(plan(small, gap=1e-6).objective, abs=0.01)
    signed = plan(augmented, gap=1e-6, force_accept=[NEW_REQUEST_ID])
    assert answer.value_of_signing == pytest.approx(signed.objective - without.objective, abs=0.01)
    assert answer.revenue == pytest.approx(576 * 35 * 24 * 9.5)
