"""Rows of the simulated cluster: the `ops_state` row and hourly lease usage for billing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gpufleet.adapters.db.tables_operations import ops_state
from gpufleet.domain.timeutil import to_utc


@dataclass(frozen=True)
class OpsRow:
    metered_until: datetime
    experiments_origin: datetime
    experiment_model: str | None
    experiment_copies: int
    sim_state: dict[str, Any]
    totals: dict[str, Any]
    run_status: str
    run_until: datetime | None
    run_seed: int | None
    run_error: str | None
    updated_at: datetime


def read(conn: Connection) -> OpsRow | None:
    row = conn.execute(select(ops_state).where(ops_state.c.id == 1)).first()
    if row is None:
        return None
    return OpsRow(
        to_utc(row.metered_until), to_utc(row.experiments_origin), row.experiment_model,
        int(row.experiment_copies), dict(row.sim_state), dict(row.totals), row.run_status,
        to_utc(row.run_until) if row.run_until else None, row.run_seed, row.run_error,
        to_utc(row.updated_at),
    )  # fmt: skip


def create(conn: Connection, row: OpsRow) -> None:
    conn.execute(insert(ops_state).values(id=1, **row.__dict__))


def change(conn: Connection, **values: Any) -> None:
    conn.execute(update(ops_state).where(ops_state.c.id == 1).values(**values))
