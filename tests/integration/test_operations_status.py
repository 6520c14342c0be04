"""GET /v1/ops/status is a plain read: it writes nothing (not even the ops_state row on a
fresh database) and never waits for the placement lock that accepts and runs hold."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, event, select

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.repos.placement import lock_state
from gpufleet.adapters.db.tables import metadata
from gpufleet.operations import Reliability
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance, status
from tests.conftest import Actor
from tests.integration.test_operations_service import NOW, setup_fleet

LOCK_WAIT_S = 1  # a status that waits for the lock fails after this, instead of hanging


def _everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to prove a call wrote nothing."""
    with db.read() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
            for t in metadata.sorted_tables
        }


def test_status_on_a_fresh_database_answers_not_started_and_writes_nothing(
    db: Database, operator: Actor
) -> None:
    setup_fleet(db, operator)  # a fleet and two accepted leases, no run yet
    before = _everything(db)
    assert before["ops_state"] == []

    first = status(db, operator.principal)

    assert _everything(db) == before
    assert first.run_status == "idle"
    assert first.clock == NOW  # no simulated clock stored yet: the database's
    assert first.metered_until == NOW
    assert first.totals["failures"] == 0
    assert (first.pending_repairs, first.queued_experiments) == (0, 0)
    assert first.experiment_model is None  # chosen by the first run


def test_status_after_a_run_reads_the_stored_row(db: Database, operator: Actor) -> None:
    setup_fleet(db, operator)
    options = AdvanceOptions(NOW + timedelta(hours=5), seed=3, reliability=Reliability(0.0),
                             experiments=False)  # fmt: skip
    done = advance(db, operator.principal, options)
    before = _everything(db)

    assert status(db, operator.principal) == done
    assert _everything(db) == before


@contextmanager
def _impatient(db: Database) -> Iterator[Database]:
    """The same database through an engine whose lock waits give up after LOCK_WAIT_S: a
    status that takes the placement lock fails instead of hanging behind the holder."""
    if db.engine.dialect.name == "sqlite":
        engine = make_engine(db.engine.url.render_as_string(hide_password=False))

        @event.listens_for(engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={LOCK_WAIT_S * 1000}")

    else:
        options = f"-c lock_timeout={LOCK_WAIT_S}s -c statement_timeout={LOCK_WAIT_S * 5}s"
        engine = create_engine(db.engine.url, connect_args={"options": options})
    try:
        yield Database(engine, clock=db.clock)
    finally:
        engine.dispose()


def test_status_answers_while_another_connection_holds_the_placement_lock(
    db: Database, operator: Actor
) -> None:
    setup_fleet(db, operator)
    answered: list[Any] = []
    with _impatient(db) as other:
        with db.write() as holder:
            lock_state(holder)  # what every placement writer does first
            worker = threading.Thread(
                target=lambda: answered.append(status(other, operator.principal))
            )
            worker.start()
            worker.join(timeout=LOCK_WAIT_S * 10)
        worker.join()  # the old status got the lock once the holder committed, or failed
    assert len(answered) == 1, "status waited for the placement lock"
    assert answered[0].run_status == "idle"
