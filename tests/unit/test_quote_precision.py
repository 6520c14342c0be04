"""The exact quote's re-solve: warm from the free plan, and proven to within a share of the
request's revenue where the relative gap would leave its value lost in the noise."""

from __future__ import annotations

import pytest

from gpufleet.domain.errors import InvalidInput
from gpufleet.planning.planner import Planner
from gpufleet.planning.quote import PRECISION, quote
from gpufleet.planning.scenario import Scenario, load_scenario_file
from tests.conftest import EXAMPLES

COARSE = 0.2  # a relative gap of 20%: about $2.3M on small.yaml, more than most requests earn
MONEY = 0.01


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_file(EXAMPLES / "small.yaml")


def test_the_re_solve_proves_the_value_to_within_a_share_of_the_revenue(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=COARSE)
    for request in small.rental_requests:
        answer = quote(planner, request.id, free=free, gap=COARSE)
        assert answer.value_range is not None
        assert answer.value_of_signing is not None
        low, high = answer.value_range
        # The free plan's own gap is what it is; the re-solve's side of the range is tight.
        signed = request.id in free.accepted_ids
        side = answer.value_of_signing - low if signed else high - answer.value_of_signing
        assert side <= PRECISION * answer.revenue + MONEY, request.id
        assert low - MONEY <= answer.value_of_signing <= high + MONEY


def test_an_absolute_gap_never_loosens_the_relative_one(small: Scenario) -> None:
    planner = Planner(small)
    free = planner.plan(gap=1e-6)
    for rid in free.accepted_ids:
        loose = planner.plan(gap=1e-6, force_reject=[rid], abs_gap=1e12)
        assert loose.gap <= 1e-6 + 1e-12
        tight = planner.plan(gap=COARSE, force_reject=[rid], abs_gap=1000.0)
        assert tight.bound - tight.objective <= 1000.0 + MONEY


def test_a_negative_absolute_gap_is_refused(small: Scenario) -> None:
    with pytest.raises(InvalidInput, match="absolute gap"):
        Planner(small).plan(abs_gap=-1.0)
