"""Hosting: model catalog, deployments, token usage.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False,
                  autoincrement=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("input_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("output_price_micros", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("input_tokens >= 0 AND output_tokens >= 0",
                           name=op.f("ck_token_usage_nonnegative")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_token_usage_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_usage")),
        sa.UniqueConstraint("request_id", name=op.f("uq_token_usage_request_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_token_usage_at"), "token_usage", ["at"])
    op.create_index(op.f("ix_token_usage_tenant_id"), "token_usage", ["tenant_id"])
    # Hosting adds its own tables below this line.


def downgrade() -> None:
    op.drop_index(op.f("ix_token_usage_tenant_id"), table_name="token_usage")
    op.drop_index(op.f("ix_token_usage_at"), table_name="token_usage")
    op.drop_table("token_usage")
