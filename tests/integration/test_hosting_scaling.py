"""The runtime scales a deployment's replicas on its load, within its bounds, and to zero
only after a quiet spell (a fake backend stands in for the model)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gpufleet.hosting import runtime as runtime_module
from gpufleet.hosting.catalog import Deployment
from gpufleet.hosting.runtime import HostingRuntime, Ledger
from gpufleet.hosting.schemas import DeploymentCreate, ModelCreate
from gpufleet.services import hosting
from gpufleet.services.database import Database
from tests.conftest import make_operator


class FakeBackend:
    def __init__(self) -> None:
        self.replicas = 0
        self.depth = 0

    async def generate(self, request: Any, on_usage: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def queue_depth(self) -> int:
        return self.depth

    def replica_count(self) -> int:
        return self.replicas

    async def scale_to(self, replicas: int) -> None:
        self.replicas = replicas

    async def close(self) -> None:
        self.replicas = 0


def test_replicas_follow_queue_depth_within_bounds(sqlite_db: Database) -> None:
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    hosting.create_deployment(
        sqlite_db,
        operator,
        DeploymentCreate(name="m", model="m", min_replicas=0, max_replicas=3, scale_target=2),
    )
    fake = FakeBackend()

    def factory(deployment: Deployment, ledger: Ledger) -> FakeBackend:
        return fake

    runtime = HostingRuntime(sqlite_db, backend_factory=factory)  # type: ignore[arg-type]

    async def run() -> list[int]:
        deployment = runtime.deployment_for("m", None)
        await runtime.backend_for(deployment)
        running = runtime._running["m"]
        seen = [fake.replicas]  # the first request starts one
        for depth in (5, 9, 0, 0, 0):
            fake.depth = depth
            await runtime._scale(running, 1.0)
            seen.append(fake.replicas)
        running.last_used = time.monotonic() - runtime_module.IDLE_BEFORE_ZERO_S - 1
        await runtime._scale(running, 1.0)
        seen.append(fake.replicas)
        await runtime.close()
        return seen

    # 5 queued at 2 per replica → 3; 9 → still 3 (max); idle → down one at a time to 1
    # (used a moment ago), then 0 after the quiet spell.
    assert asyncio.run(run()) == [1, 3, 3, 2, 1, 1, 0]


class SlowStart(FakeBackend):
    """Replicas that take until `release` is set to start (a large model loading)."""

    def __init__(self, release: asyncio.Event) -> None:
        super().__init__()
        self.release = release

    async def scale_to(self, replicas: int) -> None:
        await self.release.wait()
        self.replicas = replicas


def test_a_request_during_the_start_of_min_replicas_waits_and_starts_no_second_set(
    sqlite_db: Database,
) -> None:
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    for name, low in (("idle", 0), ("warm", 2)):
        bounds = DeploymentCreate(name=name, model="m", min_replicas=low, max_replicas=3)
        hosting.create_deployment(sqlite_db, operator, bounds)
    made: list[tuple[str, SlowStart]] = []

    async def run() -> None:
        release = asyncio.Event()

        def factory(deployment: Deployment, ledger: Ledger) -> SlowStart:
            made.append((deployment.name, SlowStart(release)))
            return made[-1][1]

        runtime = HostingRuntime(sqlite_db, backend_factory=factory)  # type: ignore[arg-type]
        runtime.begin()  # what the app's startup does
        deadline = time.monotonic() + 10
        while not made:
            assert time.monotonic() < deadline, "begin() started nothing"
            await asyncio.sleep(0.01)
        request = asyncio.create_task(runtime.backend_for(runtime.deployment_for("warm", None)))
        await asyncio.sleep(0.1)
        assert not request.done(), "the request waits for the replicas being started"
        release.set()
        backend = await asyncio.wait_for(request, 5)
        assert made == [("warm", backend)], "one set, for the deployment with min >= 1 only"
        assert backend.replicas == 2
        await runtime.close()
        assert backend.replicas == 0

    asyncio.run(run())


def test_a_runtime_closed_while_it_reads_what_to_start_starts_nothing_after(
    sqlite_db: Database,
) -> None:
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    bounds = DeploymentCreate(name="warm", model="m", min_replicas=1, max_replicas=1)
    hosting.create_deployment(sqlite_db, operator, bounds)
    made: list[FakeBackend] = []

    async def run() -> None:
        def factory(deployment: Deployment, ledger: Ledger) -> FakeBackend:
            made.append(FakeBackend())
            return made[-1]

        runtime = HostingRuntime(sqlite_db, backend_factory=factory)  # type: ignore[arg-type]
        runtime.begin()  # reads the deployments in a thread ...
        await runtime.close()  # ... and the app shuts down before that read is back
        runtime.wake("warm")  # an operator's change arriving as it shuts down
        await asyncio.sleep(0.5)
        assert made == [], "replicas started after the close would run unrouted, never stopped"
        runtime.begin()  # the same app served again: its runtime starts them again
        deadline = time.monotonic() + 10
        while not made:
            assert time.monotonic() < deadline, "a runtime begun again started nothing"
            await asyncio.sleep(0.01)
        await runtime.close()

    asyncio.run(run())


class LoadsSlowly(FakeBackend):
    """A replica added by the scaler loads for a minute; cancelled, it takes a moment to
    stop its half-started server (as a vLLM one does: terminate, wait, record it stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = asyncio.Event()
        self.cleaned_up = False

    async def scale_to(self, replicas: int) -> None:
        if 1 <= self.replicas < replicas:
            self.loading.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                await asyncio.shield(asyncio.sleep(0.2))
                self.cleaned_up = True
                raise
        self.replicas = replicas


def test_close_waits_for_a_scale_up_in_progress_to_clean_up(sqlite_db: Database) -> None:
    """At shutdown the database may go right after close(): what the scaler was starting
    must be stopped and recorded before close() returns, not later."""
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    bounds = DeploymentCreate(name="m", model="m", max_replicas=3, scale_target=1)
    hosting.create_deployment(sqlite_db, operator, bounds)
    backend = LoadsSlowly()

    async def run() -> bool:
        def factory(deployment: Deployment, ledger: Ledger) -> LoadsSlowly:
            return backend

        runtime = HostingRuntime(sqlite_db, backend_factory=factory)
        await runtime.backend_for(runtime.deployment_for("m", None))
        backend.depth = 3  # the scaler adds replicas within a second
        await asyncio.wait_for(backend.loading.wait(), 10)
        await runtime.close()
        return backend.cleaned_up

    assert asyncio.run(run()), "close() returned before the half-started replica was stopped"


class FailsToClose(FakeBackend):
    async def close(self) -> None:
        raise RuntimeError("the database went away")


def test_one_deployment_failing_to_close_does_not_keep_the_others_running(
    sqlite_db: Database,
) -> None:
    operator = make_operator(sqlite_db).principal
    hosting.create_model(sqlite_db, operator, ModelCreate(name="m", source="dir:/nowhere"))
    for name in ("a", "b"):
        hosting.create_deployment(sqlite_db, operator, DeploymentCreate(name=name, model="m"))
    made: dict[str, FakeBackend] = {}

    def factory(deployment: Deployment, ledger: Ledger) -> FakeBackend:
        made[deployment.name] = FailsToClose() if deployment.name == "a" else FakeBackend()
        return made[deployment.name]

    async def run() -> None:
        runtime = HostingRuntime(sqlite_db, backend_factory=factory)  # type: ignore[arg-type]
        for name in ("a", "b"):
            await runtime.backend_for(runtime.deployment_for(name, None))
        await runtime.close()

    asyncio.run(run())
    assert made["b"].replicas == 0, "b's replicas are stopped although a's close failed"
