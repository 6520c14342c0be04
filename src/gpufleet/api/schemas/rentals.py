"""Rental requests and leases."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from gpufleet.adapters.db.repos.lease_placement import NodeAssignment
from gpufleet.api.schemas.common import ApiModel
from gpufleet.domain.money import micros_to_float_usd
from gpufleet.domain.rentals import Rental
from gpufleet.planning.scenario.model import RentalTerms
from gpufleet.services.rentals import LeaseView


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


class AssignmentOut(ApiModel):
    """One node of a lease over [start, end): a failure ends a row early and the replacement
    node is a new row."""

    node: str
    cluster: str
    pod: int
    block: int
    gpus: int
    start: datetime
    end: datetime

    @classmethod
    def of(cls, row: NodeAssignment) -> AssignmentOut:
        return cls(node=row.node, cluster=row.cluster, pod=row.pod, block=row.block,
                   gpus=row.gpus, start=row.start, end=row.end)  # fmt: skip


class LeaseOut(RentalOut):
    state: str | None = Field(
        description=(
            "scheduled (placed, not started), active, ended, preempted, or unplaced (a signed "
            "lease that was tried and did not fit; the operator retries it); null while not "
            "tried yet"
        )
    )
    reclaim_at: datetime | None = Field(description="set once a preemption notice was given")
    request_id: str | None
    assignments: list[AssignmentOut]

    @classmethod
    def of_view(cls, view: LeaseView) -> LeaseOut:
        base = RentalOut.of(view.lease).model_dump()
        return cls(
            **base,
            state=view.state.state,
            reclaim_at=view.state.reclaim_at,
            request_id=view.state.request_id,
            assignments=[AssignmentOut.of(a) for a in view.assignments],
        )


class PreemptionOut(ApiModel):
    victim: str
    reclaim_at: datetime
    nodes: int
    reason: str


class AcceptedOut(ApiModel):
    """What accepting a request did: the new lease on its nodes, and any preemption notices
    it caused (the victims were told in `lease.preemption_notice` events)."""

    request_id: str
    lease: LeaseOut
    nodes: int
    preemptions: list[PreemptionOut]
