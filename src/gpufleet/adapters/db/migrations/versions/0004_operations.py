"""Operations: the simulated cluster clock, node failures and repairs, preemption notices.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lease_usage_hours",
        sa.Column("lease_id", sa.String(length=100), nullable=False),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("gpu_model", sa.String(length=100), nullable=False),
        sa.Column("promised_gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("delivered_gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("shortfall_gpu_seconds", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "promised_gpu_seconds = delivered_gpu_seconds + shortfall_gpu_seconds"
            " AND delivered_gpu_seconds >= 0 AND shortfall_gpu_seconds >= 0",
            name=op.f("ck_lease_usage_hours_balanced"),
        ),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"],
                                name=op.f("fk_lease_usage_hours_lease_id_leases")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_lease_usage_hours_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("lease_id", "hour_start", name=op.f("pk_lease_usage_hours")),
    )  # fmt: skip
    op.create_index(op.f("ix_lease_usage_hours_tenant_id"), "lease_usage_hours", ["tenant_id"])
    # Operations adds its own tables below this line.
    op.create_table(
        "ops_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metered_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("experiments_origin", sa.DateTime(timezone=True), nullable=False),
        sa.Column("experiment_model", sa.String(length=100), nullable=True),
        sa.Column("experiment_copies", sa.Integer(), nullable=False),
        sa.Column("sim_state", sa.JSON(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("run_status", sa.String(length=16), nullable=False),
        sa.Column("run_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_seed", sa.BigInteger(), nullable=True),
        sa.Column("run_error", sa.String(length=2000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ops_state_single_row")),
        sa.CheckConstraint("run_status IN ('idle', 'running', 'failed')",
                           name=op.f("ck_ops_state_run_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_state")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("ops_state")
    op.drop_index(op.f("ix_lease_usage_hours_tenant_id"), table_name="lease_usage_hours")
    op.drop_table("lease_usage_hours")
