"""Plain records in and out of the placement engine: requests, placements, refusals, and what
a node failure did. Times are whole seconds since the Unix epoch (UTC); `seconds()` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.timeutil import to_utc
from gpufleet.planning.scenario.model import RentalTerms

INTERNAL = 0
"""Tenant id of the lab itself: its training jobs and experiments. External tenants are ≥ 1."""

HOUR = 3600


def seconds(instant: datetime) -> int:
    """Whole seconds since the epoch for an aware (or naive-UTC) datetime."""
    return math.floor(to_utc(instant).timestamp())


class HoldKind(StrEnum):
    LEASE = "lease"  # an external tenant's rental: whole nodes, blocks of its own
    TRAINING = "training"  # the lab's gang-placed training job: whole nodes, block-aligned
    EXPERIMENT = "experiment"  # the lab's small job: lowest priority, may share a node


@dataclass(frozen=True, slots=True)
class Request:
    """Capacity asked for: `gpus` GPUs of `gpu_model` over [start, end)."""

    holder: str
    tenant: int
    kind: HoldKind
    gpu_model: str
    gpus: int
    start: int
    end: int
    interruptible: bool = False
    notice_hours: int = 0
    contiguous: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.gpus <= 0:
            problems.append("gpus must be positive")
        if self.end <= self.start:
            problems.append("end must be after start")
        if self.notice_hours < 0:
            problems.append("notice_hours must not be negative")
        if (self.kind == HoldKind.LEASE) == (self.tenant == INTERNAL):
            problems.append("leases belong to external tenants (≥ 1), jobs to the lab (0)")
        if self.kind == HoldKind.EXPERIMENT and not self.interruptible:
            problems.append("experiments are interruptible")
        if problems:
            raise InvalidInput(f"request {self.holder!r}: " + "; ".join(problems))

    @classmethod
    def lease(cls, holder: str, tenant: int, terms: RentalTerms) -> Request:
        return cls(
            holder=holder,
            tenant=tenant,
            kind=HoldKind.LEASE,
            gpu_model=terms.gpu_model,
            gpus=terms.gpus,
            start=seconds(terms.start),
            end=seconds(terms.end),
            interruptible=terms.rental_class == "interruptible",
            notice_hours=terms.notice_hours,
            contiguous=terms.contiguous,
        )

    @classmethod
    def training(
        cls, holder: str, gpu_model: str, gpus: int, start: int, end: int, contiguous: bool = True
    ) -> Request:
        return cls(holder, INTERNAL, HoldKind.TRAINING, gpu_model, gpus, start, end,
                   contiguous=contiguous)  # fmt: skip

    @classmethod
    def experiment(cls, holder: str, gpu_model: str, gpus: int, start: int, end: int) -> Request:
        return cls(holder, INTERNAL, HoldKind.EXPERIMENT, gpu_model, gpus, start, end,
                   interruptible=True)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Assignment:
    """One node of a hold over [start, end): `gpus` of the promise, on the GPUs of `gpu_mask`
    (bit i is GPU i of the node; a whole-node hold has every bit even if it needs fewer)."""

    node: int
    gpus: int
    gpu_mask: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a request went: node i carries gpus[i] of the promise on the GPUs of
    gpu_masks[i], all over [start, end). Columns rather than objects: a large lease has
    thousands of nodes. `spare_blocks`: the pods' spare blocks a firm lease that fitted no
    other way took (ADR 0011); those pods have fewer spares over the window."""

    holder: str
    start: int
    end: int
    nodes: tuple[int, ...]
    gpus: tuple[int, ...]
    gpu_masks: tuple[int, ...]
    spare_blocks: tuple[int, ...] = ()

    @property
    def assignments(self) -> tuple[Assignment, ...]:
        s, e = self.start, self.end
        return tuple(
            Assignment(n, g, m, s, e)
            for n, g, m in zip(self.nodes, self.gpus, self.gpu_masks, strict=True)
        )


class SpareUse(StrEnum):
    """When a firm external lease may take a pod's spare blocks (ADR 0011). The lab's jobs
    and interruptible leases never do."""

    NEVER = "never"
    SHAPE = "shape"  # only when its shape fits no fleet without them (default)
    LAST_RESORT = "last_resort"  # whenever nothing else fits: a contract signed already


class RefusalReason(StrEnum):
    UNKNOWN_MODEL = "unknown_model"
    NOT_ENOUGH_CAPACITY = "not_enough_capacity"
    NO_CONTIGUOUS_POD = "no_contiguous_pod"
    FRAGMENTED = "fragmented"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request could not be placed. `free_gpus`: GPUs of the model free over the whole
    window, whatever the rules; FRAGMENTED and NO_CONTIGUOUS_POD mean it was enough."""

    holder: str
    reason: RefusalReason
    message: str
    requested: int
    free_gpus: int


class ReplacementSource(StrEnum):
    SPARE = "spare"  # a node of the pod's spare share
    IDLE = "idle"  # an idle node that keeps the hold's rules
    RECLAIMED = "reclaimed"  # taken from interruptible holds after their notice


@dataclass(frozen=True, slots=True)
class Replaced:
    """`lease.node_replaced`: `node` carries the hold's `gpus` over [start, end)."""

    holder: str
    tenant: int
    failed_node: int
    node: int
    gpus: int
    start: int
    end: int
    source: ReplacementSource


@dataclass(frozen=True, slots=True)
class PreemptionNotice:
    """`lease.preemption_notice`: the victim keeps its nodes until `reclaim_at`."""

    victim: str
    tenant: int
    notice_at: int
    reclaim_at: int
    for_holder: str
    nodes: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Shortfall:
    """`sla.shortfall`: `gpus` GPUs of the promise went undelivered over [start, end)."""

    holder: str
    tenant: int
    node: int
    gpus: int
    start: int
    end: int

    @property
    def gpu_hours(self) -> float:
        return self.gpus * (self.end - self.start) / HOUR


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    node: int
    at: int
    replaced: tuple[Replaced, ...]
    notices: tuple[PreemptionNotice, ...]
    shortfalls: tuple[Shortfall, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """GPU-seconds of one hold: promised = delivered + shortfall, always."""

    holder: str
    promised: int
    delivered: int
    shortfall: int

    @property
    def shortfall_gpu_hours(self) -> float:
        return self.shortfall / HOUR
