"""Gateway authentication: keys with the scope `inference`, checked from a short cache.

Keys made by the access service carry `api inference`. Inference-only keys are named
`ikey_…` and shown as `gf_ikey_<hex>_<secret>`: the control-plane API does not take them
(its parser wants `gf_key_…`), so such a key can call models and nothing else.
A looked-up key is trusted for CACHE_S seconds: revoking a key stops it within that time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gpufleet.domain.access import KEY_PREFIX, Role, hash_secret, secret_matches
from gpufleet.domain.errors import Forbidden, NotAuthenticated
from gpufleet.domain.timeutil import to_utc
from gpufleet.hosting import repo
from gpufleet.services.database import Database

SCOPE = "inference"
CACHE_S = 5.0


@dataclass(frozen=True)
class InferenceCaller:
    key_id: str
    tenant_id: int | None  # None: an operator key (may list and manage, not call models)
    tenant_name: str | None
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


@dataclass(frozen=True)
class _Cached:
    secret_hash: str
    caller: InferenceCaller
    expires_at: datetime | None
    revoked: bool
    until: float


def split_any_token(token: str) -> tuple[str, str] | None:
    """`gf_key_<hex>_<secret>` → ("key_<hex>", secret); `gf_ikey_…` → ("ikey_<hex>", …)."""
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != KEY_PREFIX or parts[1] not in {"key", "ikey"}:
        return None
    if not parts[2] or not parts[3]:
        return None
    return f"{parts[1]}_{parts[2]}", parts[3]


class KeyCache:
    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    def lookup(self, token: str | None) -> InferenceCaller:
        """The caller of a token (raises NotAuthenticated), from the database or the cache.
        Synchronous: one indexed read at most every CACHE_S seconds per key."""
        if not token:
            raise NotAuthenticated("missing API key: send 'Authorization: Bearer <key>'")
        parts = split_any_token(token)
        if parts is None:
            raise NotAuthenticated("malformed API key")
        key_id, secret = parts
        entry = self._cache.get(key_id)
        if entry is None or entry.until <= self._clock():
            entry = self._load(key_id)
        if entry is None or not secret_matches(secret, entry.secret_hash):
            raise NotAuthenticated("unknown API key")
        if entry.revoked:
            raise NotAuthenticated("API key has been revoked")
        if entry.expires_at is not None and entry.expires_at <= self._db.clock():
            raise NotAuthenticated("API key has expired")
        return entry.caller

    def _load(self, key_id: str) -> _Cached | None:
        with self._db.read() as conn:
            row = repo.key_with_scopes(conn, key_id)
        if row is None:
            self._cache.pop(key_id, None)
            return None
        caller = InferenceCaller(
            row.id, row.tenant_id, row.tenant_name, frozenset(row.scopes.split())
        )
        entry = _Cached(
            row.secret_hash,
            caller,
            to_utc(row.expires_at) if row.expires_at else None,
            row.revoked_at is not None,
            self._clock() + CACHE_S,
        )
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key_id] = entry
        return entry


def require_inference(caller: InferenceCaller) -> int:
    """The tenant a model call is billed to; operator keys and keys without the scope may
    not call models."""
    if caller.tenant_id is None:
        raise Forbidden("calling a model needs a tenant's key: usage is billed to a tenant")
    if SCOPE not in caller.scopes:
        raise Forbidden("this key lacks the 'inference' scope")
    return caller.tenant_id


@dataclass(frozen=True)
class NewInferenceKey:
    key_id: str
    token: str
    values: dict[str, object]


def mint_inference_key(
    tenant_id: int, name: str, now: datetime, days: int | None
) -> NewInferenceKey:
    key_id = "ikey_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    values: dict[str, object] = {
        "id": key_id,
        "tenant_id": tenant_id,
        "role": Role.TENANT.value,
        "name": name,
        "secret_hash": hash_secret(secret),
        "created_at": now,
        "expires_at": now + timedelta(days=days) if days else None,
        "scopes": SCOPE,
    }
    return NewInferenceKey(key_id, f"{KEY_PREFIX}_{key_id}_{secret}", values)
