"""The migrations create exactly the tables that `tables*.py` describe, on both databases.

Code reads the schema from the SQLAlchemy tables and the database gets it from the Alembic
migrations; a column added to one and not the other would only fail at run time.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gpufleet.adapters.db.schema import metadata
from gpufleet.services.database import Database


def test_migrated_schema_matches_the_table_definitions(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    # alembic_version is Alembic's own bookkeeping, not ours.
    differences = [d for d in differences if "alembic_version" not in repr(d)]
    assert differences == [], differences
