"""GET /v1/events/stream: server-sent events, each tenant its own, live, resumable."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from gpufleet.cli import events_follow as follow
from gpufleet.domain.errors import NotAuthenticated
from tests.conftest import Actor, LiveServer, make_tenant
from tests.integration.support import expect

SSE = {"Accept": "text/event-stream"}
TERMS = {"gpu_model": "H100", "gpus": 8, "start": "2027-02-01", "end": "2027-03-01",
         "price_per_gpu_hour": 2.5}  # fmt: skip


def read_stream(
    client: httpx.Client, seconds: float, headers: dict[str, str] | None = None,
    **params: Any,
) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """Every event of a stream held open `seconds`, and its comment lines."""
    found: list[dict[str, Any]] = []
    comments: list[str] = []
    query = {"max_seconds": seconds, **params}
    with client.stream("GET", "/v1/events/stream", params=query,
                       headers={**SSE, **(headers or {})}) as response:  # fmt: skip
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert str(event["id"]) == fields["id"]
                    assert event["kind"] == fields["event"]
                    found.append(event)
                fields = {}
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
    return found, comments


def _setup(live_server: LiveServer, operator: Actor) -> tuple[httpx.Client, httpx.Client]:
    a = live_server.client(make_tenant(live_server.db, operator, "tenant-a"))
    b = live_server.client(make_tenant(live_server.db, operator, "tenant-b"))
    op = live_server.client(operator)
    expect(op.post("/v1/fleet/import", json=_fleet()), 201)
    return a, b


def _fleet() -> dict[str, Any]:
    return {
        "version": 1, "name": "tiny",
        "horizon": {"start": "2027-01-04", "period": "week", "periods": 8},
        "gpu_models": [{"name": "H100", "relative_throughput": 1.0}],
        "clusters": [{"name": "c1", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 2}],
    }  # fmt: skip


def test_a_tenant_streams_its_own_events_live_and_never_anothers(
    live_server: LiveServer, operator: Actor
) -> None:
    a, b = _setup(live_server, operator)
    a_ids = [expect(a.post("/v1/rental-requests", json=TERMS), 201)["id"] for _ in range(3)]
    b_first = expect(b.post("/v1/rental-requests", json=TERMS), 201)["id"]

    def later() -> None:  # while B's stream is open: one more of each
        time.sleep(1.0)
        a_ids.append(expect(a.post("/v1/rental-requests", json=TERMS), 201)["id"])
        b_later.append(expect(b.post("/v1/rental-requests", json=TERMS), 201)["id"])

    b_later: list[str] = []
    writer = threading.Thread(target=later)
    writer.start()
    seen, comments = read_stream(b, 3.0, heartbeat=0.5)
    writer.join()

    received = [e["subject"] for e in seen if e["kind"] == "rental_request.received"]
    assert received == [b_first, *b_later]
    assert {e["tenant"] for e in seen} == {"tenant-b"}
    assert not set(a_ids) & {e["subject"] for e in seen}
    assert ": heartbeat" in comments
    everything, _ = read_stream(live_server.client(operator), 1.0)
    subjects = {e["subject"] for e in everything}
    assert set(a_ids) | {b_first, *b_later} <= subjects
    assert "tiny" in subjects  # the operator's own events (fleet.imported) too


def test_the_stream_resumes_after_the_last_event_id(
    live_server: LiveServer, operator: Actor
) -> None:
    a, _ = _setup(live_server, operator)
    ids = [expect(a.post("/v1/rental-requests", json=TERMS), 201)["id"] for _ in range(4)]
    first, _ = read_stream(a, 1.0, kind="rental_request.received")
    assert [e["subject"] for e in first] == ids
    resumed, _ = read_stream(
        a, 1.0, headers={"Last-Event-ID": str(first[1]["id"])}, kind="rental_request.received"
    )
    assert [e["subject"] for e in resumed] == ids[2:]
    after, _ = read_stream(a, 1.0, after=str(first[2]["id"]), kind="rental_request.received")
    assert [e["subject"] for e in after] == ids[3:]
    bad = a.get("/v1/events/stream", params={"after": "x"}, headers=SSE)
    assert bad.status_code == 422


def test_without_asking_for_a_stream_the_answer_is_one_json_page(
    live_server: LiveServer, operator: Actor
) -> None:
    a, b = _setup(live_server, operator)
    expect(a.post("/v1/rental-requests", json=TERMS), 201)
    own = expect(b.post("/v1/rental-requests", json=TERMS), 201)["id"]
    page = expect(b.get("/v1/events/stream"), 200)
    assert {e["tenant"] for e in page["items"]} == {"tenant-b"}
    assert own in [e["subject"] for e in page["items"]]


def test_a_revoked_key_stream_ends(live_server: LiveServer, operator: Actor) -> None:
    tenant = make_tenant(live_server.db, operator, "tenant-r")
    op = live_server.client(operator)
    timer = threading.Timer(0.5, lambda: op.delete(f"/v1/api-keys/{tenant.principal.key_id}"))
    timer.start()
    began = time.monotonic()
    with live_server.client(tenant).stream(
        "GET", "/v1/events/stream", params={"heartbeat": 0.5, "max_seconds": 30}, headers=SSE
    ) as response:
        lines = list(response.iter_lines())
    timer.join()
    assert time.monotonic() - began < 10
    assert "event: error" in lines


def test_the_cli_reads_a_revoked_keys_stream_end_as_not_authenticated(
    live_server: LiveServer, operator: Actor
) -> None:
    """`gpufleet events --follow` parses the server's own `event: error` ending: it ends
    NotAuthenticated (a clear CLI error), not as an event that fails to parse."""
    tenant = make_tenant(live_server.db, operator, "tenant-f")
    op = live_server.client(operator)
    timer = threading.Timer(0.5, lambda: op.delete(f"/v1/api-keys/{tenant.principal.key_id}"))
    timer.start()
    with (
        live_server.client(tenant).stream(
            "GET", "/v1/events/stream", params={"heartbeat": 0.5, "max_seconds": 30}, headers=SSE
        ) as response,
        pytest.raises(NotAuthenticated, match="revoked or expired"),
    ):
        list(follow._events(response))
    timer.join()
