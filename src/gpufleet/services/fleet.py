"""The fleet: import a scenario, summarise it, list nodes and change their state."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import access as tenants_repo
from gpufleet.adapters.db.repos import events, rentals
from gpufleet.adapters.db.repos import fleet as repo
from gpufleet.adapters.db.repos import programs as programs_repo
from gpufleet.api.schemas.fleet import ImportResult
from gpufleet.domain.access import Principal, TenantKind
from gpufleet.domain.errors import Conflict, InvalidInput, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.fleet import Node, NodeState
from gpufleet.planning.scenario import Scenario
from gpufleet.services.database import Database
from gpufleet.services.operations import operator_node_state
from gpufleet.services.placement import placement_session
from gpufleet.services.scenario_rows import (
    INTERNAL_TENANT,
    ensure_tenants,
    program_rows,
    rental_records,
)

NodeProgress = Callable[[int, int], None]  # (nodes written so far, nodes in all)


def import_scenario(
    db: Database,
    caller: Principal,
    scenario: Scenario,
    progress: NodeProgress | None = None,
) -> ImportResult:
    """Add a scenario's fleet, tenants, programs, requests and leases in one transaction.

    Adds to what is there; any name or id that already exists is a conflict and nothing is
    written. Hundreds of thousands of nodes go in bulk, with progress reported per chunk.
    """
    caller.require_operator()
    began = time.perf_counter()
    total_nodes = sum(c.nodes for c in scenario.clusters)
    written = 0

    def advance(count: int) -> None:
        nonlocal written
        written += count
        if progress:
            progress(written, total_nodes)

    with db.write() as conn:
        _refuse_conflicts(conn, scenario)
        now = db.clock()
        settings = repo.FleetSettings(
            scenario.name, scenario.horizon, scenario.reliability.unavailable_fraction
        )
        repo.save_settings(conn, settings)
        known = repo.models(conn)
        repo.add_models(conn, [m for m in scenario.gpu_models if m.name not in known])
        for cluster in scenario.clusters:
            repo.add_cluster(conn, cluster, now, advance)
        customers = {r.customer for r in [*scenario.rental_requests, *scenario.leases]}
        created, tenant_ids = ensure_tenants(conn, customers, bool(scenario.programs), now)
        if scenario.programs:
            internal_id = tenant_ids[INTERNAL_TENANT]
            programs_repo.add(conn, program_rows(scenario.programs, internal_id, now))
        requests = rental_records(scenario.rental_requests, tenant_ids, "pending", now)
        leases = rental_records(scenario.leases, tenant_ids, "signed", now)
        rentals.add(conn, "request", requests)
        rentals.add(conn, "lease", leases)
        news = [NewEvent("rental_request.received", r.id, r.tenant_id) for r in requests]
        news += [NewEvent("lease.recorded", r.id, r.tenant_id) for r in leases]
        news.append(NewEvent("fleet.imported", scenario.name, None, {"nodes": total_nodes}))
        events.append(conn, news, now)
    return ImportResult(
        name=scenario.name,
        gpu_models=len(scenario.gpu_models),
        clusters=len(scenario.clusters),
        pods=sum(c.pods for c in scenario.clusters),
        blocks=sum(c.pods * c.blocks_per_pod for c in scenario.clusters),
        nodes=total_nodes,
        tenants_created=created,
        programs=len(scenario.programs),
        rental_requests=len(requests),
        leases=len(leases),
        seconds=round(time.perf_counter() - began, 3),
    )


def _refuse_conflicts(conn: Connection, scenario: Scenario) -> None:
    problems: list[str] = []
    current = repo.settings(conn)
    if current and (current.horizon, current.unavailable_fraction) != (
        scenario.horizon,
        scenario.reliability.unavailable_fraction,
    ):
        problems.append("the fleet already has a different horizon or reliability")
    known = repo.models(conn)
    problems += [
        f"GPU model {m.name!r} exists with relative_throughput {known[m.name]}"
        for m in scenario.gpu_models
        if m.name in known and known[m.name] != m.relative_throughput
    ]
    clusters = repo.cluster_names(conn) & {c.name for c in scenario.clusters}
    problems += [f"cluster {name!r} exists" for name in sorted(clusters)]
    programs = programs_repo.names(conn) & {p.name for p in scenario.programs}
    problems += [f"program {name!r} exists" for name in sorted(programs)]
    ids = [r.id for r in [*scenario.rental_requests, *scenario.leases]]
    problems += [f"rental id {i!r} exists" for i in sorted(rentals.existing_ids(conn, ids))]
    internal = tenants_repo.tenant_names_of_kind(conn, TenantKind.INTERNAL)
    customers = {r.customer for r in [*scenario.rental_requests, *scenario.leases]}
    problems += [
        f"customer {name!r} is an internal tenant" for name in sorted(customers & internal)
    ]
    if INTERNAL_TENANT in customers:
        problems.append(f"customer {INTERNAL_TENANT!r} is reserved for the lab's own programs")
    if problems:
        shown = "; ".join(problems[:10]) + ("; …" if len(problems) > 10 else "")
        raise Conflict(f"import refused, nothing was written: {shown}")


def list_nodes(
    db: Database, caller: Principal, where: repo.NodeFilter, after: int, limit: int
) -> list[Node]:
    caller.require_operator()
    with db.read() as conn:
        return repo.page_nodes(conn, where, after, limit)


def set_node_state(
    db: Database, caller: Principal, node_id: int, state: NodeState, reason: str | None
) -> Node:
    """The operator marks a node up, draining, down or in maintenance. Through the placement
    engine, in one placement session: a node that goes down or into maintenance has its
    holds moved exactly as after a simulated failure (`lease.node_replaced`, notices,
    shortfalls, each told to its tenant); up and draining keep them."""
    caller.require_operator()
    with placement_session(db) as s:
        node = repo.get_node(s.conn, node_id)
        if node is None:
            raise NotFound.of("node", node_id)
        if node.state is not state:
            repo.set_node_state(s.conn, node_id, state, reason, db.clock())
            data = {"from": node.state.value, "to": state.value, "reason": reason}
            events.append(s.conn, [NewEvent("node.state_changed", node.name, None, data)],
                          db.clock())  # fmt: skip
            operator_node_state(s, node_id, state, reason)
        changed = repo.get_node(s.conn, node_id)
    if changed is None:  # pragma: no cover - it was there inside the same transaction
        raise InvalidInput(f"node {node_id} vanished")
    return changed
