"""The fleet: import, summary, nodes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from gpufleet.adapters.db.repos.fleet import NodeFilter
from gpufleet.api.deps import Caller, Cursor, Db, Limit, int_cursor
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.fleet import FleetSummary, ImportResult, NodeOut, NodeStateChange
from gpufleet.domain.fleet import NodeState
from gpufleet.planning.scenario import parse_scenario
from gpufleet.services import fleet
from gpufleet.services.fleet_summary import fleet_summary

router = APIRouter(prefix="/v1/fleet", tags=["fleet"])
MAX_INDEX = 2**31 - 1  # pod and block indexes are 32-bit columns


@router.post("/import", status_code=201)
def import_scenario(
    db: Db,
    caller: Caller,
    scenario: Annotated[dict[str, Any], Body(description="A version-1 scenario as JSON")],
) -> ImportResult:
    """Import a scenario (operator): its fleet, programs, requests and leases, all or nothing.
    Every validation error comes back at once with its path."""
    caller.require_operator()
    return fleet.import_scenario(db, caller, parse_scenario(scenario))


@router.get("")
def summary(db: Db, caller: Caller) -> FleetSummary:
    """GPUs per model and cluster, node states, capacity over time, demand (operator)."""
    return fleet_summary(db, caller)


@router.get("/nodes")
def nodes(
    db: Db,
    caller: Caller,
    limit: Limit = 100,
    cursor: Cursor = None,
    cluster: Annotated[str | None, Query(max_length=100)] = None,
    gpu_model: Annotated[str | None, Query(max_length=100)] = None,
    state: NodeState | None = None,
    pod: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    block: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Page[NodeOut]:
    """Nodes, filtered, in pages (operator)."""
    where = NodeFilter(cluster, gpu_model, state, pod, block)
    found = fleet.list_nodes(db, caller, where, int_cursor(cursor), limit)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page[NodeOut](items=[NodeOut.of(n) for n in found], next_cursor=next_cursor)


@router.post("/nodes/{node_id}/state")
def set_state(node_id: int, body: NodeStateChange, db: Db, caller: Caller) -> NodeOut:
    """Mark a node up, draining, down or in maintenance (operator)."""
    return NodeOut.of(fleet.set_node_state(db, caller, node_id, body.state, body.reason))
