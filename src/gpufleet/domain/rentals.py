"""Rental requests (asked for) and leases (signed): capacity of one GPU model over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class LeaseStatus(StrEnum):
    SIGNED = "signed"


@dataclass(frozen=True)
class Rental:
    """Fields shared by requests and leases. `price_micros` is micro-USD per GPU-hour."""

    id: str
    tenant_id: int
    tenant: str
    gpu_model: str
    gpus: int
    start: datetime
    end: datetime
    price_micros: int
    rental_class: str
    notice_hours: int
    contiguous: bool
    status: str
    created_at: datetime

    @property
    def value_micros(self) -> int:
        """Whole-window contract value: GPUs × hours × price, in integer arithmetic, rounded
        down to the micro-dollar."""
        seconds = int((self.end - self.start).total_seconds())
        return self.gpus * seconds * self.price_micros // 3600
