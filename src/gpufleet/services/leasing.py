"""Turning an accepted rental request into a lease on concrete nodes, inside a placement
session: used by `POST /v1/rental-requests/{id}/accept` and `POST /v1/plans/{id}/apply`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import lease_placement as leases_repo
from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.domain.errors import Conflict, Issue, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.rentals import LeaseStatus, Rental, RequestStatus
from gpufleet.domain.timeutil import format_instant
from gpufleet.placement import (
    HoldKind,
    Placement,
    PreemptionNotice,
    Refusal,
    Request,
    SpareUse,
    seconds,
)
from gpufleet.services.placement import PlacementSession
from gpufleet.services.preemption import preempt_for


@dataclass(frozen=True)
class Accepted:
    lease: Rental
    request_id: str
    nodes: int
    notices: tuple[PreemptionNotice, ...]


def request_for(rental: Rental, holder: str, s: PlacementSession) -> Request:
    """The engine's request for a lease of `rental`: its window from now on (a window that
    began already is placed for what is left of it)."""
    start = max(seconds(rental.start), s.clock, seconds(s.now))
    end = seconds(rental.end)
    if end <= start:
        raise Conflict(f"rental request {rental.id!r} ends {format_instant(rental.end)}, "
                       "which has passed: nothing is left to place")  # fmt: skip
    return Request(
        holder=holder, tenant=rental.tenant_id, kind=HoldKind.LEASE, gpu_model=rental.gpu_model,
        gpus=rental.gpus, start=start, end=end,
        interruptible=rental.rental_class == "interruptible", notice_hours=rental.notice_hours,
        contiguous=rental.contiguous,
    )  # fmt: skip


def pending_request(s: PlacementSession, request_id: str) -> Rental:
    """The pending request, locked; NotFound or Conflict (already decided) otherwise."""
    return pending_locked(s, request_id, leases_repo.lock_request(s.conn, request_id))


def pending_locked(s: PlacementSession, request_id: str, status: str | None) -> Rental:
    """As `pending_request`, for a caller that locked the request already and read `status`
    (`leases_repo.lock_request`): a second lock would be a second round trip for nothing."""
    rental = rentals_repo.get(s.conn, "request", request_id, None)
    if status is None or rental is None:
        raise NotFound.of("rental request", request_id)
    if status != RequestStatus.PENDING:
        raise Conflict(f"rental request {request_id!r} is {status}, not pending: only a "
                       "pending request can be accepted")  # fmt: skip
    return rental


def try_accept(s: PlacementSession, rental: Rental) -> Accepted | Refusal:
    """Places `rental` as a new lease and writes the lease, its assignments, the request's
    new status and the events; or returns the engine's refusal having written nothing (the
    engine unchanged). A firm request may preempt interruptible holds with notice and then,
    if its shape needs them, take spare blocks (ADR 0011)."""
    lease_id = f"lease-{secrets.token_hex(8)}"
    request = request_for(rental, lease_id, s)
    result = s.placer.place(request, spares=SpareUse.NEVER)  # preemption first
    notices: tuple[PreemptionNotice, ...] = ()
    if isinstance(result, Refusal) and not request.interruptible:
        placed, notices = preempt_for(s, request, result)
        result = placed if placed is not None else result
    if isinstance(result, Refusal):
        return result
    _record(s, rental, lease_id, result)
    s.save([lease_id, *(n.victim for n in notices)])
    return Accepted(_lease_record(rental, lease_id, s), rental.id, len(result.nodes), notices)


def refused(rental_id: str, refusal: Refusal) -> Conflict:
    return Conflict(
        f"rental request {rental_id!r} cannot be placed: {refusal.message}",
        [Issue("reason", refusal.reason.value)],
    )


def _lease_record(rental: Rental, lease_id: str, s: PlacementSession) -> Rental:
    return replace(rental, id=lease_id, status=LeaseStatus.SIGNED.value, created_at=s.now)


def _record(s: PlacementSession, rental: Rental, lease_id: str, placed: Placement) -> None:
    lease = _lease_record(rental, lease_id, s)
    leases_repo.add_lease(s.conn, lease, rental.id, "scheduled")
    leases_repo.set_request_status(s.conn, rental.id, RequestStatus.ACCEPTED.value)
    pods = {s.fleet.topology.pod_of(n) for n in placed.nodes}
    data = {
        "request_id": rental.id, "gpu_model": rental.gpu_model, "gpus": rental.gpus,
        "start": format_instant(rental.start), "end": format_instant(rental.end),
        "placed_from": format_instant(at(placed.start)),
        "nodes": len(placed.nodes), "pods": len(pods),
    }  # fmt: skip
    events.append(s.conn, [
        NewEvent("rental_request.accepted", rental.id, rental.tenant_id, {"lease_id": lease_id}),
        NewEvent("lease.scheduled", lease_id, rental.tenant_id, data),
        *spares_reduced(s, lease_id, placed),
    ], s.now)  # fmt: skip


def spares_reduced(s: PlacementSession, lease_id: str, placed: Placement) -> list[NewEvent]:
    """Operator events (`pod.spares_reduced`), one per pod, when a firm lease fitted only on
    spare blocks (ADR 0011): that pod runs with fewer spares over the lease's window, and its
    failed nodes are replaced from idle nodes, reclaim or a recorded shortfall meanwhile."""
    t, b = s.fleet.topology, s.placer.bookings
    by_pod: dict[int, list[int]] = {}
    for block in placed.spare_blocks:
        by_pod.setdefault(int(t.block_pod[block]), []).append(block)
    news = []
    for pod, taken in sorted(by_pod.items()):
        cluster, pod_in_cluster, _, _ = t.locate(t.pod_nodes(pod).start)
        news.append(NewEvent("pod.spares_reduced", f"{cluster}-p{pod_in_cluster:03d}", None, {
            "lease_id": lease_id, "spare_blocks_taken": len(taken),
            "spare_blocks": len(b.pod_spares[pod]),
            "from": format_instant(at(placed.start)), "until": format_instant(at(placed.end)),
            "why": "a signed firm lease fits only on this pod's spare blocks; the spare "
                   "policy yields to signed contracts (ADR 0011)",
        }))  # fmt: skip
    return news


@dataclass(frozen=True)
class Recorded:
    placed: dict[str, int]  # lease id → nodes
    refused: dict[str, Refusal]
    over: list[str]  # windows already over: nothing to place


def place_recorded_leases(s: PlacementSession, *, retry_refused: bool = True) -> Recorded:
    """Places the leases that were signed elsewhere and only recorded here (a scenario's
    `leases`, state NULL), each as itself, a firm one on spare blocks if nothing else fits
    (ADR 0011: a signed contract comes before the spare policy; `pod.spares_reduced`
    events say so); a lease that does not fit even so is marked 'unplaced'
    and named in the answer and in an operator event (`lease.unplaced`). Refusals leave the
    engine unchanged. `retry_refused=False` (every simulation run) leaves the 'unplaced'
    ones alone, so a run does not repeat the same refusal; the operator retries them."""
    placed: dict[str, int] = {}
    refusals: dict[str, Refusal] = {}
    over: list[str] = []
    news: list[NewEvent] = []
    for lease_id in leases_repo.unplaced_leases(s.conn, refused_too=retry_refused):
        lease = rentals_repo.get(s.conn, "lease", lease_id, None)
        assert lease is not None
        if seconds(lease.end) <= max(s.clock, seconds(s.now)):
            over.append(lease_id)
            continue
        request = request_for(replace(lease, id=lease_id), lease_id, s)
        result = s.placer.place(request, spares=SpareUse.LAST_RESORT)  # signed already
        if isinstance(result, Refusal):
            refusals[lease_id] = result
            leases_repo.set_lease_state(s.conn, lease_id, leases_repo.UNPLACED)
            news.append(NewEvent("lease.unplaced", lease_id, None, {
                "reason": result.message, "refusal": result.reason.value,
                "gpu_model": lease.gpu_model, "gpus": lease.gpus,
            }))  # fmt: skip
            continue
        leases_repo.set_lease_state(s.conn, lease_id, "scheduled")
        placed[lease_id] = len(result.nodes)
        news.append(NewEvent("lease.scheduled", lease_id, lease.tenant_id, {
            "gpu_model": lease.gpu_model, "gpus": lease.gpus,
            "start": format_instant(lease.start), "end": format_instant(lease.end),
            "placed_from": format_instant(at(result.start)), "nodes": len(result.nodes),
        }))  # fmt: skip
        news += spares_reduced(s, lease_id, result)
    s.save(placed)
    events.append(s.conn, news, s.now)
    return Recorded(placed, refusals, over)
