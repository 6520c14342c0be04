"""A lean HTTP/1.1 client for the gateway's hop to a model server: keep-alive connections
on asyncio streams, JSON bodies, responses by Content-Length, chunked, or to the end.

Why not httpx: its connection pool checks every pooled connection on every request, which
cost the gateway more than everything else it does per request (ADR 0008, the benchmark).
Upstreams are replicas on the operator's own network, so plain HTTP (or TLS where the URL
says https) and no proxies, redirects or cookies are all it needs.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit


class UpstreamError(Exception):
    """The upstream could not be reached, or broke the connection."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def close(self) -> None:
        self.writer.close()


class UpstreamClient:
    def __init__(self, base_url: str, *, timeout_s: float = 600.0, max_idle: int = 256) -> None:
        parts = urlsplit(base_url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc
        self._timeout = timeout_s
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        context = ssl.create_default_context() if self._tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, ssl=context, limit=2**20), 10
            )
        except (OSError, TimeoutError) as error:
            raise UpstreamError(f"cannot connect ({type(error).__name__})") from error
        return _Connection(reader, writer)

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.reader.at_eof():
                connection.reused = True
                return connection
            connection.close()
        return await self._connect()

    def _release(self, connection: _Connection, reusable: bool) -> None:
        if reusable and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def _request(self, path: str, body: dict[str, Any]) -> bytes:
        payload = json.dumps(body).encode()
        head = (
            f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload

    async def _send(
        self, path: str, body: dict[str, Any]
    ) -> tuple[_Connection, int, dict[str, str]]:
        """Send, read the status and headers. A pooled connection the server had closed
        meanwhile is retried once on a fresh one (nothing was processed on it)."""
        request = self._request(path, body)
        for attempt in range(2):
            connection = await self._acquire() if attempt == 0 else await self._connect()
            try:
                connection.writer.write(request)
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                connection.close()
                if connection.reused and attempt == 0:
                    continue
                raise UpstreamError(f"connection broke ({type(error).__name__})") from error
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            return connection, status, headers
        raise UpstreamError("connection broke")  # pragma: no cover - the loop returns or raises

    async def post_json(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST JSON; the status and the parsed JSON answer (None when it is not JSON)."""
        try:
            async with asyncio.timeout(self._timeout):
                connection, status, headers = await self._send(path, body)
                try:
                    raw = b"".join([piece async for piece in _body(connection.reader, headers)])
                except (OSError, asyncio.IncompleteReadError) as error:
                    connection.close()
                    raise UpstreamError(f"answer cut off ({type(error).__name__})") from error
        except TimeoutError as error:
            raise UpstreamError("no answer in time") from error
        self._release(connection, _keeps_alive(headers))
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None

    @asynccontextmanager
    async def stream(
        self, path: str, body: dict[str, Any]
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """POST JSON and read the answer as it comes: (status, its lines). Leaving early
        closes the connection, which is how the upstream learns to stop generating."""
        connection, status, headers = await self._send(path, body)
        finished = False

        async def lines() -> AsyncIterator[bytes]:
            nonlocal finished
            pending = b""
            async for piece in _body(connection.reader, headers, self._timeout):
                pending += piece
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.rstrip(b"\r")
            if pending:
                yield pending
            finished = True

        try:
            yield status, lines()
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            connection.close()
            raise UpstreamError(f"stream broke ({type(error).__name__})") from error
        finally:
            if finished:
                self._release(connection, _keeps_alive(headers))
            else:
                connection.close()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def _keeps_alive(headers: dict[str, str]) -> bool:
    return headers.get("connection", "").lower() != "close"


async def _body(
    reader: asyncio.StreamReader, headers: dict[str, str], timeout_s: float | None = None
) -> AsyncIterator[bytes]:
    """The body's bytes, by Content-Length, chunked transfer encoding, or to the end."""

    async def timed(read: Any) -> bytes:
        data: bytes = await (asyncio.wait_for(read, timeout_s) if timeout_s else read)
        return data

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await timed(reader.readuntil(b"\r\n"))
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await timed(reader.readuntil(b"\r\n"))  # the empty trailer
                return
            data = await timed(reader.readexactly(size + 2))
            yield data[:-2]
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining:
            data = await timed(reader.read(min(remaining, 2**16)))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data
    else:
        while data := await timed(reader.read(2**16)):
            yield data
