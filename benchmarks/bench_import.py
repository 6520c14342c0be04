"""Import time of examples/colossus.yaml on SQLite and (when reachable) PostgreSQL.

Targets (issue 2): ≤ 30 s on SQLite, ≤ 60 s on PostgreSQL. Prints JSON.
Usage: python -m benchmarks.bench_import [--postgres URL] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import machine, scratch_database
from gpufleet.bootstrap import open_database
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import access, fleet

SCENARIO = Path(__file__).parents[1] / "src" / "gpufleet" / "examples" / "colossus.yaml"


def import_once(url: str) -> float:
    db = open_database(url)
    operator = access.authenticate(db, access.init_admin(db).token)
    scenario = load_scenario_file(SCENARIO)
    began = time.perf_counter()
    fleet.import_scenario(db, operator, scenario)
    seconds = time.perf_counter() - began
    db.engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("GPUFLEET_TEST_POSTGRES_URL"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scenario = load_scenario_file(SCENARIO)
    result: dict[str, object] = {
        "benchmark": "import colossus.yaml",
        "nodes": sum(c.nodes for c in scenario.clusters),
        "machine": machine(),
    }

    def timed(postgres_url: str | None) -> float:
        with scratch_database(postgres_url) as url:
            return import_once(url)

    runs = {"sqlite": [timed(None) for _ in range(args.repeat)]}
    if args.postgres:
        runs["postgresql"] = [timed(args.postgres) for _ in range(args.repeat)]
    targets = {"sqlite": 30.0, "postgresql": 60.0}
    for kind, seconds in runs.items():
        median = statistics.median(seconds)
        result[kind] = {
            "median_s": round(median, 3),
            "runs_s": [round(s, 3) for s in seconds],
            "target_s": targets[kind],
            "meets_target": median <= targets[kind],
            "nodes_per_s": round(int(str(result["nodes"])) / median),
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
