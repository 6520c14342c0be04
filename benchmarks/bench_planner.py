"""Planner speed (issue 3 targets, 2 cores). Prints JSON with the bound and gap of each solve.

- examples/colossus.yaml: within 0.1% in ≤ 10 s
- 1,000 requests × 104 weeks: within 0.5% in ≤ 60 s
- 300 requests × 730 days: within 1% in ≤ 120 s
Usage: python -m benchmarks.bench_planner [--only colossus|weeks|days]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import machine
from benchmarks.synthetic import synthetic
from gpufleet.planning.planner import Planner
from gpufleet.planning.scenario import Scenario, load_scenario_file

COLOSSUS = Path(__file__).parents[1] / "src" / "gpufleet" / "examples" / "colossus.yaml"


def case(name: str, scenario: Scenario, gap: float, target_s: float) -> dict[str, object]:
    began = time.perf_counter()
    result = Planner(scenario).plan(gap=gap, time_limit=target_s)
    seconds = time.perf_counter() - began
    return {
        "case": name,
        "requests": len(scenario.rental_requests),
        "periods": scenario.horizon.periods,
        "period": scenario.horizon.period,
        "status": result.status,
        "objective_usd": round(result.objective, 2),
        "bound_usd": round(result.bound, 2),
        "gap": result.gap,
        "target_gap": gap,
        "seconds": round(seconds, 3),
        "target_s": target_s,
        "meets_target": result.gap <= gap and seconds <= target_s,
        "accepted": len(result.accepted_ids),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["colossus", "weeks", "days"])
    args = parser.parse_args()
    cases = {
        "colossus": lambda: case("colossus.yaml", load_scenario_file(COLOSSUS), 1e-3, 10),
        "weeks": lambda: case("1000 requests x 104 weeks", synthetic(1000, 104), 5e-3, 60),
        "days": lambda: case("300 requests x 730 days", synthetic(300, 730, "day"), 1e-2, 120),
    }
    chosen = [args.only] if args.only else list(cases)
    results = []
    for name in chosen:
        print(f"solving {name} …", file=sys.stderr)
        results.append(cases[name]())
    json.dump({"benchmark": "planner", "machine": machine(), "cases": results}, sys.stdout,
              indent=2)  # fmt: skip
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
