"""Replica lifecycle (ADR 0012): a replica is `starting` while its server loads (its GPUs
already held), then `running`; `endpoint` records where a model server replica answers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 11:00:00

Rows written before are running or stopped, as they were; their endpoint is unknown (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STATE = "ck_deployment_replicas_state"


def upgrade() -> None:
    # Batch: SQLite changes a CHECK constraint by copying the table.
    with op.batch_alter_table("deployment_replicas") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(length=500), nullable=True))
        batch.drop_constraint(op.f(_STATE), type_="check")
        batch.create_check_constraint(op.f(_STATE), "state IN ('starting', 'running', 'stopped')")


def downgrade() -> None:
    # 0008 recorded a replica `running` from its start (GPUs held, server loading or not).
    op.execute("UPDATE deployment_replicas SET state = 'running' WHERE state = 'starting'")
    with op.batch_alter_table("deployment_replicas") as batch:
        batch.drop_constraint(op.f(_STATE), type_="check")
        batch.create_check_constraint(op.f(_STATE), "state IN ('running', 'stopped')")
        batch.drop_column("endpoint")
