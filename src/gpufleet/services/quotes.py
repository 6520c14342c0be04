"""Quote a pending rental request against the fleet's current state (operator)."""

from __future__ import annotations

import json
from typing import Any

from gpufleet.domain.access import Principal
from gpufleet.domain.errors import NotFound
from gpufleet.planning.planner import Planner
from gpufleet.planning.quote import quote
from gpufleet.services.database import Database
from gpufleet.services.scenario_from_db import current_scenario


def quote_request(
    db: Database, caller: Principal, request_id: str, gap: float, time_limit: float | None
) -> dict[str, Any]:
    """The bid-price cost at once and the exact value by re-solving, with a decision. Reads
    the state in one short transaction; solves with none open."""
    caller.require_operator()
    with db.read() as conn:
        scenario = current_scenario(conn)
    if request_id not in {r.id for r in scenario.rental_requests}:
        raise NotFound.of("pending rental request", request_id)
    result = quote(Planner(scenario), request_id, gap=gap, time_limit=time_limit)
    document: dict[str, Any] = json.loads(json.dumps(result.to_dict(), default=float))
    return document
