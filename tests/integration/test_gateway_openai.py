"""The official `openai` package, unchanged, against the gateway on a live server: plain and
streamed chat, completions, exact token counts billed once, errors in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select

from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.hosting.runtime import flush_meters
from tests.conftest import Actor, LiveServer
from tests.hosting_support import deploy, new_tenant, tiny_model_dir


@pytest.fixture
def tiny_model() -> Path:
    return tiny_model_dir()


@pytest.fixture
def gateway(live_server: LiveServer, operator: Actor, tiny_model: Path) -> Iterator[str]:
    """A tenant's inference key, with the tiny model deployed as `tiny`."""
    with live_server.client(operator) as op:
        deploy(op, "tiny", f"dir:{tiny_model}")
        yield new_tenant(operator, op, "acme-ai")


def client(live_server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)


def stored_usage(live_server: LiveServer) -> list[dict[str, object]]:
    flush_meters()
    with live_server.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(token_usage))]


def prompt_tokens(tiny_model: Path, messages: list[dict[str, str]]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=True)["input_ids"]  # fmt: skip
    return len(ids)


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


def test_openai_client_chat_is_answered_and_billed_exactly_once(
    live_server: LiveServer, gateway: str, tiny_model: Path
) -> None:
    answer = client(live_server, gateway).chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        max_tokens=12,
        temperature=0,  # type: ignore[arg-type]
    )
    assert answer.choices[0].message.role == "assistant"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == prompt_tokens(tiny_model, MESSAGES)
    assert 1 <= answer.usage.completion_tokens <= 12
    if answer.choices[0].finish_reason == "length":
        assert answer.usage.completion_tokens == 12
    rows = stored_usage(live_server)
    assert len(rows) == 1
    row = rows[0]
    assert row["request_id"] == answer.id
    assert (row["input_tokens"], row["output_tokens"]) == (
        answer.usage.prompt_tokens, answer.usage.completion_tokens)  # fmt: skip
    assert (row["model"], row["deployment"]) == ("tiny-model", "tiny")
    # Prices at request time, micro-USD per million tokens.
    assert (row["input_price_micros"], row["output_price_micros"]) == (1_500_000, 2_250_000)


def test_openai_client_streams_text_and_a_usage_chunk(
    live_server: LiveServer, gateway: str, tiny_model: Path
) -> None:
    whole = client(live_server, gateway).chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        max_tokens=10,
        temperature=0,  # type: ignore[arg-type]
    )
    stream = client(live_server, gateway).chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=10, temperature=0, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )  # fmt: skip
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same answer
    assert finish == whole.choices[0].finish_reason
    assert usage is not None
    assert whole.usage is not None
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage.completion_tokens == whole.usage.completion_tokens
    rows = stored_usage(live_server)
    assert len(rows) == 2
    assert len({r["request_id"] for r in rows}) == 2


def test_completions_route_and_stop_sequences(live_server: LiveServer, gateway: str) -> None:
    api = client(live_server, gateway)
    free = api.completions.create(model="tiny", prompt="Hello world", max_tokens=16,
                                  temperature=0)  # fmt: skip
    text = free.choices[0].text
    assert free.usage is not None
    assert free.usage.prompt_tokens > 0
    if len(text) >= 3:
        stop = text[1:3]
        cut = api.completions.create(model="tiny", prompt="Hello world", max_tokens=16,
                                     temperature=0, stop=[stop])  # fmt: skip
        assert cut.choices[0].text == text[: text.index(stop)]
        assert cut.choices[0].finish_reason == "stop"


def test_errors_come_in_openai_shape(live_server: LiveServer, gateway: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client(live_server, gateway).chat.completions.create(model="nope", messages=MESSAGES)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        client(live_server, "gf_key_0000_bad").chat.completions.create(
            model="tiny", messages=MESSAGES
        )  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as bad:
        client(live_server, gateway).chat.completions.create(model="tiny", messages=MESSAGES,  # type: ignore[arg-type]
                                                             temperature=7)  # fmt: skip
    assert bad.value.param == "temperature"
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {gateway}"}
    ) as raw:
        for body in (
            b"{not json",
            b'{"model": "a\\u0000b", "messages": [{"role": "user", "content": "x"}]}',
            b"[]",
        ):
            refused = raw.post("/v1/chat/completions", content=body)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["type"] == "invalid_request_error"
    assert stored_usage(live_server) == []  # refused requests are not billed


def test_models_list_names_the_deployment(live_server: LiveServer, gateway: str) -> None:
    ids = [m.id for m in client(live_server, gateway).models.list()]
    assert ids == ["tiny"]


BODY_LIMIT = 2 * 1024 * 1024  # the live server's body limit


def _chunked(raw: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_in_openai_shape(
    live_server: LiveServer, gateway: str, chunked: bool
) -> None:
    """The gateway's routes are served ahead of the app's middleware (ADR 0008), so they
    apply the body limit themselves: before the key is looked at, with or without a length."""
    request = b'{"model": "tiny", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}'
    headers = {"Authorization": f"Bearer {gateway}", "Content-Type": "application/json"}
    with httpx.Client(base_url=live_server.url, headers=headers) as raw:
        over = request + b" " * (BODY_LIMIT + 1 - len(request))
        refused = raw.post("/v1/chat/completions", content=_chunked(over) if chunked else over)
        assert ("content-length" not in refused.request.headers) == chunked
        assert refused.status_code == 413, refused.text
        error = refused.json()["error"]
        assert error["code"] == "payload_too_large"
        assert error["type"] == "invalid_request_error"
        assert str(BODY_LIMIT) in error["message"]
        anonymous = httpx.post(f"{live_server.url}/v1/completions", content=over)
        assert anonymous.status_code == 413
        assert stored_usage(live_server) == []
        exact = request + b" " * (BODY_LIMIT - len(request))
        answered = raw.post("/v1/chat/completions", content=_chunked(exact) if chunked else exact)
        assert answered.status_code == 200, answered.text
        assert answered.json()["usage"]["completion_tokens"] == 1


def test_other_methods_on_the_gateway_paths_are_405(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/v1/chat/completions").status_code == 405
    assert httpx.put(f"{live_server.url}/v1/completions").status_code == 405
