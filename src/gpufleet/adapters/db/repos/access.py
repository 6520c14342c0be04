"""Tenants and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gpufleet.adapters.db.tables import api_keys, tenants
from gpufleet.domain.access import ApiKey, Role, Tenant, TenantKind
from gpufleet.domain.timeutil import to_utc


def _tenant(row: Any) -> Tenant:
    return Tenant(row.id, row.name, TenantKind(row.kind), to_utc(row.created_at))


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        role=Role(row.role),
        name=row.name,
        created_at=to_utc(row.created_at),
        expires_at=to_utc(row.expires_at) if row.expires_at else None,
        revoked_at=to_utc(row.revoked_at) if row.revoked_at else None,
    )


def add_tenant(conn: Connection, name: str, kind: TenantKind, now: datetime) -> Tenant:
    new_id = conn.execute(
        insert(tenants).values(name=name, kind=kind.value, created_at=now).returning(tenants.c.id)
    ).scalar_one()
    return Tenant(new_id, name, kind, now)


def tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    row = conn.execute(select(tenants).where(tenants.c.name == name)).first()
    return _tenant(row) if row else None


def tenant_names(conn: Connection) -> dict[str, int]:
    return {row.name: row.id for row in conn.execute(select(tenants.c.name, tenants.c.id))}


def tenant_names_of_kind(conn: Connection, kind: TenantKind) -> set[str]:
    return set(conn.execute(select(tenants.c.name).where(tenants.c.kind == kind.value)).scalars())


def list_tenants(conn: Connection, only_id: int | None = None) -> list[Tenant]:
    query = select(tenants).order_by(tenants.c.id)
    if only_id is not None:
        query = query.where(tenants.c.id == only_id)
    return [_tenant(row) for row in conn.execute(query)]


def add_key(
    conn: Connection,
    *,
    key_id: str,
    secret_hash: str,
    role: Role,
    tenant_id: int | None,
    name: str,
    now: datetime,
    expires_at: datetime | None,
) -> ApiKey:
    values = {
        "id": key_id,
        "tenant_id": tenant_id,
        "role": role.value,
        "name": name,
        "secret_hash": secret_hash,
        "created_at": now,
        "expires_at": expires_at,
    }
    conn.execute(insert(api_keys).values(**values))
    return ApiKey(key_id, tenant_id, role, name, now, expires_at, None)


def key_for_login(conn: Connection, key_id: str) -> tuple[ApiKey, str, str | None] | None:
    """The key, its stored hash and its tenant's name, in one query: the per-request path."""
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .outerjoin(tenants, tenants.c.id == api_keys.c.tenant_id)
        .where(api_keys.c.id == key_id)
    )
    row = conn.execute(query).first()
    return (_key(row), row.secret_hash, row.tenant_name) if row else None


def get_key(conn: Connection, key_id: str) -> ApiKey | None:
    found = key_for_login(conn, key_id)
    return found[0] if found else None


def list_keys(conn: Connection, tenant_id: int | None, *, lock: bool = False) -> list[ApiKey]:
    """A tenant's keys (None: the operator keys); `lock` holds them until the transaction
    ends, so that decisions about the set (the last operator key) are not raced."""
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if lock:
        query = query.with_for_update()
    if tenant_id is None:
        query = query.where(api_keys.c.tenant_id.is_(None))
    else:
        query = query.where(api_keys.c.tenant_id == tenant_id)
    return [_key(row) for row in conn.execute(query)]


def revoke_key(conn: Connection, key_id: str, now: datetime) -> None:
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def count_operator_keys(conn: Connection) -> int:
    return len(list_keys(conn, None))
