"""Fixtures shared by every test: databases (SQLite and a real PostgreSQL), servers, keys.

PostgreSQL tests need GPUFLEET_TEST_POSTGRES_URL (scripts/start-postgres.sh prints one). When
GPUFLEET_REQUIRE_POSTGRES=1 (as in CI) a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.api.app import create_app
from gpufleet.domain.access import Principal, TenantKind
from gpufleet.services import access
from gpufleet.services.database import Database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "gpufleet" / "examples"
PG_URL = os.environ.get("GPUFLEET_TEST_POSTGRES_URL")


def _require_postgres() -> str:
    if PG_URL:
        return PG_URL
    if os.environ.get("GPUFLEET_REQUIRE_POSTGRES") == "1":
        pytest.fail("GPUFLEET_REQUIRE_POSTGRES=1 but GPUFLEET_TEST_POSTGRES_URL is not set")
    pytest.skip("no PostgreSQL (set GPUFLEET_TEST_POSTGRES_URL; see scripts/start-postgres.sh)")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test clones it (fast) and drops its clone."""
    base = _require_postgres()
    name = f"gf_tpl_{os.getpid()}"
    admin = create_engine(make_url(base).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    template = make_engine(str(make_url(base).set(database=name)))
    upgrade(template)
    template.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_database(template: str) -> Iterator[str]:
    base = make_url(_require_postgres())
    name = f"gf_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gpufleet.db'}"
        upgrade(make_engine(url))
        yield url
    else:
        yield from _postgres_database(request.getfixturevalue("pg_template"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(make_engine(db_url))
    yield database
    database.engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """Only SQLite, for tests of logic that does not depend on the database kind."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gpufleet.db'}")
    upgrade(engine)
    yield Database(engine)
    engine.dispose()


@dataclass(frozen=True)
class Actor:
    """Someone with a key: the operator or a tenant."""

    token: str
    principal: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_operator(db: Database) -> Actor:
    token = access.init_admin(db, "test-operator", another=True).token
    return Actor(token, access.authenticate(db, token))


def make_tenant(db: Database, operator: Actor, name: str) -> Actor:
    access.create_tenant(db, operator.principal, name, TenantKind.EXTERNAL)
    token = access.create_key(db, operator.principal, name, "test", None).token
    return Actor(token, access.authenticate(db, token))


@pytest.fixture
def operator(db: Database) -> Actor:
    return make_operator(db)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    db: Database

    def client(self, actor: Actor | None = None) -> httpx.Client:
        headers = actor.headers if actor else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def live_server(db: Database) -> Iterator[LiveServer]:
    """The real app on a real socket (uvicorn in a thread), over the test's database."""
    port = _free_port()
    config = uvicorn.Config(create_app(db, max_body_bytes=2 * 1024 * 1024), host="127.0.0.1",
                            port=port, log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    yield LiveServer(f"http://127.0.0.1:{port}", db)
    server.should_exit = True
    thread.join(timeout=10)
