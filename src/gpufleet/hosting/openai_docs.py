"""The gateway routes' answers as OpenAPI schemas, so that /openapi.json describes them too.

The gateway builds its answers as plain dicts (openai_api.py) on its hot path; these models
only document those dicts, and tests/integration/test_gateway_openapi.py checks real answers
against them, so the document cannot drift from what the gateway sends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenAIErrorBody(_Strict):
    message: str
    type: str = Field(description="invalid_request_error, permission_error, server_error, …")
    param: str | None = Field(description="The request field at fault, when there is one")
    code: str | None = Field(
        description="invalid_api_key (401), model_not_found (404), rate_limit_exceeded and "
        "insufficient_quota (429), context_length_exceeded, payload_too_large, …"
    )


class OpenAIError(_Strict):
    """OpenAI's error shape, not gpufleet's: what OpenAI's own clients expect."""

    error: OpenAIErrorBody


class OpenAIUsage(_Strict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str


class ChatChoice(_Strict):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: str


class ChatCompletionOut(_Strict):
    """A whole answer (`stream` false). With `stream` true the answer is server-sent events
    of `chat.completion.chunk` objects, ending with `data: [DONE]`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: OpenAIUsage = Field(description="The tokens billed for this request")


class CompletionChoice(_Strict):
    index: int
    text: str
    logprobs: None
    finish_reason: str


class CompletionOut(_Strict):
    """A whole answer (`stream` false); streamed as `text_completion` server-sent events."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: OpenAIUsage = Field(description="The tokens billed for this request")


_ERRORS: dict[int, str] = {
    400: "The request is not valid (`param` names the field)",
    401: "No key, or a key that is unknown, revoked, expired or lacks scope `inference`",
    404: "No such model, or another tenant's provisioned deployment (answered alike)",
    413: "The body is larger than the server's limit",
    429: "A requests, tokens or budget limit is reached; `Retry-After` says when to retry",
    503: "No replica could serve the request",
}


def responses(whole: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a gateway route for FastAPI: the answer, or its stream, or an
    error in OpenAI's shape."""
    documented: dict[int | str, dict[str, Any]] = {
        200: {
            "model": whole,
            "description": "The answer; with `stream` true, server-sent events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
    for status, description in _ERRORS.items():
        documented[status] = {"model": OpenAIError, "description": description}
    return documented
