"""Migration 0007 on a database that already has invoices, on both databases: the rows
survive as adjustment 0, stay append-only and referenced, and adjustments fit beside them.
(SQLite rebuilds the invoices table under deferred foreign keys: see the migration.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import alembic_config
from tests.conftest import _require_postgres

AT = datetime(2026, 2, 1, tzinfo=UTC)


def _migrate(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    base = make_url(_require_postgres()).set(drivername="postgresql+psycopg")
    name = f"gf_m7_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _billed_at_0006(engine: Engine) -> None:
    """A tenant with one invoice, its ledger entry and its line, as 0006 stored them."""
    _migrate(engine, "0006")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, kind, created_at)"
                " VALUES (1, 'acme', 'external', :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO invoices (id, tenant_id, month, issued_at, charges_micros,"
                " credits_micros, total_micros, line_count)"
                " VALUES ('inv-1', 1, '2026-01', :at, 500, 0, 500, 1)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entries (idempotency_key, at, tenant_id, month, kind,"
                " amount_micros, invoice_id, usage_rows)"
                " VALUES ('2026-01:1:x', :at, 1, '2026-01', 'tokens', 500, 'inv-1', 1)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO invoice_lines (invoice_id, line_no, key, kind, description,"
                " quantity, unit_price_micros, amount_micros, usage_rows, ledger_key, detail)"
                " VALUES ('inv-1', 1, 'x', 'tokens', 'x', 1, 1, 500, 1, '2026-01:1:x', '{}')"
            )
        )


def test_existing_invoices_survive_and_stay_append_only(empty: Engine) -> None:
    _billed_at_0006(empty)
    _migrate(empty, "head")
    with empty.connect() as conn:
        rows = conn.execute(text("SELECT id, adjustment, total_micros FROM invoices")).all()
        assert [tuple(r) for r in rows] == [("inv-1", 0, 500)]
        lines = conn.execute(text("SELECT invoice_id FROM invoice_lines")).scalars().all()
        assert lines == ["inv-1"]
    with pytest.raises(DBAPIError, match="append-only"), empty.begin() as conn:
        conn.execute(text("UPDATE invoices SET total_micros = 0"))
    with pytest.raises(DBAPIError), empty.begin() as conn:  # still referenced: no orphans
        conn.execute(
            text(
                "INSERT INTO ledger_entries (idempotency_key, at, tenant_id, month, kind,"
                " amount_micros, invoice_id, usage_rows)"
                " VALUES ('k', :at, 1, '2026-01', 'tokens', 1, 'inv-none', 1)"
            ),
            {"at": AT},
        )
    adjustment = (
        "INSERT INTO invoices (id, tenant_id, month, adjustment, issued_at, charges_micros,"
        " credits_micros, total_micros, line_count)"
        " VALUES (:id, 1, '2026-01', 1, :at, 7, 0, 7, 0)"
    )
    with empty.begin() as conn:
        conn.execute(text(adjustment), {"id": "inv-1-A1", "at": AT})
    with pytest.raises(DBAPIError), empty.begin() as conn:  # one adjustment 1 per month
        conn.execute(text(adjustment), {"id": "inv-1-A1bis", "at": AT})
