"""Plan jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from gpufleet.api.schemas.common import ApiModel
from gpufleet.domain.planjobs import PlanJob
from gpufleet.planning.scenario.fields import Name


class PlanCreate(ApiModel):
    gap: float = Field(default=1e-3, ge=0.0, lt=1.0, description="Relative optimality gap")
    time_limit: float | None = Field(default=None, gt=0, le=3600, description="Seconds")
    force_accept: list[Name] = Field(default=[], max_length=10_000)
    force_reject: list[Name] = Field(default=[], max_length=10_000)


class PlanProgress(ApiModel):
    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None


class PlanJobOut(ApiModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    options: PlanCreate
    progress: PlanProgress | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    plan: dict[str, Any] | None = Field(
        description="When done: the plan's JSON exactly as `gpufleet plan --json` prints it"
    )

    @classmethod
    def of(cls, job: PlanJob) -> PlanJobOut:
        return cls(
            id=job.id,
            status=job.status,
            options=PlanCreate.model_validate(job.options),
            progress=PlanProgress.model_validate(job.progress) if job.progress else None,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            plan=job.result,
        )


class AppliedLeaseOut(ApiModel):
    request_id: str
    lease_id: str
    tenant: str
    gpus: int
    nodes: int


class ProgramHoldOut(ApiModel):
    """One internal program's GPUs of one model over consecutive periods of the plan."""

    program: str
    gpu_model: str
    periods: list[int] = Field(description="First and last period index (inclusive)")
    start: datetime = Field(description="Booked from (now, if the periods began already)")
    end: datetime
    wanted_gpus: int = Field(description="The plan's allocation, whole GPUs")
    placed_gpus: int = Field(description="Booked as one gang in whole blocks; 0 when none fit")
    short_gpus: int
    holder: str | None = Field(description="The hold's name in the placement engine")
    reason: str | None = Field(description="Why it is short, in the engine's words")


class ProgramsAppliedOut(ApiModel):
    """Best effort: the internal programs' allocations booked as the lab's own holds."""

    placed_gpus: int
    short_gpus: int
    holds: list[ProgramHoldOut]
    released: list[str] = Field(
        description="Program holds ended from now on: those of earlier plans, and this plan's "
        "own shorter bookings that a longer program_days booked anew"
    )
    later_periods: int = Field(
        description="Program allocations of periods beyond program_days, not booked yet"
    )


class PlanAppliedOut(ApiModel):
    """What applying a plan did: the leases created (all in one transaction) and the
    requests skipped because they were accepted already."""

    plan_id: str
    accepted: list[AppliedLeaseOut]
    skipped: list[str]
    preempted: list[str] = Field(description="holds (leases, lab jobs) given a preemption notice")
    programs: ProgramsAppliedOut | None = None
