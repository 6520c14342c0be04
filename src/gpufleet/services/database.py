"""The handle services get: transactions on one engine, and a clock tests can set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from gpufleet.adapters.db.engine import transaction
from gpufleet.domain.timeutil import utcnow


@dataclass
class Database:
    engine: Engine
    clock: Callable[[], datetime] = field(default=utcnow)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with transaction(self.engine, write=False) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """All or nothing: every write of a use case happens inside one of these."""
        with transaction(self.engine, write=True) as conn:
            yield conn
