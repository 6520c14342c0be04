"""/openapi.json documents the gateway's routes, and what they answer matches the document:
real answers of a live server validate against the documented schemas (which forbid extra
fields), so neither can drift from the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from gpufleet.hosting.fake_upstream import FakeUpstream
from gpufleet.hosting.openai_docs import ChatCompletionOut, CompletionOut, OpenAIError
from tests.conftest import Actor, LiveServer
from tests.hosting_support import deploy, new_tenant, serve_in_thread
from tests.integration.support import expect

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def tenant(live_server: LiveServer, operator: Actor) -> Iterator[httpx.Client]:
    with serve_in_thread(FakeUpstream()) as upstream, live_server.client(operator) as op:
        deploy(op, "docs", f"url:{upstream}", backend="vllm")
        key = new_tenant(operator, op, "acme-ai")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
            yield client


def documented(document: dict[str, Any], path: str, status: str) -> str:
    answer = document["paths"][path]["post"]["responses"][status]
    ref: str = answer["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def test_the_document_describes_both_routes(live_server: LiveServer) -> None:
    with live_server.client() as anonymous:
        document = expect(anonymous.get("/openapi.json"), 200)
    schemas = document["components"]["schemas"]
    for path, body, answer in (
        ("/v1/chat/completions", "ChatRequest", "ChatCompletionOut"),
        ("/v1/completions", "CompletionRequest", "CompletionOut"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{body}"
        }
        assert documented(document, path, "200") == answer
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        for status in ("400", "401", "404", "413", "429", "503"):
            assert documented(document, path, status) == "OpenAIError", (path, status)
        assert "422" not in operation["responses"]  # the gateway answers bad input with 400
    # The rest of the API documents gpufleet's own error shape, not FastAPI's.
    lease = document["paths"]["/v1/leases/{lease_id}"]["get"]["responses"]
    assert {documented_get(lease, s) for s in ("401", "404", "422")} == {"ErrorOut"}
    assert "HTTPValidationError" not in schemas
    refs = {r.rsplit("/", 1)[1] for r in _refs(document)}
    assert refs <= set(schemas), refs - set(schemas)


def documented_get(responses: dict[str, Any], status: str) -> str:
    ref: str = responses[status]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def conforms(model: type[BaseModel], response: httpx.Response) -> None:
    model.model_validate_json(response.content)  # extra fields forbidden: raises on drift


def test_answers_match_the_documented_schemas(tenant: httpx.Client) -> None:
    chat = tenant.post("/v1/chat/completions", json={"model": "docs", "messages": MESSAGES})
    conforms(ChatCompletionOut, expect_response(chat, 200))
    plain = tenant.post("/v1/completions", json={"model": "docs", "prompt": "hi"})
    conforms(CompletionOut, expect_response(plain, 200))
    for response, status in (
        (tenant.post("/v1/chat/completions", json={"model": "nope", "messages": MESSAGES}), 404),
        (tenant.post("/v1/chat/completions", json={"model": "docs", "messages": []}), 400),
        (tenant.post("/v1/completions", content=b"{not json"), 400),
        (
            httpx.post(
                str(tenant.base_url).rstrip("/") + "/v1/completions", json={"model": "docs"}
            ),
            401,
        ),
    ):
        conforms(OpenAIError, expect_response(response, status))


def test_a_stream_is_the_documented_event_stream(tenant: httpx.Client) -> None:
    body = {"model": "docs", "messages": MESSAGES, "stream": True}
    response = expect_response(tenant.post("/v1/chat/completions", json=body), 200)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert {json.loads(e)["object"] for e in events[:-1]} == {"chat.completion.chunk"}


def expect_response(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, response.text
    return response
