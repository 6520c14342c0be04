"""Limits per key and per tenant hold under concurrent load: requests/min, tokens/min and
budgets answer 429 with Retry-After, in OpenAI's error shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from gpufleet.adapters.db.tables import tenants
from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.hosting import repo
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.limits import Month
from gpufleet.hosting.runtime import flush_meters
from tests.conftest import Actor, LiveServer
from tests.hosting_support import deploy, new_tenant, serve_in_thread
from tests.integration.support import expect

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def setup(live_server: LiveServer, operator: Actor) -> Iterator[tuple[httpx.Client, str]]:
    # Each answer: 7 prompt + 5 completion tokens, at $3 and $15 per million.
    with serve_in_thread(FakeUpstream()) as upstream, live_server.client(operator) as op:
        deploy(op, "m", f"url:{upstream}", backend="vllm", prices=("3", "15"))
        yield op, new_tenant(operator, op, "acme-ai")


def away_from_the_minute_edge() -> None:
    """Limits count per calendar minute: start a burst where it cannot straddle two."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def burst(url: str, key: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        return list(
            await asyncio.gather(
                *(client.post("/v1/chat/completions", json=BODY) for _ in range(n))
            )
        )


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def limit(op: httpx.Client, **values: Any) -> None:
    expect(op.post("/v1/admin/limits", json={"tenant": "acme-ai", **values}), 200)


def test_requests_per_minute_hold_under_concurrent_load(
    live_server: LiveServer, setup: tuple[httpx.Client, str]
) -> None:
    op, key = setup
    limit(op, requests_per_minute=5)
    away_from_the_minute_edge()
    responses = asyncio.run(burst(live_server.url, key, 24))
    assert statuses(responses) == [200] * 5 + [429] * 19
    refused = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "requests"


def test_a_key_limit_leaves_the_tenants_other_keys_alone(
    live_server: LiveServer, setup: tuple[httpx.Client, str]
) -> None:
    op, key = setup
    other = expect(op.post("/v1/tenants/acme-ai/inference-keys", json={}), 201)["api_key"]
    limit(op, key_id="ikey_" + key.split("_")[2], requests_per_minute=2)
    away_from_the_minute_edge()
    assert statuses(asyncio.run(burst(live_server.url, key, 6))) == [200] * 2 + [429] * 4
    assert statuses(asyncio.run(burst(live_server.url, other, 6))) == [200] * 6


def test_tokens_per_minute_count_what_was_used(
    live_server: LiveServer, setup: tuple[httpx.Client, str]
) -> None:
    op, key = setup
    limit(op, tokens_per_minute=20)  # 12 tokens per answer: the third is refused
    away_from_the_minute_edge()
    seen = [
        r.status_code for r in (asyncio.run(burst(live_server.url, key, 1))[0] for _ in range(3))
    ]
    assert seen == [200, 200, 429]


def test_budget_refuses_once_spent(
    live_server: LiveServer, setup: tuple[httpx.Client, str]
) -> None:
    op, key = setup
    # One answer costs 7 × $3/M + 5 × $15/M = $0.000096: the fourth finds $0.000288 spent.
    limit(op, budget_usd=0.00025)
    seen = [asyncio.run(burst(live_server.url, key, 1))[0] for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert seen[-1].json()["error"]["code"] == "insufficient_quota"
    resets = Month.of(time.time()).end
    assert resets.strftime("%Y-%m-%dT%H:%M:%SZ") in seen[-1].json()["error"]["message"]
    wait = int(seen[-1].headers["retry-after"])
    assert abs(time.time() + wait - resets.timestamp()) < 5  # until the next month starts
    flush_meters()  # the writer thread gathers rows for a moment before it writes them
    usage = expect(op.get("/v1/token-usage"), 200)
    assert usage[0]["requests"] == 3
    assert usage[0]["cost_usd"] == pytest.approx(0.000288)


def test_last_months_spend_does_not_count_against_this_months_budget(
    live_server: LiveServer, setup: tuple[httpx.Client, str]
) -> None:
    op, key = setup
    db = live_server.db
    with db.read() as conn:
        tenant_id = conn.execute(
            select(tenants.c.id).where(tenants.c.name == "acme-ai")
        ).scalar_one()
    this_month = Month.of(time.time()).start

    def spent(request_id: str, at: datetime) -> None:  # $1 of tokens at `at`
        with db.write() as conn:
            conn.execute(
                insert(token_usage).values(
                    request_id=request_id, at=at, tenant_id=tenant_id, key_id="ikey_old",
                    model="m", deployment="m", input_tokens=1_000_000, output_tokens=0,
                    input_price_micros=1_000_000, output_price_micros=0,
                )
            )  # fmt: skip

    spent("last-month", this_month - timedelta(seconds=1))
    limit(op, budget_usd=0.5)
    assert asyncio.run(burst(live_server.url, key, 1))[0].status_code == 200
    with db.read() as conn:
        assert repo.spent_micros(conn, tenant_id, None, this_month) < 1_000
        assert repo.spent_micros(conn, tenant_id, None) >= 1_000_000
