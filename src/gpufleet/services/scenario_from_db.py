"""The current database state as a scenario: what `POST /v1/plans` and quotes plan on.

Pending requests become `rental_requests` and signed leases `leases`, with their tenant's
name as `customer`; money goes back from micro-dollars to exact decimal dollars.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import programs as programs_repo
from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.domain.errors import Conflict
from gpufleet.domain.money import micros_to_usd
from gpufleet.domain.programs import Program
from gpufleet.domain.rentals import Rental, RequestStatus
from gpufleet.planning.scenario import Scenario, parse_scenario

_ALL = 1_000_000  # one page holds every rental: planning needs them all


def current_scenario(conn: Connection) -> Scenario:
    settings = fleet_repo.settings(conn)
    if settings is None:
        raise Conflict("nothing to plan yet: import a scenario first (POST /v1/fleet/import)")
    pending = rentals_repo.page(
        conn, "request", tenant_id=None, status=RequestStatus.PENDING, after=None, limit=_ALL
    )
    signed = rentals_repo.page(conn, "lease", tenant_id=None, status=None, after=None, limit=_ALL)
    document = {
        "version": 1,
        "name": settings.name,
        "horizon": settings.horizon.model_dump(),
        "reliability": {"unavailable_fraction": settings.unavailable_fraction},
        "gpu_models": [
            {"name": name, "relative_throughput": throughput}
            for name, throughput in sorted(fleet_repo.models(conn).items())
        ],
        "clusters": [c.model_dump(exclude_none=True) for c in fleet_repo.cluster_specs(conn)],
        "programs": [_program(p) for p in programs_repo.list_all(conn)],
        "rental_requests": [_rental(r) for r in pending],
        "leases": [_rental(r) for r in signed],
    }
    return parse_scenario(document)


def _program(program: Program) -> dict[str, Any]:
    if program.kind == "inference":
        return {"name": program.name, "kind": "inference", "gpu_models": program.gpu_models,
                "gpus": program.inference_gpus}  # fmt: skip
    document: dict[str, Any] = {
        "name": program.name,
        "kind": "training",
        "gpu_models": program.gpu_models,
        "work_gpu_hours": program.work_gpu_hours,
        "due": program.due,
        "delay_cost_per_day": micros_to_usd(program.delay_cost_per_day_micros or 0),
    }
    if program.max_gpus is not None:
        document["max_gpus"] = program.max_gpus
    if program.earliest_start is not None:
        document["earliest_start"] = program.earliest_start
    return document


def _rental(rental: Rental) -> dict[str, Any]:
    return {
        "id": rental.id,
        "customer": rental.tenant,
        "gpu_model": rental.gpu_model,
        "gpus": rental.gpus,
        "start": rental.start,
        "end": rental.end,
        "price_per_gpu_hour": micros_to_usd(rental.price_micros),
        "class": rental.rental_class,
        "notice_hours": rental.notice_hours,
        "contiguous": rental.contiguous,
    }
