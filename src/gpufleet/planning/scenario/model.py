"""The version-1 scenario document (design/SCENARIO.md) as frozen, validated objects.

Each class validates one item on its own; rules that span items (references, duplicates,
list lengths) live in `loader.py`, which knows the paths. `rule_issues()` returns the rules
of one item that involve several of its fields, as (field, message) pairs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from gpufleet.domain.money import usd_to_micros
from gpufleet.planning.scenario.fields import (
    MAX_GPUS,
    MAX_NOTICE_HOURS,
    MAX_WORK_GPU_HOURS,
    STRICT,
    Count,
    DelayCostUsd,
    Instant,
    Name,
    PriceUsd,
)

FieldIssue = tuple[str, str]


class ScenarioPart(BaseModel):
    """One section or list item; strict, frozen, and closed to unknown keys."""

    model_config = STRICT

    def rule_issues(self) -> list[FieldIssue]:
        """Rules of this item that involve several of its fields."""
        return []


class Horizon(ScenarioPart):
    start: Instant
    period: Literal["day", "week"]
    periods: int = Field(gt=0, le=3660)

    def rule_issues(self) -> list[FieldIssue]:
        if self.period == "week" and self.periods > 523:
            return [("periods", "must be at most 523 weeks (ten years)")]
        return []

    @property
    def period_length(self) -> timedelta:
        return timedelta(days=7 if self.period == "week" else 1)

    @property
    def period_hours(self) -> int:
        return 168 if self.period == "week" else 24

    @property
    def end(self) -> datetime:
        return self.start + self.periods * self.period_length

    def period_start(self, t: int) -> datetime:
        return self.start + t * self.period_length


class Reliability(ScenarioPart):
    unavailable_fraction: float = Field(default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False)


class GpuModel(ScenarioPart):
    name: Name
    relative_throughput: float = Field(default=1.0, gt=0.0, le=1000.0, allow_inf_nan=False)


class Cluster(ScenarioPart):
    name: Name
    gpu_model: Name
    gpus_per_node: int = Field(gt=0, le=64)
    nodes_per_block: int = Field(gt=0, le=1024)
    blocks_per_pod: int = Field(gt=0, le=100_000)
    pods: int = Field(gt=0, le=100_000)
    online_from: Instant | None = None
    offline_from: Instant | None = None

    @property
    def nodes(self) -> int:
        return self.pods * self.blocks_per_pod * self.nodes_per_block

    @property
    def installed_gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    def rule_issues(self) -> list[FieldIssue]:
        issues: list[FieldIssue] = []
        if self.installed_gpus > MAX_GPUS:
            issues.append(
                (
                    "pods",
                    f"cluster would hold {self.installed_gpus} GPUs; at most "
                    f"{MAX_GPUS} per cluster",
                )
            )
        if self.online_from and self.offline_from and self.offline_from <= self.online_from:
            issues.append(("offline_from", "must be after online_from"))
        return issues


class TrainingProgram(ScenarioPart):
    name: Name
    kind: Literal["training"]
    gpu_models: list[Name] = Field(min_length=1)
    work_gpu_hours: float = Field(gt=0.0, le=MAX_WORK_GPU_HOURS, allow_inf_nan=False)
    max_gpus: Count | None = None
    earliest_start: Instant | None = None
    due: Instant
    delay_cost_per_day: DelayCostUsd

    @property
    def delay_cost_per_day_micros(self) -> int:
        return usd_to_micros(self.delay_cost_per_day)

    def rule_issues(self) -> list[FieldIssue]:
        if self.earliest_start and self.due <= self.earliest_start:
            return [("due", "must be after earliest_start")]
        return []


def _inference_gpus(value: object) -> object:
    # One clear message instead of one per branch of `int | list[int]`.
    def count(item: object, allow_zero: bool) -> int:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError("must be a whole number of GPUs or a list of one per period")
        if item < (0 if allow_zero else 1) or item > MAX_GPUS:
            low = 0 if allow_zero else 1
            raise ValueError(f"must be between {low} and {MAX_GPUS} GPUs")
        return item

    if isinstance(value, list):
        return [count(item, allow_zero=True) for item in value]
    return count(value, allow_zero=False)


InferenceGpus = Annotated[int | list[int], BeforeValidator(_inference_gpus)]


class InferenceProgram(ScenarioPart):
    name: Name
    kind: Literal["inference"]
    gpu_models: list[Name] = Field(min_length=1)
    gpus: InferenceGpus

    def gpus_in(self, t: int) -> int:
        return self.gpus if isinstance(self.gpus, int) else self.gpus[t]


Program = Annotated[TrainingProgram | InferenceProgram, Field(discriminator="kind")]


class RentalTerms(ScenarioPart):
    """What a customer asks for or has signed: shared by requests, leases and the API."""

    gpu_model: Name
    gpus: Count
    start: Instant
    end: Instant
    price_per_gpu_hour: PriceUsd
    rental_class: Literal["reserved", "interruptible"] = Field(default="reserved", alias="class")
    notice_hours: int = Field(default=0, ge=0, le=MAX_NOTICE_HOURS)
    contiguous: bool = False

    @property
    def price_micros(self) -> int:
        return usd_to_micros(self.price_per_gpu_hour)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def rule_issues(self) -> list[FieldIssue]:
        issues: list[FieldIssue] = []
        if self.end <= self.start:
            issues.append(("end", "must be after start"))
        if self.rental_class == "interruptible" and self.notice_hours <= 0:
            issues.append(("notice_hours", "must be > 0 for interruptible capacity"))
        return issues


class Rental(RentalTerms):
    """A rental request or a signed lease inside a scenario file."""

    id: Name
    customer: Name


class Scenario(ScenarioPart):
    """A whole, valid scenario. Build it with `gpufleet.planning.scenario.parse_scenario`."""

    version: Literal[1]
    name: Name = "scenario"
    horizon: Horizon
    reliability: Reliability = Reliability()
    gpu_models: list[GpuModel]
    clusters: list[Cluster]
    programs: list[Program] = []
    rental_requests: list[Rental] = []
    leases: list[Rental] = []
