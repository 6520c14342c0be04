"""Internal programs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from gpufleet.adapters.db.tables import programs, tenants
from gpufleet.domain.programs import Program
from gpufleet.domain.timeutil import to_utc


def _maybe_utc(value: Any) -> Any:
    return to_utc(value) if value is not None else None


def _program(row: Any) -> Program:
    return Program(
        id=row.id,
        name=row.name,
        tenant=row.tenant,
        kind=row.kind,
        gpu_models=list(row.gpu_models),
        work_gpu_hours=row.work_gpu_hours,
        max_gpus=row.max_gpus,
        earliest_start=_maybe_utc(row.earliest_start),
        due=_maybe_utc(row.due),
        delay_cost_per_day_micros=row.delay_cost_per_day_micros,
        inference_gpus=row.inference_gpus,
        created_at=to_utc(row.created_at),
    )


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(programs), list(rows))


def names(conn: Connection) -> set[str]:
    return set(conn.execute(select(programs.c.name)).scalars())


def _query() -> Any:
    return select(programs, tenants.c.name.label("tenant")).join(
        tenants, tenants.c.id == programs.c.tenant_id
    )


def list_all(conn: Connection) -> list[Program]:
    return [_program(row) for row in conn.execute(_query().order_by(programs.c.id))]


def get(conn: Connection, name: str) -> Program | None:
    row = conn.execute(_query().where(programs.c.name == name)).first()
    return _program(row) if row else None
