"""Gateway overhead: a fast OpenAI-compatible upstream that answers a fixed completion,
called directly and through one gateway process in the same run, at concurrency 1, 16, 64.

Targets (issue 6, 2 cores): added latency p50 ≤ 1 ms and p99 ≤ 10 ms at concurrency 64;
at least 2,000 requests/s through one gateway process. The upstream, the gateway and this
load generator are three processes; the load generator is a minimal keep-alive HTTP/1.1
client on raw sockets so that its own cost stays small. The gateway does everything it
does in production: key lookup (cached), limits (a tenant limit set, in-process counters),
routing, a token_usage row per request (batched by the metering thread into SQLite).
Prints JSON.
Usage: python -m benchmarks.bench_gateway [--seconds S] [--concurrency 1 16 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import machine, percentiles
from gpufleet.bootstrap import open_database
from gpufleet.domain.access import TenantKind
from gpufleet.hosting.schemas import DeploymentCreate, InferenceKeyCreate, LimitsSet, ModelCreate
from gpufleet.services import access, hosting

BODY = json.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
).encode()
UPSTREAM = (
    "import uvicorn; from gpufleet.hosting.fake_upstream import FakeUpstream; "
    "uvicorn.run(FakeUpstream(keep_bodies=False), host='127.0.0.1', port={port}, "
    "log_level='warning', access_log=False)"
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class Connection:
    """One keep-alive HTTP/1.1 connection: POST, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


def request_bytes(path: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


async def load(port: int, request: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    connections = [await Connection.open(port) for _ in range(concurrency)]
    samples: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds

    async def user(connection: Connection) -> None:
        nonlocal failures
        while time.perf_counter() < stop:
            began = time.perf_counter()
            status = await connection.post(request)
            samples.append((time.perf_counter() - began) * 1000)
            failures += status != 200

    began = time.perf_counter()
    await asyncio.gather(*(user(c) for c in connections))
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.writer.close()
    return {
        **percentiles(samples),
        "requests_per_s": round(len(samples) / elapsed, 1),
        "failures": failures,
    }


def prepare(directory: Path, upstream_port: int) -> tuple[str, str]:
    url = f"sqlite:///{directory / 'bench.db'}"
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    access.create_tenant(db, operator, "bench", TenantKind.EXTERNAL)
    key = hosting.create_inference_key(db, operator, "bench", InferenceKeyCreate()).api_key
    # A limit that never binds, so that the limiter's path is in the measurement.
    hosting.set_limits(db, operator, LimitSet_(10**7))
    hosting.create_model(
        db,
        operator,
        ModelCreate(
            name="m",
            backend="vllm",
            source=f"url:http://127.0.0.1:{upstream_port}",
            input_price_per_million=1,
            output_price_per_million=2,
        ),
    )
    hosting.create_deployment(db, operator, DeploymentCreate(name="m", model="m"))
    db.engine.dispose()
    return url, key


def LimitSet_(rpm: int) -> LimitsSet:  # noqa: N802 - reads as the schema it builds
    return LimitsSet(tenant="bench", requests_per_minute=rpm)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    upstream_port, gateway_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", UPSTREAM.replace("{port}", str(upstream_port))]
                )
            )
            wait_until_up(f"http://127.0.0.1:{upstream_port}/health")
            database_url, key = prepare(Path(tmp), upstream_port)
            env = {**os.environ, "GPUFLEET_DATABASE_URL": database_url}
            env.pop("GPUFLEET_REDIS_URL", None)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gpufleet.cli.main",
                        "serve",
                        "--port",
                        str(gateway_port),
                        "--no-default-model",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
            wait_until_up(f"http://127.0.0.1:{gateway_port}/healthz")
            direct = request_bytes("/v1/chat/completions", None)
            gateway = request_bytes("/v1/chat/completions", key)
            asyncio.run(load(gateway_port, gateway, 8, 1.0))  # warm: caches, connections
            results = []
            for concurrency in args.concurrency:
                d = asyncio.run(load(upstream_port, direct, concurrency, args.seconds))
                g = asyncio.run(load(gateway_port, gateway, concurrency, args.seconds))
                results.append(
                    {
                        "concurrency": concurrency,
                        "direct": d,
                        "gateway": g,
                        "added_p50_ms": round(g["p50_ms"] - d["p50_ms"], 3),
                        "added_p99_ms": round(g["p99_ms"] - d["p99_ms"], 3),
                    }
                )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
    at_64 = next((r for r in results if r["concurrency"] == 64), None)
    best = max(r["gateway"]["requests_per_s"] for r in results)
    print(
        json.dumps(
            {
                "benchmark": "gateway_overhead",
                "machine": machine(),
                "seconds_per_run": args.seconds,
                "results": results,
                "targets": {
                    "added_p50_ms_at_64": 1.0,
                    "added_p99_ms_at_64": 10.0,
                    "gateway_requests_per_s": 2000,
                },
                "met": {
                    "added_p50_at_64": bool(at_64 and at_64["added_p50_ms"] <= 1.0),
                    "added_p99_at_64": bool(at_64 and at_64["added_p99_ms"] <= 10.0),
                    "requests_per_s": best >= 2000,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
