"""Rental requests and leases."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from gpufleet.api.schemas.common import ApiModel
from gpufleet.domain.money import micros_to_float_usd
from gpufleet.domain.rentals import Rental
from gpufleet.planning.scenario.model import RentalTerms


class RentalRequestCreate(RentalTerms):
    """What a tenant asks for, for itself: a scenario request without `customer` and `id`.
    The server names the request (`req-…`), so no tenant can probe another's ids."""


class RentalOut(ApiModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    tenant: str
    gpu_model: str
    gpus: int
    start: datetime
    end: datetime
    price_per_gpu_hour: float = Field(description="USD per GPU-hour (exact to 1e-6)")
    rental_class: Literal["reserved", "interruptible"] = Field(alias="class")
    notice_hours: int
    contiguous: bool
    status: str
    value_usd: float = Field(description="GPUs × hours of the window × price")
    created_at: datetime

    @classmethod
    def of(cls, rental: Rental) -> RentalOut:
        return cls(
            id=rental.id,
            tenant=rental.tenant,
            gpu_model=rental.gpu_model,
            gpus=rental.gpus,
            start=rental.start,
            end=rental.end,
            price_per_gpu_hour=micros_to_float_usd(rental.price_micros),
            rental_class=rental.rental_class,
            notice_hours=rental.notice_hours,
            contiguous=rental.contiguous,
            status=rental.status,
            value_usd=micros_to_float_usd(rental.value_micros),
            created_at=rental.created_at,
        )
