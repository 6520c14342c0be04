"""A new rental request for a quote: read from YAML or a mapping, validated like a scenario
item (issues name paths inside the request: `end: must be after start`), added to a scenario.

`id` and `customer` are optional (`quote-request`, `prospect`); the GPU model must be one the
scenario declares and the id must not be taken by a request or lease already in it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gpufleet.domain.errors import InvalidInput, Issue, ScenarioInvalid
from gpufleet.planning.scenario import Rental, Scenario, read_scenario_text
from gpufleet.planning.scenario.messages import issues_from

NEW_REQUEST_ID = "quote-request"
NEW_REQUEST_CUSTOMER = "prospect"


def parse_request(data: Any, scenario: Scenario, source: str = "request") -> Rental:
    """A new request from its fields (`id` and `customer` optional), validated with the rules
    of a scenario item; issues name paths inside the request (`end: must be after start`)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source} must be a mapping of a rental request's fields")
    fields = {"id": NEW_REQUEST_ID, "customer": NEW_REQUEST_CUSTOMER, **data}
    issues: list[Issue] = []
    rental: Rental | None = None
    try:
        rental = Rental.model_validate(fields)
    except ValidationError as exc:
        issues += issues_from(exc, "")
    if rental is not None:
        issues += [Issue(field, message) for field, message in rental.rule_issues()]
    models = [m.name for m in scenario.gpu_models]
    model = fields.get("gpu_model")
    if isinstance(model, str) and model not in models:
        known = ", ".join(sorted(models))
        issues.append(Issue("gpu_model", f"unknown GPU model {model!r} (known: {known})"))
    taken = {r.id for r in [*scenario.rental_requests, *scenario.leases]}
    if isinstance(fields.get("id"), str) and fields["id"] in taken:
        issues.append(Issue("id", f"duplicate id {fields['id']!r}: the scenario already has it"))
    if issues or rental is None:
        raise _invalid(source, sorted(issues, key=lambda i: i.path))
    return rental


def read_request_text(text: str, scenario: Scenario, source: str = "request") -> Rental:
    """`parse_request` on YAML text (dates and numbers read as in scenario files)."""
    try:
        data = read_scenario_text(text, source)
    except ScenarioInvalid as exc:
        raise InvalidInput(f"{source} is not a valid request", exc.issues) from None
    return parse_request(data, scenario, source)


def with_request(scenario: Scenario, request: Rental) -> Scenario:
    """The scenario with `request` added as the last pending rental request."""
    return scenario.model_copy(update={"rental_requests": [*scenario.rental_requests, request]})


def _invalid(source: str, issues: list[Issue]) -> InvalidInput:
    noun = "error" if len(issues) == 1 else "errors"
    return InvalidInput(f"{source} has {len(issues)} {noun}", issues)
