"""The fleet: summary, capacity over time, nodes, imports."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from gpufleet.api.schemas.common import ApiModel, Text
from gpufleet.domain.fleet import Node, NodeState


class StateCounts(ApiModel):
    up: int = 0
    draining: int = 0
    down: int = 0
    maintenance: int = 0


class ClusterSummary(ApiModel):
    name: str
    gpu_model: str
    gpus_per_node: int
    nodes_per_block: int
    blocks_per_pod: int
    pods: int
    nodes: int
    installed_gpus: int
    online_from: datetime | None
    offline_from: datetime | None
    nodes_by_state: StateCounts
    gpus_by_state: StateCounts


class ModelSummary(ApiModel):
    name: str
    relative_throughput: float
    clusters: int
    installed_gpus: int
    gpus_up: int


class CapacityStepOut(ApiModel):
    period: int
    start: datetime
    gpu_model: str
    capacity: int = Field(description="GPUs usable from this period on, after unavailability")


class DemandSummary(ApiModel):
    gpu_model: str
    count: int
    gpus: int


class HorizonOut(ApiModel):
    start: datetime
    period: Literal["day", "week"]
    periods: int
    end: datetime


class FleetSummary(ApiModel):
    name: str | None
    horizon: HorizonOut | None
    unavailable_fraction: float | None
    installed_gpus: int
    nodes: int
    gpu_models: list[ModelSummary]
    clusters: list[ClusterSummary]
    capacity_over_time: list[CapacityStepOut]
    programs: int
    pending_requests: list[DemandSummary]
    signed_leases: list[DemandSummary]


class ImportResult(ApiModel):
    name: str
    gpu_models: int
    clusters: int
    pods: int
    blocks: int
    nodes: int
    tenants_created: int
    programs: int
    rental_requests: int
    leases: int
    seconds: float


class NodeOut(ApiModel):
    id: int
    name: str
    cluster: str
    gpu_model: str
    pod: int
    block: int
    index: int
    gpus: int
    state: NodeState
    state_reason: str | None
    state_changed_at: datetime | None

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(**node.__dict__)


class NodeStateChange(ApiModel):
    state: NodeState
    reason: Text | None = Field(default=None, max_length=500)
