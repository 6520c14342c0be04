"""Billing: hourly lease usage, ledger, invoices.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the billing work (issue 5)


def downgrade() -> None:
    pass
