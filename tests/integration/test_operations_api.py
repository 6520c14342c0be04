"""POST /v1/ops/advance and GET /v1/ops/status over HTTP: a background run the operator
follows, and every tenant reading only its own lease events from it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Actor, LiveServer
from tests.integration.support import all_pages, error_of, expect, import_small, issue_paths
from tests.integration.test_events_stream import read_stream

NOW = datetime(2027, 1, 4, tzinfo=UTC)
FLAKY = {"failures_per_gpu_hour": 0.0005, "repair_median_hours": 6.0, "experiments": False}


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.db.clock = lambda: NOW  # type: ignore[method-assign]
    return live_server


def wait_idle(op: httpx.Client) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status: dict[str, Any] = expect(op.get("/v1/ops/status"), 200)
        if status["run_status"] != "running":
            return status
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def tenant_client(server: LiveServer, op: httpx.Client, name: str) -> httpx.Client:
    key = expect(op.post(f"/v1/tenants/{name}/api-keys", json={"name": f"{name}-key"}), 201)
    return httpx.Client(base_url=server.url, timeout=60,
                        headers={"Authorization": f"Bearer {key['api_key']}"})  # fmt: skip


def test_the_operator_advances_the_clock_and_each_tenant_sees_only_its_own_lease_events(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    leases = {}
    for request_id in ("rfq-2", "rfq-1"):  # beta-labs from 01-11, acme-ai from 02-01
        leases[request_id] = expect(op.post(f"/v1/rental-requests/{request_id}/accept"),
                                    200)["lease"]["id"]  # fmt: skip

    body = {"until": "2027-02-08T00:00:00Z", "seed": 11, **FLAKY}
    started = expect(op.post("/v1/ops/advance", json=body), 202)
    assert started["run_until"] == "2027-02-08T00:00:00Z"
    done = wait_idle(op)

    assert done["run_status"] == "idle", done
    assert done["clock"] == "2027-02-08T00:00:00Z"
    assert done["totals"]["failures"] > 100
    assert done["totals"]["leases_started"] == 3  # and lease-1, recorded, placed by the run
    assert 0 < done["totals"]["utilisation"] < 1
    everything = all_pages(op, "/v1/events", limit=1000)
    assert sum(e["kind"] == "node.failed" for e in everything) == done["totals"]["failures"]

    acme, beta = (tenant_client(server, op, name) for name in ("acme-ai", "beta-labs"))
    for client, mine, theirs in ((acme, leases["rfq-1"], leases["rfq-2"]),
                                 (beta, leases["rfq-2"], leases["rfq-1"])):  # fmt: skip
        own = {mine, "lease-1"} if client is acme else {mine}  # lease-1 is acme-ai's
        seen = all_pages(client, "/v1/events", limit=1000)
        subjects = {e["subject"] for e in seen if e["kind"].startswith(("lease.", "sla."))}
        assert mine in subjects
        assert theirs not in subjects
        assert not any(e["kind"].startswith("node.") for e in seen)
        started_events = [e for e in seen if e["kind"] == "lease.started"]
        assert {e["subject"] for e in started_events} == own
        streamed, _ = read_stream(client, 1.5)  # the live stream: the same events, no others
        assert streamed
        assert [e["id"] for e in streamed] == [e["id"] for e in seen][: len(streamed)]
        assert theirs not in {e["subject"] for e in streamed}
        assert not any(e["kind"].startswith("node.") for e in streamed)
        expect(client.get("/v1/ops/status"), 403)
        error_of(client.post("/v1/ops/advance", json={"until": "2027-03-01"}), 403)
        client.close()
    op.close()


def test_bad_advances_are_refused_with_the_field_named(server: LiveServer, operator: Actor) -> None:
    op = server.client(operator)
    import_small(op)
    assert issue_paths(op.post("/v1/ops/advance", json={})) == ["until"]
    assert "seed" in issue_paths(op.post("/v1/ops/advance", json={"until": "2027-02-01",
                                                                  "seed": -1}))  # fmt: skip
    assert "experiment_copies" in issue_paths(
        op.post("/v1/ops/advance", json={"until": "2027-02-01", "experiment_copies": 0})
    )
    back = error_of(op.post("/v1/ops/advance", json={"until": "2026-12-01"}), 422)
    assert "only moves forward" in back["message"]
    far = error_of(op.post("/v1/ops/advance", json={"until": "2031-01-01"}), 422)
    assert "advance in steps" in far["message"]
    assert expect(op.get("/v1/ops/status"), 200)["run_status"] == "idle"
    op.close()


def test_the_operator_places_recorded_leases_by_hand(server: LiveServer, operator: Actor) -> None:
    op = server.client(operator)
    import_small(op)
    assert expect(op.get("/v1/leases/lease-1"), 200)["assignments"] == []

    placed = expect(op.post("/v1/ops/place-recorded-leases"), 200)

    assert placed == {"placed": {"lease-1": 64}, "refused": [], "over": []}  # 512 H100
    lease = expect(op.get("/v1/leases/lease-1"), 200)
    assert lease["state"] == "scheduled"
    assert sum(a["gpus"] for a in lease["assignments"]) == 512
    again = expect(op.post("/v1/ops/place-recorded-leases"), 200)
    assert again["placed"] == {}
    acme = tenant_client(server, op, "acme-ai")
    error_of(acme.post("/v1/ops/place-recorded-leases"), 403)
    acme.close()
    op.close()


def _tiny_doc(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """One pod of four 8-GPU nodes, one of them spare: 24 GPUs to place."""
    return {
        "version": 1, "name": "tiny",
        "horizon": {"start": "2027-01-04", "period": "week", "periods": 8},
        "gpu_models": [{"name": "H100"}],
        "clusters": [{"name": "t", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 1}],
        "rental_requests": requests,
    }  # fmt: skip


def test_a_lease_preempted_for_an_accept_is_told_when_its_notice_came(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    spot = {"id": "rfq-spot", "customer": "spotco", "gpu_model": "H100", "gpus": 24,
            "start": "2027-01-05", "end": "2027-02-01", "price_per_gpu_hour": 1.0,
            "class": "interruptible", "notice_hours": 30}  # fmt: skip
    firm = {"id": "rfq-firm", "customer": "firmco", "gpu_model": "H100", "gpus": 16,
            "start": "2027-01-08", "end": "2027-02-01", "price_per_gpu_hour": 3.0}  # fmt: skip
    expect(op.post("/v1/fleet/import", json=_tiny_doc([spot, firm])), 201)
    victim = expect(op.post("/v1/rental-requests/rfq-spot/accept"), 200)["lease"]["id"]
    expect(op.post("/v1/rental-requests/rfq-firm/accept"), 200)  # reclaims rfq-spot's nodes
    [notice] = [e for e in all_pages(op, "/v1/events", limit=1000)
                if e["kind"] == "lease.preemption_notice"]  # fmt: skip
    assert notice["subject"] == victim

    body = {"until": "2027-01-10T00:00:00Z", "seed": 1, "failures_per_gpu_hour": 0.0,
            "experiments": False}  # fmt: skip
    expect(op.post("/v1/ops/advance", json=body), 202)
    assert wait_idle(op)["totals"]["preemptions"] == 1

    spotco = tenant_client(server, op, "spotco")
    [gone] = [e for e in all_pages(spotco, "/v1/events", limit=1000)
              if e["kind"] == "lease.preempted"]  # fmt: skip
    data = gone["data"]
    assert gone["subject"] == victim
    assert notice["data"]["notice_at"] == "2027-01-04"  # as the accept wrote it
    assert data["notice_at"] == "2027-01-04T00:00:00Z"
    notice_at = datetime.fromisoformat(data["notice_at"])
    preempted_at = datetime.fromisoformat(data["preempted_at"])
    assert preempted_at == datetime.fromisoformat(notice["data"]["reclaim_at"])
    assert (preempted_at - notice_at).total_seconds() >= data["notice_hours"] * 3600
    assert data["notice_given_hours"] == data["notice_hours"] == 30
    lease = expect(spotco.get(f"/v1/leases/{victim}"), 200)
    assert lease["state"] == "preempted"
    spotco.close()
    op.close()
