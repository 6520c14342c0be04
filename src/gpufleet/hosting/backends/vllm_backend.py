"""The `vllm` backend: each replica is vLLM's OpenAI-compatible server; the gateway routes
to the replica with the fewest requests in flight.

A model whose source is `url:http://…` is an upstream that already runs (started by the
operator, or a test's fake): it counts as one replica and is never started or stopped here.
Every request carries the tenant's `cache_salt`, so vLLM's prefix cache is never shared
across tenants, and asks for usage in every streamed chunk (`continuous_usage_stats`), so a
stream cut short is billed exactly what vLLM generated until then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from gpufleet.domain.errors import InvalidInput, Issue, Unavailable
from gpufleet.hosting.backends.base import (
    DEFAULT_MAX_TOKENS,
    GenerationRequest,
    OnceUsage,
    ReplicaLedger,
    UsageCallback,
)
from gpufleet.hosting.metering import Usage

log = logging.getLogger("gpufleet.hosting.vllm")
START_TIMEOUT_S = 900.0  # a large model takes minutes to load onto its GPUs


def vllm_command(
    model_path: str, served_name: str, port: int, gpus: int, context_length: int
) -> list[str]:
    """The command line of one replica: vLLM's OpenAI server on localhost only."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_path,
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(gpus),
        "--max-model-len",
        str(context_length),
        "--disable-log-requests",  # the prompts stay private
    ]


def upstream_body(request: GenerationRequest, served_name: str, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": served_name,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": stream,
    }
    if request.messages is not None:
        body["messages"] = request.messages
    else:
        body["prompt"] = request.prompt
    if request.stop:
        body["stop"] = request.stop
    if request.cache_salt:
        body["cache_salt"] = request.cache_salt
    if stream:
        body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
    return body


@dataclass
class _Replica:
    url: str
    replica_id: int | None
    process: subprocess.Popen[bytes] | None = None
    in_flight: int = 0


def _usage(data: dict[str, Any] | None) -> Usage | None:
    if not data:
        return None
    return Usage(int(data.get("prompt_tokens", 0)), int(data.get("completion_tokens", 0)))


def _text_of(choice: dict[str, Any]) -> str:
    if "delta" in choice:
        return str(choice["delta"].get("content") or "")
    if "message" in choice:
        return str(choice["message"].get("content") or "")
    return str(choice.get("text") or "")


class VllmGeneration:
    def __init__(
        self,
        pool: VllmPool,
        replica: _Replica,
        response: httpx.Response | None,
        text: str,
        usage: Usage | None,
        finish: str | None,
        on_usage: UsageCallback,
    ) -> None:
        self._pool = pool
        self._replica = replica
        self._response = response  # streaming; None when the answer came whole
        self._text = text
        self.usage = usage
        self.finish_reason = finish
        self._on_usage = on_usage
        self._chunks = 0

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._response is None:
            if self._text:
                yield self._text
            return
        try:
            async for line in self._response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                self.usage = _usage(chunk.get("usage")) or self.usage
                for choice in chunk.get("choices") or []:
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    text = _text_of(choice)
                    if text:
                        self._chunks += 1
                        yield text
        finally:
            await self._response.aclose()
            self._replica.in_flight -= 1
            # vLLM streams one token per chunk: the fallback if it sent no usage at all.
            self._on_usage(self.usage or Usage(0, self._chunks))

    def cancel(self) -> None:
        """Closing the upstream response (in __aiter__'s finally) makes vLLM abort."""


class VllmPool:
    def __init__(
        self,
        source: str,
        served_name: str,
        gpus: int,
        context_length: int,
        ledger: ReplicaLedger,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._source = source
        self._served_name = served_name
        self._gpus = gpus
        self._context = context_length
        self._ledger = ledger
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(600.0, connect=5.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        )
        self._replicas: list[_Replica] = []
        self._waiting = 0
        self._fixed = source.startswith("url:")

    async def generate(self, request: GenerationRequest, on_usage: UsageCallback) -> Any:
        if not self._replicas:
            await self.scale_to(1)
        replica = min(self._replicas, key=lambda r: r.in_flight)
        once = OnceUsage(on_usage)
        stream = True
        body = upstream_body(request, self._served_name, stream=stream)
        replica.in_flight += 1
        try:
            upstream = self._client.build_request("POST", self._path(replica, request), json=body)
            response = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as error:
            replica.in_flight -= 1
            raise Unavailable(f"model server unreachable ({type(error).__name__})") from error
        if response.status_code >= 400:
            replica.in_flight -= 1
            await response.aread()
            await response.aclose()
            raise _upstream_error(response)
        return VllmGeneration(self, replica, response, "", None, None, once)

    async def complete(self, request: GenerationRequest, on_usage: UsageCallback) -> Any:
        """A whole answer in one upstream call (no streaming): the fast path."""
        if not self._replicas:
            await self.scale_to(1)
        replica = min(self._replicas, key=lambda r: r.in_flight)
        body = upstream_body(request, self._served_name, stream=False)
        replica.in_flight += 1
        try:
            response = await self._client.post(self._path(replica, request), json=body)
        except httpx.HTTPError as error:
            raise Unavailable(f"model server unreachable ({type(error).__name__})") from error
        finally:
            replica.in_flight -= 1
        if response.status_code >= 400:
            raise _upstream_error(response)
        data = response.json()
        choice = (data.get("choices") or [{}])[0]
        usage = _usage(data.get("usage")) or Usage(0, 0)
        on_usage(usage)
        return VllmGeneration(
            self,
            replica,
            None,
            _text_of(choice),
            usage,
            choice.get("finish_reason"),
            OnceUsage(on_usage),
        )

    def _path(self, replica: _Replica, request: GenerationRequest) -> str:
        kind = "chat/completions" if request.messages is not None else "completions"
        return f"{replica.url}/v1/{kind}"

    def queue_depth(self) -> int:
        return sum(r.in_flight for r in self._replicas)

    def replica_count(self) -> int:
        return len(self._replicas)

    async def scale_to(self, replicas: int) -> None:
        if self._fixed:
            replicas = min(replicas, 1)
        while len(self._replicas) < replicas:
            self._replicas.append(await self._start_replica())
        while len(self._replicas) > replicas:
            await self._stop_replica(self._replicas.pop())

    async def close(self) -> None:
        await self.scale_to(0)
        await self._client.aclose()

    async def _start_replica(self) -> _Replica:
        replica_id = await asyncio.to_thread(self._ledger.started)
        if self._fixed:
            return _Replica(self._source[4:].rstrip("/"), replica_id)
        port = _free_port()
        path = self._source.partition(":")[2]
        command = vllm_command(path, self._served_name, port, self._gpus, self._context)
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "VLLM_NO_USAGE_STATS": "1"},
        )
        replica = _Replica(f"http://127.0.0.1:{port}", replica_id, process)
        await self._wait_healthy(replica)
        return replica

    async def _wait_healthy(self, replica: _Replica) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if replica.process is not None and replica.process.poll() is not None:
                break
            try:
                if (await self._client.get(f"{replica.url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
        await self._stop_replica(replica)
        raise Unavailable("a vLLM replica did not become healthy")

    async def _stop_replica(self, replica: _Replica) -> None:
        if replica.process is not None and replica.process.poll() is None:
            replica.process.terminate()
            await asyncio.to_thread(replica.process.wait, 60)
        if replica.replica_id is not None:
            await asyncio.to_thread(self._ledger.stopped, replica.replica_id)


def _upstream_error(response: httpx.Response) -> Exception:
    try:
        message = str(response.json()["error"]["message"])[:500]
    except (ValueError, KeyError, TypeError):
        message = f"model server answered {response.status_code}"
    if 400 <= response.status_code < 500:
        return InvalidInput(message, [Issue("request", message)])
    return Unavailable(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
