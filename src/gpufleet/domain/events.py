"""The append-only event log: what happened, to whom, visible to that tenant alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    kind: str
    tenant_id: int | None  # None: visible to the operator only
    subject: str
    data: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None  # the tenant's name, for display


@dataclass(frozen=True)
class NewEvent:
    kind: str
    subject: str
    tenant_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
