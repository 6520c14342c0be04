"""Plans of the current fleet, computed in the background.

`submit_plan` records a queued job and returns at once; `run_plan` (on a worker thread) reads
the state in one short read transaction, solves with no transaction open, writes progress at
most every second and the result at the end. A crash leaves the job `running`: the operator
sees how far it got and submits another.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import lease_placement as leases_repo
from gpufleet.adapters.db.repos import plans as repo
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict, GpufleetError, InvalidInput, Issue, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.planjobs import PlanJob
from gpufleet.domain.rentals import RequestStatus
from gpufleet.placement import Refusal
from gpufleet.planning.planner import Planner
from gpufleet.planning.scenario import Scenario
from gpufleet.planning.solver import Progress
from gpufleet.services.database import Database
from gpufleet.services.leasing import Accepted, pending_locked, refused, try_accept
from gpufleet.services.placement import PlacementCache, placement_session
from gpufleet.services.placement_programs import (
    ProgramsPlaced,
    place_programs,
    release_earlier_plans,
)
from gpufleet.services.scenario_from_db import current_scenario

_PROGRESS_EVERY_S = 1.0


def submit_plan(db: Database, caller: Principal, options: dict[str, Any]) -> PlanJob:
    caller.require_operator()
    job_id = f"plan-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}"
    with db.write() as conn:
        scenario = current_scenario(conn)  # refuses at once when there is nothing to plan
        _check_forced(scenario, options)
        repo.add(conn, job_id, options, caller.key_id, db.clock())
        events.append(conn, [NewEvent("plan.queued", job_id, None, options)], db.clock())
        job = repo.get(conn, job_id)
    assert job is not None
    return job


def _check_forced(scenario: Scenario, options: dict[str, Any]) -> None:
    pending = {r.id for r in scenario.rental_requests}
    issues = [
        Issue(f"{key}[{k}]", f"no pending rental request {rid!r}")
        for key in ("force_accept", "force_reject")
        for k, rid in enumerate(options.get(key, []))
        if rid not in pending
    ]
    both = set(options.get("force_accept", [])) & set(options.get("force_reject", []))
    issues += [Issue("force_reject", f"{rid!r} is also in force_accept") for rid in sorted(both)]
    if issues:
        raise InvalidInput("plan options are invalid", issues)


def get_plan(db: Database, caller: Principal, job_id: str) -> PlanJob:
    caller.require_operator()
    with db.read() as conn:
        job = repo.get(conn, job_id)
    if job is None:
        raise NotFound.of("plan", job_id)
    return job


def list_plans(db: Database, caller: Principal, after: str | None, limit: int) -> list[PlanJob]:
    caller.require_operator()
    with db.read() as conn:
        return repo.page(conn, after, limit)


def run_plan(db: Database, job_id: str) -> None:
    """Solve a queued job to the end; every failure is recorded on the job, never raised."""
    with db.write() as conn:
        job = repo.get(conn, job_id)
        if job is None or job.status != "queued":
            return
        repo.update_job(conn, job_id, status="running", started_at=db.clock())
        scenario = current_scenario(conn)
    options = job.options
    last_write = 0.0

    def report(progress: Progress) -> None:
        nonlocal last_write
        if progress.seconds - last_write < _PROGRESS_EVERY_S:
            return
        last_write = progress.seconds
        with db.write() as conn:
            repo.update_job(conn, job_id, progress=progress.__dict__)

    try:
        result = Planner(scenario).plan(
            gap=options.get("gap", 1e-3),
            time_limit=options.get("time_limit"),
            force_accept=options.get("force_accept", []),
            force_reject=options.get("force_reject", []),
            progress=report,
        )
    except GpufleetError as error:
        _finish(db, job_id, status="failed", error=error.message)
        return
    except Exception as error:  # recorded for the operator; the worker thread lives on
        _finish(db, job_id, status="failed", error=f"internal error: {error!r}"[:2000])
        raise
    _finish(db, job_id, status="done", result=json.loads(result.to_json()))


def _finish(db: Database, job_id: str, **values: Any) -> None:
    with db.write() as conn:
        repo.update_job(conn, job_id, finished_at=db.clock(), **values)
        summary = {"status": values["status"]}
        events.append(conn, [NewEvent("plan.finished", job_id, None, summary)], db.clock())


@dataclass(frozen=True)
class Applied:
    plan_id: str
    accepted: list[Accepted]
    skipped: list[str]  # accepted already (by hand, or by an earlier apply)
    programs: ProgramsPlaced


DEFAULT_PROGRAM_LOOKAHEAD = timedelta(days=28)
MAX_PROGRAM_LOOKAHEAD = timedelta(days=3660)


def apply_plan(
    db: Database,
    caller: Principal,
    plan_id: str,
    cache: PlacementCache | None = None,
    program_lookahead: timedelta = DEFAULT_PROGRAM_LOOKAHEAD,
) -> Applied:
    """Accept every request a finished plan accepted, in one transaction: all placed, or
    none (Conflict naming the first that could not be). Requests accepted already are
    skipped; one declined or gone since the plan is a conflict. Then, best effort, the
    internal programs' allocations of the periods starting within `program_lookahead` are
    booked as the lab's own holds, gang-placed in whole blocks; what did not fit is reported
    short (`gpufleet.services.placement_programs`), never refused."""
    caller.require_operator()
    if not timedelta(0) <= program_lookahead <= MAX_PROGRAM_LOOKAHEAD:
        raise InvalidInput("plan apply options are invalid", [Issue(
            "program_days", f"must be 0 to {MAX_PROGRAM_LOOKAHEAD.days} days")])  # fmt: skip
    with placement_session(db, cache) as s:
        job = repo.get(s.conn, plan_id)
        if job is None:
            raise NotFound.of("plan", plan_id)
        if job.status != "done" or job.result is None:
            raise Conflict(f"plan {plan_id!r} is {job.status}: only a finished plan is applied")
        wanted = [d["id"] for d in job.result.get("decisions", []) if d.get("accepted")]
        # A newer plan's programs replace an earlier one's: free their nodes for its contracts.
        released = release_earlier_plans(s, plan_id)
        done: list[Accepted] = []
        skipped: list[str] = []
        for request_id in wanted:
            status = leases_repo.lock_request(s.conn, request_id)
            if status is None:
                raise Conflict(f"plan {plan_id!r} accepts rental request {request_id!r}, "
                               "which no longer exists")  # fmt: skip
            if status == RequestStatus.ACCEPTED:
                skipped.append(request_id)
                continue
            outcome = try_accept(s, pending_locked(s, request_id, status))  # locked above
            if isinstance(outcome, Refusal):  # rolls back every lease placed before it
                raise refused(request_id, outcome)
            done.append(outcome)
        settings = fleet_repo.settings(s.conn)
        assert settings is not None  # a plan exists only for an imported fleet
        programs = place_programs(s, plan_id, job.result, settings.horizon, program_lookahead,
                                  released)  # fmt: skip
        s.save([*(h.holder for h in programs.holds if h.placed), *released])
        summary = {"accepted": [a.request_id for a in done], "skipped": skipped}
        events.append(s.conn, [
            NewEvent("plan.applied", plan_id, None, summary),
            NewEvent("plan.programs_placed", plan_id, None, programs.summary()),
        ], s.now)  # fmt: skip
    return Applied(plan_id, done, skipped, programs)
