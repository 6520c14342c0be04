"""Tables of operations (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0004_operations.py creates exactly these tables.

`lease_usage_hours` is the contract between operations and billing: the simulated (or real)
cluster writes one row per lease and clock hour once that hour is over, and billing rates
those rows. promised = delivered + shortfall, in GPU-seconds, for every row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, String, Table

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
