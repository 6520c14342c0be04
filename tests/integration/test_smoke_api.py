"""The API answers over a real socket on both databases."""

from __future__ import annotations

from tests.conftest import Actor, LiveServer


def test_healthz_needs_no_key(live_server: LiveServer) -> None:
    response = live_server.client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_whoami_names_the_operator(live_server: LiveServer, operator: Actor) -> None:
    response = live_server.client(operator).get("/v1/whoami")
    assert response.status_code == 200
    assert response.json()["role"] == "operator"
