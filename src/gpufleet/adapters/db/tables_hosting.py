"""Tables of hosting (see tables.py for conventions: money BigInteger micro-dollars, UTC times).

Migration 0005_hosting.py creates exactly these tables.
"""

from __future__ import annotations

from gpufleet.adapters.db.tables import Id, Time, metadata  # noqa: F401
