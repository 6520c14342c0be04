"""Rental requests and leases (one shape, two tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from gpufleet.adapters.db.tables import leases, rental_requests, tenants
from gpufleet.domain.rentals import Rental
from gpufleet.domain.timeutil import to_utc

_FIELDS = (
    "id", "tenant_id", "gpu_model", "gpus", "start", "end", "price_micros", "rental_class",
    "notice_hours", "contiguous", "status", "created_at",
)  # fmt: skip


def table_for(kind: str) -> Table:
    return {"request": rental_requests, "lease": leases}[kind]


def _rental(row: Any) -> Rental:
    return Rental(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant=row.tenant,
        gpu_model=row.gpu_model,
        gpus=row.gpus,
        start=to_utc(row.start),
        end=to_utc(row.end),
        price_micros=row.price_micros,
        rental_class=row.rental_class,
        notice_hours=row.notice_hours,
        contiguous=bool(row.contiguous),
        status=row.status,
        created_at=to_utc(row.created_at),
    )


def add(conn: Connection, kind: str, rentals: Sequence[Rental]) -> None:
    if rentals:
        rows = [{name: getattr(r, name) for name in _FIELDS} for r in rentals]
        conn.execute(insert(table_for(kind)), rows)


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for table in (rental_requests, leases):
        found |= set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
    return found


def _select(table: Table) -> Any:
    return select(table, tenants.c.name.label("tenant")).join(
        tenants, tenants.c.id == table.c.tenant_id
    )


def get(conn: Connection, kind: str, rental_id: str, tenant_id: int | None) -> Rental | None:
    table = table_for(kind)
    query = _select(table).where(table.c.id == rental_id)
    if tenant_id is not None:
        query = query.where(table.c.tenant_id == tenant_id)
    row = conn.execute(query).first()
    return _rental(row) if row else None


def page(
    conn: Connection,
    kind: str,
    *,
    tenant_id: int | None,
    status: str | None,
    after: str | None,
    limit: int,
) -> list[Rental]:
    table = table_for(kind)
    query = _select(table).order_by(table.c.id).limit(limit)
    if tenant_id is not None:
        query = query.where(table.c.tenant_id == tenant_id)
    if status is not None:
        query = query.where(table.c.status == status)
    if after is not None:
        query = query.where(table.c.id > after)
    return [_rental(row) for row in conn.execute(query)]


def totals(conn: Connection, kind: str, status: str | None) -> list[tuple[str, int, int]]:
    """Per GPU model: (model, number of rentals, GPUs) — for the fleet summary."""
    table = table_for(kind)
    query = select(table.c.gpu_model, func.count(), func.sum(table.c.gpus)).group_by(
        table.c.gpu_model
    )
    if status is not None:
        query = query.where(table.c.status == status)
    return [(m, int(n), int(g)) for m, n, g in conn.execute(query)]
