"""POST /v1/rental-requests/{id}/accept and GET /v1/leases/{id} with assignments, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.tables import leases, rental_requests
from gpufleet.adapters.db.tables_placement import node_assignments, placement_state
from gpufleet.services.database import Database
from tests.conftest import Actor, LiveServer, make_tenant
from tests.integration.support import error_of, expect, import_small

NOW = datetime(2027, 1, 4, tzinfo=UTC)


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.db.clock = lambda: NOW  # the example's horizon starts here
    return live_server


def _count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_accept_places_the_lease_and_tells_the_tenant(server: LiveServer, operator: Actor) -> None:
    op = server.client(operator)
    import_small(op)
    acme = make_tenant(server.db, operator, "acme-2")  # a tenant of its own, with a key
    tenant = server.client(acme)
    asked = {"gpu_model": "H100", "gpus": 20, "start": "2027-02-01", "end": "2027-03-01",
             "price_per_gpu_hour": 2.5, "contiguous": True}  # fmt: skip
    request_id = expect(tenant.post("/v1/rental-requests", json=asked), 201)["id"]

    done = expect(op.post(f"/v1/rental-requests/{request_id}/accept"), 200)

    lease = done["lease"]
    assert done["nodes"] == 3  # 20 GPUs on 8-GPU nodes: 3 whole nodes
    assert lease["state"] == "scheduled"
    assert lease["request_id"] == request_id
    assert lease["gpus"] == 20
    rows = lease["assignments"]
    assert len(rows) == 3
    assert sum(r["gpus"] for r in rows) == 20
    assert len({r["node"] for r in rows}) == 3
    assert len({(r["cluster"], r["pod"]) for r in rows}) == 1  # contiguous: one pod
    assert {(r["start"], r["end"]) for r in rows} == {("2027-02-01T00:00:00Z",
                                                      "2027-03-01T00:00:00Z")}  # fmt: skip
    assert expect(tenant.get(f"/v1/rental-requests/{request_id}"), 200)["status"] == "accepted"
    seen = expect(tenant.get(f"/v1/leases/{lease['id']}"), 200)
    assert seen["assignments"] == rows
    events = expect(tenant.get("/v1/events", params={"kind": "lease.scheduled"}), 200)["items"]
    assert [e["subject"] for e in events] == [lease["id"]]
    assert events[0]["data"]["nodes"] == 3
    assert events[0]["data"]["gpus"] == 20
    assert events[0]["data"]["gpu_model"] == "H100"

    again = op.post(f"/v1/rental-requests/{request_id}/accept")
    assert "not pending" in error_of(again, 409)["message"]


def test_a_request_that_does_not_fit_is_refused_with_the_reason_and_nothing_written(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    tenant = server.client(make_tenant(server.db, operator, "big-co"))
    # More than the whole GB200 fleet (2304 GPUs, spares included: ADR 0011).
    too_big = {"gpu_model": "GB200", "gpus": 2376, "start": "2027-03-01", "end": "2027-04-05",
               "price_per_gpu_hour": 4.0}  # fmt: skip
    request_id = expect(tenant.post("/v1/rental-requests", json=too_big), 201)["id"]
    before = (_count(server.db, leases), _count(server.db, node_assignments))

    error = error_of(op.post(f"/v1/rental-requests/{request_id}/accept"), 409)

    assert "2376 GB200 GPUs asked but only" in error["message"]
    assert error["issues"] == [{"path": "reason", "message": "not_enough_capacity"}]
    assert (_count(server.db, leases), _count(server.db, node_assignments)) == before
    assert expect(tenant.get(f"/v1/rental-requests/{request_id}"), 200)["status"] == "pending"
    with server.db.read() as conn:
        assert conn.execute(select(placement_state.c.version)).scalar_one() == 0


def test_a_contiguous_request_no_pod_can_hold_is_refused_as_such(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    tenant = server.client(make_tenant(server.db, operator, "pod-co"))
    # A GB200 pod has 8 racks of 72 (one a spare, which a firm lease of a whole pod may
    # take: ADR 0011): 576 GPUs, so 648 fit no pod.
    wide = {"gpu_model": "GB200", "gpus": 648, "start": "2027-03-01", "end": "2027-04-05",
            "price_per_gpu_hour": 4.0, "contiguous": True}  # fmt: skip
    request_id = expect(tenant.post("/v1/rental-requests", json=wide), 201)["id"]
    error = error_of(op.post(f"/v1/rental-requests/{request_id}/accept"), 409)
    assert error["issues"] == [{"path": "reason", "message": "no_contiguous_pod"}]
    assert "no single pod" in error["message"]


def test_accept_is_for_operators_and_unknown_requests_are_404(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    tenant = server.client(make_tenant(server.db, operator, "t-co"))
    assert error_of(tenant.post("/v1/rental-requests/rfq-1/accept"), 403)["code"] == "forbidden"
    assert error_of(op.post("/v1/rental-requests/nope/accept"), 404)["code"] == "not_found"
    with server.db.read() as conn:
        status = conn.execute(
            select(rental_requests.c.status).where(rental_requests.c.id == "rfq-1")
        ).scalar_one()
    assert status == "pending"


def test_a_reserved_lease_preempts_interruptible_capacity_with_notice(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    cheap = server.client(make_tenant(server.db, operator, "cheap-co"))
    firm = server.client(make_tenant(server.db, operator, "firm-co"))
    # The GB200 fleet's 2016 placeable GPUs, taken by an interruptible lease with 24 h notice.
    spot = {"gpu_model": "GB200", "gpus": 2016, "start": "2027-02-01", "end": "2027-06-01",
            "price_per_gpu_hour": 1.0, "class": "interruptible", "notice_hours": 24}  # fmt: skip
    spot_id = expect(cheap.post("/v1/rental-requests", json=spot), 201)["id"]
    spot_lease = expect(op.post(f"/v1/rental-requests/{spot_id}/accept"), 200)["lease"]["id"]
    need = {"gpu_model": "GB200", "gpus": 144, "start": "2027-03-01", "end": "2027-04-01",
            "price_per_gpu_hour": 4.0}  # fmt: skip
    need_id = expect(firm.post("/v1/rental-requests", json=need), 201)["id"]

    done = expect(op.post(f"/v1/rental-requests/{need_id}/accept"), 200)

    assert [p["victim"] for p in done["preemptions"]] == [spot_lease]
    assert done["preemptions"][0]["reclaim_at"] == "2027-01-05T00:00:00Z"  # now + 24 h
    notices = expect(cheap.get("/v1/events", params={"kind": "lease.preemption_notice"}), 200)
    (notice,) = notices["items"]
    assert notice["subject"] == spot_lease
    assert notice["data"]["reclaim_at"] == "2027-01-05"
    assert "lowest price per GPU-hour" in notice["data"]["reason"]
    assert "firm-co" not in str(notice)
    victim = expect(cheap.get(f"/v1/leases/{spot_lease}"), 200)
    assert victim["reclaim_at"] == "2027-01-05T00:00:00Z"
    assert all(r["end"] <= "2027-01-05T00:00:00Z" for r in victim["assignments"])
    # The firm tenant never hears of the victim.
    assert expect(firm.get("/v1/events", params={"kind": "lease.preemption_notice"}),
                  200)["items"] == []  # fmt: skip
