"""Billing: SLA credit tiers per lease, the append-only ledger, invoices, closed months.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_APPEND_ONLY = ("ledger_entries", "invoices", "invoice_lines")


def upgrade() -> None:
    op.create_table(
        "lease_credit_tiers",
        sa.Column("lease_id", sa.String(length=100), nullable=False),
        sa.Column("below_ppm", sa.Integer(), nullable=False),
        sa.Column("credit_ppm", sa.Integer(), nullable=False),
        sa.Column("set_at", _TIME, nullable=False),
        sa.CheckConstraint(
            "below_ppm > 0 AND below_ppm <= 1000000 AND credit_ppm >= 0 AND credit_ppm <= 1000000",
            name=op.f("ck_lease_credit_tiers_range"),
        ),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"],
                                name=op.f("fk_lease_credit_tiers_lease_id_leases")),
        sa.PrimaryKeyConstraint("lease_id", "below_ppm", name=op.f("pk_lease_credit_tiers")),
    )  # fmt: skip
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("issued_at", _TIME, nullable=False),
        sa.Column("charges_micros", sa.BigInteger(), nullable=False),
        sa.Column("credits_micros", sa.BigInteger(), nullable=False),
        sa.Column("total_micros", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "charges_micros >= 0 AND credits_micros >= 0"
            " AND total_micros = charges_micros - credits_micros",
            name=op.f("ck_invoices_totals"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_invoices_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "month", name="uq_invoices_tenant_month"),
    )  # fmt: skip
    op.create_index(op.f("ix_invoices_month"), "invoices", ["month"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.Column("lease_id", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("usage_rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_ledger_entries_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_ledger_entries_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entries_idempotency_key")),
    )  # fmt: skip
    op.create_index(op.f("ix_ledger_entries_invoice_id"), "ledger_entries", ["invoice_id"])
    op.create_index("ix_ledger_entries_tenant_month", "ledger_entries", ["tenant_id", "month"])
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("lease_id", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_micros", sa.BigInteger(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("usage_rows", sa.Integer(), nullable=False),
        sa.Column("ledger_key", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_invoice_lines_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["ledger_key"], ["ledger_entries.idempotency_key"],
                                name=op.f("fk_invoice_lines_ledger_key_ledger_entries")),
        sa.PrimaryKeyConstraint("invoice_id", "line_no", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("ledger_key", name=op.f("uq_invoice_lines_ledger_key")),
    )  # fmt: skip
    op.create_table(
        "billing_closes",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("closed_at", _TIME, nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column("closed_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_billing_closes")),
    )
    _forbid_changes()


def _forbid_changes() -> None:
    # Money once billed is evidence: the database itself refuses to rewrite or erase it,
    # whatever code runs against it (as for the event log in 0001).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION billing_append_only()"""
            )
        return
    for table in _APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"""CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION billing_append_only()")
    op.drop_table("billing_closes")
    op.drop_table("invoice_lines")
    op.drop_index("ix_ledger_entries_tenant_month", table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_invoice_id"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(op.f("ix_invoices_month"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("lease_credit_tiers")
