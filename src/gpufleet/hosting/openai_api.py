"""OpenAI's shapes: the request bodies we accept, responses, stream chunks, and errors.

Unknown fields are accepted and ignored (clients send `user`, `logprobs`, …), as OpenAI-compatible
servers do; `n` above 1 is refused rather than silently answered once.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gpufleet.api.schemas.common import Text
from gpufleet.domain import errors
from gpufleet.hosting.limits import RateLimited
from gpufleet.hosting.metering import Usage


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def plain(self) -> dict[str, str]:
        """Text parts only: these backends take text."""
        if isinstance(self.content, list):
            text = "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        else:
            text = self.content or ""
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": text}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Text = Field(min_length=1, max_length=100)  # no NUL: it is looked up in the DB
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def wants_usage_chunk(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionRequest(_Common):
    prompt: str | list[str]

    def text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise errors.InvalidInput(
                    "one prompt per request", [errors.Issue("prompt", "send one prompt")]
                )
            return self.prompt[0]
        return self.prompt


def parse(kind: type[_Common], raw: bytes) -> Any:
    """The body as `kind`, or InvalidInput naming the first bad field (OpenAI's `param`)."""
    try:
        return kind.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise errors.InvalidInput("request body is not valid JSON") from None
        where = ".".join(str(p) for p in first["loc"]) or "body"
        # Pydantic's message names the field and the rule; the input value is left out.
        issue = errors.Issue(where, first["msg"])
        raise errors.InvalidInput(f"{where}: {first['msg']}", [issue]) from None


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def chat_response(
    request_id: str, model: str, text: str, finish: str | None, usage: Usage
) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish or "stop",
            }
        ],
        "usage": usage_json(usage),
    }


def completion_response(
    request_id: str, model: str, text: str, finish: str | None, usage: Usage
) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "text": text, "logprobs": None, "finish_reason": finish or "stop"}
        ],
        "usage": usage_json(usage),
    }


class ChunkWriter:
    """Server-sent events in OpenAI's streaming format."""

    def __init__(self, request_id: str, model: str, chat: bool) -> None:
        self._head = {
            "id": request_id,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": model,
        }
        self._chat = chat

    def _event(self, body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({**self._head, **body}).encode() + b"\n\n"

    def first(self) -> bytes | None:
        if not self._chat:
            return None
        return self._event(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            }
        )

    def text(self, piece: str, finish: str | None = None) -> bytes:
        if self._chat:
            delta = {"content": piece} if piece else {}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": finish}
        return self._event({"choices": [choice]})

    def usage(self, usage: Usage) -> bytes:
        return self._event({"choices": [], "usage": usage_json(usage)})

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"


_TYPES = {
    errors.InvalidInput: (400, "invalid_request_error"),
    errors.NotAuthenticated: (401, "invalid_request_error"),
    errors.Forbidden: (403, "permission_error"),
    errors.NotFound: (404, "invalid_request_error"),
    errors.Conflict: (409, "invalid_request_error"),
    errors.PayloadTooLarge: (413, "invalid_request_error"),
    errors.Unavailable: (503, "server_error"),
}
_CODES = {401: "invalid_api_key", 404: "model_not_found"}


def error_response(error: errors.GpufleetError | RateLimited) -> JSONResponse:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    if isinstance(error, RateLimited):
        code = "insufficient_quota" if error.kind == "budget" else "rate_limit_exceeded"
        if error.kind == "budget":
            resets = error.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ") if error.resets_at else "?"
            message = f"the {error.scope}'s monthly budget is spent; it resets at {resets}"
        else:
            message = f"the {error.scope}'s {error.kind} per minute limit is reached"
        body = {"message": message, "type": error.kind, "param": None, "code": code}
        return JSONResponse(
            {"error": body}, status_code=429, headers={"Retry-After": str(error.retry_after_s)}
        )
    status, kind = 400, "invalid_request_error"
    for cls in type(error).__mro__:
        if cls in _TYPES:
            status, kind = _TYPES[cls]
            break
    param = error.issues[0].path if error.issues else None
    code = _CODES.get(status) or (
        "context_length_exceeded" if "too long" in error.message else error.code
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"message": error.message, "type": kind, "param": param, "code": code}},
        status_code=status,
        headers=headers,
    )
