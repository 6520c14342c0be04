"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from gpufleet import __version__
from gpufleet.api import errors
from gpufleet.api.deps import no_nul_characters
from gpufleet.api.jobs import JobRunner
from gpufleet.api.middleware import BodyLimit
from gpufleet.api.routers import (
    access,
    deployments,
    events,
    fleet,
    gateway,
    health,
    models,
    plans,
    programs,
    rentals,
)
from gpufleet.api.routers import billing as billing_routes
from gpufleet.api.routers import operations as operations_routes
from gpufleet.services.database import Database

DESCRIPTION = """Control plane for a GPU fleet: fleet, tenants, rental requests, leases, plans.

Authenticate with `Authorization: Bearer <API key>`. Operator keys see everything; a tenant
key sees only its own objects, and another tenant's object answers exactly like a missing one.
"""


def create_app(db: Database, *, max_body_bytes: int = 16 * 1024 * 1024) -> FastAPI:
    jobs = JobRunner()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.shutdown()

    app = FastAPI(title="gpufleet", version=__version__, description=DESCRIPTION,
                  dependencies=[Depends(no_nul_characters)], lifespan=lifespan)  # fmt: skip
    app.state.db = db
    app.state.jobs = jobs
    for module in (
        gateway,  # first: the gateway's hot path is matched before every other route
        health,
        access,
        fleet,
        programs,
        rentals,
        events,
        plans,
        billing_routes,
        models,
        deployments,
        operations_routes,
    ):
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
