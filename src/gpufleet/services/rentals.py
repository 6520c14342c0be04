"""Rental requests (a tenant asks for capacity for itself) and leases."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import lease_placement as leases_repo
from gpufleet.adapters.db.repos import rentals as repo
from gpufleet.adapters.db.repos.lease_placement import LeaseState, NodeAssignment
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Forbidden, InvalidInput, Issue, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.rentals import Rental, RequestStatus
from gpufleet.placement import Refusal
from gpufleet.planning.scenario import RentalTerms
from gpufleet.services.database import Database
from gpufleet.services.leasing import (
    Accepted,
    Recorded,
    pending_request,
    place_recorded_leases,
    refused,
    try_accept,
)
from gpufleet.services.placement import PlacementCache, placement_session
from gpufleet.services.scenario_rows import rental_record

_NOUN = {"request": "rental request", "lease": "lease"}


def submit_request(db: Database, caller: Principal, terms: RentalTerms) -> Rental:
    if caller.is_operator or caller.tenant_id is None or caller.tenant_name is None:
        raise Forbidden("a rental request is made by a tenant for itself; use a tenant key")
    rules = [Issue(field, message) for field, message in terms.rule_issues()]
    if rules:  # end after start, notice for interruptible: as in a scenario file
        raise InvalidInput("rental request is invalid", rules)
    rental_id = f"req-{secrets.token_hex(8)}"  # 64 random bits: a clash is not a concern
    with db.write() as conn:
        models = fleet_repo.models(conn)
        if terms.gpu_model not in models:
            known = ", ".join(sorted(models)) or "none yet"
            raise InvalidInput(
                "rental request is invalid",
                [Issue("gpu_model", f"unknown GPU model {terms.gpu_model!r} (known: {known})")],
            )
        now = db.clock()
        rental = rental_record(
            terms, rental_id, caller.tenant_id, caller.tenant_name, RequestStatus.PENDING, now
        )
        repo.add(conn, "request", [rental])
        events.append(conn, [NewEvent("rental_request.received", rental_id, caller.tenant_id)],
                      now)  # fmt: skip
    return rental


def get_rental(db: Database, caller: Principal, kind: str, rental_id: str) -> Rental:
    scope = None if caller.is_operator else caller.tenant_id
    with db.read() as conn:
        found = repo.get(conn, kind, rental_id, scope)
    if found is None:
        raise NotFound.of(_NOUN[kind], rental_id)
    return found


def list_rentals(
    db: Database, caller: Principal, kind: str, status: str | None, after: str | None, limit: int
) -> list[Rental]:
    scope = None if caller.is_operator else caller.tenant_id
    with db.read() as conn:
        return repo.page(conn, kind, tenant_id=scope, status=status, after=after, limit=limit)


def accept_request(
    db: Database, caller: Principal, request_id: str, cache: PlacementCache | None = None
) -> Accepted:
    """Accept a pending request (operator): in one transaction, place it on concrete nodes,
    create the lease and its assignments, mark the request accepted and tell the tenant
    (`lease.scheduled`). Conflict, with the engine's reason, when it cannot be placed.
    `cache`: the engine cache to use (tests give each thread its own, as separate servers)."""
    caller.require_operator()
    with placement_session(db, cache) as s:
        outcome = try_accept(s, pending_request(s, request_id))
    if isinstance(outcome, Refusal):  # nothing was written and the engine is unchanged
        raise refused(request_id, outcome)
    return outcome


@dataclass(frozen=True)
class LeaseView:
    lease: Rental
    state: LeaseState
    assignments: list[NodeAssignment]


def get_lease(db: Database, caller: Principal, lease_id: str) -> LeaseView:
    """One lease with its state and node assignments; a tenant sees its own only."""
    scope = None if caller.is_operator else caller.tenant_id
    with db.read() as conn:
        found = repo.get(conn, "lease", lease_id, scope)
        if found is None:
            raise NotFound.of("lease", lease_id)
        state = leases_repo.lease_state(conn, lease_id)
        assert state is not None
        return LeaseView(found, state, leases_repo.lease_assignments(conn, lease_id))


def place_recorded(db: Database, caller: Principal) -> Recorded:
    """Place every lease recorded from a scenario but not placed yet (operator)."""
    caller.require_operator()
    with placement_session(db) as s:
        return place_recorded_leases(s)
