"""Limits per key and per tenant: requests per minute, tokens per minute, budgets.

Counters live in a `CounterStore`: in this process by default, or in Redis so that several
gateway processes share one limit. Minutes are fixed windows (`…:<minute number>`). A budget
is per calendar month (UTC): spend is a running total per month (`…:<YYYY-MM>`) in 10⁻¹² USD
(tokens × micro-USD per million tokens), exact in integers, seeded from that month's
token_usage rows (set-if-absent) the first time a process needs it, so that a restart does not
forget what was spent; the next month starts a new counter, so the budget resets at 00:00 UTC
on the 1st, and a refusal says when.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

log = logging.getLogger("gpufleet.hosting.limits")

WINDOW_S = 60
MONTH_KEEP_S = 2 * 86_400  # a month's spend counter outlives the month by this much
PICO_PER_MICRO = 1_000_000

LimitKind = Literal["requests", "tokens", "budget"]


def pico_to_micros_up(pico: int) -> int:
    """10⁻¹² USD to micro-USD, rounded up: a fraction of a micro-dollar is charged."""
    return -(-pico // PICO_PER_MICRO)


@dataclass(frozen=True)
class LimitSet:
    """Unset (None) means unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    budget_micros: int | None = None


@dataclass(frozen=True)
class Check:
    counter: str
    limit: int
    kind: LimitKind
    scope: str  # "key" or "tenant", for the message
    add: int = 0  # what admission adds (1 for a request)
    ttl_s: int = 0  # 0: never expires


class RateLimited(Exception):
    def __init__(
        self,
        kind: LimitKind,
        scope: str,
        retry_after_s: int,
        resets_at: datetime | None = None,
    ) -> None:
        super().__init__(f"{scope} {kind} limit reached")
        self.kind = kind
        self.scope = scope
        self.retry_after_s = retry_after_s
        self.resets_at = resets_at  # a budget's: the start of the next month (UTC)


@dataclass(frozen=True)
class Month:
    """The calendar month (UTC) of an instant: its label, start and the next month's start."""

    label: str  # "2026-11"
    start: datetime
    end: datetime

    @classmethod
    def of(cls, now: float) -> Month:
        at = datetime.fromtimestamp(now, UTC)
        start = datetime(at.year, at.month, 1, tzinfo=UTC)
        end = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
        return cls(f"{at.year:04d}-{at.month:02d}", start, end)

    def seconds_left(self, now: float) -> int:
        return max(1, math.ceil(self.end.timestamp() - now))


class CounterStore(Protocol):
    async def admit(self, checks: list[Check]) -> int:
        """Atomically: 0 and add every check's `add` when every counter is below its limit,
        else the 1-based index of the first counter at its limit (adding nothing)."""

    async def add(self, amounts: dict[str, tuple[int, int]]) -> None:
        """counter → (amount, ttl_s)."""

    async def seed(self, counter: str, value: int, ttl_s: int = 0) -> None:
        """Set a counter unless it exists (expiring after ttl_s; 0: never)."""


class MemoryCounters:
    """One process's counters. The event loop runs each call to the end, so no lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, int] = {}
        self._expiry: dict[str, float] = {}
        self._clock = clock

    def _get(self, counter: str) -> int:
        expires = self._expiry.get(counter)
        if expires is not None and expires <= self._clock():
            self._values.pop(counter, None)
            self._expiry.pop(counter, None)
        return self._values.get(counter, 0)

    def _add(self, counter: str, amount: int, ttl_s: int) -> None:
        self._values[counter] = self._get(counter) + amount
        if ttl_s and counter not in self._expiry:
            self._expiry[counter] = self._clock() + ttl_s
        if len(self._expiry) > 10_000:  # forget finished windows now and then
            for name in [n for n, t in self._expiry.items() if t <= self._clock()]:
                self._get(name)

    async def admit(self, checks: list[Check]) -> int:
        for index, check in enumerate(checks, start=1):
            if self._get(check.counter) >= check.limit:
                return index
        for check in checks:
            if check.add:
                self._add(check.counter, check.add, check.ttl_s)
        return 0

    async def add(self, amounts: dict[str, tuple[int, int]]) -> None:
        for counter, (amount, ttl_s) in amounts.items():
            self._add(counter, amount, ttl_s)

    async def seed(self, counter: str, value: int, ttl_s: int = 0) -> None:
        if counter not in self._values:
            self._add(counter, value, ttl_s)


class Limiter:
    """Admits a request against its tenant's and key's limits; records what it used."""

    def __init__(
        self,
        store: CounterStore,
        spent: Callable[[int, str | None, datetime], Awaitable[int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`spent(tenant, key or None, since)` reads the spend since the month's start
        (micro-USD) from the database; it is asked once per process, scope and month, to
        seed the shared counter."""
        self.store = store
        self._spent = spent
        self._clock = clock
        self._seeded: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()

    @staticmethod
    def _scopes(
        tenant_id: int, key_id: str, limits: tuple[LimitSet, LimitSet]
    ) -> tuple[tuple[str, str | int, LimitSet], ...]:
        """(scope, who, its limits), the key's before the tenant's."""
        return (("key", key_id, limits[1]), ("tenant", tenant_id, limits[0]))

    @staticmethod
    def _tokens_counter(scope: str, who: str | int, minute: int) -> str:
        """Admission reads it and `record` adds to it: one name for both."""
        return f"gf:tpm:{scope}:{who}:{minute}"

    def _minute(self) -> tuple[int, int]:
        now = self._clock()
        minute = int(now // WINDOW_S)
        return minute, max(1, math.ceil((minute + 1) * WINDOW_S - now))

    async def admit(
        self,
        tenant_id: int,
        key_id: str,
        limits: tuple[LimitSet, LimitSet],
    ) -> None:
        """Raise RateLimited when a limit is reached (limits: the tenant's, the key's)."""
        minute, retry_after = self._minute()
        month: Month | None = None  # worked out only for a budget: most limit sets have none
        checks: list[Check] = []
        for scope, who, limit_set in self._scopes(tenant_id, key_id, limits):
            if limit_set.requests_per_minute is not None:
                checks.append(
                    Check(
                        f"gf:rpm:{scope}:{who}:{minute}",
                        limit_set.requests_per_minute,
                        "requests",
                        scope,
                        1,
                        2 * WINDOW_S,
                    )
                )
            if limit_set.tokens_per_minute is not None:
                checks.append(
                    Check(
                        self._tokens_counter(scope, who, minute),
                        limit_set.tokens_per_minute,
                        "tokens",
                        scope,
                    )
                )
            if limit_set.budget_micros is not None:
                month = month or Month.of(self._clock())
                counter = await self._seeded_spend(tenant_id, key_id, scope, month)
                checks.append(
                    Check(counter, limit_set.budget_micros * PICO_PER_MICRO, "budget", scope)
                )
        if not checks:
            return
        failed = await self.store.admit(checks)
        if failed:
            check = checks[failed - 1]
            if check.kind == "budget" and month is not None:
                wait = month.seconds_left(self._clock())
                raise RateLimited(check.kind, check.scope, wait, resets_at=month.end)
            raise RateLimited(check.kind, check.scope, retry_after)

    def _month_ttl(self, month: Month) -> int:
        return month.seconds_left(self._clock()) + MONTH_KEEP_S

    async def _seeded_spend(self, tenant_id: int, key_id: str, scope: str, month: Month) -> str:
        who = key_id if scope == "key" else tenant_id
        counter = f"gf:spend:{scope}:{who}:{month.label}"
        if counter not in self._seeded:
            since = month.start
            micros = await self._spent(tenant_id, key_id if scope == "key" else None, since)
            await self.store.seed(counter, micros * PICO_PER_MICRO, self._month_ttl(month))
            if len(self._seeded) > 100_000:  # last month's names are of no more use
                self._seeded.clear()
            self._seeded.add(counter)
        return counter

    async def record(
        self,
        tenant_id: int,
        key_id: str,
        limits: tuple[LimitSet, LimitSet],
        tokens: int,
        cost_pico: int,
    ) -> None:
        """Count a finished request's tokens and spend against the limits that have them."""
        minute, _ = self._minute()
        month: Month | None = None
        amounts: dict[str, tuple[int, int]] = {}
        for scope, who, limit_set in self._scopes(tenant_id, key_id, limits):
            if limit_set.tokens_per_minute is not None:
                amounts[self._tokens_counter(scope, who, minute)] = (tokens, 2 * WINDOW_S)
            if limit_set.budget_micros is not None:
                month = month or Month.of(self._clock())
                counter = await self._seeded_spend(tenant_id, key_id, scope, month)
                amounts[counter] = (cost_pico, self._month_ttl(month))
        if amounts:
            await self.store.add(amounts)

    def record_soon(
        self,
        tenant_id: int,
        key_id: str,
        limits: tuple[LimitSet, LimitSet],
        tokens: int,
        cost_pico: int,
    ) -> None:
        """Record from a callback on the event loop, keeping the task until it is done."""
        task = asyncio.ensure_future(self.record(tenant_id, key_id, limits, tokens, cost_pico))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording usage against limits failed: %r", task.exception())
