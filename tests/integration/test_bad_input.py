"""Bad input is a clear 4xx naming what is wrong, never a 500, and never half-written."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db import tables
from gpufleet.services.database import Database
from tests.conftest import Actor, LiveServer, make_tenant
from tests.integration.support import (
    error_of,
    expect,
    import_small,
    issue_paths,
    scenario_doc,
)

LIMIT = 2 * 1024 * 1024  # the live server's body limit
TERMS: dict[str, Any] = {"gpu_model": "H100", "gpus": 8, "start": "2027-02-01",
                         "end": "2027-03-01", "price_per_gpu_hour": 2.5}  # fmt: skip
WRITTEN = ("gpu_models", "fleet_settings", "clusters", "pods", "blocks", "nodes", "tenants",
           "programs", "rental_requests", "leases")  # fmt: skip


@pytest.fixture
def op(live_server: LiveServer, operator: Actor) -> Iterator[httpx.Client]:
    with live_server.client(operator) as client:
        yield client


@pytest.fixture
def fleet(op: httpx.Client) -> httpx.Client:
    """The operator's client, on a server with small.yaml imported."""
    import_small(op)
    return op


@pytest.fixture
def tenant(live_server: LiveServer, db: Database, operator: Actor) -> Iterator[httpx.Client]:
    with live_server.client(make_tenant(db, operator, "acme")) as client:
        yield client


def row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            name: conn.execute(
                select(func.count()).select_from(tables.metadata.tables[name])
            ).scalar_one()
            for name in WRITTEN
        }


def _post_raw(client: httpx.Client, path: str, content: bytes | Iterator[bytes]) -> httpx.Response:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "path",
    ["/v1/tenants", "/v1/tenants/acme/api-keys", "/v1/fleet/import", "/v1/programs",
     "/v1/fleet/nodes/1/state", "/v1/rental-requests"],
)  # fmt: skip
@pytest.mark.parametrize("raw", [b'{"name": "x"', b"{'name': 'x'}", b"\xff\xfe{", b"nul"])
def test_malformed_json_is_400(
    op: httpx.Client, tenant: httpx.Client, path: str, raw: bytes
) -> None:
    client = tenant if path == "/v1/rental-requests" else op
    error = error_of(_post_raw(client, path, raw), 400)
    assert error["code"] == "malformed_json"
    assert "JSON" in error["message"]


BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    # (who, path, body, the issue path that must be named)
    ("op", "/v1/tenants", {"name": 5}, "name"),
    ("op", "/v1/tenants", {"name": "ok", "kind": "partner"}, "kind"),
    ("op", "/v1/tenants", {"name": "ok", "owner": "me"}, "owner"),
    ("op", "/v1/tenants", {"name": "no spaces please"}, "name"),
    ("op", "/v1/tenants", {"name": "x" * 101}, "name"),
    ("op", "/v1/tenants/acme/api-keys", {"expires_in_days": -1}, "expires_in_days"),
    ("op", "/v1/tenants/acme/api-keys", {"expires_in_days": 0}, "expires_in_days"),
    ("op", "/v1/tenants/acme/api-keys", {"expires_in_days": 10**9}, "expires_in_days"),
    ("op", "/v1/tenants/acme/api-keys", {"expires_in_days": "soon"}, "expires_in_days"),
    ("op", "/v1/tenants/acme/api-keys", {"name": ""}, "name"),
    ("op", "/v1/tenants/acme/api-keys", {"name": "k", "role": "operator"}, "role"),
    ("op", "/v1/tenants/acme/api-keys", {"name": "a\u0000b"}, "name"),
    ("op", "/v1/fleet/nodes/1/state", {"state": "exploded"}, "state"),
    ("op", "/v1/fleet/nodes/1/state", {"state": "down", "reason": "r" * 501}, "reason"),
    ("op", "/v1/fleet/nodes/1/state", {"state": "down", "reason": "a\u0000b"}, "reason"),
    ("op", "/v1/fleet/nodes/1/state", {}, "state"),
    (
        "op",
        "/v1/programs",
        {"name": "p", "kind": "inference", "gpu_models": ["H100"], "gpus": -1},
        "gpus",
    ),
    ("op", "/v1/programs", {"name": "p", "kind": "batch", "gpu_models": ["H100"]}, "kind"),
    (
        "op",
        "/v1/programs",
        {
            "name": "p",
            "kind": "training",
            "gpu_models": ["H100"],
            "work_gpu_hours": 1e6,
            "delay_cost_per_day": 1,
            "earliest_start": "2027-03-01",
            "due": "2027-02-01",
        },
        "due",
    ),
    (
        "op",
        "/v1/programs",
        {"name": "p", "kind": "inference", "gpu_models": ["A1"], "gpus": 8},
        "gpu_models[0]",
    ),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": "8"}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": 8.5}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": True}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": -8}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": 0}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": 10**12}, "gpus"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpus": 10**40}, "gpus"),
    (
        "tenant",
        "/v1/rental-requests",
        {**TERMS, "price_per_gpu_hour": -2.5},
        "price_per_gpu_hour",
    ),
    (
        "tenant",
        "/v1/rental-requests",
        {**TERMS, "price_per_gpu_hour": 1e9},
        "price_per_gpu_hour",
    ),
    (
        "tenant",
        "/v1/rental-requests",
        {**TERMS, "price_per_gpu_hour": 2.0000001},
        "price_per_gpu_hour",
    ),
    (
        "tenant",
        "/v1/rental-requests",
        {**TERMS, "price_per_gpu_hour": "2.5"},
        "price_per_gpu_hour",
    ),
    ("tenant", "/v1/rental-requests", {**TERMS, "notice_hours": 10**6}, "notice_hours"),
    ("tenant", "/v1/rental-requests", {**TERMS, "class": "spot"}, "class"),
    ("tenant", "/v1/rental-requests", {**TERMS, "class": "interruptible"}, "notice_hours"),
    ("tenant", "/v1/rental-requests", {**TERMS, "start": "next week"}, "start"),
    ("tenant", "/v1/rental-requests", {**TERMS, "start": "2027-02-01T00:00:00"}, "start"),
    ("tenant", "/v1/rental-requests", {**TERMS, "start": "9999-01-01"}, "start"),
    ("tenant", "/v1/rental-requests", {**TERMS, "end": "2027-01-01"}, "end"),
    ("tenant", "/v1/rental-requests", {**TERMS, "end": TERMS["start"]}, "end"),
    ("tenant", "/v1/rental-requests", {**TERMS, "customer": "someone-else"}, "customer"),
    ("tenant", "/v1/rental-requests", {**TERMS, "id": "bad id!"}, "id"),
    ("tenant", "/v1/rental-requests", {**TERMS, "gpu_model": "Z900"}, "gpu_model"),
    ("tenant", "/v1/rental-requests", {k: v for k, v in TERMS.items() if k != "gpus"}, "gpus"),
]


@pytest.mark.parametrize(
    ("who", "path", "body", "field"), BAD_BODIES, ids=[f"{b[2]}"[:60] for b in BAD_BODIES]
)
def test_invalid_fields_are_422_naming_the_field(
    fleet: httpx.Client,
    tenant: httpx.Client,
    db: Database,
    who: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = row_counts(db)
    client = fleet if who == "op" else tenant
    response = client.post(path, json=body)
    error = error_of(response, 422)
    assert error["code"] == "invalid_input"
    assert field in [i["path"] for i in error["issues"]], error
    assert all(i["message"] for i in error["issues"])
    assert row_counts(db) == before


def test_a_rental_request_for_an_unknown_gpu_model_names_gpu_model(
    fleet: httpx.Client, tenant: httpx.Client
) -> None:
    error = error_of(tenant.post("/v1/rental-requests", json={**TERMS, "gpu_model": "Z900"}),
                     422)  # fmt: skip
    assert [i["path"] for i in error["issues"]] == ["gpu_model"]
    message = error["issues"][0]["message"]
    assert "Z900" in message
    assert "H100" in message
    assert "GB200" in message
    assert expect(tenant.get("/v1/rental-requests"), 200)["items"] == []


BAD_QUERIES: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/fleet/nodes", {"limit": 0}, "limit"),
    ("/v1/fleet/nodes", {"limit": 1001}, "limit"),
    ("/v1/fleet/nodes", {"limit": 10**30}, "limit"),
    ("/v1/fleet/nodes", {"limit": "ten"}, "limit"),
    ("/v1/fleet/nodes", {"pod": -1}, "pod"),
    ("/v1/fleet/nodes", {"pod": 10**30}, "pod"),
    ("/v1/fleet/nodes", {"block": 2**40}, "block"),
    ("/v1/fleet/nodes", {"state": "melted"}, "state"),
    ("/v1/fleet/nodes", {"cluster": "c" * 101}, "cluster"),
    ("/v1/fleet/nodes", {"cluster": "a\u0000b"}, "cluster"),
    ("/v1/events", {"kind": "k" * 65}, "kind"),
    ("/v1/events", {"kind": "a\u0000b"}, "kind"),
    ("/v1/events", {"limit": -5}, "limit"),
    ("/v1/rental-requests", {"status": "maybe"}, "status"),
    ("/v1/leases", {"limit": 5000}, "limit"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_QUERIES)
def test_invalid_query_parameters_are_422_naming_them(
    fleet: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    assert issue_paths(fleet.get(path, params=params)) == [field]


@pytest.mark.parametrize(
    "cursor", ["abc", "-1", "1.5", "1e3", " 1", "²", "٣", "9" * 30, "0x10", "a\u0000b"]
)
@pytest.mark.parametrize("path", ["/v1/fleet/nodes", "/v1/events"])
def test_a_bad_cursor_is_422(fleet: httpx.Client, path: str, cursor: str) -> None:
    error = error_of(fleet.get(path, params={"cursor": cursor}), 422)
    assert [i["path"] for i in error["issues"]] == ["cursor"], error


@pytest.mark.parametrize("path", ["/v1/rental-requests", "/v1/leases"])
@pytest.mark.parametrize("cursor", ["x" * 201, "a\u0000b"])
def test_a_bad_rental_cursor_is_422(fleet: httpx.Client, path: str, cursor: str) -> None:
    assert issue_paths(fleet.get(path, params={"cursor": cursor})) == ["cursor"]


def _padded_import(size: int) -> bytes:
    """small.yaml as JSON, padded with spaces to exactly `size` bytes."""
    raw = json.dumps(scenario_doc()).encode()
    assert len(raw) < size
    return raw + b" " * (size - len(raw))


def _chunks(raw: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413(op: httpx.Client, db: Database, chunked: bool) -> None:
    raw = _padded_import(LIMIT + 1)
    response = _post_raw(op, "/v1/fleet/import", _chunks(raw) if chunked else raw)
    sent = response.request.headers
    assert ("content-length" not in sent) == chunked
    error = error_of(response, 413)
    assert error["code"] == "payload_too_large"
    assert str(LIMIT) in error["message"]
    assert row_counts(db)["clusters"] == 0
    # A body of exactly the limit is read and imported.
    exact = _padded_import(LIMIT)
    expect(_post_raw(op, "/v1/fleet/import", _chunks(exact) if chunked else exact), 201)


def test_an_oversized_body_is_413_even_without_a_key(live_server: LiveServer) -> None:
    anonymous = live_server.client()
    response = _post_raw(anonymous, "/v1/rental-requests", _chunks(b" " * (LIMIT + 10)))
    assert error_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/rental-requests/no-such-request"),
        ("GET", "/v1/leases/no-such-lease"),
        ("GET", "/v1/leases/rfq-1"),  # a request's id is not a lease's
        ("GET", "/v1/tenants/nobody/api-keys"),
        ("POST", "/v1/tenants/nobody/api-keys"),
        ("DELETE", "/v1/api-keys/key_0000000000000000"),
        ("DELETE", "/v1/api-keys/not-a-key-id"),
        ("POST", "/v1/fleet/nodes/0/state"),
        ("POST", "/v1/fleet/nodes/-1/state"),
        ("POST", "/v1/fleet/nodes/987654321/state"),
        ("POST", f"/v1/fleet/nodes/{2**63}/state"),
        ("POST", f"/v1/fleet/nodes/{10**40}/state"),
    ],
)
def test_unknown_ids_are_404(fleet: httpx.Client, method: str, path: str) -> None:
    body = {"state": "down"} if "/state" in path else {} if method == "POST" else None
    response = fleet.request(method, path, json=body)
    assert error_of(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/v1/rental-requests/ab%00c", "request_id"),
        ("GET", "/v1/leases/ab%00c", "lease_id"),
        ("GET", "/v1/tenants/ab%00c/api-keys", "tenant"),
        ("DELETE", "/v1/api-keys/key_%00", "key_id"),
        ("POST", "/v1/fleet/nodes/abc/state", "node_id"),
    ],
)
def test_ids_no_object_can_have_are_422_naming_the_parameter(
    fleet: httpx.Client, method: str, path: str, field: str
) -> None:
    body = {"state": "down"} if "/state" in path else None
    assert issue_paths(fleet.request(method, path, json=body)) == [field]


def _broken_small() -> tuple[dict[str, Any], set[str]]:
    doc = scenario_doc()
    doc["version"] = 2
    doc["clusters"][0]["color"] = "blue"
    doc["clusters"][1]["pods"] = -4
    doc["programs"][0]["gpu_models"] = ["TPU"]
    doc["rental_requests"][0]["end"] = "2027-01-01"
    doc["rental_requests"][1]["gpu_model"] = "Z900"
    doc["rental_requests"][2]["id"] = "rfq-4"
    doc["leases"][0]["price_per_gpu_hour"] = 0
    expected = {
        "version", "clusters[0].color", "clusters[1].pods", "programs[0].gpu_models[0]",
        "rental_requests[0].end", "rental_requests[1].gpu_model", "rental_requests[2].id",
        "rental_requests[3].id", "leases[0].price_per_gpu_hour",
    }  # fmt: skip
    return doc, expected


def test_an_invalid_scenario_is_422_listing_every_issue_and_writes_nothing(
    op: httpx.Client, db: Database
) -> None:
    before = row_counts(db)
    events_before = expect(op.get("/v1/events"), 200)
    doc, expected = _broken_small()
    error = error_of(op.post("/v1/fleet/import", json=doc), 422)
    assert error["code"] == "invalid_scenario"
    paths = [i["path"] for i in error["issues"]]
    assert set(paths) == expected, error
    assert error["message"] == f"scenario has {len(paths)} errors"

    assert row_counts(db) == before == dict.fromkeys(WRITTEN, 0)
    summary = expect(op.get("/v1/fleet"), 200)
    assert summary["installed_gpus"] == 0
    assert summary["clusters"] == []
    assert summary["name"] is None
    assert summary["pending_requests"] == []
    assert expect(op.get("/v1/tenants"), 200) == []
    assert expect(op.get("/v1/events"), 200) == events_before


@pytest.mark.parametrize("body", [[], "scenario", 1, None, {}])
def test_an_import_that_is_not_a_scenario_is_422(op: httpx.Client, db: Database, body: Any) -> None:
    response = op.post("/v1/fleet/import", content=json.dumps(body),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert error_of(response, 422)["issues"]
    assert row_counts(db) == dict.fromkeys(WRITTEN, 0)


def _state(op: httpx.Client, db: Database) -> dict[str, Any]:
    return {
        "rows": row_counts(db),
        "summary": expect(op.get("/v1/fleet"), 200),
        "tenants": expect(op.get("/v1/tenants"), 200),
        "events": expect(op.get("/v1/events", params={"limit": 1000}), 200),
        "requests": expect(op.get("/v1/rental-requests", params={"limit": 1000}), 200),
    }


def test_importing_the_same_scenario_twice_is_409_and_writes_nothing(
    fleet: httpx.Client, db: Database
) -> None:
    before = _state(fleet, db)
    assert before["rows"]["nodes"] == 960
    error = error_of(fleet.post("/v1/fleet/import", json=scenario_doc()), 409)
    assert error["code"] == "conflict"
    assert "nothing was written" in error["message"]
    assert "lab-h100-a" in error["message"]
    assert _state(fleet, db) == before


@pytest.mark.parametrize(
    "change",
    ["same rental id", "same program", "other horizon", "other throughput", "internal customer"],
)
def test_an_import_that_overlaps_in_one_thing_writes_nothing(
    fleet: httpx.Client, db: Database, change: str
) -> None:
    """New clusters and customers, but one thing clashes: the new clusters are not written."""
    doc = copy.deepcopy(scenario_doc())
    doc["name"] = "second"
    for cluster in doc["clusters"]:
        cluster["name"] += "-2"
    for rental in doc["rental_requests"] + doc["leases"]:
        rental["id"] += "-2"
        rental["customer"] = "new-" + rental["customer"]
    doc["programs"] = []
    if change == "same rental id":
        doc["rental_requests"][-1]["id"] = "rfq-7"
    elif change == "same program":
        doc["programs"] = [{"name": "chat-api", "kind": "inference", "gpu_models": ["H100"],
                            "gpus": 8}]  # fmt: skip
    elif change == "other horizon":
        doc["horizon"]["periods"] = 27
    elif change == "other throughput":
        doc["gpu_models"][1]["relative_throughput"] = 3.0
    else:
        doc["leases"][0]["customer"] = "internal"
    before = _state(fleet, db)
    assert error_of(fleet.post("/v1/fleet/import", json=doc), 409)["code"] == "conflict"
    assert _state(fleet, db) == before


def test_the_overlap_check_is_not_too_eager(fleet: httpx.Client, db: Database) -> None:
    """The control for the test above: without the clash the same import goes in."""
    doc = copy.deepcopy(scenario_doc())
    for cluster in doc["clusters"]:
        cluster["name"] += "-2"
    for rental in doc["rental_requests"] + doc["leases"]:
        rental["id"] += "-2"
    doc["programs"] = []
    expect(fleet.post("/v1/fleet/import", json=doc), 201)
    assert row_counts(db)["nodes"] == 2 * 960
