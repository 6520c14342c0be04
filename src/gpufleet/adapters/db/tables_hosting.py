"""Tables of hosting (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0005_hosting.py creates these tables (and the `scopes` column of api_keys);
0009 adds deployment_replicas' `starting` state and `endpoint`; 0010 its owner and server
process columns.

`token_usage` is the contract between the gateway and billing: one row per completed (or
disconnected) request, written once (`request_id` is unique), tokens counted with the
model's tokenizer. No prompt or completion text is ever stored.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from gpufleet.adapters.db.tables import Id, Time, metadata

token_usage = Table(
    "token_usage",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("at", Time, nullable=False, index=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_id", String(40), nullable=False),
    Column("model", String(100), nullable=False),
    Column("deployment", String(100), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    # Prices at the time of the request, micro-USD per million tokens: the bill must not
    # change when the operator changes a price later.
    Column("input_price_micros", BigInteger, nullable=False),
    Column("output_price_micros", BigInteger, nullable=False),
    CheckConstraint("input_tokens >= 0 AND output_tokens >= 0", name="nonnegative"),
)

# --- Hosting's own tables (catalog, deployments, replicas, limits). ---

hosted_models = Table(
    "hosted_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    # `package:<python package>/<file>`, `dir:<path>`, or (vllm only) `url:<http base>`.
    Column("source", String(500), nullable=False),
    Column("backend", String(16), nullable=False),
    # GPU backends: the GPU model a replica is placed on (as the internal tenant `hosting`).
    Column("gpu_model", ForeignKey("gpu_models.name")),
    Column("gpus_per_replica", Integer, nullable=False),
    Column("context_length", Integer, nullable=False),
    Column("input_price_micros", BigInteger, nullable=False),
    Column("output_price_micros", BigInteger, nullable=False),
    Column("created_at", Time, nullable=False),
    CheckConstraint("backend IN ('transformers', 'vllm')", name="backend"),
    CheckConstraint("input_price_micros >= 0 AND output_price_micros >= 0", name="prices"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    # The name callers pass as `model` to the gateway.
    Column("name", String(100), nullable=False, unique=True),
    Column("model_id", ForeignKey("hosted_models.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tenant_id", ForeignKey("tenants.id"), index=True),
    Column("min_replicas", Integer, nullable=False),
    Column("max_replicas", Integer, nullable=False),
    Column("scale_metric", String(24), nullable=False),
    Column("scale_target", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
    CheckConstraint("kind IN ('serverless', 'provisioned')", name="kind"),
    CheckConstraint("(kind = 'provisioned') = (tenant_id IS NOT NULL)", name="kind_tenant"),
    CheckConstraint(
        "min_replicas >= 0 AND max_replicas >= min_replicas AND max_replicas >= 1", name="replicas"
    ),
    CheckConstraint("scale_metric IN ('queue_depth', 'tokens_per_second')", name="scale_metric"),
)

deployment_replicas = Table(
    "deployment_replicas",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("deployment_id", ForeignKey("deployments.id"), nullable=False, index=True),
    # GPUs held while running: the capacity the internal tenant `hosting` uses for it.
    Column("gpus", Integer, nullable=False),
    # `starting` while its server loads (GPUs already held), then `running`, then `stopped`.
    Column("state", String(16), nullable=False),
    Column("started_at", Time, nullable=False),
    Column("stopped_at", Time),
    # Where a model server replica answers (http://host:port); NULL for an in-process one.
    Column("endpoint", String(500)),
    # The gateway process that started it (hosting/owners.py): host name, the kernel's boot
    # id, pid and the pid's start time in clock ticks after boot (/proc/<pid>/stat field 22,
    # so a reused pid is not taken for the owner). A restarted gateway stops the replicas of
    # a dead owner on its host. NULL: written before migration 0010, or no /proc.
    Column("owner_host", String(255)),
    Column("owner_boot", String(64)),
    Column("owner_pid", Integer),
    Column("owner_started", BigInteger),
    # A vLLM server replica's process, recorded as soon as it is launched (same clock).
    Column("server_pid", Integer),
    Column("server_started", BigInteger),
    CheckConstraint("state IN ('starting', 'running', 'stopped')", name="state"),
)

inference_limits = Table(
    "inference_limits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    # A key id, or '*' for the whole tenant.
    Column("key_id", String(40), nullable=False),
    Column("requests_per_minute", Integer),
    Column("tokens_per_minute", Integer),
    Column("budget_micros", BigInteger),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("tenant_id", "key_id", name="uq_inference_limits_tenant_key"),
)
