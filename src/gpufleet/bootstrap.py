"""The one place where configuration turns into wired objects."""

from __future__ import annotations

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.config import Settings
from gpufleet.services.database import Database


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """Connect to the database at `url` (default: GPUFLEET_DATABASE_URL or the embedded
    SQLite file) and bring its schema up to date."""
    engine = make_engine(url or Settings.from_env().database_url)
    if migrate:
        upgrade(engine)
    return Database(engine)
