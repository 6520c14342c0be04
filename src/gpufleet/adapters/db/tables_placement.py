"""Tables of placement (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0003_placement.py creates these tables; 0008 adds placement_holds.version.

- `placement_state` (one row): the version every placement write bumps, the engine's
  clock and the spare share. A writer locks this row first (`SELECT … FOR UPDATE` on
  PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), so placement writes
  never interleave.
- `placement_holds`: what the engine was asked to hold — a lease or a lab job — with the
  window it was placed for, `ends_at`, the end of the promise (earlier after a release
  or a preemption), and `version`, the placement write that last changed it.
- `node_assignments`: a row per (holder, node, interval). A failure moves the row's `end`;
  the replacement node gets a new row.
- `hold_shortfalls`: GPU-time of a promise that went undelivered (no replacement found).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from gpufleet.adapters.db.tables import Id, Time, metadata

placement_state = Table(
    "placement_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("clock", Time),  # NULL until the first placement write
    # Share of every pod's blocks kept as spares for replacements; one value for every
    # writer, or two processes would disagree on which blocks a new lease may take.
    Column("spare_share", Float, nullable=False),
    Column("updated_at", Time),
    CheckConstraint("id = 1", name="single_row"),
)

placement_holds = Table(
    "placement_holds",
    metadata,
    Column("holder", String(100), primary_key=True),
    Column("kind", String(16), nullable=False),
    # NULL for the lab's own jobs (the engine's tenant 0).
    Column("tenant_id", ForeignKey("tenants.id"), index=True),
    Column("lease_id", ForeignKey("leases.id"), unique=True),
    Column("gpu_model", String(100), nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("start", Time, nullable=False),
    Column("end", Time, nullable=False),
    Column("ends_at", Time, nullable=False),
    Column("interruptible", Boolean, nullable=False),
    Column("notice_hours", Integer, nullable=False),
    Column("contiguous", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    # The placement_state version whose write last changed this hold (its row, assignments
    # or shortfalls): another process's engine at version v reloads only holds above v.
    Column("version", BigInteger, nullable=False, server_default="0", index=True),
    CheckConstraint("kind IN ('lease', 'training', 'experiment')", name="kind"),
    CheckConstraint('"end" > start AND gpus > 0', name="window"),
    CheckConstraint("(kind = 'lease') = (tenant_id IS NOT NULL)", name="tenant"),
)

node_assignments = Table(
    "node_assignments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("holder", ForeignKey("placement_holds.holder"), nullable=False, index=True),
    Column("node_id", ForeignKey("nodes.id"), nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("gpu_mask", BigInteger, nullable=False),  # bit i: GPU i of the node
    Column("start", Time, nullable=False),
    Column("end", Time, nullable=False),
    CheckConstraint('"end" > start AND gpus > 0 AND gpu_mask > 0', name="valid"),
    # Overlap checks and "who is on this node" read by node, then time.
    Index("ix_node_assignments_node_start", "node_id", "start"),
)

hold_shortfalls = Table(
    "hold_shortfalls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("holder", ForeignKey("placement_holds.holder"), nullable=False, index=True),
    Column("gpus", Integer, nullable=False),
    Column("start", Time, nullable=False),
    Column("end", Time, nullable=False),
    CheckConstraint('"end" > start AND gpus > 0', name="valid"),
)
