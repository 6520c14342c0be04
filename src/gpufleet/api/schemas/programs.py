"""Internal programs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from gpufleet.api.schemas.common import ApiModel
from gpufleet.domain.money import micros_to_float_usd
from gpufleet.domain.programs import Program


class ProgramOut(ApiModel):
    name: str
    tenant: str
    kind: Literal["training", "inference"]
    gpu_models: list[str]
    work_gpu_hours: float | None
    max_gpus: int | None
    earliest_start: datetime | None
    due: datetime | None
    delay_cost_per_day: float | None
    gpus: int | list[int] | None
    created_at: datetime

    @classmethod
    def of(cls, program: Program) -> ProgramOut:
        cost = program.delay_cost_per_day_micros
        return cls(
            name=program.name,
            tenant=program.tenant,
            kind=program.kind,
            gpu_models=program.gpu_models,
            work_gpu_hours=program.work_gpu_hours,
            max_gpus=program.max_gpus,
            earliest_start=program.earliest_start,
            due=program.due,
            delay_cost_per_day=micros_to_float_usd(cost) if cost is not None else None,
            gpus=program.inference_gpus,
            created_at=program.created_at,
        )
