"""Tenants, API keys and the caller."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from gpufleet.api.schemas.common import ApiModel, Text
from gpufleet.domain.access import ApiKey, Tenant
from gpufleet.planning.scenario.fields import Name


class WhoAmI(ApiModel):
    role: Literal["operator", "tenant"]
    key_id: str
    tenant: str | None


class TenantCreate(ApiModel):
    name: Name
    kind: Literal["internal", "external"] = "external"


class TenantOut(ApiModel):
    name: str
    kind: Literal["internal", "external"]
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(name=tenant.name, kind=tenant.kind.value, created_at=tenant.created_at)


class ApiKeyCreate(ApiModel):
    name: Text = Field(default="default", min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, gt=0, le=3650)


class ApiKeyOut(ApiModel):
    id: str
    tenant: str | None
    role: Literal["operator", "tenant"]
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey, tenant: str | None) -> ApiKeyOut:
        return cls(
            id=key.id,
            tenant=tenant,
            role=key.role.value,
            name=key.name,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The secret. Shown this once; only its hash is stored.")
