"""Rental requests and leases. A tenant sees its own; the operator all."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from gpufleet.adapters.db.repos.placement import at
from gpufleet.api.deps import Caller, Cursor, Db, Limit
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.rentals import (
    AcceptedOut,
    LeaseOut,
    PreemptionOut,
    RentalOut,
    RentalRequestCreate,
)
from gpufleet.domain.rentals import Rental
from gpufleet.services import quotes, rentals

router = APIRouter(prefix="/v1", tags=["rentals"])
RequestStatusFilter = Annotated[Literal["pending", "accepted", "declined"] | None, Query()]


def _page(found: list[Rental], limit: int) -> Page[RentalOut]:
    next_cursor = found[-1].id if len(found) == limit else None
    return Page[RentalOut](items=[RentalOut.of(r) for r in found], next_cursor=next_cursor)


@router.post("/rental-requests", status_code=201, response_model_by_alias=True)
def submit(body: RentalRequestCreate, db: Db, caller: Caller) -> RentalOut:
    """Ask for capacity (tenant, for itself): the fields of a scenario request but
    `customer` and `id`; the answer carries the id the server gave it."""
    return RentalOut.of(rentals.submit_request(db, caller, body))


@router.get("/rental-requests", response_model_by_alias=True)
def list_requests(
    db: Db, caller: Caller, status: RequestStatusFilter = None, limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[RentalOut]:  # fmt: skip
    """Rental requests, oldest id first, in pages."""
    return _page(rentals.list_rentals(db, caller, "request", status, cursor, limit), limit)


@router.get("/rental-requests/{request_id}", response_model_by_alias=True)
def get_request(request_id: str, db: Db, caller: Caller) -> RentalOut:
    """One rental request."""
    return RentalOut.of(rentals.get_rental(db, caller, "request", request_id))


@router.post("/rental-requests/{request_id}/quote")
def quote(
    request_id: str,
    db: Db,
    caller: Caller,
    gap: Annotated[float, Query(ge=0.0, lt=1.0)] = 1e-3,
    time_limit: Annotated[float | None, Query(gt=0, le=600)] = None,
) -> dict[str, Any]:
    """Quote a pending request (operator): its opportunity cost from bid prices, the exact
    value of signing it by re-solving with and without it, and a decision — accept, counter
    at the lowest price per GPU-hour that makes it worthwhile, or decline — with the reasons."""
    return quotes.quote_request(db, caller, request_id, gap, time_limit)


@router.get("/leases", response_model_by_alias=True)
def list_leases(
    db: Db, caller: Caller, limit: Limit = 100, cursor: Cursor = None
) -> Page[RentalOut]:
    """Signed leases, in pages."""
    return _page(rentals.list_rentals(db, caller, "lease", None, cursor, limit), limit)


@router.post("/rental-requests/{request_id}/accept", response_model_by_alias=True)
def accept(request_id: str, db: Db, caller: Caller) -> AcceptedOut:
    """Accept a pending request (operator): in one transaction place it on concrete nodes,
    create the lease and its node assignments, mark the request accepted and tell the
    tenant (`lease.scheduled`). A reserved request that does not fit may reclaim
    interruptible capacity after its notice (`lease.preemption_notice` to the victims).
    409 with the reason when it cannot be placed (not enough GPUs of the model in the
    window; no single pod for a contiguous lease; fragmented) or is not pending."""
    done = rentals.accept_request(db, caller, request_id)
    view = rentals.get_lease(db, caller, done.lease.id)
    preemptions = [
        PreemptionOut(victim=n.victim, reclaim_at=at(n.reclaim_at), nodes=len(n.nodes),
                      reason=n.reason)
        for n in done.notices
    ]  # fmt: skip
    return AcceptedOut(request_id=request_id, lease=LeaseOut.of_view(view), nodes=done.nodes,
                       preemptions=preemptions)  # fmt: skip


@router.get("/leases/{lease_id}", response_model_by_alias=True)
def get_lease(lease_id: str, db: Db, caller: Caller) -> LeaseOut:
    """One lease, with its state and `assignments`: node, GPUs, start, end."""
    return LeaseOut.of_view(rentals.get_lease(db, caller, lease_id))
