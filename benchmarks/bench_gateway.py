"""Gateway overhead, measured three ways in one run (issue 6; targets on 2 cores: added latency
p50 ≤ 1 ms and p99 ≤ 10 ms at 64 concurrent requests; ≥ 2,000 requests/s per gateway process).

1. `saturation`: an upstream that answers at once and a closed loop of 64 clients. The gateway
   is the bottleneck, so its added latency is mostly queueing (Little's law: 64 / throughput),
   not its own cost; what this shows is the most requests/s one gateway process serves.
2. `at_load`: the upstream holds every request for a fixed service time, like a model
   (--service-ms, default 50), and 64 clients call it directly and through the gateway in
   this run (one-second slices taken in turn, so that the shared machine's changing
   background load falls on both alike; the clients start spread over one service time).
   The gateway is not the bottleneck here, so the added latency is its own cost per
   request. The gateway process's CPU time per request (from /proc/<pid>/stat) is a second
   measure of that cost that queueing does not change.
3. `by_concurrency`: the instant upstream at concurrency 1, 16 and 64, direct and through the
   gateway (64 here is the saturation run).

The upstream, the gateway and this load generator are separate processes. The upstream is a
raw asyncio protocol (it reads a request's head and Content-Length and writes a fixed answer),
the load generator a minimal keep-alive HTTP/1.1 client on raw sockets, both on uvloop, so
that their own cost stays small. Unless --no-pin (or on one CPU), the gateway runs
on CPU 0 and the upstream and load generator on CPU 1 (os.sched_setaffinity), so that they do
not take the gateway's core; other people's processes on a shared machine still may. The
gateway does everything it does in production: key lookup (cached), limits (a tenant
requests/min limit that never binds, in-process counters), routing, a token_usage row per
request (batched by the metering thread into SQLite).

--profile FILE runs the gateway under cProfile for one extra instant-upstream run at
concurrency 16 and prints its 25 most expensive functions (own time) to stderr.
Prints JSON.
Usage: python -m benchmarks.bench_gateway [--seconds S] [--service-ms MS] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import machine, percentiles
from gpufleet.bootstrap import open_database
from gpufleet.domain.access import TenantKind
from gpufleet.hosting.schemas import DeploymentCreate, InferenceKeyCreate, LimitsSet, ModelCreate
from gpufleet.services import access, hosting

CONCURRENCY_AT_LOAD = 64
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
ANSWER = json.dumps(
    {
        "id": "up-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "The answer is 42."},
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(ANSWER)).encode()
    + b"\r\n\r\n"
    + ANSWER
)


# --- the upstream: a raw asyncio protocol, run in its own process ---


class UpstreamProtocol(asyncio.Protocol):
    """Keep-alive HTTP/1.1: per request, read the head and Content-Length bytes of body and
    answer RESPONSE after `service_s` (at once when 0). GET answers too (the health check)."""

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's TCPTransport is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            lowered = self.buffer[:end].lower()
            at = lowered.find(b"content-length:")
            if at >= 0:
                line_end = lowered.find(b"\r\n", at)
                line_end = end if line_end < 0 or line_end > end else line_end
                length = int(lowered[at + 15 : line_end])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.service_s:
                asyncio.get_running_loop().call_later(self.service_s, self._answer)
            else:
                self._answer()

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)


def serve_upstream(port: int, service_ms: float) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: UpstreamProtocol(service_ms / 1000), "127.0.0.1", port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    _use_uvloop()
    asyncio.run(run())


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # the standard loop is slower but measures the same thing
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# --- the load generator ---


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


def request_bytes(model: str, token: str | None) -> bytes:
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    ).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Tally:
    """What the closed-loop slices of one side (direct or through the gateway) add up to."""

    samples: list[float] = field(default_factory=list)
    failures: int = 0
    elapsed_s: float = 0.0
    own_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    gateway_waited_s: float = 0.0

    def result(self, with_gateway: bool) -> dict[str, Any]:
        requests = len(self.samples)
        found: dict[str, Any] = {
            **percentiles(self.samples),
            "requests_per_s": round(requests / self.elapsed_s, 1),
            "failures": self.failures,
            "load_generator_cpu_us_per_request": round(self.own_cpu_s / requests * 1e6, 1),
        }
        if with_gateway:
            found["gateway_cpu_us_per_request"] = round(self.gateway_cpu_s / requests * 1e6, 1)
            found["gateway_cpu_busy_fraction"] = round(self.gateway_cpu_s / self.elapsed_s, 3)
            found["gateway_loop_waited_for_cpu_us_per_request"] = round(
                self.gateway_waited_s / requests * 1e6, 1
            )
        return found


async def closed_loop(
    port: int, request: bytes, concurrency: int, seconds: float, spread_s: float, tally: Tally
) -> None:
    connections = [await Connection.open(port) for _ in range(concurrency)]
    stop = time.perf_counter() + seconds

    async def user(connection: Connection, offset_s: float) -> None:
        await asyncio.sleep(offset_s)
        while time.perf_counter() < stop:
            began = time.perf_counter()
            status = await connection.post(request)
            tally.samples.append((time.perf_counter() - began) * 1000)
            tally.failures += status != 200

    # Against an upstream with a fixed service time, clients that start together stay in
    # step: all of them arrive in the same instant, every service time, and the last waits
    # for all the others. Real callers arrive spread out, so the clients start spread over
    # one service time (none when the upstream answers at once).
    began = time.perf_counter()
    await asyncio.gather(*(user(c, spread_s * i / concurrency) for i, c in enumerate(connections)))
    tally.elapsed_s += time.perf_counter() - began
    for connection in connections:
        connection.writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


def waiting_for_cpu_s(pid: int) -> float:
    """Time the process's main thread (the gateway's event loop) was ready to run but waited
    for a CPU that something else had: /proc/<pid>/schedstat, field 2 (ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    direct: tuple[int, bytes],
    gateway: tuple[int, bytes, int],
    concurrency: int,
    seconds: float,
    spread_s: float = 0.0,
) -> dict[str, Any]:
    """Direct (port, request) against through the gateway (port, request, pid), in slices of
    one second taken in turn, so that a change in the machine's background load (it is
    shared) falls on both sides alike. Also the gateway's CPU time per request."""
    sides = (Tally(), Tally())
    slices = max(1, round(seconds))
    runs = ((sides[0], direct[0], direct[1], None), (sides[1], *gateway))
    for _ in range(slices):
        for side, port, request, pid in runs:
            gateway_before = cpu_seconds(pid) if pid else 0.0
            waited_before = waiting_for_cpu_s(pid) if pid else 0.0
            own_before = own_cpu_seconds()
            asyncio.run(closed_loop(port, request, concurrency, seconds / slices, spread_s, side))
            side.own_cpu_s += own_cpu_seconds() - own_before
            if pid:
                side.gateway_cpu_s += cpu_seconds(pid) - gateway_before
                side.gateway_waited_s += waiting_for_cpu_s(pid) - waited_before
    return compare(sides[0].result(False), sides[1].result(True))


def compare(direct: dict[str, Any], gateway: dict[str, Any]) -> dict[str, Any]:
    return {
        "direct": direct,
        "gateway": gateway,
        "added_p50_ms": round(gateway["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(gateway["p99_ms"] - direct["p99_ms"], 3),
    }


# --- the setup ---


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


def prepare(directory: Path, upstreams: dict[str, int]) -> tuple[str, str]:
    """A database with a tenant, its inference key, a limit that never binds (so that the
    limiter's path is in the measurement) and one deployment per upstream (name → port)."""
    url = f"sqlite:///{directory / 'bench.db'}"
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    access.create_tenant(db, operator, "bench", TenantKind.EXTERNAL)
    key = hosting.create_inference_key(db, operator, "bench", InferenceKeyCreate()).api_key
    hosting.set_limits(db, operator, LimitsSet(tenant="bench", requests_per_minute=10**7))
    for name, port in upstreams.items():
        hosting.create_model(
            db,
            operator,
            ModelCreate(
                name=name,
                backend="vllm",
                source=f"url:http://127.0.0.1:{port}",
                input_price_per_million=1,
                output_price_per_million=2,
            ),
        )
        hosting.create_deployment(db, operator, DeploymentCreate(name=name, model=name))
    db.engine.dispose()
    return url, key


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


@contextmanager
def process(
    command: list[str],
    cpus: set[int] | None,
    env: dict[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped with `stop` at the end. Uvicorn re-raises the signal it
    stopped on after shutting down, so a profiled gateway gets SIGINT: that ends in a
    KeyboardInterrupt, and cProfile writes its file on the way out (SIGTERM would kill it)."""
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, preexec_fn=pinned(cpus))
    try:
        yield child
    finally:
        child.send_signal(stop)
        child.wait(timeout=30)


def gateway_command(port: int, profile: str | None) -> list[str]:
    runner = ["-m", "cProfile", "-o", profile] if profile else []
    serve = ["-m", "gpufleet.cli.main", "serve", "--port", str(port), "--no-default-model"]
    return [sys.executable, *runner, *serve]


def run_all(args: argparse.Namespace, gateway_cpus: set[int] | None) -> dict[str, Any]:
    instant_port, loaded_port, gateway_port = free_port(), free_port(), free_port()
    upstream = [sys.executable, "-m", "benchmarks.bench_gateway", "--upstream"]
    other_cpus = None if gateway_cpus is None else set(os.sched_getaffinity(0)) - gateway_cpus
    with (
        tempfile.TemporaryDirectory() as tmp,
        process([*upstream, str(instant_port), "0"], other_cpus),
        process([*upstream, str(loaded_port), str(args.service_ms)], other_cpus),
    ):
        wait_until_up(f"http://127.0.0.1:{instant_port}/health")
        wait_until_up(f"http://127.0.0.1:{loaded_port}/health")
        database_url, key = prepare(Path(tmp), {"m": instant_port, "m-loaded": loaded_port})
        env = {**os.environ, "GPUFLEET_DATABASE_URL": database_url}
        env.pop("GPUFLEET_REDIS_URL", None)
        with process(gateway_command(gateway_port, None), gateway_cpus, env) as gateway:
            wait_until_up(f"http://127.0.0.1:{gateway_port}/healthz")
            instant = request_bytes("m", key)
            loaded = request_bytes("m-loaded", key)
            for request in (instant, loaded):  # warm: caches, upstream connections
                asyncio.run(
                    closed_loop(gateway_port, request, CONCURRENCY_AT_LOAD, 1.0, 0.0, Tally())
                )
            by_concurrency = []
            for concurrency in args.concurrency:
                compared = measure(
                    (instant_port, instant),
                    (gateway_port, instant, gateway.pid),
                    concurrency,
                    args.seconds,
                )
                by_concurrency.append({"concurrency": concurrency, **compared})
            at_load = {
                "concurrency": CONCURRENCY_AT_LOAD,
                "upstream_service_ms": args.service_ms,
                **measure(
                    (loaded_port, loaded),
                    (gateway_port, loaded, gateway.pid),
                    CONCURRENCY_AT_LOAD,
                    args.seconds,
                    args.service_ms / 1000,
                ),
            }
        profile = None
        if args.profile:
            profiled = gateway_command(gateway_port, args.profile)
            with process(profiled, gateway_cpus, env, signal.SIGINT):
                wait_until_up(f"http://127.0.0.1:{gateway_port}/healthz")
                asyncio.run(closed_loop(gateway_port, instant, 16, args.seconds, 0.0, Tally()))
            profile = args.profile
    return {"by_concurrency": by_concurrency, "at_load": at_load, "profile": profile}


def report(args: argparse.Namespace, gateway_cpus: set[int] | None) -> dict[str, Any]:
    found = run_all(args, gateway_cpus)
    by_concurrency, at_load = found["by_concurrency"], found["at_load"]
    saturated = max(by_concurrency, key=lambda r: r["concurrency"])
    best = max(r["gateway"]["requests_per_s"] for r in by_concurrency)
    return {
        "benchmark": "gateway_overhead",
        "machine": machine(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "pinned": (
            {"gateway": sorted(gateway_cpus), "upstream_and_load_generator": "the others"}
            if gateway_cpus
            else None
        ),
        "seconds_per_run": args.seconds,
        "saturation": {
            "what": "instant upstream, closed loop: the gateway is the bottleneck; added "
            "latency here is mostly queueing (concurrency / throughput)",
            "concurrency": saturated["concurrency"],
            "max_requests_per_s": best,
            "queueing_estimate_ms": round(
                1000 * saturated["concurrency"] / saturated["gateway"]["requests_per_s"], 2
            ),
            "added_p50_ms": saturated["added_p50_ms"],
            "added_p99_ms": saturated["added_p99_ms"],
            "gateway_cpu_us_per_request": saturated["gateway"]["gateway_cpu_us_per_request"],
        },
        "at_load": {
            "what": "upstream holds each request for a model-like service time; the gateway "
            "is not the bottleneck: added latency is its own cost",
            **at_load,
        },
        "by_concurrency": by_concurrency,
        "profile": found["profile"],
        "targets": {
            "added_p50_ms_at_64": 1.0,
            "added_p99_ms_at_64": 10.0,
            "gateway_requests_per_s": 2000,
        },
        "met": {
            "added_p50_at_64_at_load": at_load["added_p50_ms"] <= 1.0,
            "added_p99_at_64_at_load": at_load["added_p99_ms"] <= 10.0,
            "added_p50_at_64_saturated": saturated["added_p50_ms"] <= 1.0,
            "added_p99_at_64_saturated": saturated["added_p99_ms"] <= 10.0,
            "requests_per_s": best >= 2000,
        },
    }


def print_profile(path: str) -> None:
    stats = pstats.Stats(path, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--service-ms", type=float, default=50.0)
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the processes")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the gateway into FILE")
    parser.add_argument(
        "--upstream", nargs=2, metavar=("PORT", "SERVICE_MS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(int(args.upstream[0]), float(args.upstream[1]))
        return
    cpus = sorted(os.sched_getaffinity(0))
    gateway_cpus = None if args.no_pin or len(cpus) < 2 else {cpus[0]}
    if gateway_cpus:  # this load generator runs with the upstreams, off the gateway's CPU
        os.sched_setaffinity(0, set(cpus) - gateway_cpus)
    _use_uvloop()
    result = report(args, gateway_cpus)
    print(json.dumps(result, indent=2))
    if args.profile:
        print_profile(args.profile)


if __name__ == "__main__":
    main()
