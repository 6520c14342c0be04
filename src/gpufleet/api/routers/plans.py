"""Plans of the current fleet, as background jobs (operator)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, status

from gpufleet.api.deps import Caller, Cursor, Db, Limit
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.plans import PlanCreate, PlanJobOut
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
