"""Request and response shapes of the hosting routes (the CLI posts the same models)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from gpufleet.api.schemas.common import ApiModel, Text
from gpufleet.domain.money import micros_to_float_usd, usd_to_micros
from gpufleet.hosting.catalog import DEFAULT_CONTEXT, Deployment, HostedModel
from gpufleet.planning.scenario.fields import Name


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        value = repr(value)
    try:
        usd_to_micros(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"must be a number of USD with at most 6 decimals ({exc})") from None
    return Decimal(value)


TokenPrice = Annotated[
    Decimal,
    BeforeValidator(_exact),
    Field(ge=0, le=10_000, description="USD per million tokens (exact to 1e-6)"),
    PlainSerializer(float, return_type=float, when_used="json"),
]

BudgetUsd = Annotated[
    Decimal,
    BeforeValidator(_exact),
    Field(ge=0, le=10**12, description="USD (exact to 1e-6)"),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class ModelCreate(ApiModel):
    name: Name
    source: Text = Field(
        min_length=3,
        max_length=500,
        description="`package:<python package>/<file>`, `dir:<path>`, "
        "or for vllm `url:http://host:port` (a running server)",
    )
    backend: Literal["transformers", "vllm"] = "transformers"
    gpu_model: Name | None = Field(default=None, description="GPU replicas are placed on these")
    gpus_per_replica: int = Field(default=0, ge=0, le=64)
    context_length: int = Field(default=DEFAULT_CONTEXT, ge=16, le=10_000_000)
    input_price_per_million: TokenPrice = Decimal(0)
    output_price_per_million: TokenPrice = Decimal(0)


class ModelOut(ApiModel):
    name: str
    source: str
    backend: str
    gpu_model: str | None
    gpus_per_replica: int
    context_length: int
    input_price_per_million: float
    output_price_per_million: float
    created_at: datetime

    @classmethod
    def of(cls, model: HostedModel) -> ModelOut:
        return cls(
            name=model.name,
            source=model.source,
            backend=model.backend.value,
            gpu_model=model.gpu_model,
            gpus_per_replica=model.gpus_per_replica,
            context_length=model.context_length,
            input_price_per_million=micros_to_float_usd(model.input_price_micros),
            output_price_per_million=micros_to_float_usd(model.output_price_micros),
            created_at=model.created_at,
        )


class DeploymentCreate(ApiModel):
    name: Name = Field(description="What callers pass as `model`")
    model: Name = Field(description="A model of the catalog")
    kind: Literal["serverless", "provisioned"] = "serverless"
    tenant: Name | None = Field(default=None, description="The tenant of a provisioned one")
    min_replicas: int = Field(default=0, ge=0, le=1000)
    max_replicas: int = Field(default=1, ge=1, le=1000)
    scale_metric: Literal["queue_depth", "tokens_per_second"] = "queue_depth"
    scale_target: int = Field(
        default=4,
        ge=1,
        le=10_000_000,
        description="Load one replica carries: requests queued or running, or tokens per second",
    )


class ReplicaBounds(ApiModel):
    min_replicas: int = Field(ge=0, le=1000)
    max_replicas: int = Field(ge=1, le=1000)


class DeploymentOut(ApiModel):
    name: str
    model: str
    kind: str
    tenant: str | None
    min_replicas: int
    max_replicas: int
    scale_metric: str
    scale_target: int
    running_replicas: int
    running_gpus: int
    created_at: datetime

    @classmethod
    def of(cls, deployment: Deployment, running: tuple[int, int]) -> DeploymentOut:
        return cls(
            name=deployment.name,
            model=deployment.model.name,
            kind=deployment.kind.value,
            tenant=deployment.tenant_name,
            min_replicas=deployment.min_replicas,
            max_replicas=deployment.max_replicas,
            scale_metric=deployment.scale_metric.value,
            scale_target=deployment.scale_target,
            running_replicas=running[0],
            running_gpus=running[1],
            created_at=deployment.created_at,
        )


class ReplicaNode(ApiModel):
    """Where a GPU replica's placement holds GPUs: one node, for one interval."""

    node: str
    node_id: int
    gpus: int
    start: datetime
    end: datetime = Field(description="When the hold ends there (a year ahead while running)")


class ReplicaOut(ApiModel):
    id: int
    state: Literal["starting", "running", "stopped"] = Field(
        description="`starting` while its server loads (its GPUs already held)"
    )
    gpus: int
    started_at: datetime
    stopped_at: datetime | None
    endpoint: str | None = Field(
        description="Where a model server replica answers; null for one in the gateway process"
    )
    holder: str | None = Field(
        description="The placement holding its fleet GPUs; null for a replica on CPU or on "
        "GPUs the fleet does not manage (a model without gpu_model)"
    )
    nodes: list[ReplicaNode]


class LimitsSet(ApiModel):
    tenant: Name
    key_id: Name | None = Field(default=None, description="One key; omitted: the whole tenant")
    requests_per_minute: int | None = Field(default=None, ge=0, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=0, le=10_000_000_000)
    budget_usd: BudgetUsd | None = Field(
        default=None, description="Spend allowed per calendar month (UTC)"
    )


class LimitsOut(ApiModel):
    tenant: str
    key_id: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    budget_usd: float | None


class UsageOut(ApiModel):
    tenant: str
    key_id: str
    model: str
    deployment: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="At the prices of each request's time")


class InferenceKeyCreate(ApiModel):
    name: Text = Field(default="inference", min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, gt=0, le=3650)


class InferenceKeyCreated(ApiModel):
    id: str
    tenant: str
    name: str
    scopes: list[str]
    api_key: str = Field(description="Shown once; only its hash is kept")


class OpenAIModel(ApiModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class OpenAIModelList(ApiModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]
