"""What the simulator tells the world: events, hourly usage of leases, and running totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPERATOR_ONLY = None  # tenant of an event only the operator sees


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One entry for the event log: `tenant` is the engine's tenant (0: the lab), or None for
    the operator only; `data` explains itself (times as epoch seconds, converted on storage)."""

    at: int
    kind: str
    subject: str
    tenant: int | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HourUsage:
    """One lease over one clock hour [hour_start, hour_start + 3600): promised =
    delivered + shortfall, GPU-seconds (the `lease_usage_hours` row)."""

    holder: str
    tenant: int
    gpu_model: str
    hour_start: int
    promised: int
    delivered: int
    shortfall: int


@dataclass(slots=True)
class Totals:
    """Running counts of a simulation; add two with `merge` (chunks of one run)."""

    failures: int = 0
    repairs: int = 0
    replacements: int = 0
    notices: int = 0
    preemptions: int = 0
    shortfalls: int = 0
    shortfall_gpu_seconds: int = 0  # still short: a repaired node taking it back lowers it
    healed: int = 0  # shortfalls ended early by a repaired node
    leases_started: int = 0
    leases_ended: int = 0
    experiments_submitted: int = 0
    experiments_placed: int = 0
    experiments_preempted: int = 0
    experiments_abandoned: int = 0
    experiments_refused: int = 0  # refused on arrival or retry (they wait in the queue)
    experiments_refused_fragmented: int = 0  # … while enough GPUs were free in total
    busy_gpu_seconds: int = 0
    online_gpu_seconds: int = 0
    program_gpus_recovered: int = 0  # short program GPUs found by daily retries (ADR 0010)

    @property
    def utilisation(self) -> float:
        return self.busy_gpu_seconds / self.online_gpu_seconds if self.online_gpu_seconds else 0.0

    @property
    def fragmentation(self) -> float:
        """Share of refused experiments that had enough GPUs free in total."""
        refused = self.experiments_refused
        return self.experiments_refused_fragmented / refused if refused else 0.0

    def merge(self, other: Totals) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out["utilisation"] = round(self.utilisation, 6)
        out["fragmentation"] = round(self.fragmentation, 6)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})
