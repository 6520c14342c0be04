"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from gpufleet import __version__
from gpufleet.api.deps import Db

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(db: Db) -> dict[str, str]:
    """Up, and the database answers. Needs no key."""
    with db.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__, "database": db.engine.dialect.name}
