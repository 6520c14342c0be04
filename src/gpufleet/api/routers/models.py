"""The model catalog (operator) and `GET /v1/models`, OpenAI's list of what the caller may use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from gpufleet.api.deps import Caller, Db, bearer
from gpufleet.hosting.keys import InferenceCaller
from gpufleet.hosting.runtime import runtime_of
from gpufleet.hosting.schemas import ModelCreate, ModelOut, OpenAIModel, OpenAIModelList
from gpufleet.services import hosting

router = APIRouter(prefix="/v1", tags=["models"])


def inference_caller(
    request: Request,
    db: Db,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> InferenceCaller:
    """Any key that may reach the gateway: `gf_key_…` keys and inference-only `gf_ikey_…`."""
    runtime = runtime_of(request.app.state, db)
    return runtime.keys.lookup(credentials.credentials if credentials else None)


@router.post("/admin/models", status_code=status.HTTP_201_CREATED)
def create_model(body: ModelCreate, db: Db, caller: Caller) -> ModelOut:
    """Add a model to the catalog (operator): where its files are, its backend, GPUs per
    replica, context length and prices per million input and output tokens."""
    return ModelOut.of(hosting.create_model(db, caller, body))


@router.get("/admin/models")
def list_catalog(db: Db, caller: Caller) -> list[ModelOut]:
    """The whole catalog with prices (operator)."""
    return [ModelOut.of(m) for m in hosting.list_models(db, caller)]


@router.get("/models")
def list_models(
    db: Db,
    caller: Annotated[InferenceCaller, Depends(inference_caller)],
) -> OpenAIModelList:
    """The deployments this key may call, in OpenAI's format (`id` is what to pass as
    `model`): serverless ones, and the caller's own provisioned ones."""
    found = hosting.callable_deployments(db, caller)
    return OpenAIModelList(
        data=[
            OpenAIModel(
                id=d.name,
                created=int(d.created_at.timestamp()),
                owned_by=d.tenant_name or "gpufleet",
            )
            for d in found
        ]
    )
