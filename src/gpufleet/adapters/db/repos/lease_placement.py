"""Leases as placement sees them: created on accept, their state, their node assignments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, or_, select, update

from gpufleet.adapters.db.tables import (
    blocks,
    clusters,
    events,
    leases,
    nodes,
    pods,
    rental_requests,
)
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.domain.rentals import Rental
from gpufleet.domain.timeutil import to_utc


def add_lease(conn: Connection, lease: Rental, request_id: str, state: str) -> None:
    conn.execute(
        insert(leases).values(
            id=lease.id, tenant_id=lease.tenant_id, gpu_model=lease.gpu_model, gpus=lease.gpus,
            start=lease.start, end=lease.end, price_micros=lease.price_micros,
            rental_class=lease.rental_class, notice_hours=lease.notice_hours,
            contiguous=lease.contiguous, status=lease.status, created_at=lease.created_at,
            request_id=request_id, state=state,
        )
    )  # fmt: skip


def lock_request(conn: Connection, request_id: str) -> str | None:
    """The request's status, its row locked (PostgreSQL) until the transaction ends."""
    query = select(rental_requests.c.status).where(rental_requests.c.id == request_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    status: str | None = conn.execute(query).scalar_one_or_none()
    return status


def set_request_status(conn: Connection, request_id: str, status: str) -> None:
    table = rental_requests
    conn.execute(update(table).where(table.c.id == request_id).values(status=status))


@dataclass(frozen=True)
class LeaseState:
    state: str | None
    reclaim_at: datetime | None
    request_id: str | None


def lease_state(conn: Connection, lease_id: str) -> LeaseState | None:
    query = select(leases.c.state, leases.c.reclaim_at, leases.c.request_id).where(
        leases.c.id == lease_id
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    reclaim = to_utc(row.reclaim_at) if row.reclaim_at else None
    return LeaseState(row.state, reclaim, row.request_id)


def set_lease_state(
    conn: Connection, lease_id: str, state: str | None = None, reclaim_at: datetime | None = None
) -> None:
    values: dict[str, Any] = {}
    if state is not None:
        values["state"] = state
    if reclaim_at is not None:
        values["reclaim_at"] = reclaim_at
    if values:
        conn.execute(update(leases).where(leases.c.id == lease_id).values(**values))


def prices(conn: Connection, lease_ids: Sequence[str]) -> dict[str, int]:
    """Price per GPU-hour (micro-USD) of each lease: the cheapest is preempted first."""
    if not lease_ids:
        return {}
    query = select(leases.c.id, leases.c.price_micros).where(leases.c.id.in_(lease_ids))
    return {i: int(p) for i, p in conn.execute(query)}


@dataclass(frozen=True)
class NodeAssignment:
    """One row of a lease's `assignments`, with the node's place in the fleet."""

    node: str
    cluster: str
    pod: int
    block: int
    gpus: int
    start: datetime
    end: datetime


def lease_assignments(conn: Connection, lease_id: str) -> list[NodeAssignment]:
    table = node_assignments
    query = (
        select(nodes.c.name, clusters.c.name.label("cluster"), pods.c.index.label("pod"),
               blocks.c.index.label("block"), table.c.gpus, table.c.start, table.c.end)
        .join(nodes, nodes.c.id == table.c.node_id)
        .join(clusters, clusters.c.id == nodes.c.cluster_id)
        .join(pods, pods.c.id == nodes.c.pod_id)
        .join(blocks, blocks.c.id == nodes.c.block_id)
        .where(table.c.holder == lease_id)
        .order_by(table.c.start, nodes.c.id)
    )  # fmt: skip
    return [
        NodeAssignment(r.name, r.cluster, r.pod, r.block, r.gpus, to_utc(r.start), to_utc(r.end))
        for r in conn.execute(query)
    ]


UNPLACED = "unplaced"  # a recorded lease that did not fit when it was tried


def unplaced_leases(conn: Connection, *, refused_too: bool = False) -> list[str]:
    """Leases with no placement yet (recorded from a scenario), oldest id first; with
    `refused_too`, also those that were tried and did not fit (state 'unplaced')."""
    missing: list[ColumnElement[bool]] = [leases.c.state.is_(None)]
    if refused_too:
        missing.append(leases.c.state == UNPLACED)
    query = select(leases.c.id).where(or_(*missing)).order_by(leases.c.id)
    return list(conn.execute(query).scalars())


def first_notices(conn: Connection, lease_ids: Sequence[str]) -> dict[str, str]:
    """When each lease was first given notice of preemption (`notice_at` of its first
    `lease.preemption_notice` event, ISO 8601), for the leases that had one."""
    if not lease_ids:
        return {}
    query = (
        select(events.c.subject, events.c.data)
        .where(events.c.kind == "lease.preemption_notice", events.c.subject.in_(lease_ids))
        .order_by(events.c.id)
    )
    found: dict[str, str] = {}
    for subject, data in conn.execute(query):
        if isinstance(data, dict) and data.get("notice_at"):
            found.setdefault(subject, str(data["notice_at"]))
    return found
