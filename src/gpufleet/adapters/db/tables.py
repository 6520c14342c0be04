"""The schema. Money columns are BigInteger micro-dollars; times are UTC.

Migrations in `migrations/versions/` create exactly these tables; change both together, and
never edit a migration that has shipped — add a new one.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Time = DateTime(timezone=True)
Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

gpu_models = Table(
    "gpu_models",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("relative_throughput", Float, nullable=False),
)

fleet_settings = Table(
    "fleet_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("horizon_start", Time, nullable=False),
    Column("period", String(8), nullable=False),
    Column("periods", Integer, nullable=False),
    Column("unavailable_fraction", Float, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("gpu_model", ForeignKey("gpu_models.name"), nullable=False),
    Column("gpus_per_node", Integer, nullable=False),
    Column("nodes_per_block", Integer, nullable=False),
    Column("blocks_per_pod", Integer, nullable=False),
    Column("pods", Integer, nullable=False),
    Column("online_from", Time),
    Column("offline_from", Time),
    Column("created_at", Time, nullable=False),
)

pods = Table(
    "pods",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cluster_id", ForeignKey("clusters.id"), nullable=False),
    Column("index", Integer, nullable=False),
    UniqueConstraint("cluster_id", "index", name="uq_pods_cluster_index"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pod_id", ForeignKey("pods.id"), nullable=False),
    Column("index", Integer, nullable=False),
    UniqueConstraint("pod_id", "index", name="uq_blocks_pod_index"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("cluster_id", ForeignKey("clusters.id"), nullable=False),
    Column("pod_id", ForeignKey("pods.id"), nullable=False),
    Column("block_id", ForeignKey("blocks.id"), nullable=False),
    Column("index", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("state_reason", String(500)),
    Column("state_changed_at", Time),
    CheckConstraint("state IN ('up', 'draining', 'down', 'maintenance')", name="state"),
    # The fleet summary counts only nodes that are not up; this index makes that a short scan.
    Index("ix_nodes_state_cluster", "state", "cluster_id"),
    Index("ix_nodes_cluster_id_id", "cluster_id", "id"),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("created_at", Time, nullable=False),
    CheckConstraint("kind IN ('internal', 'external')", name="kind"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id")),
    Column("role", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time),
    Column("revoked_at", Time),
    # Space-separated scopes: `api` (the control-plane API) and `inference` (the model
    # gateway). Keys made before scopes existed, and keys made by the access service, get both.
    Column("scopes", String(100), nullable=False, server_default="api inference"),
    CheckConstraint("role IN ('operator', 'tenant')", name="role"),
    CheckConstraint("(role = 'operator') = (tenant_id IS NULL)", name="role_tenant"),
)

programs = Table(
    "programs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("gpu_models", JSON, nullable=False),
    Column("work_gpu_hours", Float),
    Column("max_gpus", Integer),
    Column("earliest_start", Time),
    Column("due", Time),
    Column("delay_cost_per_day_micros", BigInteger),
    Column("inference_gpus", JSON),
    Column("created_at", Time, nullable=False),
    CheckConstraint("kind IN ('training', 'inference')", name="kind"),
)

_rental_columns = (
    ("gpu_model", String(100)),
    ("gpus", Integer),
    ("start", Time),
    ("end", Time),
    ("price_micros", BigInteger),
    ("rental_class", String(16)),
    ("notice_hours", Integer),
    ("contiguous", Boolean),
)


def _rental_table(name: str, *extra: Column[object]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(100), primary_key=True),
        Column("tenant_id", ForeignKey("tenants.id"), nullable=False, index=True),
        *(Column(col, kind, nullable=False) for col, kind in _rental_columns),
        Column("status", String(16), nullable=False),
        Column("created_at", Time, nullable=False),
        *extra,
        CheckConstraint('"end" > start', name="window"),
        CheckConstraint("gpus > 0 AND price_micros > 0", name="positive"),
    )


rental_requests = _rental_table("rental_requests")
leases = _rental_table(
    "leases",
    Column("request_id", String(100)),
    # Placement (issue 4): NULL while not placed (a lease imported from a scenario), then
    # scheduled → active → ended, or preempted; reclaim_at once a preemption notice is given.
    Column("state", String(16)),
    Column("reclaim_at", Time),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Time, nullable=False),
    Column("kind", String(64), nullable=False),
    # NULL: visible to the operator only.
    Column("tenant_id", ForeignKey("tenants.id"), index=True),
    Column("subject", String(200), nullable=False),
    Column("data", JSON, nullable=False),
)


plans = Table(
    "plans",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("options", JSON, nullable=False),
    Column("progress", JSON),
    # The plan's JSON document (design/SCENARIO.md): a report recomputable from its inputs,
    # not a money record; the ledger (issue 5) keeps money as integers.
    Column("result", JSON),
    Column("error", String(2000)),
    Column("requested_by", String(40), nullable=False),
    Column("created_at", Time, nullable=False),
    Column("started_at", Time),
    Column("finished_at", Time),
    CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
)
