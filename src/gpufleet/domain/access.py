"""Who is calling, and what they may see: tenants, API keys and the caller's principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gpufleet.domain.errors import Forbidden

KEY_PREFIX = "gf"


class Role(StrEnum):
    OPERATOR = "operator"
    TENANT = "tenant"


class TenantKind(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    kind: TenantKind
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant_id: int | None
    role: Role
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. An operator sees everything; a tenant only its own."""

    role: Role
    key_id: str
    tenant_id: int | None = None
    tenant_name: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def require_operator(self) -> None:
        if not self.is_operator:
            raise Forbidden("this action needs an operator key")

    def sees_tenant(self, tenant_id: int | None) -> bool:
        return self.is_operator or (tenant_id is not None and tenant_id == self.tenant_id)


@dataclass(frozen=True)
class NewSecret:
    """A freshly minted key: `token` is shown once and never stored; only `secret_hash` is."""

    key_id: str
    token: str
    secret_hash: str


def mint_key() -> NewSecret:
    key_id = "key_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewSecret(key_id, f"{KEY_PREFIX}_{key_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough (no dictionary to guess
    # from); SHA-256 keeps authentication within the gateway's per-request budget.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """`gf_key_<hex>_<secret>` → (key id, secret), or None when it is not shaped like a key."""
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != KEY_PREFIX or parts[1] != "key" or not parts[3]:
        return None
    return f"key_{parts[2]}", parts[3]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
