"""The simulated cluster (operator): advance its clock in the background, read its status."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, status

from gpufleet.api.deps import Caller, Db
from gpufleet.api.schemas.operations import AdvanceIn, OpsStatusOut, RecordedLeasesOut
from gpufleet.services import operations, rentals

router = APIRouter(prefix="/v1/ops", tags=["operations"])


@router.post("/advance", status_code=status.HTTP_202_ACCEPTED)
def advance(body: AdvanceIn, request: Request, db: Db, caller: Caller) -> OpsStatusOut:
    """Run the simulated cluster from its clock to `until` in the background (operator):
    leases start and end, nodes fail and are repaired, the lab's experiments fill idle
    capacity, every change is told to its tenant and every lease hour is metered. One run at
    a time (409 while one goes on). Leases recorded from a scenario are placed first (those
    that do not fit are named in `lease.unplaced` events). Poll `GET /v1/ops/status` for the
    clock as it moves."""
    options = body.options()
    started = operations.start_advance(db, caller, options)
    request.app.state.jobs.submit(partial(operations.run_advance, db, options))
    return OpsStatusOut.of(started)


@router.get("/status")
def get_status(db: Db, caller: Caller) -> OpsStatusOut:
    """Where the simulated cluster stands (operator): its clock, the run going on, and totals
    since the first run: failures, replacements, notices, preemptions, shortfalls, the
    experiments, utilisation (busy / online GPU-hours) and fragmentation."""
    return OpsStatusOut.of(operations.status(db, caller))


@router.post("/place-recorded-leases")
def place_recorded_leases(db: Db, caller: Caller) -> RecordedLeasesOut:
    """Place the leases recorded from a scenario on concrete nodes now (operator), in one
    transaction: those not placed yet and those refused before. Each is placed as itself or
    named with the engine's reason (and a `lease.unplaced` event); `POST /v1/ops/advance`
    does the same for the new ones before it runs."""
    return RecordedLeasesOut.of(rentals.place_recorded(db, caller))
