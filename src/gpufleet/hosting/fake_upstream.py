"""A tiny OpenAI-compatible server that answers a fixed completion at once: the upstream of
the vLLM backend's tests and of benchmarks/bench_gateway.py (so the gateway's own overhead
is what is measured). A raw ASGI app: no framework cost of its own to speak of.

    app = FakeUpstream(words=["Hello", " there"])   # uvicorn.run(app, ...)
    app.bodies                                      # every request body it received
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]


class FakeUpstream:
    def __init__(
        self,
        words: list[str] | None = None,
        prompt_tokens: int = 7,
        delay_s: float = 0.0,
        keep_bodies: bool = True,
    ) -> None:
        self.words = words or ["The", " answer", " is", " 42", "."]
        self.prompt_tokens = prompt_tokens
        self.delay_s = delay_s  # between streamed chunks
        self.keep_bodies = keep_bodies
        self.bodies: list[dict[str, Any]] = []
        self.finished_streams = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["method"] == "GET":  # /health
            await _send(send, 200, b"{}", b"application/json")
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw)
        if self.keep_bodies:
            self.bodies.append(body)
        chat = scope["path"].endswith("/chat/completions")
        if body.get("stream"):
            await self._stream(send, body, chat)
        else:
            await _send(send, 200, self._whole(body, chat), b"application/json")

    def _usage(self, completion: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def _whole(self, body: dict[str, Any], chat: bool) -> bytes:
        text = "".join(self.words)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return json.dumps(
            {
                "id": "up-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [choice],
                "usage": self._usage(len(self.words)),
            }
        ).encode()

    async def _stream(self, send: Any, body: dict[str, Any], chat: bool) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        continuous = (body.get("stream_options") or {}).get("continuous_usage_stats")
        for index, word in enumerate(self.words, start=1):
            delta: dict[str, Any] = {"content": word} if chat else {}
            choice: dict[str, Any] = {"index": 0, "finish_reason": None}
            choice.update({"delta": delta} if chat else {"text": word})
            chunk: dict[str, Any] = {"id": "up-1", "choices": [choice]}
            if continuous:
                chunk["usage"] = self._usage(index)
            await send(
                {
                    "type": "http.response.body",
                    "more_body": True,
                    "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                }
            )
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        last = {"id": "up-1", "choices": [], "usage": self._usage(len(self.words))}
        tail = b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail})
        self.finished_streams += 1


async def _send(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
