"""Plan jobs: queued, running (with progress), done (with the plan's JSON) or failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gpufleet.adapters.db.tables import plans
from gpufleet.domain.planjobs import PlanJob
from gpufleet.domain.timeutil import to_utc


def _maybe(value: datetime | None) -> datetime | None:
    return to_utc(value) if value is not None else None


def _job(row: Any) -> PlanJob:
    return PlanJob(
        id=row.id,
        status=row.status,
        options=dict(row.options),
        progress=dict(row.progress) if row.progress else None,
        result=row.result,
        error=row.error,
        created_at=to_utc(row.created_at),
        started_at=_maybe(row.started_at),
        finished_at=_maybe(row.finished_at),
    )


def add(conn: Connection, job_id: str, options: dict[str, Any], by: str, now: datetime) -> None:
    conn.execute(
        insert(plans).values(
            id=job_id, status="queued", options=options, requested_by=by, created_at=now
        )
    )


def get(conn: Connection, job_id: str) -> PlanJob | None:
    row = conn.execute(select(plans).where(plans.c.id == job_id)).first()
    return _job(row) if row else None


def page(conn: Connection, after: str | None, limit: int) -> list[PlanJob]:
    query = select(plans).order_by(plans.c.id.desc()).limit(limit)
    if after is not None:
        query = query.where(plans.c.id < after)
    return [_job(row) for row in conn.execute(query)]


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(plans).where(plans.c.id == job_id).values(**values))
