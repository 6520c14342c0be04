"""API keys: hashed at rest, shown once, revoked and expired at once, scoped to their tenant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from gpufleet.adapters.db.repos import access as access_repo
from gpufleet.adapters.db.tables import api_keys, metadata
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict
from gpufleet.domain.timeutil import utcnow
from gpufleet.services import access
from gpufleet.services.database import Database
from tests.conftest import ROOT, Actor, LiveServer, make_operator, make_tenant
from tests.integration.support import error_of, expect


def _secret_of(token: str) -> str:
    prefix, word, _hex, secret = token.split("_", 3)
    assert (prefix, word) == ("gf", "key")
    return secret


def _every_stored_text(db: Database) -> str:
    """Every value of every row of every table, as one text to search."""
    with db.engine.connect() as conn:
        return "\n".join(
            json.dumps([str(v) for v in row]) for table in metadata.sorted_tables
            for row in conn.execute(select(table))
        )  # fmt: skip


def test_keys_are_stored_only_as_hashes(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    make_tenant(db, operator, "acme")
    created = expect(
        live_server.client(operator).post("/v1/tenants/acme/api-keys", json={"name": "ci"}), 201
    )
    token = created["api_key"]
    secret = _secret_of(token)
    with db.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == created["id"])).one()
    assert row.tenant_id is not None
    assert row.role == "tenant"
    assert row.name == "ci"
    assert row.secret_hash != secret
    assert len(row.secret_hash) == 64
    stored = _every_stored_text(db)
    for clear in (token, secret, operator.token, _secret_of(operator.token)):
        assert clear not in stored, "a key's secret is stored in the clear"
    assert created["id"] in stored  # the search does see the key's row


def test_the_secret_is_returned_once_and_never_listed(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    tenant = make_tenant(db, operator, "acme")
    op = live_server.client(operator)
    created = expect(op.post("/v1/tenants/acme/api-keys", json={"name": "ci"}), 201)
    assert created["api_key"].startswith(f"gf_{created['id']}_")
    assert created["tenant"] == "acme"
    assert created["role"] == "tenant"
    for client in (op, live_server.client(tenant)):
        listing = client.get("/v1/tenants/acme/api-keys")
        keys = expect(listing, 200)
        assert created["id"] in {k["id"] for k in keys}
        assert all("api_key" not in k for k in keys)
        assert _secret_of(created["api_key"]) not in listing.text
        assert _secret_of(tenant.token) not in listing.text
    revoked = op.delete(f"/v1/api-keys/{created['id']}")
    assert "api_key" not in expect(revoked, 200)
    assert _secret_of(created["api_key"]) not in revoked.text


def test_a_revoked_key_fails_on_the_very_next_request(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    tenant = make_tenant(db, operator, "acme")
    op = live_server.client(operator)
    spare = expect(op.post("/v1/tenants/acme/api-keys", json={"name": "spare"}), 201)
    as_tenant = live_server.client(tenant)
    assert expect(as_tenant.get("/v1/whoami"), 200)["tenant"] == "acme"

    revoked = expect(op.delete(f"/v1/api-keys/{tenant.principal.key_id}"), 200)
    assert revoked["revoked_at"] is not None
    assert (revoked["id"], revoked["tenant"], revoked["role"]) == (
        tenant.principal.key_id,
        "acme",
        "tenant",
    )
    error = error_of(as_tenant.get("/v1/whoami"), 401)
    assert error["code"] == "unauthenticated"
    assert "revoked" in error["message"]
    # The tenant's other key is untouched; revoking twice is harmless.
    spare_client = live_server.client()
    spare_client.headers["Authorization"] = f"Bearer {spare['api_key']}"
    assert expect(spare_client.get("/v1/whoami"), 200)["key_id"] == spare["id"]
    expect(op.delete(f"/v1/api-keys/{tenant.principal.key_id}"), 200)
    # A tenant may revoke its own key, and that too holds from the next request.
    expect(spare_client.delete(f"/v1/api-keys/{spare['id']}"), 200)
    assert "revoked" in error_of(spare_client.get("/v1/whoami"), 401)["message"]


def test_an_expired_key_gets_401(live_server: LiveServer, db: Database, operator: Actor) -> None:
    make_tenant(db, operator, "acme")
    op = live_server.client(operator)
    now = utcnow()
    db.clock = lambda: now
    created = expect(
        op.post("/v1/tenants/acme/api-keys", json={"name": "day", "expires_in_days": 1}), 201
    )
    assert created["expires_at"].startswith((now + timedelta(days=1)).date().isoformat())
    client = live_server.client()
    client.headers["Authorization"] = f"Bearer {created['api_key']}"

    db.clock = lambda: now + timedelta(days=1) - timedelta(seconds=1)
    expect(client.get("/v1/whoami"), 200)
    db.clock = lambda: now + timedelta(days=1)
    error = error_of(client.get("/v1/whoami"), 401)
    assert error["code"] == "unauthenticated"
    assert "expired" in error["message"]
    assert error_of(client.get("/v1/rental-requests"), 401)["code"] == "unauthenticated"
    expect(op.get("/v1/whoami"), 200)  # a key without an expiry goes on working


@pytest.mark.parametrize(
    ("authorization", "words"),
    [
        (None, "missing API key"),
        ("Bearer", "missing API key"),
        ("Basic dXNlcjpwYXNz", "missing API key"),
        ("Bearer not-a-key", "malformed API key"),
        ("Bearer gf_key_", "malformed API key"),
        ("Bearer gf_key_0123456789abcdef_" + "A" * 43, "unknown API key"),
    ],
)
def test_a_missing_or_malformed_or_unknown_key_gets_401(
    live_server: LiveServer, operator: Actor, authorization: str | None, words: str
) -> None:
    client = live_server.client()
    if authorization is not None:
        client.headers["Authorization"] = authorization
    for method, path in (("GET", "/v1/whoami"), ("GET", "/v1/fleet"),
                         ("POST", "/v1/rental-requests")):  # fmt: skip
        response = client.request(method, path, json={})
        error = error_of(response, 401)
        assert error["code"] == "unauthenticated"
        assert words in error["message"], error
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_secret_answers_like_an_unknown_key(
    live_server: LiveServer, operator: Actor
) -> None:
    key_id = operator.principal.key_id
    wrong = live_server.client()
    wrong.headers["Authorization"] = f"Bearer gf_{key_id}_{'B' * 43}"
    unknown = live_server.client()
    unknown.headers["Authorization"] = f"Bearer gf_key_{'0' * 16}_{'B' * 43}"
    first, second = wrong.get("/v1/whoami"), unknown.get("/v1/whoami")
    assert error_of(first, 401) == error_of(second, 401)
    assert error_of(first, 401)["message"] == "unknown API key"


def test_a_tenant_key_on_an_operator_route_gets_403(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    tenant = live_server.client(make_tenant(db, operator, "acme"))
    for method, path, body in (
        ("GET", "/v1/tenants", None),
        ("POST", "/v1/tenants", {"name": "mine"}),
        ("GET", "/v1/fleet", None),
        ("GET", "/v1/fleet/nodes", None),
        ("GET", "/v1/programs", None),
    ):
        error = error_of(tenant.request(method, path, json=body), 403)
        assert error["code"] == "forbidden"
        assert "operator" in error["message"]
    assert [t["name"] for t in expect(live_server.client(operator).get("/v1/tenants"), 200)] == [
        "acme"
    ]


def test_a_tenant_cannot_mint_a_key_for_another_tenant(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    acme = live_server.client(make_tenant(db, operator, "acme"))
    make_tenant(db, operator, "beta")
    op = live_server.client(operator)
    before = expect(op.get("/v1/tenants/beta/api-keys"), 200)
    foreign = error_of(acme.post("/v1/tenants/beta/api-keys", json={"name": "x"}), 404)
    missing = error_of(acme.post("/v1/tenants/gamma/api-keys", json={"name": "x"}), 404)
    assert foreign["message"].replace("beta", "?") == missing["message"].replace("gamma", "?")
    assert expect(op.get("/v1/tenants/beta/api-keys"), 200) == before
    own = expect(acme.post("/v1/tenants/acme/api-keys", json={"name": "x"}), 201)
    assert own["tenant"] == "acme"
    assert own["role"] == "tenant"


def test_the_last_operator_key_cannot_be_revoked(
    live_server: LiveServer, db: Database, operator: Actor
) -> None:
    op = live_server.client(operator)
    error = error_of(op.delete(f"/v1/api-keys/{operator.principal.key_id}"), 409)
    assert error["code"] == "conflict"
    assert "last operator key" in error["message"]
    expect(op.get("/v1/whoami"), 200)

    second = make_operator(db)
    expect(op.delete(f"/v1/api-keys/{operator.principal.key_id}"), 200)
    assert error_of(op.get("/v1/whoami"), 401)["code"] == "unauthenticated"
    op2 = live_server.client(second)
    error_of(op2.delete(f"/v1/api-keys/{second.principal.key_id}"), 409)
    assert expect(op2.get("/v1/whoami"), 200)["role"] == "operator"


def test_two_operators_revoking_each_others_key_at_once_leave_one_key(
    db: Database, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no race")
    second = make_operator(db)
    barrier = threading.Barrier(2, timeout=60)
    seen = threading.local()
    real_get_key = access_repo.get_key

    def get_key_then_meet(conn: object, key_id: str) -> object:
        found = real_get_key(conn, key_id)  # type: ignore[arg-type]
        if not getattr(seen, "met", False):
            seen.met = True
            barrier.wait()  # both transactions have begun before either decides
        return found

    monkeypatch.setattr(access_repo, "get_key", get_key_then_meet)
    outcome: dict[str, str] = {}

    def revoke(caller: Principal, key_id: str) -> None:
        try:
            access.revoke_key(db, caller, key_id)
            outcome[key_id] = "revoked"
        except Conflict:
            outcome[key_id] = "refused"
        except Exception as exc:  # reported by the assertion below
            outcome[key_id] = repr(exc)

    threads = [
        threading.Thread(target=revoke, args=(operator.principal, second.principal.key_id)),
        threading.Thread(target=revoke, args=(second.principal, operator.principal.key_id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcome.values()) == ["refused", "revoked"], outcome
    with db.read() as conn:
        usable = [k for k in access_repo.list_keys(conn, None) if k.usable_at(db.clock())]
    assert len(usable) == 1


def _admin_init(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPUFLEET_DATABASE_URL": db.engine.url.render_as_string(False)}
    return subprocess.run(
        [sys.executable, "-m", "gpufleet.cli.main", "admin", "init", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


def test_admin_init_twice_refuses_without_another(live_server: LiveServer, db: Database) -> None:
    first = _admin_init(db, "--json")
    assert first.returncode == 0, first.stderr
    token = json.loads(first.stdout)["api_key"]
    client = live_server.client()
    client.headers["Authorization"] = f"Bearer {token}"
    assert expect(client.get("/v1/whoami"), 200)["role"] == "operator"

    second = _admin_init(db)
    assert second.returncode == 5, (second.stdout, second.stderr)
    assert "already exists" in second.stderr
    assert "--another" in second.stderr
    assert "gf_key_" not in second.stdout + second.stderr

    third = _admin_init(db, "--another", "--json")
    assert third.returncode == 0, third.stderr
    with db.engine.connect() as conn:
        roles = conn.execute(select(api_keys.c.role)).scalars().all()
    assert roles == ["operator", "operator"]
