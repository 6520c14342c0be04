"""Reading the event log: each tenant its own events; the operator all of them."""

from __future__ import annotations

from gpufleet.adapters.db.repos import events as repo
from gpufleet.domain.access import Principal
from gpufleet.domain.events import Event
from gpufleet.services.database import Database


def list_events(
    db: Database, caller: Principal, after: int, limit: int, kind: str | None = None
) -> list[Event]:
    with db.read() as conn:
        if caller.is_operator:
            return repo.page(conn, tenant_id=None, after=after, limit=limit, kind=kind)
        # A tenant key always has a tenant; -1 matches nothing should that ever not hold.
        scope = caller.tenant_id if caller.tenant_id is not None else -1
        return repo.page(conn, tenant_id=scope, after=after, limit=limit, kind=kind)
