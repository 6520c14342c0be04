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
    record_start,
    to_the_end,
)
from gpufleet.hosting.backends.upstream_http import UpstreamClient, UpstreamError
from gpufleet.hosting.metering import Usage

log = logging.getLogger("gpufleet.hosting.vllm")
START_TIMEOUT_S = 900.0  # a large model takes minutes to load onto its GPUs
STOP_GRACE_S = 60.0  # from SIGTERM to SIGKILL when a replica stops


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
        # No request-logging flag: vLLM logs no prompts by default since 0.10.2 (its old
        # `--disable-log-requests` is gone in 0.12, and `--enable-log-requests` must stay off).
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
    client: UpstreamClient
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


_CLOSING: set[asyncio.Future[None]] = set()  # closes in flight (kept from the collector)


class VllmGeneration:
    """A streamed answer (relayed line by line), or a whole one (`text`)."""

    def __init__(
        self,
        replica: _Replica,
        on_usage: UsageCallback,
        *,
        stream: Any = None,
        lines: AsyncIterator[bytes] | None = None,
        text: str = "",
        usage: Usage | None = None,
        finish: str | None = None,
    ) -> None:
        self._replica = replica
        self._on_usage = on_usage
        self._stream = stream  # the open upstream response (an async context manager)
        self._lines = lines
        self._text = text
        self.usage = usage
        self.finish_reason = finish
        self._chunks = 0

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._lines is None:
            if self._text:
                yield self._text
            return
        try:
            async for line in self._lines:
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                chunk = json.loads(payload)
                self.usage = _usage(chunk.get("usage")) or self.usage
                for choice in chunk.get("choices") or []:
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    text = _text_of(choice)
                    if text:
                        self._chunks += 1
                        yield text
        except UpstreamError as error:
            raise Unavailable(f"the model server broke the stream: {error}") from error
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the upstream response (vLLM aborts the request) and bill, once."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._replica.in_flight -= 1
        # vLLM streams one token per chunk: the fallback if it sent no usage at all.
        self._on_usage(self.usage or Usage(0, self._chunks))
        await stream.__aexit__(None, None, None)

    def cancel(self) -> None:
        """Closing the upstream response (in __aiter__'s finally) makes vLLM abort; a
        generation never iterated is closed here."""
        if self._stream is not None and self._lines is not None:
            task = asyncio.ensure_future(self.aclose())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)


class VllmPool:
    def __init__(
        self,
        source: str,
        served_name: str,
        gpus: int,
        context_length: int,
        ledger: ReplicaLedger,
    ) -> None:
        self._source = source
        self._served_name = served_name
        self._gpus = gpus
        self._context = context_length
        self._ledger = ledger
        self._replicas: list[_Replica] = []
        self._fixed = source.startswith("url:")
        # One change of the replica count at a time: servers still loading are not in
        # _replicas, so callers at once (requests finding none, the scaler) would each
        # start their own, every one holding GPUs.
        self._scaling = asyncio.Lock()

    async def _replica(self) -> _Replica:
        while not self._replicas:  # the scaler may take the last one away meanwhile
            await self.scale_to(1)
        return min(self._replicas, key=lambda r: r.in_flight)

    async def generate(self, request: GenerationRequest, on_usage: UsageCallback) -> Any:
        replica = await self._replica()
        body = upstream_body(request, self._served_name, stream=True)
        replica.in_flight += 1
        stream = replica.client.stream(self._path(request), body)
        try:
            status, lines = await stream.__aenter__()
        except UpstreamError as error:
            replica.in_flight -= 1
            raise Unavailable(f"model server unreachable: {error}") from error
        if status >= 400:
            replica.in_flight -= 1
            error_body = b"".join([line async for line in lines])
            await stream.__aexit__(None, None, None)
            raise _upstream_error(status, error_body)
        return VllmGeneration(replica, OnceUsage(on_usage), stream=stream, lines=lines)

    async def complete(self, request: GenerationRequest, on_usage: UsageCallback) -> Any:
        """A whole answer in one upstream call (no streaming): the fast path."""
        replica = await self._replica()
        body = upstream_body(request, self._served_name, stream=False)
        replica.in_flight += 1
        try:
            status, data = await replica.client.post_json(self._path(request), body)
        except UpstreamError as error:
            raise Unavailable(f"model server unreachable: {error}") from error
        finally:
            replica.in_flight -= 1
        if status >= 400 or not isinstance(data, dict):
            raise _upstream_error(status, json.dumps(data).encode())
        choice = (data.get("choices") or [{}])[0]
        usage = _usage(data.get("usage")) or Usage(0, 0)
        on_usage(usage)
        return VllmGeneration(
            replica,
            on_usage,
            text=_text_of(choice),
            usage=usage,
            finish=choice.get("finish_reason"),
        )

    def _path(self, request: GenerationRequest) -> str:
        return "/v1/chat/completions" if request.messages is not None else "/v1/completions"

    def queue_depth(self) -> int:
        return sum(r.in_flight for r in self._replicas)

    def replica_count(self) -> int:
        return len(self._replicas)

    async def scale_to(self, replicas: int) -> None:
        if self._fixed:
            replicas = min(replicas, 1)
        async with self._scaling:
            missing = replicas - len(self._replicas)
            if missing > 0:  # load side by side: a large model takes minutes per server
                outcomes = await asyncio.gather(
                    *(self._add_replica() for _ in range(missing)), return_exceptions=True
                )
                failed = [e for e in outcomes if isinstance(e, BaseException)]
                if failed:
                    raise failed[0]
            while len(self._replicas) > replicas:
                await to_the_end(self._stop_replica(self._replicas.pop()))

    async def close(self) -> None:
        await self.scale_to(0)

    async def _add_replica(self) -> None:
        # Each server joins the pool the moment it serves, not when all have loaded: a
        # cancelled gather (shutdown) drops its results, and close() must still stop it.
        self._replicas.append(await self._start_replica())

    async def _start_replica(self) -> _Replica:
        replica_id = await record_start(self._ledger)
        if self._fixed:
            url = self._source[4:].rstrip("/")
            replica = _Replica(url, replica_id, UpstreamClient(url))
        else:
            port = _free_port()
            path = self._source.partition(":")[2]
            command = vllm_command(path, self._served_name, port, self._gpus, self._context)
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "VLLM_NO_USAGE_STATS": "1"},
            )
            url = f"http://127.0.0.1:{port}"
            replica = _Replica(url, replica_id, UpstreamClient(url), process)
        try:
            if replica.process is not None:  # a restart after this process died stops it
                await asyncio.to_thread(self._ledger.launched, replica_id, replica.process.pid)
            if replica.process is not None:
                await self._wait_healthy(replica)
            await asyncio.to_thread(self._ledger.ready, replica_id, url)
        except BaseException:  # it did not come up, the gateway shuts down, or no database
            await to_the_end(self._stop_replica(replica))
            raise
        return replica

    async def _wait_healthy(self, replica: _Replica) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if replica.process is not None and replica.process.poll() is not None:
                break
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    if (await client.get(f"{replica.url}/health")).status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
        raise Unavailable("a vLLM replica did not become healthy")  # the caller stops it

    async def _stop_replica(self, replica: _Replica) -> None:
        replica.client.close()
        if replica.process is not None and replica.process.poll() is None:
            await asyncio.to_thread(end_server, replica.process, STOP_GRACE_S)
        if replica.replica_id is not None:
            await asyncio.to_thread(self._ledger.stopped, replica.replica_id)


def end_server(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, and SIGKILL if the server has not exited within `grace_s`: a server stuck in
    its teardown must not keep its row running and its GPUs held."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _upstream_error(status: int, body: bytes) -> Exception:
    try:
        message = str(json.loads(body)["error"]["message"])[:500]
    except (ValueError, KeyError, TypeError):
        message = f"model server answered {status}"
    if 400 <= status < 500:
        return InvalidInput(message, [Issue("request", message)])
    return Unavailable(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
