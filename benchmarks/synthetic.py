"""Seeded synthetic scenarios at benchmark scale: N requests over P days or weeks.

A Colossus-like fleet (H100 from the start, GB200 from a quarter in), a frontier run that needs
most of the GB200 until 60% of the horizon, a second model, steady inference, and requests of
mixed size, length, price and class spread over the horizon. Demand exceeds what is free, so
the planner has to choose.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from gpufleet.planning.scenario import Scenario, parse_scenario

START = date(2027, 1, 4)
PRICES = {"H100": (1.8, 2.8), "GB200": (3.0, 4.8)}


def synthetic(requests: int, periods: int, period: str = "week", seed: int = 1) -> Scenario:
    rng = random.Random(seed)
    days = periods * (7 if period == "week" else 1)

    def on(day: float) -> str:
        return (START + timedelta(days=int(day))).isoformat()

    clusters = [
        {"name": "h100", "gpu_model": "H100", "gpus_per_node": 8, "nodes_per_block": 1,
         "blocks_per_pod": 512, "pods": 25},  # 102,400 GPUs
        {"name": "gb200", "gpu_model": "GB200", "gpus_per_node": 4, "nodes_per_block": 18,
         "blocks_per_pod": 64, "pods": 22, "online_from": on(days * 0.25)},  # 101,376 GPUs
    ]  # fmt: skip
    gb_hours = 101_376 * 0.97 * 2.5 * 24 * days * 0.35  # H100-equivalent, first 60%
    programs: list[dict[str, Any]] = [
        {"name": "frontier", "kind": "training", "gpu_models": ["GB200", "H100"],
         "work_gpu_hours": round(gb_hours * 0.9), "due": on(days * 0.6),
         "delay_cost_per_day": 20_000_000},
        {"name": "second", "kind": "training", "gpu_models": ["GB200", "H100"],
         "work_gpu_hours": round(gb_hours * 0.3), "max_gpus": 40_000,
         "earliest_start": on(days * 0.5), "due": on(days * 0.9), "delay_cost_per_day": 3_000_000},
        {"name": "inference", "kind": "inference", "gpu_models": ["H100", "GB200"],
         "gpus": 15_000},
    ]  # fmt: skip
    rentals = []
    for r in range(requests):
        model = rng.choice(["H100", "H100", "GB200"])
        low, high = PRICES[model]
        interruptible = rng.random() < 0.15
        price = rng.uniform(low, high) * (0.6 if interruptible else 1.0)
        length = max(1, int(days * rng.choice([0.04, 0.1, 0.25, 0.5])))
        begin = rng.uniform(0, days - 1)
        rentals.append({
            "id": f"r{r:04d}", "customer": f"c{rng.randrange(40):02d}", "gpu_model": model,
            "gpus": rng.choice([256, 512, 1024, 2048, 4096, 8192, 16384]),
            "start": on(begin), "end": on(begin + length),
            "price_per_gpu_hour": round(price, 2),
            "class": "interruptible" if interruptible else "reserved",
            "notice_hours": 24 if interruptible else 0,
        })  # fmt: skip
    return parse_scenario({
        "version": 1, "name": f"synthetic-{requests}x{periods}{period}",
        "horizon": {"start": START.isoformat(), "period": period, "periods": periods},
        "reliability": {"unavailable_fraction": 0.03},
        "gpu_models": [{"name": "H100"}, {"name": "GB200", "relative_throughput": 2.5}],
        "clusters": clusters, "programs": programs, "rental_requests": rentals,
    })  # fmt: skip
