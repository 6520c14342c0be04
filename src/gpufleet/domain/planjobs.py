"""A plan computed in the background on the database's current state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PlanJob:
    id: str
    status: str  # queued | running | done | failed
    options: dict[str, Any]
    progress: dict[str, Any] | None  # seconds, objective, bound, gap while running
    result: dict[str, Any] | None  # the plan's JSON (design/SCENARIO.md) when done
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
