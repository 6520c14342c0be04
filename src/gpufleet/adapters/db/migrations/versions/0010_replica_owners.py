"""Replica owners (ADR 0012): each replica row records the gateway process that started it
(host name, the kernel's boot id, pid and the pid's start time) and, for a vLLM server, that
server's pid and start time, so that a gateway restarted after a crash finds the replicas of
its dead predecessor on this host and stops them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 12:20:00

Rows written before have no owner (NULL): no restart reaps them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = (
    "owner_host",
    "owner_boot",
    "owner_pid",
    "owner_started",
    "server_pid",
    "server_started",
)


def upgrade() -> None:
    with op.batch_alter_table("deployment_replicas") as batch:
        batch.add_column(sa.Column("owner_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("owner_boot", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner_started", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("server_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("server_started", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment_replicas") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
