"""Placement: node assignments of leases and jobs, and the placement lock/version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 07:20:00
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the placement work (issue 4)


def downgrade() -> None:
    pass
