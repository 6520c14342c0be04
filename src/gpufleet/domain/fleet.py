"""Fleet topology: clusters of pods (network domains) of blocks (NVLink domains) of nodes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class NodeState(StrEnum):
    UP = "up"
    DRAINING = "draining"
    DOWN = "down"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class Node:
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


def node_name(cluster: str, pod: int, block: int, node: int) -> str:
    return f"{cluster}-p{pod:03d}-b{block:04d}-n{node:02d}"
