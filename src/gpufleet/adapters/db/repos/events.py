"""The append-only event log: insert and read, never update or delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from gpufleet.adapters.db.tables import events, tenants
from gpufleet.domain.events import Event, NewEvent
from gpufleet.domain.timeutil import to_utc


def append(conn: Connection, new: Sequence[NewEvent], now: datetime) -> None:
    if new:
        rows = [
            {"at": now, "kind": e.kind, "tenant_id": e.tenant_id, "subject": e.subject,
             "data": e.data}
            for e in new
        ]  # fmt: skip
        conn.execute(insert(events), rows)


def _event(row: Any) -> Event:
    return Event(
        row.id, to_utc(row.at), row.kind, row.tenant_id, row.subject, dict(row.data), row.tenant
    )


def page(
    conn: Connection,
    *,
    tenant_id: int | None,
    after: int,
    limit: int,
    kind: str | None = None,
) -> list[Event]:
    """Events with id > `after`, oldest first; `tenant_id` None means every event."""
    query = (
        select(events, tenants.c.name.label("tenant"))
        .outerjoin(tenants, tenants.c.id == events.c.tenant_id)
        .where(events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    if tenant_id is not None:
        query = query.where(events.c.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(events.c.kind == kind)
    return [_event(row) for row in conn.execute(query)]
