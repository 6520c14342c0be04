"""Scenario items turned into the records and rows that storage takes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import access as tenants_repo
from gpufleet.domain.access import TenantKind
from gpufleet.domain.rentals import Rental
from gpufleet.planning.scenario import InferenceProgram, TrainingProgram
from gpufleet.planning.scenario import Rental as RentalSpec

# The lab's own programs belong to this internal tenant.
INTERNAL_TENANT = "internal"


def ensure_tenants(
    conn: Connection, customers: Iterable[str], need_internal: bool, now: datetime
) -> tuple[int, dict[str, int]]:
    """Create the external tenants (and the internal one) that do not exist yet."""
    ids = tenants_repo.tenant_names(conn)
    wanted = dict.fromkeys(customers, TenantKind.EXTERNAL)
    if need_internal:
        wanted[INTERNAL_TENANT] = TenantKind.INTERNAL
    created = 0
    for name, kind in sorted(wanted.items()):
        if name not in ids:
            ids[name] = tenants_repo.add_tenant(conn, name, kind, now).id
            created += 1
    return created, ids


def program_rows(
    programs: Sequence[TrainingProgram | InferenceProgram], tenant_id: int, now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for program in programs:
        row: dict[str, Any] = {
            "name": program.name,
            "tenant_id": tenant_id,
            "kind": program.kind,
            "gpu_models": list(program.gpu_models),
            "created_at": now,
            "work_gpu_hours": None,
            "max_gpus": None,
            "earliest_start": None,
            "due": None,
            "delay_cost_per_day_micros": None,
            "inference_gpus": None,
        }
        if isinstance(program, TrainingProgram):
            row |= {
                "work_gpu_hours": program.work_gpu_hours,
                "max_gpus": program.max_gpus,
                "earliest_start": program.earliest_start,
                "due": program.due,
                "delay_cost_per_day_micros": program.delay_cost_per_day_micros,
            }
        else:
            row["inference_gpus"] = program.gpus
        rows.append(row)
    return rows


def rental_record(
    spec: Any, rental_id: str, tenant_id: int, tenant: str, status: str, now: datetime
) -> Rental:
    return Rental(
        id=rental_id,
        tenant_id=tenant_id,
        tenant=tenant,
        gpu_model=spec.gpu_model,
        gpus=spec.gpus,
        start=spec.start,
        end=spec.end,
        price_micros=spec.price_micros,
        rental_class=spec.rental_class,
        notice_hours=spec.notice_hours,
        contiguous=spec.contiguous,
        status=status,
        created_at=now,
    )


def rental_records(
    specs: Sequence[RentalSpec], tenant_ids: dict[str, int], status: str, now: datetime
) -> list[Rental]:
    return [rental_record(s, s.id, tenant_ids[s.customer], s.customer, status, now) for s in specs]
