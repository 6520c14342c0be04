"""The hosting state of one gateway process: keys, limits, metering and running deployments.

The database is the truth for the catalog, keys and limits; this process caches what it
read for CACHE_S seconds, so a change (a revoked key, a new limit) applies within that time.

Replicas (ADR 0012): `begin()` (the app's startup) starts, in the background, the
min_replicas of every deployment that has min_replicas >= 1; `wake(name)` does the same for
a deployment this process just created or re-bounded; the scaler looks again every CACHE_S
seconds, so a start that failed (no capacity) is retried. A request that arrives meanwhile
waits for the start in progress; it never starts a second set. Before any replica starts,
`begin()` stops those a crashed gateway process on this host left behind (recovery.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from gpufleet.domain.errors import GpufleetError, NotFound
from gpufleet.hosting import repo
from gpufleet.hosting.backends.base import Backend, UsageCallback, to_the_end
from gpufleet.hosting.catalog import BackendKind, Deployment, model_files
from gpufleet.hosting.keys import InferenceCaller, KeyCache
from gpufleet.hosting.limits import CounterStore, Limiter, LimitSet, MemoryCounters
from gpufleet.hosting.metering import Meter, Usage, UsageRow
from gpufleet.hosting.recovery import reap_dead_owners
from gpufleet.hosting.replicas import Ledger
from gpufleet.hosting.scaling import desired_replicas
from gpufleet.hosting.workers import refuse_per_process_replicas
from gpufleet.services.database import Database

log = logging.getLogger("gpufleet.hosting")
CACHE_S = 5.0
SCALE_EVERY_S = 1.0
RETRY_MAX_S = 300.0  # the longest wait before retrying a start of min replicas that failed
IDLE_BEFORE_ZERO_S = 300.0  # a deployment with min 0 keeps one replica this long after use
K = TypeVar("K")
V = TypeVar("V")


def make_backend(deployment: Deployment, ledger: Ledger) -> Backend:
    refuse_per_process_replicas(deployment)  # one of several gateway workers (ADR 0012)
    model = deployment.model
    if model.backend is BackendKind.VLLM:
        from gpufleet.hosting.backends.vllm_backend import VllmPool

        return VllmPool(
            model.source, model.name, model.gpus_per_replica, model.context_length, ledger
        )
    from gpufleet.hosting.backends.transformers_backend import TransformersPool, load_model_once

    files = model_files(model.source)
    return TransformersPool(lambda: load_model_once(files), model.context_length, ledger)


class _ReadCache(Generic[K, V]):
    """What was read from the database, kept CACHE_S seconds; emptied past `most` entries."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K, read: Callable[[K], V]) -> V:
        cached = self._entries.get(key)
        if cached is None or cached[1] <= time.monotonic():
            value = read(key)
            if len(self._entries) > self._most:
                self._entries.clear()
            cached = (value, time.monotonic() + CACHE_S)
            self._entries[key] = cached
        return cached[0]

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class _Running:
    deployment: Deployment
    backend: Backend
    tokens: int = 0  # generated since the last scaling decision
    last_used: float = 0.0


class HostingRuntime:
    def __init__(
        self,
        db: Database,
        *,
        redis_url: str | None = None,
        backend_factory: Callable[[Deployment, Ledger], Backend] = make_backend,
    ) -> None:
        self.db = db
        self.keys = KeyCache(db)
        store: CounterStore
        if redis_url:
            from gpufleet.hosting.limits_redis import RedisCounters

            store = RedisCounters(redis_url)
        else:
            store = MemoryCounters()
        self.limiter = Limiter(store, self._spent)
        self.meter = Meter(db)
        self._factory = backend_factory
        self._running: dict[str, _Running] = {}
        self._starting: dict[str, asyncio.Lock] = {}
        self._deployments: _ReadCache[str, Deployment | None] = _ReadCache(10_000)
        self._limits: _ReadCache[tuple[int, str], tuple[LimitSet, LimitSet]] = _ReadCache(100_000)
        self._scaler: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._launching: dict[str, asyncio.Task[None]] = {}  # starts of min replicas
        self._failed: dict[str, tuple[int, float]] = {}  # failed starts: count, next try
        self._closed = False  # shutting down: start nothing more
        self._recovery: asyncio.Task[None] | None = None  # reaping a dead predecessor's
        _LIVE.add(self)
        _serving_gc()

    @classmethod
    def from_env(cls, db: Database) -> HostingRuntime:
        return cls(db, redis_url=os.environ.get("GPUFLEET_REDIS_URL") or None)

    # --- the catalog and limits, cached ---

    def deployment_for(self, name: str, tenant_id: int | None) -> Deployment:
        """The deployment `name` if this tenant may call it; another tenant's provisioned
        deployment answers exactly like one that does not exist."""
        deployment = self._deployments.get(name, self._read_deployment)
        if deployment is None or not deployment.usable_by(tenant_id):
            raise NotFound(f"the model {name!r} does not exist or you do not have access to it")
        return deployment

    def limits_for(self, tenant_id: int, key_id: str) -> tuple[LimitSet, LimitSet]:
        return self._limits.get((tenant_id, key_id), self._read_limits)

    def _read_deployment(self, name: str) -> Deployment | None:
        with self.db.read() as conn:
            return repo.deployment_by_name(conn, name)

    def _read_limits(self, scope: tuple[int, str]) -> tuple[LimitSet, LimitSet]:
        with self.db.read() as conn:
            return repo.limits_of(conn, *scope)

    def forget(self) -> None:
        """Drop cached catalog and limits (after this process changed them)."""
        self._deployments.clear()
        self._limits.clear()

    async def _spent(self, tenant_id: int, key_id: str | None, since: datetime) -> int:
        def read() -> int:
            self.meter.flush()
            with self.db.read() as conn:
                return repo.spent_micros(conn, tenant_id, key_id, since)

        return await asyncio.to_thread(read)

    # --- running deployments ---

    async def backend_for(self, deployment: Deployment) -> Backend:
        running = self._running.get(deployment.name)
        if running is None:
            lock = self._starting.setdefault(deployment.name, asyncio.Lock())
            async with lock:
                running = self._running.get(deployment.name)
                if running is None:
                    await self._recovered()  # its GPUs first go back to the fleet
                    ledger = Ledger(self.db, deployment)
                    backend = self._factory(deployment, ledger)
                    try:
                        await backend.scale_to(max(1, deployment.min_replicas))
                    except BaseException:
                        # Some replicas may have started: stop them (rows, holds,
                        # processes), or they would run unrouted until this process ends.
                        await to_the_end(backend.close())
                        raise
                    running = _Running(deployment, backend)
                    self._running[deployment.name] = running
        running.last_used = time.monotonic()
        self._ensure_scaler()
        return running.backend

    def _ensure_scaler(self) -> None:
        if self._scaler is None:
            self._loop = asyncio.get_running_loop()
            self._scaler = self._loop.create_task(self._scale_forever())

    # --- min replicas started without waiting for a request (ADR 0012) ---

    def begin(self) -> None:
        """On the serving loop, at startup: start the min replicas of every deployment with
        min_replicas >= 1 in the background, and the scaler. Never raises: a failure is
        logged and retried by the scaler. An app served again after a shutdown (its
        runtime stays on app.state) begins again."""
        self._closed = False
        self._ensure_scaler()
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())
        self._spawn(self._start_wanted())

    async def _recover(self) -> None:
        """Stop the replicas a crashed gateway process on this host left running (rows,
        holds, vLLM servers; hosting/recovery.py). Never raises: startup goes on."""
        try:
            await asyncio.to_thread(reap_dead_owners, self.db)
        except Exception:
            log.exception("stopping the replicas of dead gateway processes failed")

    async def _recovered(self) -> None:
        """Wait for the reaping begun at startup: the replicas started after it find the
        GPUs a dead predecessor held given back, and are the only ones `running`."""
        recovery = self._recovery
        if recovery is not None and not recovery.done():
            await asyncio.shield(recovery)

    def wake(self, name: str) -> None:
        """Deployment `name` was created or re-bounded by this process (from any thread):
        start its min replicas now, not at the scaler's next look."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._closed:
            return  # not serving yet (begin() or the first request will), or no more
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(lambda: self._spawn(self._start_named(name)))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _start_wanted(self) -> None:
        try:
            wanted = await asyncio.to_thread(self._read_wanted)
        except Exception:  # the database may be away for a moment: the scaler looks again
            log.exception("reading the deployments to start failed")
            return
        for deployment in wanted:
            self._launch(deployment)

    async def _start_named(self, name: str) -> None:
        try:
            deployment = await asyncio.to_thread(self._read_deployment, name)
        except Exception:
            log.exception("reading deployment %s failed", name)
            return
        if deployment is not None and deployment.min_replicas >= 1:
            self._launch(deployment, now=True)

    def _read_wanted(self) -> list[Deployment]:
        with self.db.read() as conn:
            return repo.deployments_with_min_replicas(conn)

    def _launch(self, deployment: Deployment, *, now: bool = False) -> None:
        """Start a deployment's replicas in a task of its own, unless they run or are
        starting, or (unless `now`: the operator just changed it) a failed start's back-off
        has not passed."""
        name = deployment.name
        if self._closed or name in self._running or name in self._launching:
            return  # closed: a read in flight at shutdown must not start what none stops
        failed = self._failed.get(name)
        if failed is not None and not now and time.monotonic() < failed[1]:
            return
        task = asyncio.get_running_loop().create_task(self._start(deployment))
        self._launching[name] = task
        task.add_done_callback(lambda _: self._launching.pop(name, None))

    async def _start(self, deployment: Deployment) -> None:
        name = deployment.name
        failures = self._failed.get(name, (0, 0.0))[0] + 1
        # Doubling waits: a model that cannot start (no capacity, vLLM missing) is not
        # launched every few seconds for ever.
        wait = min(RETRY_MAX_S, CACHE_S * 2 ** (failures - 1))
        try:
            await self.backend_for(deployment)
            self._failed.pop(name, None)
            return
        except GpufleetError as error:  # no capacity, a server that did not come up
            log.warning("replicas of %s did not start (try %d, next in %.0f s): %s",
                        name, failures, wait, error)  # fmt: skip
        except Exception:
            log.exception("starting replicas of %s failed (try %d)", name, failures)
        self._failed[name] = (failures, time.monotonic() + wait)

    def usage_callback(
        self,
        request_id: str,
        caller: InferenceCaller,
        tenant_id: int,
        deployment: Deployment,
        limits: tuple[LimitSet, LimitSet],
    ) -> UsageCallback:
        """Bill a finished (or abandoned) generation: one token_usage row, and its tokens and
        cost against the limits. Safe from any thread; called once per generation."""
        loop = asyncio.get_running_loop()
        model = deployment.model
        counted = any(
            limit.tokens_per_minute is not None or limit.budget_micros is not None
            for limit in limits
        )

        def bill(usage: Usage) -> None:
            row = UsageRow(
                request_id,
                self.db.clock(),
                tenant_id,
                caller.key_id,
                model.name,
                deployment.name,
                usage.input_tokens,
                usage.output_tokens,
                model.input_price_micros,
                model.output_price_micros,
            )
            self.meter.submit(row)
            running = self._running.get(deployment.name)
            if running is not None:
                running.tokens += usage.output_tokens
            if not counted:
                return
            tokens = usage.input_tokens + usage.output_tokens
            # The loop is gone at shutdown: then the row alone bills, which is enough.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(
                    self.limiter.record_soon,
                    tenant_id,
                    caller.key_id,
                    limits,
                    tokens,
                    row.cost_pico,
                )

        return bill

    async def _scale_forever(self) -> None:
        last = looked = time.monotonic()
        while True:
            await asyncio.sleep(SCALE_EVERY_S)
            now = time.monotonic()
            if now - looked >= CACHE_S:  # deployments that want replicas and have none
                looked = now
                await self._start_wanted()
            for running in list(self._running.values()):
                try:
                    await self._scale(running, now - last)
                except Exception:
                    log.exception("scaling %s failed", running.deployment.name)
            last = now

    async def _scale(self, running: _Running, seconds: float) -> None:
        fresh = self.deployment_for(running.deployment.name, running.deployment.tenant_id)
        running.deployment = fresh
        backend = running.backend
        load: float = backend.queue_depth()
        if fresh.scale_metric.value == "tokens_per_second":
            load = running.tokens / max(seconds, 1e-6)
        running.tokens = 0
        current = backend.replica_count()
        wanted = desired_replicas(
            fresh.scale_metric,
            load,
            fresh.scale_target,
            current,
            fresh.min_replicas,
            fresh.max_replicas,
        )
        if wanted == 0 and time.monotonic() - running.last_used < IDLE_BEFORE_ZERO_S:
            wanted = 1  # scale to zero only after a quiet spell, not between two requests
        if wanted != current:
            await backend.scale_to(wanted)

    def replicas(self) -> dict[str, int]:
        return {name: r.backend.replica_count() for name, r in self._running.items()}

    async def close(self) -> None:
        self._closed = True
        # Cancelled, a start in progress (the scaler's or a launch of min replicas) stops
        # what it had begun; wait for that, as the database may go right after close().
        starts = list(self._launching.values())
        if self._scaler is not None:
            starts.append(self._scaler)
            self._scaler = None
        for task in starts:
            task.cancel()
        await asyncio.gather(*starts, return_exceptions=True)
        if self._recovery is not None:  # a thread writing rows: let it end before the db goes
            await asyncio.gather(self._recovery, return_exceptions=True)
        for running in self._running.values():
            try:
                await running.backend.close()
            except Exception:  # the others still stop and give their GPUs back
                log.exception("stopping the replicas of %s failed", running.deployment.name)
        self._running.clear()
        self.meter.flush()


_LIVE: weakref.WeakSet[HostingRuntime] = weakref.WeakSet()
_BACKGROUND: set[asyncio.Task[None]] = set()  # tasks in flight, kept from the collector
_GC_TUNED = False
_MAKING = threading.Lock()


def _serving_gc() -> None:
    """A gateway makes many short-lived objects per request; with the default thresholds
    the collector ran so often that it set the tail latency (p99 at 64 concurrent requests
    ~100 ms, ~25 ms with these; benchmarks/bench_gateway.py). The objects alive now (modules,
    the app) are frozen out of collection; young collections run every 100,000 objects."""
    global _GC_TUNED
    if not _GC_TUNED:
        gc.freeze()
        gc.set_threshold(100_000, 50, 50)
        _GC_TUNED = True


@atexit.register
def flush_meters() -> None:
    """Write every queued token_usage row of this process (at exit; tests before reading)."""
    for runtime in list(_LIVE):
        runtime.meter.flush()


class _RandomIds:
    """128 random bits per id (as uuid4), read from the OS 256 ids at a time: one getrandom
    call per id cost ~35 µs on the benchmark's VM, the most expensive step of a request of
    the gateway's own (benchmarks/bench_gateway.py --profile). Random rather than a counter
    so that ids do not tell a tenant how busy the gateway is. A forked child starts with an
    empty batch, or parent and child would hand out the same ids."""

    BATCH = 256

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()  # a fork can copy it held by a thread that is gone
        self._left: list[str] = []

    def next(self) -> str:
        with self._lock:
            if not self._left:
                raw = os.urandom(16 * self.BATCH).hex()
                self._left = [raw[i : i + 32] for i in range(0, len(raw), 32)]
            return self._left.pop()


_IDS = _RandomIds()


def new_request_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + _IDS.next()


def runtime_of(state: Any, db: Database) -> HostingRuntime:
    """The app's runtime, made on first use (the app object is not hosting's to build)."""
    runtime: HostingRuntime | None = getattr(state, "hosting", None)
    if runtime is None:
        with _MAKING:  # the first requests may come from the loop and a worker thread at once
            runtime = getattr(state, "hosting", None)
            if runtime is None:
                runtime = HostingRuntime.from_env(db)
                state.hosting = runtime
    return runtime
