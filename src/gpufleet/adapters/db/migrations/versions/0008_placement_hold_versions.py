"""Placement holds remember the store version that last changed them (ADR 0006 amended):
a process whose engine is at version v reloads only the holds changed after v instead of
rebuilding the whole engine.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 11:25:00

Rows written before have version 0: older than any engine that will read them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "placement_holds",
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(op.f("ix_placement_holds_version"), "placement_holds", ["version"])


def downgrade() -> None:
    op.drop_index(op.f("ix_placement_holds_version"), table_name="placement_holds")
    op.drop_column("placement_holds", "version")
