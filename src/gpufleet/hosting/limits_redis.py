"""Counters in Redis, shared by every gateway process pointed at it (GPUFLEET_REDIS_URL)."""

from __future__ import annotations

from typing import Any

from gpufleet.hosting.limits import Check

# Every counter below its limit → add each `add` (with its expiry) and answer 0; otherwise
# the 1-based index of the first one at its limit. One script, so it is atomic in Redis.
_ADMIT = """
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current >= tonumber(ARGV[3 * i - 2]) then return i end
end
for i = 1, #KEYS do
  local add = tonumber(ARGV[3 * i - 1])
  if add > 0 then
    redis.call('INCRBY', KEYS[i], add)
    local ttl = tonumber(ARGV[3 * i])
    if ttl > 0 and redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
return 0
"""


class RedisCounters:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis  # only needed when Redis is configured

        self._redis: Any = redis.Redis.from_url(url)
        self._admit: Any = self._redis.register_script(_ADMIT)

    async def admit(self, checks: list[Check]) -> int:
        args: list[int] = []
        for check in checks:
            args += [check.limit, check.add, check.ttl_s]
        return int(await self._admit(keys=[c.counter for c in checks], args=args))

    async def add(self, amounts: dict[str, tuple[int, int]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for counter, (amount, ttl_s) in amounts.items():
                pipe.incrby(counter, amount)
                if ttl_s:
                    pipe.expire(counter, ttl_s, nx=True)
            await pipe.execute()

    async def seed(self, counter: str, value: int, ttl_s: int = 0) -> None:
        await self._redis.set(counter, value, nx=True, ex=ttl_s or None)

    async def close(self) -> None:
        await self._redis.aclose()
