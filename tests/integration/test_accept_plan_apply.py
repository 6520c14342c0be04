"""POST /v1/plans/{id}/apply: a finished plan's accepted requests become leases, all or none."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.conftest import Actor, LiveServer
from tests.integration.support import error_of, expect, import_small

NOW = datetime(2027, 1, 4, tzinfo=UTC)


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.db.clock = lambda: NOW
    return live_server


def _plan(client: httpx.Client, **options: Any) -> dict[str, Any]:
    job = expect(client.post("/v1/plans", json={"gap": 0, **options}), 202)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = expect(client.get(f"/v1/plans/{job['id']}"), 200)
        if job["status"] in {"done", "failed"}:
            assert job["status"] == "done", job["error"]
            return job
        time.sleep(0.05)
    raise AssertionError("plan did not finish")


def _statuses(client: httpx.Client) -> dict[str, str]:
    page = expect(client.get("/v1/rental-requests", params={"limit": 1000}), 200)
    return {r["id"]: r["status"] for r in page["items"]}


def test_apply_accepts_what_the_plan_accepted_and_skips_what_is_done(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    # rfq-3 (1,152 GB200 in one pod) cannot be placed: a GB200 pod holds 576.
    job = _plan(op, force_reject=["rfq-3"])
    wanted = [d["id"] for d in job["plan"]["decisions"] if d["accepted"]]
    assert len(wanted) >= 2
    expect(op.post(f"/v1/rental-requests/{wanted[0]}/accept"), 200)

    applied = expect(op.post(f"/v1/plans/{job['id']}/apply"), 200)

    assert applied["skipped"] == [wanted[0]]
    assert [a["request_id"] for a in applied["accepted"]] == wanted[1:]
    statuses = _statuses(op)
    assert {statuses[r] for r in wanted} == {"accepted"}
    assert {s for r, s in statuses.items() if r not in wanted} == {"pending"}
    for a in applied["accepted"]:
        lease = expect(op.get(f"/v1/leases/{a['lease_id']}"), 200)
        assert sum(r["gpus"] for r in lease["assignments"]) == lease["gpus"] == a["gpus"]
    again = expect(op.post(f"/v1/plans/{job['id']}/apply"), 200)
    assert again["accepted"] == []
    assert again["skipped"] == wanted


def test_apply_is_all_or_nothing_and_names_the_request_that_does_not_fit(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    job = _plan(op, force_accept=["rfq-3", "rfq-1"])
    before = _statuses(op)
    leases_before = expect(op.get("/v1/leases"), 200)

    error = error_of(op.post(f"/v1/plans/{job['id']}/apply"), 409)

    assert "rfq-3" in error["message"]
    assert error["issues"] == [{"path": "reason", "message": "no_contiguous_pod"}]
    assert _statuses(op) == before
    assert expect(op.get("/v1/leases"), 200) == leases_before


def test_only_a_finished_plan_of_this_server_is_applied(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    assert error_of(op.post("/v1/plans/plan-nope/apply"), 404)["code"] == "not_found"


def test_apply_books_the_internal_programs_of_the_next_program_days(
    server: LiveServer, operator: Actor
) -> None:
    op = server.client(operator)
    import_small(op)
    job = _plan(op, force_reject=["rfq-3"])
    bad = error_of(op.post(f"/v1/plans/{job['id']}/apply", params={"program_days": -1}), 422)
    assert "program_days" in str(bad)

    applied = expect(op.post(f"/v1/plans/{job['id']}/apply", params={"program_days": 14}), 200)

    programs = applied["programs"]
    [chat] = programs["holds"]  # model-v2 starts in February: later
    assert chat["program"] == "chat-api"
    assert chat["periods"] == [0, 1]
    assert (chat["wanted_gpus"], chat["placed_gpus"], chat["short_gpus"]) == (1024, 1024, 0)
    assert chat["end"] == "2027-01-18T00:00:00Z"
    assert programs["placed_gpus"] == 1024
    assert programs["later_periods"] > 0
    op.close()


def test_apply_locks_each_request_once(server: LiveServer, operator: Actor) -> None:
    op = server.client(operator)
    import_small(op)
    job = _plan(op, force_reject=["rfq-3"])
    wanted = [d["id"] for d in job["plan"]["decisions"] if d["accepted"]]
    locks: list[Any] = []  # the parameters of every read of a request's status

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT rental_requests.status \nFROM rental_requests"):
            locks.append(parameters)

    event.listen(server.db.engine, "before_cursor_execute", count)
    try:
        applied = expect(op.post(f"/v1/plans/{job['id']}/apply"), 200)
    finally:
        event.remove(server.db.engine, "before_cursor_execute", count)

    assert [a["request_id"] for a in applied["accepted"]] == wanted
    assert len(locks) == len(wanted)  # one lock (FOR UPDATE on PostgreSQL) per request
    assert all(wanted[i] in str(p) for i, p in enumerate(locks))
