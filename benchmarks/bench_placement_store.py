"""The placement engine on the database, Colossus-sized (163,328 nodes).

Measures: accepting the example's rental requests one by one through the service (lock,
place, write lease and assignments, commit), the cold load of the engine in a new process
(topology, node map, every stored assignment restored), and a rebuild after another
process wrote (node map kept), and catching up after one accept by another process: hold by
hold against a full rebuild (ADR 0006), then the same after releases that change a growing
share of the live entries (what `PlacementCache.reload_share` weighs). Prints JSON.
Usage: python -m benchmarks.bench_placement_store [--postgres URL] [--requests N] [--foreign N]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from benchmarks.common import COLOSSUS, count_rows, percentiles, print_on_both_databases
from gpufleet.adapters.db.tables import rental_requests
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.bootstrap import open_database
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict
from gpufleet.planning.scenario import RentalTerms, load_scenario_file
from gpufleet.services import access, fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.placement import PlacementCache, placement_session, read_placer

TENANT = "meridian-ai"  # a customer of colossus.yaml: the foreign accepts are its requests


def run(url: str, requests: int, foreign: int) -> dict[str, object]:
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
    reload = _reload_after_foreign_accept(db, operator, cache, foreign)
    by_share = _catch_up_by_share(db, cache)
    db.engine.dispose()
    return {
        "accepts": len(samples), "refused": refused, "accept_latency": percentiles(samples),
        "assignment_rows": rows, "cold_load_empty_s": round(first_load, 3),
        "cold_load_s": round(cold, 3), "rebuild_after_other_writer_s": round(rebuild, 3),
        "reload_after_one_foreign_accept": reload, "catch_up_by_changed_share": by_share,
    }  # fmt: skip


def _catch_up_by_share(db: Database, writer: PlacementCache) -> list[dict[str, object]]:
    """What `PlacementCache.reload_share` weighs: `writer` releases leases half-way through
    until about 2.5, 10, 25 then 50% of the live entries changed; one reader catches up, one
    rebuilds (seconds, one round each; the leases released are gone for the next round)."""
    figures: list[dict[str, object]] = []
    done: set[str] = set()
    for share in (0.025, 0.1, 0.25, 0.5):
        caught, rebuilt = PlacementCache(reload_share=math.inf), PlacementCache(reload_share=0)
        for reader in (caught, rebuilt):
            read_placer(db, reader)
        with placement_session(db, writer) as s:
            live = int(s.placer.bookings.calendar.nlive.sum())
            changed, picked = 0, []
            for holder, hold in sorted(s.placer.bookings.holds.items()):
                if changed >= share * live:
                    break
                r = hold.request
                if holder in done or hold.ended or hold.end < r.end or r.end <= s.clock:
                    continue
                changed += hold.live
                picked.append(holder)
                s.placer.release(holder, max(s.clock, (r.start + r.end) // 2))
            s.save(picked)
        done.update(picked)
        times = {}
        for name, reader in (("catch_up_s", caught), ("rebuild_s", rebuilt)):
            began = time.perf_counter()
            read_placer(db, reader)
            times[name] = round(time.perf_counter() - began, 3)
        assert (caught.rebuilds, rebuilt.rebuilds) == (1, 2)  # each went its own way
        figures.append({"changed_share": round(changed / live, 3), "holds": len(picked), **times})
    return figures


def _reload_after_foreign_accept(
    db: Database, operator: Principal, writer: PlacementCache, accepts: int
) -> dict[str, object]:
    """One process (`writer`) accepts a new small request; two others, in step before it,
    catch up: one hold by hold (the default), one by a full rebuild (reload_share 0, as
    before ADR 0006's amendment). Median and spread of `accepts` such rounds."""
    tenant = access.authenticate(db, access.create_key(db, operator, TENANT, "bench", None).token)
    start = db.clock() + timedelta(days=30)
    terms = RentalTerms.model_validate({"gpu_model": "H100", "gpus": 64, "start": start,
                                        "end": start + timedelta(days=7),
                                        "price_per_gpu_hour": 2.0})  # fmt: skip
    incremental, full = PlacementCache(), PlacementCache(reload_share=0.0)
    times: dict[str, list[float]] = {"incremental": [], "full": []}
    for _ in range(accepts):
        request = rentals.submit_request(db, tenant, terms)
        for reader in (incremental, full):
            read_placer(db, reader)
        rentals.accept_request(db, operator, request.id, writer)
        for name, reader in (("incremental", incremental), ("full", full)):
            began = time.perf_counter()
            read_placer(db, reader)
            times[name].append((time.perf_counter() - began) * 1000)
    figures: dict[str, object] = {name: percentiles(ms) for name, ms in times.items()}
    # Each went its own way: the incremental one never rebuilt, the other never caught up.
    figures["rebuilds"] = {"incremental": incremental.rebuilds - 1, "full": full.rebuilds - 1}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("GPUFLEET_TEST_POSTGRES_URL"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--foreign", type=int, default=9, help="rounds of one foreign accept")
    args = parser.parse_args()
    print_on_both_databases(
        "placement store on colossus.yaml",
        lambda url: run(url, args.requests, args.foreign),
        args.postgres,
    )


if __name__ == "__main__":
    main()
