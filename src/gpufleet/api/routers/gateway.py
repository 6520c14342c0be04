"""The OpenAI-compatible gateway: POST /v1/chat/completions and /v1/completions.

These two routes speak OpenAI's protocol, errors included ({"error": {"message", "type",
"param", "code"}}), not gpufleet's error shape; /openapi.json documents them so (tag
`gateway`, schemas in hosting/openai_docs.py). Per request: the key (scope `inference`), the
deployment (another tenant's provisioned one is "not found"), the limits (429 +
Retry-After), then the backend; the tokens are billed once when generation ends, also when
the caller hangs up mid-stream. No text of the request or answer is logged.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from gpufleet.api.deps import bearer
from gpufleet.domain.errors import GpufleetError, Unavailable
from gpufleet.hosting import openai_api, openai_docs
from gpufleet.hosting.backends.base import GenerationRequest
from gpufleet.hosting.keys import require_inference
from gpufleet.hosting.limits import RateLimited
from gpufleet.hosting.metering import Usage
from gpufleet.hosting.openai_api import ChatRequest, ChunkWriter, CompletionRequest
from gpufleet.hosting.openai_docs import ChatCompletionOut, CompletionOut
from gpufleet.hosting.runtime import new_request_id, runtime_of

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
PATHS = {CHAT_PATH: True, COMPLETIONS_PATH: False}  # path -> is it the chat route


async def serve_asgi(scope: Scope, receive: Receive, send: Send, max_body_bytes: int) -> None:
    """One POST to a gateway path, as a bare ASGI app: the app calls this ahead of its
    middleware stack (ADR 0008), which cost about a third of the gateway's CPU per request.
    So this does itself what the stack did for these routes: the body limit (413, in
    OpenAI's shape here), and a 500 without the error's text for anything unexpected."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        await _too_large(max_body_bytes)(scope, receive, send)
        return
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the caller left before sending its body: nothing done, nothing billed
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > max_body_bytes:
            await _too_large(max_body_bytes)(scope, receive, send)
            return
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        response = await _serve(
            Request(scope, receive), b"".join(chunks), chat=PATHS[scope["path"]]
        )
        await response(scope, receive, tracking_send)
    except Exception as error:
        if started:
            raise  # as Starlette's ServerErrorMiddleware does: the server closes the connection
        await _internal(error)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _too_large(max_body_bytes: int) -> Response:
    body = {
        "message": f"request body is larger than {max_body_bytes} bytes",
        "type": "invalid_request_error",
        "param": None,
        "code": "payload_too_large",
    }
    return JSONResponse({"error": body}, status_code=413)


log = logging.getLogger("gpufleet.gateway")
router = APIRouter(prefix="/v1", tags=["gateway"], dependencies=[Depends(bearer)])


# The app serves POSTs to these paths through serve_asgi, ahead of its middleware and
# routing, so these two handlers run only where the router is mounted on a plain FastAPI
# app. They are registered for the OpenAPI document and so that other methods answer 405.
@router.post(
    "/chat/completions", response_model=None, responses=openai_docs.responses(ChatCompletionOut)
)
async def chat_completions(request: Request, body: ChatRequest) -> Response:
    """Chat with a deployed model, as OpenAI's API does: `model` is a deployment's name
    (`GET /v1/models`); `stream`, `stream_options.include_usage`, `max_tokens`,
    `temperature`, `top_p` and `stop` are honoured; other OpenAI fields are accepted and
    ignored. Needs a key with scope `inference`. The tokens are billed to the key's tenant."""
    del body  # validated here for the document; _serve parses the raw body itself
    return await _serve(request, await request.body(), chat=True)


@router.post("/completions", response_model=None, responses=openai_docs.responses(CompletionOut))
async def completions(request: Request, body: CompletionRequest) -> Response:
    """Complete one prompt with a deployed model, as OpenAI's legacy completions API does."""
    del body
    return await _serve(request, await request.body(), chat=False)


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _serve(request: Request, raw: bytes, *, chat: bool) -> Response:
    """One request whose body `raw` has been read (and held to the size limit)."""
    runtime = runtime_of(request.app.state, request.app.state.db)
    try:
        caller = runtime.keys.lookup(_token(request))
        tenant_id = require_inference(caller)
        body: Any = openai_api.parse(ChatRequest if chat else CompletionRequest, raw)
        deployment = runtime.deployment_for(body.model, tenant_id)
        limits = runtime.limits_for(tenant_id, caller.key_id)
        await runtime.limiter.admit(tenant_id, caller.key_id, limits)
        generation_request = GenerationRequest(
            messages=[m.plain() for m in body.messages] if chat else None,
            prompt=None if chat else body.text(),
            max_tokens=body.token_limit(),
            temperature=body.temperature,
            top_p=body.top_p,
            stop=body.stops(),
            cache_salt=f"gpufleet-tenant-{tenant_id}",
        )
        request_id = new_request_id(chat)
        bill = runtime.usage_callback(request_id, caller, tenant_id, deployment, limits)
        backend = await runtime.backend_for(deployment)
        if not body.stream and hasattr(backend, "complete"):
            generation = await backend.complete(generation_request, bill)
        else:
            generation = await backend.generate(generation_request, bill)
    except (GpufleetError, RateLimited) as error:
        return openai_api.error_response(error)
    except Exception as error:  # logged without its message: it could quote the prompt
        return _internal(error)
    if body.stream:
        writer = ChunkWriter(request_id, body.model, chat)
        return StreamingResponse(
            _events(generation, writer, body.wants_usage_chunk()),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    return await _whole(generation, request_id, body.model, chat)


def _internal(error: Exception) -> Response:
    """A 500 in OpenAI's shape. The log names the error's type and where it happened, never
    its message or the request: those could contain what the caller sent."""
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f"{frame.filename}:{frame.lineno}" if frame else "?"
    log.error("gateway error %s at %s", type(error).__name__, where)
    body = {
        "message": "internal error; the operator can see the log",
        "type": "server_error",
        "param": None,
        "code": "internal",
    }
    return JSONResponse({"error": body}, status_code=500)


async def _whole(generation: Any, request_id: str, model: str, chat: bool) -> Response:
    try:
        pieces = [piece async for piece in generation]
    except GpufleetError as error:
        return openai_api.error_response(error)
    except Exception as error:
        return _internal(error)
    finally:
        generation.cancel()
    usage = generation.usage or Usage(0, 0)
    build = openai_api.chat_response if chat else openai_api.completion_response
    return JSONResponse(build(request_id, model, "".join(pieces), generation.finish_reason, usage))


async def _events(generation: Any, writer: ChunkWriter, usage_chunk: bool) -> AsyncIterator[bytes]:
    """The stream. When the caller hangs up, Starlette cancels this generator: `finally`
    stops the backend, which bills what it generated until then."""
    try:
        first = writer.first()
        if first:
            yield first
        try:
            async for piece in generation:
                yield writer.text(piece)
        except Exception as error:
            if isinstance(error, GpufleetError):
                failure = error if isinstance(error, Unavailable) else Unavailable(error.message)
                body = openai_api.error_response(failure).body
            else:
                body = _internal(error).body
            yield b"data: " + bytes(body) + b"\n\n"
            return
        yield writer.text("", generation.finish_reason or "stop")
        if usage_chunk:
            yield writer.usage(generation.usage or Usage(0, 0))
        yield writer.done()
    finally:
        generation.cancel()
