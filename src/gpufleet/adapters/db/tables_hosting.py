"""Tables of hosting (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0005_hosting.py creates exactly these tables.

`token_usage` is the contract between the gateway and billing: one row per completed (or
disconnected) request, written once (`request_id` is unique), tokens counted with the
model's tokenizer. No prompt or completion text is ever stored.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table

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
