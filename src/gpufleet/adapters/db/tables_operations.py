"""Tables of operations (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0004_operations.py creates exactly these tables.

`lease_usage_hours` is the contract between operations and billing: the simulated (or real)
cluster writes one row per lease and clock hour once that hour is over, and billing rates
those rows. promised = delivered + shortfall, in GPU-seconds, for every row.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table

from gpufleet.adapters.db.tables import Time, metadata

lease_usage_hours = Table(
    "lease_usage_hours",
    metadata,
    Column("lease_id", ForeignKey("leases.id"), primary_key=True),
    Column("hour_start", Time, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False, index=True),
    Column("gpu_model", String(100), nullable=False),
    Column("promised_gpu_seconds", BigInteger, nullable=False),
    Column("delivered_gpu_seconds", BigInteger, nullable=False),
    Column("shortfall_gpu_seconds", BigInteger, nullable=False),
    CheckConstraint(
        "promised_gpu_seconds = delivered_gpu_seconds + shortfall_gpu_seconds"
        " AND delivered_gpu_seconds >= 0 AND shortfall_gpu_seconds >= 0",
        name="balanced",
    ),
)

# -- operations' own tables (below the contract above) ---------------------------------------
# `ops_state` (one row): the simulated cluster between runs. The clock itself is the
# placement engine's (placement_state.clock); this row keeps what the simulation needs to go
# on from there: metered_until (every lease hour before it is in lease_usage_hours), the
# experiments' origin and GPU model, pending repairs, waiting experiments and first notices
# (`sim_state`, JSON), running totals, and the one background run's target and progress.
ops_state = Table(
    "ops_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("metered_until", Time, nullable=False),
    Column("experiments_origin", Time, nullable=False),
    Column("experiment_model", String(100)),
    Column("experiment_copies", Integer, nullable=False),
    Column("sim_state", JSON, nullable=False),
    Column("totals", JSON, nullable=False),
    Column("run_status", String(16), nullable=False),
    Column("run_until", Time),
    Column("run_seed", BigInteger),
    Column("run_error", String(2000)),
    Column("updated_at", Time, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("run_status IN ('idle', 'running', 'failed')", name="run_status"),
)
