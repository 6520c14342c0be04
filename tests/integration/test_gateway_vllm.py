"""The vLLM backend's code path against a fake OpenAI-compatible upstream (no GPU here):
routing, per-tenant cache_salt, usage billed from the upstream, a stream cut short."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.runtime import flush_meters
from tests.conftest import Actor, LiveServer
from tests.hosting_support import deploy, new_tenant, serve_in_thread
from tests.integration.support import expect

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(words=[f" w{i}" for i in range(20)], delay_s=0.05)
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def keys(
    live_server: LiveServer, operator: Actor, upstream: tuple[FakeUpstream, str]
) -> Iterator[dict[str, str]]:
    with live_server.client(operator) as op:
        deploy(op, "big", f"url:{upstream[1]}", backend="vllm", prices=("3", "15"))
        yield {"a": new_tenant(operator, op, "acme-ai"), "b": new_tenant(operator, op, "beta")}


def rows(live_server: LiveServer) -> list[dict[str, object]]:
    flush_meters()
    with live_server.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(token_usage))]


def post(live_server: LiveServer, key: str, **body: object) -> httpx.Response:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        return client.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "big", "messages": MESSAGES, **body},
        )


def test_routes_to_the_upstream_with_a_cache_salt_per_tenant(
    live_server: LiveServer, keys: dict[str, str], upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    answer = expect(post(live_server, keys["a"], max_tokens=50), 200)
    assert answer["choices"][0]["message"]["content"] == "".join(fake.words)
    assert answer["usage"] == {"prompt_tokens": 7, "completion_tokens": 20, "total_tokens": 27}
    expect(post(live_server, keys["b"]), 200)
    salts = [b["cache_salt"] for b in fake.bodies]
    assert len(set(salts)) == 2, "two tenants never share vLLM's prefix cache"
    assert {b["model"] for b in fake.bodies} == {"big-model"}
    assert fake.bodies[0]["max_tokens"] == 50
    billed = sorted((r["input_tokens"], r["output_tokens"]) for r in rows(live_server))
    assert billed == [(7, 20), (7, 20)]


def test_stream_relays_text_and_usage(
    live_server: LiveServer, keys: dict[str, str], upstream: tuple[FakeUpstream, str]
) -> None:
    response = post(live_server, keys["a"], stream=True, stream_options={"include_usage": True})
    events = [
        json.loads(line[6:])
        for line in response.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in events if c["choices"])
    assert text == "".join(upstream[0].words)
    assert events[-1]["usage"]["completion_tokens"] == 20
    assert response.text.rstrip().endswith("data: [DONE]")
    assert [(r["input_tokens"], r["output_tokens"]) for r in rows(live_server)] == [(7, 20)]


def test_a_stream_cut_short_bills_what_was_generated_once(
    live_server: LiveServer, keys: dict[str, str]
) -> None:
    body = {"model": "big", "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(base_url=live_server.url, timeout=30) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {keys['a']}"},
        ) as response,
    ):
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and "w" in line:
                seen += 1
            if seen == 3:
                break  # hang up in the middle (20 words at 50 ms each)
    deadline = time.monotonic() + 10
    while not rows(live_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    billed = rows(live_server)
    assert len(billed) == 1
    assert 3 <= int(billed[0]["output_tokens"]) < 20  # type: ignore[call-overload]
    assert billed[0]["input_tokens"] == 7
