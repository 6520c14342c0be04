"""Internal programs: training (work by a due date, a cost per day late) and inference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Program:
    id: int
    name: str
    tenant: str
    kind: str  # "training" | "inference"
    gpu_models: list[str]
    work_gpu_hours: float | None
    max_gpus: int | None
    earliest_start: datetime | None
    due: datetime | None
    delay_cost_per_day_micros: int | None
    inference_gpus: int | list[int] | None
    created_at: datetime
