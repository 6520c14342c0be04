"""`gpufleet events --follow`: read GET /v1/events/stream, reconnecting from the last id."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import httpx

from gpufleet.api.schemas.events import EventOut
from gpufleet.cli.client import error_from
from gpufleet.cli.output import console, fmt
from gpufleet.domain.errors import NotAuthenticated

RECONNECT_S = 2.0


def follow_events(
    url: str, key: str | None, kind: str | None, after: int | None, as_json: bool,
    max_seconds: float = 600.0,
) -> None:  # fmt: skip
    """Prints events as they come, for ever (Ctrl-C ends it); the server closes a stream
    after `max_seconds` and this reconnects from the last event seen."""
    headers = {"Accept": "text/event-stream"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    last = after
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as http:
        while True:
            params = {"max_seconds": max_seconds, "kind": kind, "after": last}
            clean = {k: v for k, v in params.items() if v is not None}
            try:
                with http.stream("GET", "/v1/events/stream", params=clean) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise error_from(response)
                    for event in _events(response):
                        last = event.id
                        _print(event, as_json)
            except httpx.TransportError as exc:
                console.print(f"[yellow]stream lost ({exc.__class__.__name__}); "
                              "reconnecting[/]", highlight=False)  # fmt: skip
                time.sleep(RECONNECT_S)


def _events(response: httpx.Response) -> Iterator[EventOut]:
    """The stream's events. The server ends a stream whose key was revoked or expired with
    `event: error` (its data is no event): that is NotAuthenticated, not a parse failure."""
    name, data = "", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "":
            if name == "error":
                raise NotAuthenticated("the key was revoked or expired while following events")
            if data:
                yield EventOut.model_validate_json("\n".join(data))
            name, data = "", []


def _print(event: EventOut, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(event.model_dump(mode="json")) + "\n")
        sys.stdout.flush()
        return
    console.print(f"{event.id:>8}  {fmt(event.at)}  {event.kind:<28} {event.tenant or '—':<16} "
                  f"{event.subject}", highlight=False, markup=False)  # fmt: skip
