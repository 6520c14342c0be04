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
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    time_type = sa.DateTime(timezone=True)
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column(
                "scopes", sa.String(length=100), nullable=False, server_default="api inference"
            )
        )
    op.create_table(
        "hosted_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("gpu_model", sa.String(length=100), nullable=True),
        sa.Column("gpus_per_replica", sa.Integer(), nullable=False),
        sa.Column("context_length", sa.Integer(), nullable=False),
        sa.Column("input_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("output_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("created_at", time_type, nullable=False),
        sa.CheckConstraint(
            "backend IN ('transformers', 'vllm')", name=op.f("ck_hosted_models_backend")
        ),
        sa.CheckConstraint(
            "input_price_micros >= 0 AND output_price_micros >= 0",
            name=op.f("ck_hosted_models_prices"),
        ),
        sa.ForeignKeyConstraint(
            ["gpu_model"], ["gpu_models.name"], name=op.f("fk_hosted_models_gpu_model_gpu_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosted_models")),
        sa.UniqueConstraint("name", name=op.f("uq_hosted_models_name")),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("scale_metric", sa.String(length=24), nullable=False),
        sa.Column("scale_target", sa.Integer(), nullable=False),
        sa.Column("created_at", time_type, nullable=False),
        sa.CheckConstraint(
            "kind IN ('serverless', 'provisioned')", name=op.f("ck_deployments_kind")
        ),
        sa.CheckConstraint(
            "(kind = 'provisioned') = (tenant_id IS NOT NULL)",
            name=op.f("ck_deployments_kind_tenant"),
        ),
        sa.CheckConstraint(
            "min_replicas >= 0 AND max_replicas >= min_replicas AND max_replicas >= 1",
            name=op.f("ck_deployments_replicas"),
        ),
        sa.CheckConstraint(
            "scale_metric IN ('queue_depth', 'tokens_per_second')",
            name=op.f("ck_deployments_scale_metric"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["hosted_models.id"], name=op.f("fk_deployments_model_id_hosted_models")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deployments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
    )
    op.create_index(op.f("ix_deployments_tenant_id"), "deployments", ["tenant_id"])
    op.create_table(
        "deployment_replicas",
        sa.Column("id", id_type, nullable=False, autoincrement=True),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", time_type, nullable=False),
        sa.Column("stopped_at", time_type, nullable=True),
        sa.CheckConstraint(
            "state IN ('running', 'stopped')", name=op.f("ck_deployment_replicas_state")
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_replicas_deployment_id_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_replicas")),
    )
    op.create_index(
        op.f("ix_deployment_replicas_deployment_id"), "deployment_replicas", ["deployment_id"]
    )
    op.create_table(
        "inference_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("budget_micros", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", time_type, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_inference_limits_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_limits")),
        sa.UniqueConstraint("tenant_id", "key_id", name="uq_inference_limits_tenant_key"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("inference_limits")
    op.drop_index(op.f("ix_deployment_replicas_deployment_id"), table_name="deployment_replicas")
    op.drop_table("deployment_replicas")
    op.drop_index(op.f("ix_deployments_tenant_id"), table_name="deployments")
    op.drop_table("deployments")
    op.drop_table("hosted_models")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scopes")
    op.drop_index(op.f("ix_token_usage_tenant_id"), table_name="token_usage")
    op.drop_index(op.f("ix_token_usage_at"), table_name="token_usage")
    op.drop_table("token_usage")
