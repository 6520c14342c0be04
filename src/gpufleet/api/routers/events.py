"""The event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gpufleet.api.deps import Caller, Cursor, Db, Limit, int_cursor
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.events import EventOut
from gpufleet.services import events

router = APIRouter(prefix="/v1", tags=["events"])


@router.get("/events")
def list_events(
    db: Db,
    caller: Caller,
    limit: Limit = 100,
    cursor: Cursor = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[EventOut]:
    """Events, oldest first: a tenant's own, or all of them for the operator."""
    found = events.list_events(db, caller, int_cursor(cursor), limit, kind)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page[EventOut](items=[EventOut.of(e) for e in found], next_cursor=next_cursor)
