"""Rows of the simulated cluster: the `ops_state` row and hourly lease usage for billing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_, update

from gpufleet.adapters.db.tables_operations import lease_usage_hours, ops_state
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


UsageRow = tuple[str, datetime, int, str, int, int, int]  # lease, hour, tenant, model, p, d, s


def add_usage(conn: Connection, rows: Sequence[UsageRow]) -> int:
    """Inserts the rows not there yet (a row, once written, is what billing rated)."""
    if not rows:
        return 0
    t = lease_usage_hours
    keys = [(r[0], r[1]) for r in rows]
    have: set[tuple[str, datetime]] = set()
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        query = select(t.c.lease_id, t.c.hour_start).where(
            tuple_(t.c.lease_id, t.c.hour_start).in_(part)
        )
        have.update((lease, to_utc(hour)) for lease, hour in conn.execute(query))
    new = [
        {"lease_id": r[0], "hour_start": r[1], "tenant_id": r[2], "gpu_model": r[3],
         "promised_gpu_seconds": r[4], "delivered_gpu_seconds": r[5],
         "shortfall_gpu_seconds": r[6]}
        for r in rows if (r[0], r[1]) not in have
    ]  # fmt: skip
    if new:
        conn.execute(insert(t), new)
    return len(new)
