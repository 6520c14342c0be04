"""The event log: pages, and a live stream (server-sent events)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from gpufleet.api.deps import Caller, Cursor, Db, Limit, int_cursor
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.events import EventOut
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import NotAuthenticated
from gpufleet.services import access, events
from gpufleet.services.database import Database

router = APIRouter(prefix="/v1", tags=["events"])

POLL_SECONDS = 0.5  # how often an open stream looks for new events
BATCH = 500
Kind = Annotated[str | None, Query(max_length=64)]


@router.get("/events")
def list_events(
    db: Db, caller: Caller, limit: Limit = 100, cursor: Cursor = None, kind: Kind = None
) -> Page[EventOut]:
    """Events, oldest first: a tenant's own, or all of them for the operator."""
    return _page(db, caller, int_cursor(cursor), limit, kind)


def _page(
    db: Database, caller: Principal, after: int, limit: int, kind: str | None
) -> Page[EventOut]:
    found = events.list_events(db, caller, after, limit, kind)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page[EventOut](items=[EventOut.of(e) for e in found], next_cursor=next_cursor)


@router.get(
    "/events/stream",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
def stream(
    request: Request,
    db: Db,
    caller: Caller,
    after: Cursor = None,
    kind: Kind = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    heartbeat: Annotated[float, Query(ge=0.5, le=300)] = 15.0,
    max_seconds: Annotated[float, Query(gt=0, le=3600)] = 600.0,
) -> StreamingResponse | Page[EventOut]:
    """New events as they happen, as server-sent events (`Accept: text/event-stream`): each
    `id: N`, `event: KIND`, `data: {event JSON}`; a comment line every `heartbeat` seconds
    keeps proxies from closing an idle stream (and re-checks the key: a revoked key's stream
    ends with `event: error`). A tenant sees its own events, the operator all. Starts after
    `after` or the `Last-Event-ID` header (a reconnecting EventSource sends it); closes
    after `max_seconds` and the client reconnects from its last id. Without
    `Accept: text/event-stream` it answers the next page of events as JSON, as
    `GET /v1/events` does, so a plain HTTP client always gets a finite answer."""
    start = int_cursor(last_event_id if last_event_id is not None else after)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return _page(db, caller, start, 100, kind)
    lines = _event_lines(request, db, caller, start, kind, heartbeat, max_seconds)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines, media_type="text/event-stream", headers=headers)


async def _event_lines(
    request: Request, db: Database, caller: Principal, after: int, kind: str | None,
    heartbeat: float, max_seconds: float,
) -> AsyncIterator[str]:  # fmt: skip
    until = time.monotonic() + max_seconds
    beat = time.monotonic()
    yield "retry: 2000\n\n"
    while time.monotonic() < until and not await request.is_disconnected():
        found = await anyio.to_thread.run_sync(events.list_events, db, caller, after, BATCH,
                                               kind)  # fmt: skip
        for event in found:
            body = EventOut.of(event).model_dump_json()
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {body}\n\n"
            after = event.id
        if len(found) == BATCH:
            continue
        if time.monotonic() - beat >= heartbeat:
            # A key revoked or expired while its stream is open stops the stream here.
            if not await anyio.to_thread.run_sync(_still_valid, db, request):
                yield 'event: error\ndata: {"code": "unauthenticated"}\n\n'
                return
            yield ": heartbeat\n\n"
            beat = time.monotonic()
        await anyio.sleep(POLL_SECONDS)


def _still_valid(db: Database, request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        access.authenticate(db, token if scheme.lower() == "bearer" else None)
    except NotAuthenticated:
        return False
    return True
