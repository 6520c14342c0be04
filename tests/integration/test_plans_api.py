"""Plans of the current database state, as background jobs over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx

from gpufleet.planning.planner import plan
from gpufleet.planning.scenario import load_scenario_file
from tests.conftest import EXAMPLES, Actor, LiveServer, make_tenant
from tests.integration.support import import_small


def _wait_done(client: httpx.Client, plan_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/v1/plans/{plan_id}").json()
        if job["status"] in {"done", "failed"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"plan {plan_id} did not finish")


def test_a_plan_of_the_database_equals_the_plan_of_the_file(
    live_server: LiveServer, operator: Actor
) -> None:
    client = live_server.client(operator)
    import_small(client)
    submitted = client.post("/v1/plans", json={"gap": 0})
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["status"] == "queued"
    job = _wait_done(client, submitted.json()["id"])
    assert job["status"] == "done", job["error"]
    from_file = plan(load_scenario_file(EXAMPLES / "small.yaml"), gap=0).to_dict()
    served = job["plan"]
    assert served["status"] == "optimal"
    assert abs(served["objective"] - from_file["objective"]) < 1e-6 * abs(from_file["objective"])
    accepted = {d["id"] for d in served["decisions"] if d["accepted"]}
    assert accepted == {d["id"] for d in from_file["decisions"] if d["accepted"]}
    listed = client.get("/v1/plans").json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_forced_decisions_and_unknown_ids(live_server: LiveServer, operator: Actor) -> None:
    client = live_server.client(operator)
    import_small(client)
    forced = client.post("/v1/plans", json={"force_accept": ["rfq-3"], "gap": 0}).json()
    job = _wait_done(client, forced["id"])
    decision = next(d for d in job["plan"]["decisions"] if d["id"] == "rfq-3")
    assert decision["accepted"] is True
    assert decision["forced"] == "accept"
    unknown = client.post("/v1/plans", json={"force_accept": ["rfq-1", "nope"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["issues"][0]["path"] == "force_accept[1]"
    clash = client.post("/v1/plans", json={"force_accept": ["rfq-1"], "force_reject": ["rfq-1"]})
    assert clash.status_code == 422
    assert client.get("/v1/plans/plan-missing").status_code == 404


def test_planning_needs_a_fleet_and_an_operator(live_server: LiveServer, operator: Actor) -> None:
    client = live_server.client(operator)
    empty = client.post("/v1/plans", json={})
    assert empty.status_code == 409
    assert "import a scenario first" in empty.json()["error"]["message"]
    tenant = make_tenant(live_server.db, operator, "someone")
    assert live_server.client(tenant).post("/v1/plans", json={}).status_code == 403
    bad = client.post("/v1/plans", json={"gap": 2})
    assert bad.status_code == 422
    assert bad.json()["error"]["issues"][0]["path"] == "gap"


def test_quote_of_a_pending_request_over_http(live_server: LiveServer, operator: Actor) -> None:
    client = live_server.client(operator)
    import_small(client)
    response = client.post("/v1/rental-requests/rfq-3/quote", params={"gap": 0})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["request_id"] == "rfq-3"
    assert answer["decision"] in {"accept", "counter", "decline"}
    assert answer["bid_price_opportunity_cost"] >= 0
    # The exact value is what signing changes in the optimum, recomputed here from two plans.
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    with_it = plan(scenario, gap=0, force_accept=["rfq-3"]).objective
    without = plan(scenario, gap=0, force_reject=["rfq-3"]).objective
    assert abs(answer["value_of_signing"] - (with_it - without)) < 1.0
    assert client.post("/v1/rental-requests/lease-1/quote").status_code == 404
    assert client.post("/v1/rental-requests/rfq-3/quote", params={"gap": 5}).status_code == 422
