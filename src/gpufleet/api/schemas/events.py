"""Events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gpufleet.api.schemas.common import ApiModel
from gpufleet.domain.events import Event


class EventOut(ApiModel):
    id: int
    at: datetime
    kind: str
    tenant: str | None
    subject: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            at=event.at,
            kind=event.kind,
            tenant=event.tenant,
            subject=event.subject,
            data=event.data,
        )
