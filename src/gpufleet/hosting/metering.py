"""Token metering: one token_usage row per request, written once, off the event loop.

A writer thread takes finished requests from a queue and inserts them in batches (one
transaction per batch): the gateway never waits for the database, and a request whose row is
already there (same request_id) is skipped, so a retry can never bill twice. Rows still in
the queue when the process is killed hard are lost; `close()` drains it on a clean shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.services.database import Database

log = logging.getLogger("gpufleet.hosting.metering")
_BATCH = 500
# Rows arriving within this long go in one transaction: under load, a few transactions a
# second instead of one per request (each costs the GIL and, on SQLite, the write lock).
_GATHER_S = 0.05


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class UsageRow:
    """What billing needs about one request. Never any text of it."""

    request_id: str
    at: datetime
    tenant_id: int
    key_id: str
    model: str
    deployment: str
    input_tokens: int
    output_tokens: int
    input_price_micros: int
    output_price_micros: int

    @property
    def cost_pico(self) -> int:
        """Exact cost in 10⁻¹² USD (tokens × micro-USD per million tokens)."""
        return (
            self.input_tokens * self.input_price_micros
            + self.output_tokens * self.output_price_micros
        )


def insert_usage(conn: Connection, rows: list[UsageRow]) -> None:
    """Insert rows; one whose request_id is already stored is left as it was."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(token_usage).on_conflict_do_nothing(index_elements=["request_id"])
    conn.execute(statement, [asdict(r) for r in rows])


class Meter:
    """The writer thread. `submit` is safe from any thread and never blocks."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: queue.Queue[UsageRow | None] = queue.Queue()
        self._idle = threading.Condition()
        self._unwritten = 0
        self._thread = threading.Thread(target=self._run, name="gpufleet-meter", daemon=True)
        self._thread.start()

    def submit(self, row: UsageRow) -> None:
        with self._idle:
            self._unwritten += 1
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted row is written (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unwritten == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is not None and self._queue.qsize() < _BATCH:
                # Gather by sleeping, not by waiting on the queue: a thread waiting on the
                # queue is woken by every row put, a thread switch (and a GIL hand-over the
                # event loop waits for) per request; asleep, it costs one per batch.
                time.sleep(_GATHER_S)
            batch: list[UsageRow] = []
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[UsageRow]) -> None:
        if not batch:
            return
        try:
            with self._db.write() as conn:
                insert_usage(conn, batch)
        except Exception:  # the rows are kept in the log line's numbers, never text
            log.exception("writing %d token_usage rows failed; retrying one by one", len(batch))
            for row in batch:
                try:
                    with self._db.write() as conn:
                        insert_usage(conn, [row])
                except Exception:
                    log.exception("token_usage row for %s lost", row.request_id)
        finally:
            with self._idle:
                self._unwritten -= len(batch)
                self._idle.notify_all()
