"""What every backend offers the gateway: start a generation, stream its text, bill it once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from gpufleet.hosting.metering import Usage

T = TypeVar("T")
DEFAULT_MAX_TOKENS = 256  # when the caller does not say: a CPU replica stays responsive


@dataclass(frozen=True)
class GenerationRequest:
    """One call's inputs. Held in memory for the call only; never logged or stored."""

    messages: list[dict[str, Any]] | None  # chat completions
    prompt: str | None  # completions
    max_tokens: int | None
    temperature: float
    top_p: float
    stop: list[str] = field(default_factory=list)
    cache_salt: str | None = None  # per tenant: no prefix-cache sharing across tenants


UsageCallback = Callable[[Usage], None]
"""Called exactly once per started generation, from any thread, with the tokens to bill —
also when the caller went away in the middle (then: what was generated until it stopped)."""


class Generation(Protocol):
    finish_reason: str | None
    usage: Usage | None

    def __aiter__(self) -> AsyncIterator[str]:
        """The text, piece by piece."""

    def cancel(self) -> None:
        """Stop generating (the caller disconnected); billing still happens."""


class Backend(Protocol):
    async def generate(self, request: GenerationRequest, on_usage: UsageCallback) -> Generation:
        """Start a generation. Raises InvalidInput (e.g. the prompt exceeds the context)
        or Unavailable before anything is billed."""

    def queue_depth(self) -> int: ...

    def replica_count(self) -> int: ...

    async def scale_to(self, replicas: int) -> None: ...

    async def close(self) -> None: ...


class OnceUsage:
    """Guards the exactly-once promise of UsageCallback."""

    def __init__(self, callback: UsageCallback) -> None:
        self._callback: UsageCallback | None = callback
        self._lock = threading.Lock()

    def __call__(self, usage: Usage) -> None:
        with self._lock:
            callback, self._callback = self._callback, None
        if callback is not None:
            callback(usage)


class ReplicaLedger(Protocol):
    """Where replicas are recorded (deployment_replicas): the capacity they hold."""

    def started(self) -> int:
        """Record a replica that is starting (its capacity held); its id."""

    def launched(self, replica_id: int, server_pid: int) -> None:
        """Its model server process `server_pid` runs (loading): recorded for recovery."""

    def ready(self, replica_id: int, endpoint: str | None) -> None:
        """It serves now (a model server at `endpoint`; None: in this process)."""

    def stopped(self, replica_id: int) -> None: ...


async def record_start(ledger: ReplicaLedger) -> int:
    """`ledger.started()` in a thread. A cancellation meanwhile (shutdown) does not stop that
    thread: the row and GPU hold it writes are recorded stopped before the cancellation goes
    on, or they would stay `starting`, holding GPUs, for ever."""
    writing = asyncio.ensure_future(asyncio.to_thread(ledger.started))
    try:
        return await asyncio.shield(writing)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # refused (no capacity): nothing to undo
            replica_id = await writing
            await asyncio.to_thread(ledger.stopped, replica_id)
        raise


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (shutdown), then
    let the cancellation go on: a replica's stop cut short would leave its row `running`
    and its GPUs held."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # the cancellation is what the caller sees
            await task
        raise
