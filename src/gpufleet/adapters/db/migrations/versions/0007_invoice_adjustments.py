"""Billing adjustments: an invoice has a number within its tenant's month (0: the month's
invoice, 1, 2...: adjustment invoices for usage that arrived after the close, ADR 0013).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 11:05:00

(tenant, month) stays unique together with the number. PostgreSQL swaps the constraint in
place. SQLite cannot drop a table constraint, so the table is rebuilt: its rows are copied
aside, the table dropped and created again, and the rows put back. Ledger entries and lines
reference invoices; with foreign keys deferred, the drop counts their references as broken
and putting the rows back repairs every one before the commit checks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)
_COLUMNS = (
    "id, tenant_id, month, issued_at, charges_micros, credits_micros, total_micros, line_count"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "invoices",
            sa.Column("adjustment", sa.Integer(), server_default="0", nullable=False),
        )
        op.drop_constraint("uq_invoices_tenant_month", "invoices", type_="unique")
        op.create_unique_constraint(
            "uq_invoices_tenant_month", "invoices", ["tenant_id", "month", "adjustment"]
        )
        return
    _rebuild_sqlite(with_adjustment=True)


def _rebuild_sqlite(*, with_adjustment: bool) -> None:
    op.execute("PRAGMA defer_foreign_keys=ON")
    op.execute(f"CREATE TABLE invoices_before_0007 AS SELECT {_COLUMNS} FROM invoices")
    op.drop_index(op.f("ix_invoices_month"), table_name="invoices")
    op.execute("DROP TABLE invoices")  # its append-only triggers go with it
    unique = ["tenant_id", "month", "adjustment"] if with_adjustment else ["tenant_id", "month"]
    extra = (
        [sa.Column("adjustment", sa.Integer(), server_default="0", nullable=False)]
        if with_adjustment
        else []
    )
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
        *extra,
        sa.CheckConstraint(
            "charges_micros >= 0 AND credits_micros >= 0"
            " AND total_micros = charges_micros - credits_micros",
            name=op.f("ck_invoices_totals"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_invoices_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(*unique, name="uq_invoices_tenant_month"),
    )  # fmt: skip
    op.create_index(op.f("ix_invoices_month"), "invoices", ["month"])
    op.execute(f"INSERT INTO invoices ({_COLUMNS}) SELECT {_COLUMNS} FROM invoices_before_0007")
    op.execute("DROP TABLE invoices_before_0007")
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"""CREATE TRIGGER invoices_no_{action.lower()} BEFORE {action} ON invoices
                BEGIN SELECT RAISE(ABORT, 'invoices is append-only'); END"""
        )


def downgrade() -> None:
    # Only possible while no adjustment invoice exists (the old constraint would refuse it).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_invoices_tenant_month", "invoices", type_="unique")
        op.create_unique_constraint("uq_invoices_tenant_month", "invoices", ["tenant_id", "month"])
        op.drop_column("invoices", "adjustment")
        return
    _rebuild_sqlite(with_adjustment=False)
