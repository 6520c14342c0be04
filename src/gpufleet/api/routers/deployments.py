"""Deployments of catalog models, their replicas, limits, token usage and inference keys."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from gpufleet.api.deps import Caller, Db
from gpufleet.hosting.schemas import (
    DeploymentCreate,
    DeploymentOut,
    InferenceKeyCreate,
    InferenceKeyCreated,
    LimitsOut,
    LimitsSet,
    ReplicaBounds,
    ReplicaOut,
    UsageOut,
)
from gpufleet.services import hosting

router = APIRouter(prefix="/v1", tags=["hosting"])


def _changed(request: Request, deployment: str | None = None) -> None:
    """This process sees its own catalog and limit changes at once (others within seconds),
    and starts a changed deployment's min replicas now (ADR 0012)."""
    runtime = getattr(request.app.state, "hosting", None)
    if runtime is not None:
        runtime.forget()
        if deployment is not None:
            runtime.wake(deployment)


@router.post("/admin/deployments", status_code=status.HTTP_201_CREATED)
def create_deployment(
    body: DeploymentCreate, request: Request, db: Db, caller: Caller
) -> DeploymentOut:
    """Deploy a catalog model (operator): `serverless` (every tenant, billed per token) or
    `provisioned` (one tenant's), with replicas between min and max scaled on load."""
    created = hosting.create_deployment(db, caller, body)
    _changed(request, created.name)
    return created


@router.get("/deployments")
def list_deployments(db: Db, caller: Caller) -> list[DeploymentOut]:
    """Every deployment (operator), or those the tenant may call."""
    return hosting.list_deployments(db, caller)


@router.get("/deployments/{deployment}")
def get_deployment(deployment: str, db: Db, caller: Caller) -> DeploymentOut:
    """One deployment with its running replicas; another tenant's provisioned deployment
    answers like a missing one."""
    return hosting.get_deployment(db, caller, deployment)


@router.get("/admin/deployments/{deployment}/replicas")
def list_replicas(
    deployment: str,
    db: Db,
    caller: Caller,
    state: Annotated[
        Literal["starting", "running", "stopped"] | None, Query(description="Only these")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="The newest this many")] = 100,
) -> list[ReplicaOut]:
    """A deployment's replicas, newest first: state, GPUs, when they started and stopped,
    the endpoint a model server replica answers at, and the fleet nodes and GPUs a GPU
    replica's placement holds (operator; to a tenant every deployment answers as missing)."""
    return hosting.list_replicas(db, caller, deployment, state, limit)


@router.post("/admin/deployments/{deployment}/replicas")
def set_replicas(
    deployment: str, body: ReplicaBounds, request: Request, db: Db, caller: Caller
) -> DeploymentOut:
    """Set a deployment's replica bounds (operator); the gateway scales within them."""
    changed = hosting.set_replicas(db, caller, deployment, body.min_replicas, body.max_replicas)
    _changed(request, changed.name)
    return changed


@router.post("/admin/limits")
def set_limits(body: LimitsSet, request: Request, db: Db, caller: Caller) -> LimitsOut:
    """Set a tenant's (or one key's) requests/min, tokens/min and budget (operator);
    null means unlimited. Over a limit the gateway answers 429 with Retry-After."""
    limits = hosting.set_limits(db, caller, body)
    _changed(request)
    return limits


@router.get("/token-usage")
def token_usage(
    db: Db,
    caller: Caller,
    tenant: Annotated[str | None, Query(max_length=100, description="Only this tenant")] = None,
) -> list[UsageOut]:
    """Tokens used per tenant, key, model and deployment, and their cost (a tenant: its own)."""
    return hosting.usage(db, caller, tenant)


@router.post("/tenants/{tenant}/inference-keys", status_code=status.HTTP_201_CREATED)
def create_inference_key(
    tenant: str, body: InferenceKeyCreate, db: Db, caller: Caller
) -> InferenceKeyCreated:
    """Mint an inference-only key (`gf_ikey_…`): it calls models through the gateway and
    nothing else. Shown once; revoke it with DELETE /v1/api-keys/{id}."""
    return hosting.create_inference_key(db, caller, tenant, body)
