"""The whole schema: `tables.py` and every `tables_*.py` module, loaded into one metadata.

Each area keeps its tables in its own module; whatever needs all of them at once (Alembic's
environment, the test that the migrations create exactly these tables) imports `metadata`
from here, so a new module is listed in one place only.
"""

from __future__ import annotations

from gpufleet.adapters.db import (  # noqa: F401  (importing a module adds its tables)
    tables_billing,
    tables_hosting,
    tables_operations,
    tables_placement,
)
from gpufleet.adapters.db.tables import metadata

__all__ = ["metadata"]
