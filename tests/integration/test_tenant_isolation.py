"""One tenant can neither read nor change another tenant's objects, through any route.

The routes come from the live server's OpenAPI document, so a route added later is walked too;
a route (or a path parameter, or a request body) this test does not know fails the test until
someone says here what it must do for a stranger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import Actor, LiveServer
from tests.integration.billing_helpers import invoice_of_lease
from tests.integration.support import error_of, expect, import_small, scenario_doc

A = "acme-ai"  # tenant A: a customer of small.yaml (rfq-1, rfq-3, lease-1) ...
B = "beta-labs"  # ... and tenant B, another customer (rfq-2, rfq-6)

# What each route must answer to tenant B when filled with tenant A's ids.
OPERATOR_ONLY = "operator only: 403"
FOREIGN_OBJECT = "A's object in the path: 404, exactly as for an id that does not exist"
OWN_DATA = "B's own data or none: may succeed, never shows A's"
# The gateway speaks OpenAI's protocol: the deployment is named in the body, and errors come in
# OpenAI's shape ({"error": {"message", "type", "param", "code"}}).
FOREIGN_MODEL = "A's provisioned deployment as `model`: 404 model_not_found, as for a missing one"

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): OWN_DATA,
    ("GET", "/v1/whoami"): OWN_DATA,
    ("GET", "/v1/tenants"): OPERATOR_ONLY,
    ("POST", "/v1/tenants"): OPERATOR_ONLY,
    ("POST", "/v1/tenants/{tenant}/api-keys"): FOREIGN_OBJECT,
    ("GET", "/v1/tenants/{tenant}/api-keys"): FOREIGN_OBJECT,
    ("DELETE", "/v1/api-keys/{key_id}"): FOREIGN_OBJECT,
    ("POST", "/v1/fleet/import"): OPERATOR_ONLY,
    ("GET", "/v1/fleet"): OPERATOR_ONLY,
    ("GET", "/v1/fleet/nodes"): OPERATOR_ONLY,
    ("POST", "/v1/fleet/nodes/{node_id}/state"): OPERATOR_ONLY,
    ("GET", "/v1/programs"): OPERATOR_ONLY,
    ("POST", "/v1/programs"): OPERATOR_ONLY,
    # The server names requests, so B can only ever create its own.
    ("POST", "/v1/rental-requests"): OWN_DATA,
    ("GET", "/v1/rental-requests"): OWN_DATA,
    ("GET", "/v1/rental-requests/{request_id}"): FOREIGN_OBJECT,
    ("GET", "/v1/leases"): OWN_DATA,
    ("GET", "/v1/leases/{lease_id}"): FOREIGN_OBJECT,
    ("GET", "/v1/events"): OWN_DATA,
    ("POST", "/v1/rental-requests/{request_id}/quote"): OPERATOR_ONLY,
    ("POST", "/v1/plans"): OPERATOR_ONLY,
    ("GET", "/v1/plans"): OPERATOR_ONLY,
    ("GET", "/v1/plans/{plan_id}"): OPERATOR_ONLY,
    ("POST", "/v1/plans/{plan_id}/apply"): OPERATOR_ONLY,
    ("POST", "/v1/rental-requests/{request_id}/accept"): OPERATOR_ONLY,
    ("GET", "/v1/events/stream"): OWN_DATA,
    ("POST", "/v1/billing/close-month"): OPERATOR_ONLY,
    ("POST", "/v1/billing/adjust"): OPERATOR_ONLY,
    ("GET", "/v1/billing/reconcile"): OPERATOR_ONLY,
    ("GET", "/v1/usage"): OWN_DATA,
    ("GET", "/v1/invoices"): OWN_DATA,
    ("GET", "/v1/invoices/{invoice_id}"): FOREIGN_OBJECT,
    ("GET", "/v1/leases/{lease_id}/credit-tiers"): FOREIGN_OBJECT,
    ("PUT", "/v1/leases/{lease_id}/credit-tiers"): OPERATOR_ONLY,
    # Hosting (tests/integration/test_hosting_isolation.py also calls a real provisioned one).
    ("POST", "/v1/chat/completions"): FOREIGN_MODEL,
    ("POST", "/v1/completions"): FOREIGN_MODEL,
    ("POST", "/v1/admin/models"): OPERATOR_ONLY,
    ("GET", "/v1/admin/models"): OPERATOR_ONLY,
    ("GET", "/v1/models"): OWN_DATA,
    ("POST", "/v1/admin/deployments"): OPERATOR_ONLY,
    ("GET", "/v1/deployments"): OWN_DATA,
    ("GET", "/v1/deployments/{deployment}"): FOREIGN_OBJECT,
    ("POST", "/v1/admin/deployments/{deployment}/replicas"): OPERATOR_ONLY,
    ("GET", "/v1/admin/deployments/{deployment}/replicas"): FOREIGN_OBJECT,  # any tenant: 404
    ("POST", "/v1/admin/limits"): OPERATOR_ONLY,
    ("GET", "/v1/token-usage"): OWN_DATA,
    ("POST", "/v1/tenants/{tenant}/inference-keys"): FOREIGN_OBJECT,
    ("POST", "/v1/ops/advance"): OPERATOR_ONLY,
    ("GET", "/v1/ops/status"): OPERATOR_ONLY,
    ("POST", "/v1/ops/place-recorded-leases"): OPERATOR_ONLY,
}

A_DEPLOYMENT = "a-private-model"  # as `deployment` in World.foreign
TERMS = {"gpu_model": "H100", "gpus": 8, "start": "2027-02-01", "end": "2027-03-01",
         "price_per_gpu_hour": 2.5}  # fmt: skip


def body_for(method: str, path: str, world: World) -> Any:
    """A plausible body for each route that takes one, aimed at A's objects where it can be."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/tenants"): {"name": A, "kind": "external"},
        ("POST", "/v1/tenants/{tenant}/api-keys"): {"name": "stolen", "expires_in_days": 30},
        ("POST", "/v1/fleet/import"): scenario_doc(),
        ("POST", "/v1/fleet/nodes/{node_id}/state"): {"state": "down", "reason": "by B"},
        ("POST", "/v1/programs"): {
            "name": "b-program",
            "kind": "inference",
            "gpu_models": ["H100"],
            "gpus": 8,
        },
        ("POST", "/v1/rental-requests"): dict(TERMS),
        ("POST", "/v1/plans"): {"gap": 0.01},
        ("POST", "/v1/billing/close-month"): {"month": "2026-01"},
        ("PUT", "/v1/leases/{lease_id}/credit-tiers"): {
            "tiers": [{"below_percent": 99.9, "credit_percent": 100}]
        },
        ("POST", "/v1/admin/models"): {"name": "b-model", "source": "dir:/tmp"},
        ("POST", "/v1/admin/deployments"): {"name": "b-dep", "model": "b-model"},
        ("POST", "/v1/admin/deployments/{deployment}/replicas"): {
            "min_replicas": 0,
            "max_replicas": 4,
        },
        ("POST", "/v1/admin/limits"): {"tenant": A, "requests_per_minute": 0},
        ("POST", "/v1/tenants/{tenant}/inference-keys"): {"name": "stolen"},
        ("POST", "/v1/ops/advance"): {"until": "2027-01-05", "seed": 1},
        ("POST", "/v1/chat/completions"): {
            "model": A_DEPLOYMENT,
            "messages": [{"role": "user", "content": "hi"}],
        },
        ("POST", "/v1/completions"): {"model": A_DEPLOYMENT, "prompt": "hi"},
    }
    if (method, path) not in bodies:
        pytest.fail(f"{method} {path} takes a body this test does not know: add one here")
    return bodies[(method, path)]


@dataclass
class World:
    """Tenant A with a key, a request and a lease; tenant B with its own key; an operator."""

    operator: httpx.Client
    a: httpx.Client
    b: httpx.Client
    a_key_id: str
    a_token: str
    b_token: str
    operator_key_id: str
    node_id: int
    a_request_id: str  # the request A submitted itself (the server named it)
    # Path parameter name -> the values of A's (or the operator's) objects to try as B.
    foreign: dict[str, list[str]] = field(default_factory=dict)
    # Strings that B must never see unless B sent them itself.
    secrets: set[str] = field(default_factory=set)


@pytest.fixture
def world(live_server: LiveServer, operator: Actor) -> Iterator[World]:
    op = live_server.client(operator)
    result = import_small(op)
    assert result["rental_requests"] == 7
    a_key = expect(op.post(f"/v1/tenants/{A}/api-keys", json={"name": "a-key"}), 201)
    b_key = expect(op.post(f"/v1/tenants/{B}/api-keys", json={"name": "b-key"}), 201)
    a = httpx.Client(base_url=live_server.url, headers=_bearer(a_key["api_key"]), timeout=60)
    b = httpx.Client(base_url=live_server.url, headers=_bearer(b_key["api_key"]), timeout=60)
    # The server names every request, so B cannot probe A's ids by choosing one that clashes.
    a_private = expect(a.post("/v1/rental-requests", json=TERMS), 201)["id"]
    node_id = expect(op.get("/v1/fleet/nodes", params={"limit": 1}), 200)["items"][0]["id"]
    plan_id = expect(op.post("/v1/plans", json={"gap": 0.01}), 202)["id"]
    a_requests = [a_private, "rfq-1", "rfq-3"]
    foreign = {
        "tenant": [A, "internal"],
        "key_id": [a_key["id"], operator.principal.key_id],
        "request_id": a_requests,
        "lease_id": ["lease-1"],
        "node_id": [str(node_id)],
        "plan_id": [plan_id],
        "invoice_id": [invoice_of_lease(live_server.db, op, "lease-1")],
        "deployment": [A_DEPLOYMENT],  # test_hosting_isolation.py checks real ones
    }
    doc = scenario_doc()
    others = [r for r in doc["rental_requests"] + doc["leases"] if r["customer"] != B]
    secrets = {
        A, "gamma-bio", "delta-labs", a_key["id"], a_key["api_key"], operator.principal.key_id,
        operator.token, a_private, "model-v2", "chat-api",
        *(r["id"] for r in others), *(c["name"] for c in doc["clusters"]),
    }  # fmt: skip
    try:
        yield World(op, a, b, a_key["id"], a_key["api_key"], b_key["api_key"],
                    operator.principal.key_id, node_id, a_private, foreign, secrets)  # fmt: skip
    finally:
        for client in (op, a, b):
            client.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def openapi_operations(client: httpx.Client) -> list[tuple[str, str, dict[str, Any]]]:
    document = expect(client.get("/openapi.json"), 200)
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def snapshot(world: World) -> dict[str, Any]:
    """Everything of A's as A and the operator see it, to compare after B's walk."""
    op, a = world.operator, world.a
    return {
        "a_whoami": expect(a.get("/v1/whoami"), 200),
        "a_request": expect(a.get(f"/v1/rental-requests/{world.a_request_id}"), 200),
        "a_requests": expect(a.get("/v1/rental-requests"), 200),
        "a_lease": expect(a.get("/v1/leases/lease-1"), 200),
        "a_leases": expect(a.get("/v1/leases"), 200),
        "a_events": expect(a.get("/v1/events", params={"limit": 1000}), 200),
        "a_keys": expect(op.get(f"/v1/tenants/{A}/api-keys"), 200),
        "tenants": expect(op.get("/v1/tenants"), 200),
        # Less the pending demand: B may add requests of its own, and does in the walk.
        "fleet": {
            k: v for k, v in expect(op.get("/v1/fleet"), 200).items() if k != "pending_requests"
        },
        "nodes_not_up": [
            expect(op.get("/v1/fleet/nodes", params={"state": s}), 200)
            for s in ("down", "draining", "maintenance")
        ],
        "programs": expect(op.get("/v1/programs"), 200),
        "others_requests": [
            r
            for r in expect(op.get("/v1/rental-requests", params={"limit": 1000}), 200)["items"]
            if r["tenant"] != B
        ],
    }


def made_up(value: str) -> str:
    """An id of the same kind and length that names nothing."""
    if value.isdigit():
        return str(10 ** (len(value) - 1) * 9 + 1)
    if value.startswith("key_"):
        return "key_" + "0" * (len(value) - 4)
    return re.sub(r"[A-Za-z0-9]", "x", value)


def _normalised(response: httpx.Response, value: str) -> tuple[int, str, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "date"}
    return response.status_code, response.text.replace(value, "<ID>"), headers


def assert_no_secret(response: httpx.Response, sent: str, secrets: set[str], what: str) -> None:
    shown = {s for s in secrets if s in response.text and s not in sent}
    assert not shown, f"{what} shows {sorted(shown)} to tenant {B}: {response.text[:2000]}"


def fill_path(path: str, operation: dict[str, Any], values: dict[str, str]) -> str:
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            if name not in values:
                pytest.fail(f"path parameter {name!r} of {path}: add A's ids for it to `foreign`")
            path = path.replace("{" + name + "}", values[name])
        elif parameter.get("required"):
            pytest.fail(f"required {parameter['in']} parameter {name!r} of {path} is unknown")
    assert "{" not in path, f"unfilled path parameter in {path}"
    return path


def path_variants(path: str, world: World) -> list[dict[str, str]]:
    """Every way of filling the path with A's ids (one id at a time, per parameter)."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return [{}]
    for name in names:
        if name not in world.foreign:
            pytest.fail(f"path parameter {name!r} of {path}: add A's ids for it to `foreign`")
    return [{name: value} for name in names for value in world.foreign[name]]


def call(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    if body is None:
        return client.request(method, url)
    return client.request(method, url, content=json.dumps(body),
                          headers={"Content-Type": "application/json"})  # fmt: skip


def test_every_route_hides_tenant_a_from_tenant_b(world: World) -> None:
    before = snapshot(world)
    operations = openapi_operations(world.b)
    known = {(m, p) for m, p, _ in operations}
    unknown = sorted(known - set(ROUTES))
    assert not unknown, f"routes this test does not know how to check: {unknown}; add to ROUTES"
    stale = sorted(set(ROUTES) - known)
    assert not stale, f"ROUTES names routes the API no longer has: {stale}"

    walked = 0
    for method, path, operation in operations:
        expectation = ROUTES[(method, path)]
        body = body_for(method, path, world) if "requestBody" in operation else None
        for values in path_variants(path, world):
            url = fill_path(path, operation, values)
            what = f"{method} {url}"
            response = call(world.b, method, url, body)
            walked += 1
            assert response.status_code < 500, f"{what}: {response.text}"
            assert not response.is_success or expectation == OWN_DATA, (
                f"{what} succeeded for tenant {B} ({response.status_code}): {response.text}"
            )
            sent = url + json.dumps(body)
            assert_no_secret(response, sent, world.secrets, what)
            if expectation == OPERATOR_ONLY:
                assert error_of(response, 403)["code"] == "forbidden", what
            elif expectation == FOREIGN_MODEL:
                assert_model_not_found(world, method, url, body, response)
            elif expectation == FOREIGN_OBJECT:
                assert error_of(response, 404)["code"] == "not_found", what
                ((name, value),) = values.items()
                fake = made_up(value)
                assert fake != value
                missing = call(world.b, method, fill_path(path, operation, {name: fake}), body)
                assert _normalised(response, value) == _normalised(missing, fake), (
                    f"{what} answers unlike a missing {name}: {response.text} vs {missing.text}"
                )
            else:
                assert expectation == OWN_DATA
                _assert_only_b(response, what)
    assert walked >= len(ROUTES)

    after = snapshot(world)
    for key in before:
        assert after[key] == before[key], f"{key} changed while tenant B walked the API"
    assert before["a_whoami"]["tenant"] == A


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of an answer in OpenAI's error shape (the gateway's routes)."""
    body = expect(response, status)
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error


def assert_model_not_found(
    world: World, method: str, url: str, body: Any, response: httpx.Response
) -> None:
    assert openai_error(response, 404)["code"] == "model_not_found", url
    fake = made_up(body["model"])
    missing = call(world.b, method, url, {**body, "model": fake})
    assert response.text.replace(body["model"], "<ID>") == missing.text.replace(fake, "<ID>")


def _assert_only_b(response: httpx.Response, what: str) -> None:
    if not response.is_success:
        return
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else body
    if isinstance(items, list):
        tenants = {item.get("tenant") for item in items if isinstance(item, dict)}
        assert tenants <= {B}, f"{what} lists objects of {tenants - {B}}"


def test_tenant_b_lists_only_its_own_requests_leases_and_events(world: World) -> None:
    requests = expect(world.b.get("/v1/rental-requests", params={"limit": 1000}), 200)
    assert {r["id"] for r in requests["items"]} == {"rfq-2", "rfq-6"}
    for status in ("pending", "accepted", "declined"):
        page = expect(world.b.get("/v1/rental-requests", params={"status": status}), 200)
        assert {r["tenant"] for r in page["items"]} <= {B}
    assert expect(world.b.get("/v1/leases"), 200)["items"] == []
    events = expect(world.b.get("/v1/events", params={"limit": 1000}), 200)["items"]
    assert events, "B has events of its own (its requests, its key)"
    assert {e["tenant"] for e in events} == {B}
    # A cursor taken from the middle of A's ids still pages only B's own.
    after_a = expect(world.b.get("/v1/rental-requests", params={"cursor": "rfq-1"}), 200)
    assert {r["id"] for r in after_a["items"]} == {"rfq-2", "rfq-6"}
    # A sees its own, and the operator sees both: the routes do return data.
    mine = expect(world.a.get("/v1/rental-requests"), 200)["items"]
    assert {r["id"] for r in mine} == {world.a_request_id, "rfq-1", "rfq-3"}
    everyone = expect(world.operator.get("/v1/rental-requests"), 200)["items"]
    assert {world.a_request_id, "rfq-2"} <= {r["id"] for r in everyone}


def test_every_route_but_healthz_needs_a_key(live_server: LiveServer, world: World) -> None:
    anonymous = live_server.client()
    for method, path, operation in openapi_operations(anonymous):
        values = {name: vals[0] for name, vals in world.foreign.items()}
        url = fill_path(path, operation, values)
        body = body_for(method, path, world) if "requestBody" in operation else None
        response = call(anonymous, method, url, body)
        if (method, path) == ("GET", "/healthz"):
            expect(response, 200)
            continue
        if ROUTES[(method, path)] == FOREIGN_MODEL:
            assert openai_error(response, 401)["code"] == "invalid_api_key", f"{method} {url}"
        else:
            assert error_of(response, 401)["code"] == "unauthenticated", f"{method} {url}"
        assert response.headers["www-authenticate"] == "Bearer"
        assert operation.get("security"), f"{method} {path} needs a key; OpenAPI must say so"
