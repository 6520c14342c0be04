"""Plans of the current fleet, as background jobs (operator)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, status

from gpufleet.api.deps import Caller, Cursor, Db, Limit
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.plans import AppliedLeaseOut, PlanAppliedOut, PlanCreate, PlanJobOut
from gpufleet.services import plans

router = APIRouter(prefix="/v1/plans", tags=["planning"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def submit(body: PlanCreate, request: Request, db: Db, caller: Caller) -> PlanJobOut:
    """Plan the fleet as it is now (programs, pending requests, leases) in the background.
    Poll `GET /v1/plans/{id}`: `progress` while it runs, `plan` when it is done."""
    job = plans.submit_plan(db, caller, body.model_dump())
    request.app.state.jobs.submit(partial(plans.run_plan, db, job.id))
    return PlanJobOut.of(job)


@router.get("/{plan_id}")
def get(plan_id: str, db: Db, caller: Caller) -> PlanJobOut:
    """A plan job: its status, progress, and the plan's JSON when done."""
    return PlanJobOut.of(plans.get_plan(db, caller, plan_id))


@router.get("")
def list_all(db: Db, caller: Caller, limit: Limit = 20, cursor: Cursor = None) -> Page[PlanJobOut]:
    """Plan jobs, newest first."""
    found = plans.list_plans(db, caller, cursor, limit)
    next_cursor = found[-1].id if len(found) == limit else None
    return Page[PlanJobOut](items=[PlanJobOut.of(j) for j in found], next_cursor=next_cursor)


@router.post("/{plan_id}/apply")
def apply(plan_id: str, db: Db, caller: Caller) -> PlanAppliedOut:
    """Accept every request a finished plan accepted, in one transaction: each is placed
    on concrete nodes as a lease (as `POST /v1/rental-requests/{id}/accept` does), or
    nothing is (409 naming the first request that could not be placed, and why).
    Requests accepted already are skipped."""
    done = plans.apply_plan(db, caller, plan_id)
    accepted = [
        AppliedLeaseOut(request_id=a.request_id, lease_id=a.lease.id, tenant=a.lease.tenant,
                        gpus=a.lease.gpus, nodes=a.nodes)
        for a in done.accepted
    ]  # fmt: skip
    victims = list(dict.fromkeys(n.victim for a in done.accepted for n in a.notices))
    return PlanAppliedOut(plan_id=plan_id, accepted=accepted, skipped=done.skipped,
                          preempted=victims)  # fmt: skip
