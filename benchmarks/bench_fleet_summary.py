"""`GET /v1/fleet` latency at Colossus size, over real HTTP (uvicorn on a socket).

Target (issue 2): p99 ≤ 50 ms. Prints JSON.
Usage: python -m benchmarks.bench_fleet_summary [--postgres URL] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from benchmarks.common import machine, percentiles, scratch_database
from gpufleet.api.app import create_app
from gpufleet.bootstrap import open_database
from gpufleet.domain.fleet import NodeState
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import access, fleet

SCENARIO = Path(__file__).parents[1] / "src" / "gpufleet" / "examples" / "colossus.yaml"


def serve(app: object) -> tuple[str, uvicorn.Server]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server URL; default: SQLite")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with scratch_database(args.postgres) as database_url:
        db = open_database(database_url)
        token = access.init_admin(db, another=True).token
        operator = access.authenticate(db, token)
        fleet.import_scenario(db, operator, load_scenario_file(SCENARIO))
        # A few nodes not up, as in a real fleet, so the state counts have work to do.
        for node_id in range(1, 2001, 7):
            fleet.set_node_state(db, operator, node_id, NodeState.DOWN, "bench")
        url, server = serve(create_app(db))
        samples = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in range(20):
                client.get("/v1/fleet").raise_for_status()
            for _ in range(args.requests):
                began = time.perf_counter()
                client.get("/v1/fleet").raise_for_status()
                samples.append((time.perf_counter() - began) * 1000)
        server.should_exit = True
        db.engine.dispose()
        stats = percentiles(samples)
        json.dump({
            "benchmark": "GET /v1/fleet at Colossus size",
            "database": db.engine.dialect.name,
            "nodes": sum(c.nodes for c in load_scenario_file(SCENARIO).clusters),
            **stats,
            "target_p99_ms": 50.0,
            "meets_target": stats["p99_ms"] <= 50.0,
            "machine": machine(),
        }, sys.stdout, indent=2)  # fmt: skip
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
