"""Importing a scenario writes exactly what it describes; nodes page completely and filter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db import tables
from gpufleet.planning.scenario import Scenario, load_scenario_file
from gpufleet.services import fleet
from gpufleet.services.database import Database
from gpufleet.services.fleet_summary import fleet_summary
from tests.conftest import EXAMPLES, Actor, LiveServer, make_tenant
from tests.integration.support import all_pages, expect, import_small, scenario_doc


def _count(db: Database, table: Any, *where: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _column(db: Database, column: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(column)).scalars())


@pytest.mark.slow
def test_colossus_imports_exactly_what_the_scenario_describes(
    db: Database, operator: Actor
) -> None:
    scenario: Scenario = load_scenario_file(EXAMPLES / "colossus.yaml")
    clusters = scenario.clusters
    nodes = sum(c.nodes for c in clusters)
    installed = sum(c.installed_gpus for c in clusters)
    customers = {r.customer for r in [*scenario.rental_requests, *scenario.leases]}
    assert len(clusters) >= 5
    assert nodes > 100_000
    assert scenario.programs
    progress: list[tuple[int, int]] = []

    result = fleet.import_scenario(
        db, operator.principal, scenario, lambda done, total: progress.append((done, total))
    )

    t = tables
    assert _count(db, t.gpu_models) == len(scenario.gpu_models)
    assert _count(db, t.clusters) == result.clusters == len(clusters)
    assert _count(db, t.pods) == result.pods == sum(c.pods for c in clusters)
    assert _count(db, t.blocks) == result.blocks == sum(c.pods * c.blocks_per_pod for c in clusters)
    assert _count(db, t.nodes) == result.nodes == nodes
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(t.clusters.c.name, func.count(), func.sum(t.nodes.c.gpus))
            .join(t.clusters, t.clusters.c.id == t.nodes.c.cluster_id)
            .group_by(t.clusters.c.name)
        )
        per_cluster = {name: (int(n), int(gpus)) for name, n, gpus in rows}
        states = set(conn.execute(select(t.nodes.c.state).distinct()).scalars())
    assert per_cluster == {c.name: (c.nodes, c.installed_gpus) for c in clusters}
    assert states == {"up"}

    tenants = dict(zip(_column(db, t.tenants.c.name), _column(db, t.tenants.c.kind), strict=True))
    assert tenants == {**dict.fromkeys(customers, "external"), "internal": "internal"}
    assert result.tenants_created == len(customers) + 1
    assert sorted(_column(db, t.programs.c.name)) == sorted(p.name for p in scenario.programs)
    assert result.programs == len(scenario.programs)
    pending = _count(db, t.rental_requests, t.rental_requests.c.status == "pending")
    assert pending == _count(db, t.rental_requests) == result.rental_requests
    assert pending == len(scenario.rental_requests)
    assert set(_column(db, t.rental_requests.c.id)) == {r.id for r in scenario.rental_requests}
    assert _count(db, t.leases) == result.leases == len(scenario.leases)
    assert sum(_column(db, t.rental_requests.c.price_micros)) == sum(
        r.price_micros for r in scenario.rental_requests
    )

    summary = fleet_summary(db, operator.principal)
    assert summary.installed_gpus == installed
    assert summary.nodes == nodes
    assert {c.name: c.installed_gpus for c in summary.clusters} == {
        c.name: c.installed_gpus for c in clusters
    }
    for model in summary.gpu_models:
        assert (
            model.installed_gpus
            == model.gpus_up
            == sum(c.installed_gpus for c in clusters if c.gpu_model == model.name)
        )
    assert summary.programs == len(scenario.programs)
    assert sum(d.count for d in summary.pending_requests) == len(scenario.rental_requests)
    assert sum(d.gpus for d in summary.pending_requests) == sum(
        r.gpus for r in scenario.rental_requests
    )
    assert sum(d.count for d in summary.signed_leases) == len(scenario.leases)

    assert progress, "the import reports progress"
    assert progress[-1] == (nodes, nodes)
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})

    with db.engine.connect() as conn:
        kinds = Counter(conn.execute(select(t.events.c.kind)).scalars())
    assert kinds["rental_request.received"] == len(scenario.rental_requests)
    assert kinds["lease.recorded"] == len(scenario.leases)
    assert kinds["fleet.imported"] == 1


# ---- paging nodes through the API ----------------------------------------------------------

SMALL_CLUSTERS = {c["name"]: c for c in scenario_doc()["clusters"]}


def _nodes_in(cluster: dict[str, Any]) -> int:
    return int(cluster["pods"] * cluster["blocks_per_pod"] * cluster["nodes_per_block"])


@pytest.fixture
def op(live_server: LiveServer, operator: Actor) -> Iterator[httpx.Client]:
    with live_server.client(operator) as client:
        import_small(client)
        yield client


@pytest.mark.parametrize("limit", [1000, 250, 96])  # one page, a short last page, an empty one
def test_node_pages_return_every_node_exactly_once(
    op: httpx.Client, db: Database, limit: int
) -> None:
    nodes = all_pages(op, "/v1/fleet/nodes", limit=limit)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) == sum(map(_nodes_in, SMALL_CLUSTERS.values())) == 960
    assert ids == sorted(ids)
    assert set(ids) == set(_column(db, tables.nodes.c.id))
    assert len({n["name"] for n in nodes}) == 960


@pytest.mark.parametrize("name", sorted(SMALL_CLUSTERS))
def test_node_pages_filter_by_cluster(op: httpx.Client, name: str) -> None:
    nodes = all_pages(op, "/v1/fleet/nodes", {"cluster": name}, limit=100)
    spec = SMALL_CLUSTERS[name]
    assert len({n["id"] for n in nodes}) == len(nodes) == _nodes_in(spec)
    assert {(n["cluster"], n["gpu_model"], n["gpus"]) for n in nodes} == {
        (name, spec["gpu_model"], spec["gpus_per_node"])
    }
    pods = {n["pod"] for n in nodes}
    assert pods == set(range(spec["pods"]))


def test_node_pages_filter_by_model_pod_and_block(op: httpx.Client) -> None:
    gb200 = all_pages(op, "/v1/fleet/nodes", {"gpu_model": "GB200"}, limit=100)
    assert len(gb200) == _nodes_in(SMALL_CLUSTERS["lab-gb200"]) == 576
    rack = all_pages(op, "/v1/fleet/nodes", {"cluster": "lab-gb200", "pod": 1, "block": 2}, 5)
    assert [(n["pod"], n["block"], n["index"]) for n in rack] == [(1, 2, i) for i in range(18)]
    assert all_pages(op, "/v1/fleet/nodes", {"cluster": "no-such-cluster"}) == []
    assert all_pages(op, "/v1/fleet/nodes", {"cluster": "lab-h100-a", "pod": 8}) == []


def test_setting_a_node_down_filters_counts_and_logs_it_for_the_operator_only(
    op: httpx.Client, live_server: LiveServer, db: Database, operator: Actor
) -> None:
    tenant = live_server.client(make_tenant(db, operator, "acme"))
    target = all_pages(op, "/v1/fleet/nodes", {"cluster": "lab-h100-b"}, limit=1000)[40]

    changed = expect(
        op.post(f"/v1/fleet/nodes/{target['id']}/state", json={"state": "down", "reason": "psu"}),
        200,
    )
    assert changed["id"] == target["id"]
    assert (changed["state"], changed["state_reason"]) == ("down", "psu")
    assert changed["state_changed_at"] is not None

    down = all_pages(op, "/v1/fleet/nodes", {"state": "down"}, limit=10)
    assert [n["id"] for n in down] == [target["id"]]
    up = all_pages(op, "/v1/fleet/nodes", {"state": "up"}, limit=100)
    assert len(up) == 959
    assert target["id"] not in {n["id"] for n in up}
    both = all_pages(op, "/v1/fleet/nodes", {"state": "down", "cluster": "lab-h100-b"})
    assert [n["id"] for n in both] == [target["id"]]
    assert all_pages(op, "/v1/fleet/nodes", {"state": "down", "cluster": "lab-h100-a"}) == []

    summary = expect(op.get("/v1/fleet"), 200)
    cluster = next(c for c in summary["clusters"] if c["name"] == "lab-h100-b")
    assert cluster["nodes_by_state"]["down"] == 1
    assert cluster["gpus_by_state"]["down"] == 8
    assert cluster["gpus_by_state"]["up"] == cluster["installed_gpus"] - 8
    h100 = next(m for m in summary["gpu_models"] if m["name"] == "H100")
    assert h100["gpus_up"] == h100["installed_gpus"] - 8

    events = expect(op.get("/v1/events", params={"kind": "node.state_changed"}), 200)["items"]
    assert [(e["subject"], e["tenant"], e["data"]) for e in events] == [
        (target["name"], None, {"from": "up", "to": "down", "reason": "psu"})
    ]
    assert expect(tenant.get("/v1/events", params={"kind": "node.state_changed"}), 200) == {
        "items": [],
        "next_cursor": None,
    }
    mine = expect(tenant.get("/v1/events", params={"limit": 1000}), 200)["items"]
    assert "node.state_changed" not in {e["kind"] for e in mine}

    # The same state again changes nothing and logs nothing; back up logs a second event.
    expect(op.post(f"/v1/fleet/nodes/{target['id']}/state", json={"state": "down"}), 200)
    expect(op.post(f"/v1/fleet/nodes/{target['id']}/state", json={"state": "up"}), 200)
    events = expect(op.get("/v1/events", params={"kind": "node.state_changed"}), 200)["items"]
    assert [e["data"]["to"] for e in events] == ["down", "up"]
    assert all_pages(op, "/v1/fleet/nodes", {"state": "down"}) == []


def test_a_node_going_down_between_pages_is_neither_lost_nor_repeated(op: httpx.Client) -> None:
    first = expect(op.get("/v1/fleet/nodes", params={"limit": 100}), 200)
    later = all_pages(op, "/v1/fleet/nodes", limit=1000)[500]
    expect(op.post(f"/v1/fleet/nodes/{later['id']}/state", json={"state": "maintenance"}), 200)
    rest = all_pages(op, "/v1/fleet/nodes", limit=100)  # from the start, for the full set
    resumed: list[dict[str, Any]] = []
    cursor = first["next_cursor"]
    while cursor is not None:
        page = expect(op.get("/v1/fleet/nodes", params={"limit": 100, "cursor": cursor}), 200)
        resumed += page["items"]
        cursor = page["next_cursor"]
    ids = [n["id"] for n in first["items"] + resumed]
    assert sorted(ids) == [n["id"] for n in rest]
    assert len(ids) == len(set(ids)) == 960
    assert next(n for n in resumed if n["id"] == later["id"])["state"] == "maintenance"
