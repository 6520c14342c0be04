"""Who am I, tenants and API keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from gpufleet.api.deps import Caller, Db
from gpufleet.api.schemas.access import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    TenantCreate,
    TenantOut,
    WhoAmI,
)
from gpufleet.domain.access import TenantKind
from gpufleet.services import access

router = APIRouter(prefix="/v1", tags=["access"])


@router.get("/whoami")
def whoami(caller: Caller) -> WhoAmI:
    """The role and tenant of the key that made this request."""
    return WhoAmI(role=caller.role.value, key_id=caller.key_id, tenant=caller.tenant_name)


@router.post("/tenants", status_code=status.HTTP_201_CREATED)
def create_tenant(body: TenantCreate, db: Db, caller: Caller) -> TenantOut:
    """Create a tenant (operator). `external` for customers, `internal` for the lab's teams."""
    return TenantOut.of(access.create_tenant(db, caller, body.name, TenantKind(body.kind)))


@router.get("/tenants")
def list_tenants(db: Db, caller: Caller) -> list[TenantOut]:
    """Every tenant (operator)."""
    return [TenantOut.of(t) for t in access.list_tenants(db, caller)]


@router.post("/tenants/{tenant}/api-keys", status_code=status.HTTP_201_CREATED)
def create_key(tenant: str, body: ApiKeyCreate, db: Db, caller: Caller) -> ApiKeyCreated:
    """Mint a key for a tenant (the operator for any, a tenant for itself). The secret in
    `api_key` is returned this once; only its hash is kept."""
    issued = access.create_key(db, caller, tenant, body.name, body.expires_in_days)
    return ApiKeyCreated(**ApiKeyOut.of(issued.key, tenant).model_dump(), api_key=issued.token)


@router.get("/tenants/{tenant}/api-keys")
def list_keys(tenant: str, db: Db, caller: Caller) -> list[ApiKeyOut]:
    """A tenant's keys, without secrets."""
    return [ApiKeyOut.of(k, tenant) for k in access.list_keys(db, caller, tenant)]


@router.delete("/api-keys/{key_id}")
def revoke_key(key_id: str, db: Db, caller: Caller) -> ApiKeyOut:
    """Revoke a key; it fails from the next request on."""
    key = access.revoke_key(db, caller, key_id)
    return ApiKeyOut.of(key, access.tenant_of_key(db, key))
