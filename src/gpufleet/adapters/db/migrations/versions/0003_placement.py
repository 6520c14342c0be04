"""Placement: node assignments of leases and jobs, and the placement lock/version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("reclaim_at", _TIME, nullable=True))
    state = op.create_table(
        "placement_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("clock", _TIME, nullable=True),
        sa.Column("spare_share", sa.Float(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_placement_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placement_state")),
    )
    op.bulk_insert(
        state, [{"id": 1, "version": 0, "spare_share": 0.02}]
    )  # the row every writer locks
    op.create_table(
        "placement_holds",
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("lease_id", sa.String(length=100), nullable=True),
        sa.Column("gpu_model", sa.String(length=100), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("end", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("interruptible", sa.Boolean(), nullable=False),
        sa.Column("notice_hours", sa.Integer(), nullable=False),
        sa.Column("contiguous", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.CheckConstraint("kind IN ('lease', 'training', 'experiment')",
                           name=op.f("ck_placement_holds_kind")),
        sa.CheckConstraint('"end" > start AND gpus > 0', name=op.f("ck_placement_holds_window")),
        sa.CheckConstraint("(kind = 'lease') = (tenant_id IS NOT NULL)",
                           name=op.f("ck_placement_holds_tenant")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_placement_holds_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"],
                                name=op.f("fk_placement_holds_lease_id_leases")),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_placement_holds")),
        sa.UniqueConstraint("lease_id", name=op.f("uq_placement_holds_lease_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_placement_holds_tenant_id"), "placement_holds", ["tenant_id"])
    op.create_table(
        "node_assignments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("node_id", _ID, nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("gpu_mask", sa.BigInteger(), nullable=False),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("end", _TIME, nullable=False),
        sa.CheckConstraint('"end" > start AND gpus > 0 AND gpu_mask > 0',
                           name=op.f("ck_node_assignments_valid")),
        sa.ForeignKeyConstraint(["holder"], ["placement_holds.holder"],
                                name=op.f("fk_node_assignments_holder_placement_holds")),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"],
                                name=op.f("fk_node_assignments_node_id_nodes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_assignments")),
    )  # fmt: skip
    op.create_index(op.f("ix_node_assignments_holder"), "node_assignments", ["holder"])
    op.create_index("ix_node_assignments_node_start", "node_assignments", ["node_id", "start"])
    op.create_table(
        "hold_shortfalls",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("end", _TIME, nullable=False),
        sa.CheckConstraint('"end" > start AND gpus > 0', name=op.f("ck_hold_shortfalls_valid")),
        sa.ForeignKeyConstraint(["holder"], ["placement_holds.holder"],
                                name=op.f("fk_hold_shortfalls_holder_placement_holds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold_shortfalls")),
    )  # fmt: skip
    op.create_index(op.f("ix_hold_shortfalls_holder"), "hold_shortfalls", ["holder"])


def downgrade() -> None:
    op.drop_index(op.f("ix_hold_shortfalls_holder"), table_name="hold_shortfalls")
    op.drop_table("hold_shortfalls")
    op.drop_index("ix_node_assignments_node_start", table_name="node_assignments")
    op.drop_index(op.f("ix_node_assignments_holder"), table_name="node_assignments")
    op.drop_table("node_assignments")
    op.drop_index(op.f("ix_placement_holds_tenant_id"), table_name="placement_holds")
    op.drop_table("placement_holds")
    op.drop_table("placement_state")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("reclaim_at")
        batch.drop_column("state")
