"""Two gateway processes share one limit through a real redis-server (GPUFLEET_REDIS_URL).

Skipped, saying why, when redis-server is not installed — unless GPUFLEET_REQUIRE_REDIS=1
(as in CI), which makes a missing server a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gpufleet.bootstrap import open_database
from gpufleet.domain.access import TenantKind
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.limits import MONTH_KEEP_S, Limiter, LimitSet, RateLimited
from gpufleet.hosting.limits_redis import RedisCounters
from gpufleet.hosting.schemas import DeploymentCreate, InferenceKeyCreate, LimitsSet, ModelCreate
from gpufleet.services import access, hosting
from tests.hosting_support import free_port, serve_in_thread

RPM = 6


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.environ.get("GPUFLEET_REQUIRE_REDIS") == "1":
        pytest.fail("GPUFLEET_REQUIRE_REDIS=1 but redis-server is not installed")
    pytest.skip(
        "redis-server is not installed (apt-get install redis-server); "
        "the shared-limit test needs a real one"
    )


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process for {url} exited: {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def redis_url() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [
            _redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        import redis

        client = redis.Redis(port=port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def gateways(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[str], str]]:
    """Two `gpufleet serve` processes on one database and one Redis; a tenant's key."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    access.create_tenant(db, operator, "acme-ai", TenantKind.EXTERNAL)
    key = hosting.create_inference_key(db, operator, "acme-ai", InferenceKeyCreate()).api_key
    hosting.set_limits(db, operator, LimitsSet(tenant="acme-ai", requests_per_minute=RPM))
    with serve_in_thread(FakeUpstream(keep_bodies=False)) as upstream:
        hosting.create_model(
            db, operator, ModelCreate(name="m", source=f"url:{upstream}", backend="vllm")
        )
        hosting.create_deployment(db, operator, DeploymentCreate(name="m", model="m"))
        env = {**os.environ, "GPUFLEET_DATABASE_URL": url, "GPUFLEET_REDIS_URL": redis_url}
        processes, urls = [], []
        try:
            for _ in range(2):
                port = free_port()
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gpufleet.cli.main",
                            "serve",
                            "--port",
                            str(port),
                            "--no-default-model",
                        ],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
            for gateway, process in zip(urls, processes, strict=True):
                _wait(gateway + "/healthz", process)
            yield urls, key
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
            db.engine.dispose()


async def _spread(urls: list[str], key: str, n: int) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        sent = [client.post(f"{urls[i % 2]}/v1/chat/completions", json=body) for i in range(n)]
        return sorted(r.status_code for r in await asyncio.gather(*sent))


def test_two_gateway_processes_share_one_limit_through_redis(
    gateways: tuple[list[str], str],
) -> None:
    urls, key = gateways
    if time.time() % 60 > 50:  # one calendar minute for the whole burst
        time.sleep(61 - time.time() % 60)
    # Each process alone would admit RPM; together they admit RPM, not 2 × RPM.
    assert asyncio.run(_spread(urls, key, 4 * RPM)) == [200] * RPM + [429] * (3 * RPM)


def test_a_monthly_budget_in_redis_resets_with_the_month_and_expires_after_it(
    redis_url: str,
) -> None:
    import redis

    now = [datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC).timestamp()]
    november, december = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    in_database = {november: 900}  # micro-USD of token_usage rows since each month's start

    async def read_spent(tenant: int, key: str | None, since: datetime) -> int:
        return in_database.get(since, 0)

    async def run() -> None:
        store = RedisCounters(redis_url)
        limiter = Limiter(store, read_spent, clock=lambda: now[0])
        limits = (LimitSet(budget_micros=1000), LimitSet())
        await limiter.admit(7, "k", limits)
        await limiter.record(7, "k", limits, tokens=10, cost_pico=100 * 1_000_000)
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(7, "k", limits)
        assert (refused.value.resets_at, refused.value.retry_after_s) == (december, 60)
        now[0] += 61
        await limiter.admit(7, "k", limits)  # December's counter, seeded from December's rows
        await store.close()

    asyncio.run(run())
    client = redis.Redis.from_url(redis_url)
    assert int(client.get("gf:spend:tenant:7:2026-11") or 0) == 1000 * 1_000_000
    assert int(client.get("gf:spend:tenant:7:2026-12") or 0) == 0
    # The month's counter goes away by itself a couple of days after the month.
    assert 0 < client.ttl("gf:spend:tenant:7:2026-11") <= 60 + MONTH_KEEP_S
