"""Another tenant's key can neither call a provisioned deployment nor see it or its usage;
inference-only keys reach the gateway and nothing else; operator keys call no model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.keys import CACHE_S
from gpufleet.hosting.runtime import flush_meters
from tests.conftest import Actor, LiveServer
from tests.hosting_support import deploy, new_tenant, serve_in_thread
from tests.integration.support import error_of, expect


@dataclass
class Two:
    op: httpx.Client
    a: httpx.Client  # acme-ai's inference key; owns the provisioned deployment `a-only`
    b: httpx.Client
    a_key: str


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture
def two(live_server: LiveServer, operator: Actor) -> Iterator[Two]:
    with serve_in_thread(FakeUpstream()) as upstream:
        op = live_server.client(operator)
        a_key = new_tenant(operator, op, "acme-ai")
        b_key = new_tenant(operator, op, "beta-labs")
        deploy(
            op, "a-only", f"url:{upstream}", backend="vllm", kind="provisioned", tenant="acme-ai"
        )
        deploy(op, "shared", f"url:{upstream}", backend="vllm")
        a, b = _client(live_server.url, a_key), _client(live_server.url, b_key)
        yield Two(op, a, b, a_key)
        for client in (op, a, b):
            client.close()


def chat(client: httpx.Client, model: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "x"}]},
    )


def test_other_tenant_cannot_call_a_provisioned_deployment(two: Two) -> None:
    expect(chat(two.a, "a-only"), 200)
    refused, missing = chat(two.b, "a-only"), chat(two.b, "a-nope")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_found"
    # Exactly like a model that does not exist, but for the name the caller sent.
    assert refused.text.replace("a-only", "X") == missing.text.replace("a-nope", "X")
    expect(chat(two.b, "shared"), 200)


def test_other_tenant_cannot_see_it_or_its_usage(two: Two, live_server: LiveServer) -> None:
    expect(chat(two.a, "a-only"), 200)
    flush_meters()
    b_models = [m["id"] for m in expect(two.b.get("/v1/models"), 200)["data"]]
    a_models = [m["id"] for m in expect(two.a.get("/v1/models"), 200)["data"]]
    assert b_models == ["shared"]
    assert sorted(a_models) == ["a-only", "shared"]
    # Inference-only keys cannot read usage at all; with B's full key: its own only.
    b_full = expect(two.op.post("/v1/tenants/beta-labs/api-keys", json={"name": "b"}), 201)
    with _client(live_server.url, b_full["api_key"]) as b:
        assert expect(b.get("/v1/token-usage"), 200) == []
        assert error_of(b.get("/v1/token-usage", params={"tenant": "acme-ai"}), 404)
        assert error_of(b.get("/v1/deployments/a-only"), 404)["message"] == (
            "deployment 'a-only' not found"
        )
        assert [d["name"] for d in expect(b.get("/v1/deployments"), 200)] == ["shared"]
    usage = expect(two.op.get("/v1/token-usage"), 200)
    assert [(u["tenant"], u["deployment"]) for u in usage] == [("acme-ai", "a-only")]


def test_inference_only_keys_reach_nothing_but_the_gateway(two: Two) -> None:
    assert two.a_key.startswith("gf_ikey_")
    assert error_of(two.a.get("/v1/whoami"), 401)["code"] == "unauthenticated"
    # The same secret under the control-plane's key prefix names no key.
    forged = two.a_key.replace("gf_ikey_", "gf_key_", 1)
    with httpx.Client(
        base_url=str(two.a.base_url), headers={"Authorization": f"Bearer {forged}"}
    ) as c:
        assert error_of(c.get("/v1/whoami"), 401)["code"] == "unauthenticated"
        assert chat(c, "shared").status_code == 401


def test_operator_keys_and_missing_keys_call_no_model(two: Two, live_server: LiveServer) -> None:
    refused = chat(two.op, "shared")
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"
    with httpx.Client(base_url=live_server.url) as anonymous:
        for path in ("/v1/chat/completions", "/v1/completions"):
            response = anonymous.post(path, json={"model": "shared", "prompt": "x"})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_revoked_inference_key_stops_working_within_the_cache_time(two: Two) -> None:
    expect(chat(two.a, "a-only"), 200)
    key_id = "ikey_" + two.a_key.split("_")[2]
    expect(two.op.delete(f"/v1/api-keys/{key_id}"), 200)
    deadline = time.monotonic() + CACHE_S + 2
    while chat(two.a, "a-only").status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works after the cache time"
        time.sleep(0.25)
