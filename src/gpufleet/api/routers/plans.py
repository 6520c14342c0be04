"""Plans of the current fleet, as background jobs (operator)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from gpufleet.api.deps import Caller, Cursor, Db, Limit
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.plans import (
    AppliedLeaseOut,
    PlanAppliedOut,
    PlanCreate,
    PlanJobOut,
    ProgramHoldOut,
    ProgramsAppliedOut,
)
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
def apply(
    plan_id: str,
    db: Db,
    caller: Caller,
    program_days: Annotated[int, Query(ge=0, le=3660, description=(
        "Book the internal programs' allocations of the periods starting within this many "
        "days (0: none)"))] = 28,
) -> PlanAppliedOut:  # fmt: skip
    """Accept every request a finished plan accepted, in one transaction: each is placed
    on concrete nodes as a lease (as `POST /v1/rental-requests/{id}/accept` does), or
    nothing is (409 naming the first request that could not be placed, and why).
    Requests accepted already are skipped. Then, best effort in the same transaction, the
    internal programs' allocations of the next `program_days` are booked as the lab's own
    holds, gang-placed in whole blocks; `programs` says what was booked and what was short
    (GPUs per program, model and periods), also in a `plan.programs_placed` event. The
    program holds of plans applied before are released from now on."""
    done = plans.apply_plan(db, caller, plan_id, program_lookahead=timedelta(days=program_days))
    accepted = [
        AppliedLeaseOut(request_id=a.request_id, lease_id=a.lease.id, tenant=a.lease.tenant,
                        gpus=a.lease.gpus, nodes=a.nodes)
        for a in done.accepted
    ]  # fmt: skip
    victims = list(dict.fromkeys(n.victim for a in done.accepted for n in a.notices))
    p = done.programs
    programs = ProgramsAppliedOut(
        placed_gpus=sum(h.placed for h in p.holds), short_gpus=sum(h.short for h in p.holds),
        holds=[ProgramHoldOut.model_validate(h.to_dict()) for h in p.holds],
        released=p.released, later_periods=p.later_periods,
    )  # fmt: skip
    return PlanAppliedOut(plan_id=plan_id, accepted=accepted, skipped=done.skipped,
                          preempted=victims, programs=programs)  # fmt: skip
