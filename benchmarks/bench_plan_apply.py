"""Applying a plan on Colossus (163,328 nodes): contracts all or none, then the internal
programs booked as the lab's own holds, best effort; and the leases recorded from the
scenario placed as a simulation run does first.

Steps, each timed on SQLite (and PostgreSQL with --postgres): import colossus.yaml; place
the recorded leases (`POST /v1/ops/place-recorded-leases`, what `POST /v1/ops/advance` does
before it runs); plan (re-planned without each request the engine cannot place, as an
operator would); apply it with no programs (contracts only); apply it again with the
default program lookahead (28 days: contracts skipped, programs booked); then a new plan
applied with programs over the whole horizon (which first releases the earlier program
holds). Reports seconds, GPUs booked and short, and stored assignment rows. Prints JSON.
Usage: python -m benchmarks.bench_plan_apply [--postgres URL] [--days N]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import COLOSSUS, count_rows, print_on_both_databases
from gpufleet.adapters.db.tables_placement import node_assignments
from gpufleet.bootstrap import open_database
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import access, fleet, plans, rentals
from gpufleet.services.database import Database


def _timed(what: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = what()
    return result, round(time.perf_counter() - began, 3)


def _applied(done: plans.Applied, seconds: float, db: Database) -> dict[str, Any]:
    p = done.programs
    return {
        "seconds": seconds, "contracts_placed": len(done.accepted),
        "program_holds": sum(1 for h in p.holds if h.placed),
        "program_gpus_wanted": sum(h.wanted for h in p.holds),
        "program_gpus_placed": sum(h.placed for h in p.holds),
        "program_holds_short": sum(1 for h in p.holds if h.short),
        "released": len(p.released), "later_periods": p.later_periods,
        "assignment_rows_after": count_rows(db, node_assignments),
    }  # fmt: skip


def _plan(db: Database, operator: Principal, rejected: list[str]) -> tuple[str, float]:
    job = plans.submit_plan(db, operator, {"gap": 1e-3, "force_reject": rejected})
    _, seconds = _timed(lambda: plans.run_plan(db, job.id))
    return job.id, seconds


def run(url: str, days: int) -> dict[str, Any]:
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    scenario = load_scenario_file(COLOSSUS)
    start = datetime.combine(scenario.horizon.start, datetime.min.time(), UTC)
    db.clock = lambda: start  # type: ignore[method-assign]
    _, imported = _timed(lambda: fleet.import_scenario(db, operator, scenario))
    recorded, placed_s = _timed(lambda: rentals.place_recorded(db, operator))
    rejected: list[str] = []
    job_id, planned = _plan(db, operator, rejected)
    none = timedelta(0)
    while True:  # a request the engine cannot place (contiguous, blocks) is re-planned out
        began = time.perf_counter()
        try:
            first = plans.apply_plan(db, operator, job_id, program_lookahead=none)
        except Conflict as refusal:
            found = re.search(r"rental request '([^']+)'", refusal.message)
            if found is None or len(rejected) >= 30:
                raise
            rejected.append(found.group(1))
            job_id, _ = _plan(db, operator, rejected)
            continue
        contracts = _applied(first, round(time.perf_counter() - began, 3), db)
        break
    # The same plan again: its contracts are skipped, its programs of the next 28 days booked.
    done, seconds = _timed(lambda: plans.apply_plan(db, operator, job_id))
    near = _applied(done, seconds, db)
    again, _ = _plan(db, operator, rejected)
    whole = timedelta(days=days)
    done, seconds = _timed(lambda: plans.apply_plan(db, operator, again, program_lookahead=whole))
    far = _applied(done, seconds, db)
    db.engine.dispose()
    return {
        "import_s": imported,
        "recorded_leases": {
            "seconds": placed_s,
            "placed": len(recorded.placed),
            "refused": len(recorded.refused),
        },
        "plan_s": planned,
        "replanned_without": rejected,
        "apply_contracts_only": contracts,
        "apply_same_plan_programs_28_days": near,
        f"apply_next_plan_programs_{days}_days": far,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("GPUFLEET_TEST_POSTGRES_URL"))
    parser.add_argument("--days", type=int, default=728, help="lookahead of the second apply")
    args = parser.parse_args()
    print_on_both_databases(
        "plan apply with internal programs, colossus.yaml",
        lambda url: run(url, args.days),
        args.postgres,
    )


if __name__ == "__main__":
    main()
