"""Tables of billing (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migrations 0006_billing.py and 0007_invoice_adjustments.py create exactly these tables, and
triggers that make the ledger, invoices and invoice lines append-only: the database refuses
UPDATE and DELETE on them.

- `lease_credit_tiers`: a lease's own SLA credit tiers (none: the default tiers).
- `ledger_entries`: every amount billed, once per idempotency key.
- `invoices` (one per tenant and month, then one per adjustment of it) and `invoice_lines`,
  each line naming its ledger entry.
- `billing_closes`: a month whose close finished; closing it again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from gpufleet.adapters.db.tables import Id, Time, metadata

lease_credit_tiers = Table(
    "lease_credit_tiers",
    metadata,
    Column("lease_id", ForeignKey("leases.id"), primary_key=True),
    # Availability below this (parts per million) earns `credit_ppm` of the month's charge.
    Column("below_ppm", Integer, primary_key=True),
    Column("credit_ppm", Integer, nullable=False),
    Column("set_at", Time, nullable=False),
    CheckConstraint(
        "below_ppm > 0 AND below_ppm <= 1000000 AND credit_ppm >= 0 AND credit_ppm <= 1000000",
        name="range",
    ),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("issued_at", Time, nullable=False),
    Column("charges_micros", BigInteger, nullable=False),
    Column("credits_micros", BigInteger, nullable=False),
    Column("total_micros", BigInteger, nullable=False),
    Column("line_count", Integer, nullable=False),
    # 0: the month's invoice; 1, 2...: adjustment invoices for usage metered after the
    # close (ADR 0013), each billing the rows no earlier invoice of the month had.
    Column("adjustment", Integer, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "month", "adjustment", name="uq_invoices_tenant_month"),
    CheckConstraint(
        "charges_micros >= 0 AND credits_micros >= 0"
        " AND total_micros = charges_micros - credits_micros",
        name="totals",
    ),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("at", Time, nullable=False),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("invoice_id", ForeignKey("invoices.id"), index=True),
    Column("lease_id", String(100)),
    Column("model", String(100)),
    Column("usage_rows", Integer, nullable=False),
    Index("ix_ledger_entries_tenant_month", "tenant_id", "month"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", ForeignKey("invoices.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("key", String(250), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("description", String(500), nullable=False),
    Column("lease_id", String(100)),
    Column("model", String(100)),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price_micros", BigInteger, nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("usage_rows", Integer, nullable=False),
    Column("ledger_key", ForeignKey("ledger_entries.idempotency_key"), nullable=False, unique=True),
    Column("detail", JSON, nullable=False),
)

billing_closes = Table(
    "billing_closes",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("closed_at", Time, nullable=False),
    Column("invoices", Integer, nullable=False),
    Column("closed_by", String(40), nullable=False),
)

APPEND_ONLY = ("ledger_entries", "invoices", "invoice_lines")
