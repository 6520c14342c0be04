"""The placement engine on the database, Colossus-sized (163,328 nodes).

Measures: accepting the example's rental requests one by one through the service (lock,
place, write lease and assignments, commit), the cold load of the engine in a new process
(topology, node map, every stored assignment restored), and a rebuild after another
process wrote (node map kept). Prints JSON.
Usage: python -m benchmarks.bench_placement_store [--postgres URL] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

from sqlalchemy import select

from benchmarks.common import COLOSSUS, count_rows, percentiles, print_on_both_databases
from gpufleet.adapters.db.tables import rental_requests
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.bootstrap import open_database
from gpufleet.domain.errors import Conflict
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import access, fleet, rentals
from gpufleet.services.placement import PlacementCache, read_placer


def run(url: str, requests: int) -> dict[str, object]:
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    scenario = load_scenario_file(COLOSSUS)
    fleet.import_scenario(db, operator, scenario)
    db.clock = lambda: datetime.combine(scenario.horizon.start, datetime.min.time(), UTC)
    with db.read() as conn:
        ids = list(conn.execute(select(rental_requests.c.id).order_by("id")).scalars())
    cache = PlacementCache()
    began = time.perf_counter()
    read_placer(db, cache)
    first_load = time.perf_counter() - began
    samples, refused = [], 0
    for request_id in ids[:requests]:
        began = time.perf_counter()
        try:
            rentals.accept_request(db, operator, request_id, cache)
        except Conflict:
            refused += 1
        samples.append((time.perf_counter() - began) * 1000)
    rows = count_rows(db, node_assignments)
    began = time.perf_counter()
    read_placer(db, PlacementCache())
    cold = time.perf_counter() - began
    other = PlacementCache()
    read_placer(db, other)
    other.version = -2  # as if another process had written since
    began = time.perf_counter()
    read_placer(db, other)
    rebuild = time.perf_counter() - began
    db.engine.dispose()
    return {
        "accepts": len(samples), "refused": refused, "accept_latency": percentiles(samples),
        "assignment_rows": rows, "cold_load_empty_s": round(first_load, 3),
        "cold_load_s": round(cold, 3), "rebuild_after_other_writer_s": round(rebuild, 3),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("GPUFLEET_TEST_POSTGRES_URL"))
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print_on_both_databases(
        "placement store on colossus.yaml", lambda url: run(url, args.requests), args.postgres
    )


if __name__ == "__main__":
    main()
