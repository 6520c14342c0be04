"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

from gpufleet import __version__
from gpufleet.api import errors, openapi
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
from gpufleet.hosting.runtime import runtime_of
from gpufleet.services.database import Database

DESCRIPTION = """Control plane for a GPU fleet: fleet, tenants, rental requests, leases, plans.

Authenticate with `Authorization: Bearer <API key>`. Operator keys see everything; a tenant
key sees only its own objects, and another tenant's object answers exactly like a missing one.
"""


class GpufleetApp(FastAPI):
    """The app, with the gateway's two routes served ahead of the middleware stack (ADR 0008):
    the stack (error middlewares, the body limit, routing) cost about a third of the
    gateway's CPU per request, and those routes do their own error handling and body limit."""

    max_body_bytes: int = 16 * 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in gateway.PATHS:
            scope["app"] = self  # as Starlette sets it: the handlers reach app.state through it
            await gateway.serve_asgi(scope, receive, send, self.max_body_bytes)
            return
        await super().__call__(scope, receive, send)


def create_app(db: Database, *, max_body_bytes: int = 16 * 1024 * 1024) -> GpufleetApp:
    jobs = JobRunner()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hosting = runtime_of(app.state, db)
        hosting.begin()  # min replicas start now, in the background (ADR 0012)
        yield
        await hosting.close()  # replicas stop and give their fleet GPUs back
        jobs.shutdown()

    app = GpufleetApp(title="gpufleet", version=__version__, description=DESCRIPTION,
                  dependencies=[Depends(no_nul_characters)], lifespan=lifespan)  # fmt: skip
    app.max_body_bytes = max_body_bytes
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
    openapi.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
