"""Tenants, API keys and authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import access as repo
from gpufleet.adapters.db.repos import events
from gpufleet.domain.access import (
    ApiKey,
    NewSecret,
    Principal,
    Role,
    Tenant,
    TenantKind,
    mint_key,
    secret_matches,
    split_token,
)
from gpufleet.domain.errors import Conflict, NotAuthenticated, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.services.database import Database


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown once; only its hash is stored


def authenticate(db: Database, token: str | None) -> Principal:
    if not token:
        raise NotAuthenticated("missing API key: send 'Authorization: Bearer <key>'")
    parts = split_token(token)
    if parts is None:
        raise NotAuthenticated("malformed API key")
    key_id, secret = parts
    with db.read() as conn:
        found = repo.key_for_login(conn, key_id)
    if found is None or not secret_matches(secret, found[1]):
        raise NotAuthenticated("unknown API key")
    key, _, tenant_name = found
    if key.revoked_at is not None:
        raise NotAuthenticated("API key has been revoked")
    if not key.usable_at(db.clock()):
        raise NotAuthenticated("API key has expired")
    return Principal(key.role, key.id, key.tenant_id, tenant_name)


def init_admin(db: Database, name: str = "admin", *, another: bool = False) -> IssuedKey:
    """Mint an operator key. Refuses when one exists, unless `another` is asked for."""
    with db.write() as conn:
        if repo.count_operator_keys(conn) and not another:
            raise Conflict(
                "an operator key already exists; run 'gpufleet admin init --another' "
                "to mint one more"
            )
        return _issue(conn, db, Role.OPERATOR, None, name, None)


def _issue(
    conn: Connection, db: Database, role: Role, tenant: Tenant | None, name: str, days: int | None
) -> IssuedKey:
    secret: NewSecret = mint_key()
    now = db.clock()
    key = repo.add_key(
        conn,
        key_id=secret.key_id,
        secret_hash=secret.secret_hash,
        role=role,
        tenant_id=tenant.id if tenant else None,
        name=name,
        now=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    event = NewEvent("api_key.created", key.id, key.tenant_id, {"name": name, "role": role})
    events.append(conn, [event], now)
    return IssuedKey(key, secret.token)


def create_tenant(db: Database, caller: Principal, name: str, kind: TenantKind) -> Tenant:
    caller.require_operator()
    with db.write() as conn:
        if repo.tenant_by_name(conn, name):
            raise Conflict(f"tenant {name!r} already exists")
        tenant = repo.add_tenant(conn, name, kind, db.clock())
        events.append(
            conn, [NewEvent("tenant.created", name, tenant.id, {"kind": kind})], db.clock()
        )
    return tenant


def list_tenants(db: Database, caller: Principal) -> list[Tenant]:
    caller.require_operator()
    with db.read() as conn:
        return repo.list_tenants(conn)


def _visible_tenant(conn: Connection, caller: Principal, name: str) -> Tenant:
    tenant = repo.tenant_by_name(conn, name)
    if tenant is None or not caller.sees_tenant(tenant.id):
        raise NotFound.of("tenant", name)
    return tenant


def create_key(
    db: Database, caller: Principal, tenant_name: str, name: str, expires_in_days: int | None
) -> IssuedKey:
    with db.write() as conn:
        tenant = _visible_tenant(conn, caller, tenant_name)
        return _issue(conn, db, Role.TENANT, tenant, name, expires_in_days)


def list_keys(db: Database, caller: Principal, tenant_name: str) -> list[ApiKey]:
    with db.read() as conn:
        tenant = _visible_tenant(conn, caller, tenant_name)
        return repo.list_keys(conn, tenant.id)


def tenant_of_key(db: Database, key: ApiKey) -> str | None:
    """The name of the tenant a key belongs to (None for an operator key)."""
    with db.read() as conn:
        found = repo.key_for_login(conn, key.id)
    return found[2] if found else None


def revoke_key(db: Database, caller: Principal, key_id: str) -> ApiKey:
    with db.write() as conn:
        key = repo.get_key(conn, key_id)
        if key is None or not caller.sees_tenant(key.tenant_id):
            raise NotFound.of("API key", key_id)
        if key.role is Role.OPERATOR:
            # Locked: two operators revoking each other's key at once must not both succeed.
            operator_keys = repo.list_keys(conn, None, lock=True)
            usable = [k for k in operator_keys if k.usable_at(db.clock())]
            if [k.id for k in usable] == [key.id]:
                raise Conflict("refusing to revoke the last operator key")
        if key.revoked_at is None:
            repo.revoke_key(conn, key_id, db.clock())
            events.append(conn, [NewEvent("api_key.revoked", key.id, key.tenant_id)], db.clock())
        revoked = repo.get_key(conn, key_id)
    assert revoked is not None
    return revoked
