"""colossus.yaml: the Colossus-class lab, its fleet, programs and ~200 seeded rental requests."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from gpufleet.planning.scenario import Horizon

from .colossus_data import (
    CLUSTERS,
    CUSTOMERS,
    FRONTIER_DELAY,
    FRONTIER_DUE,
    GPU_MODELS,
    H_START,
    LEASES,
    MEGADEAL_END,
    MEGADEAL_GPUS,
    MEGADEAL_ID,
    MEGADEAL_START,
    N_RANDOM_REQUESTS,
    PERIODS,
    REASONING_DELAY,
    REASONING_DUE,
    REASONING_MAX,
    REASONING_START,
    REASONING_WORK,
    REQUEST_MODELS,
    RESEARCH_GPUS,
    UNAVAILABLE,
    WINDOW_MONTHS,
    WINDOW_WEEKS,
)
from .colossus_story import colossus_story, frontier_work, megadeal_price
from .colossus_text import colossus_text
from .story import first_period, installed_by_model, to_scenario
from .yaml_out import Price


def product_inference_ramp() -> list[int]:
    """H100-equivalent GPUs for the lab's product: 24k -> 140k over two years, convex ramp."""
    out = []
    for t in range(PERIODS):
        x = t / (PERIODS - 1)
        out.append(round((24_000 + 116_000 * x**1.5) / 8) * 8)
    return out


def _skeleton() -> dict[str, Any]:
    """The document without training programs and requests: what they are sized against."""
    clusters = []
    for name, model, gpn, npb, bpp, pods, on in CLUSTERS:
        c: dict[str, Any] = {
            "name": name,
            "gpu_model": model,
            "gpus_per_node": gpn,
            "nodes_per_block": npb,
            "blocks_per_pod": bpp,
            "pods": pods,
        }
        if on is not None:
            c["online_from"] = on
        clusters.append(c)
    return {
        "version": 1,
        "name": "colossus",
        "horizon": {"start": H_START, "period": "week", "periods": PERIODS},
        "reliability": {"unavailable_fraction": UNAVAILABLE},
        "gpu_models": [{"name": n, "relative_throughput": r} for n, r in GPU_MODELS],
        "clusters": clusters,
        "programs": [
            {
                "name": "research-experiments",
                "kind": "inference",
                "gpu_models": ["H100", "H200"],
                "gpus": RESEARCH_GPUS,
            },
            {
                "name": "product-inference",
                "kind": "inference",
                "gpu_models": ["H100", "H200", "GB200"],
                "gpus": product_inference_ramp(),
            },
        ],
        "leases": LEASES,
    }


def _training_programs(work: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "frontier-pretrain",
            "kind": "training",
            "gpu_models": ["GB200", "GB300"],
            "work_gpu_hours": work,
            "earliest_start": H_START,
            "due": FRONTIER_DUE,
            "delay_cost_per_day": FRONTIER_DELAY,
        },
        {
            "name": "reasoning-model",
            "kind": "training",
            "gpu_models": ["GB200", "GB300"],
            "work_gpu_hours": REASONING_WORK,
            "max_gpus": REASONING_MAX,
            "earliest_start": REASONING_START,
            "due": REASONING_DUE,
            "delay_cost_per_day": REASONING_DELAY,
        },
    ]


def _megadeal() -> dict[str, Any]:
    hours = (MEGADEAL_END - MEGADEAL_START).days * 24
    return dict(
        id=MEGADEAL_ID,
        customer="hyperscaler-a",
        gpu_model="GB300",
        gpus=MEGADEAL_GPUS,
        start=MEGADEAL_START,
        end=MEGADEAL_END,
        price_per_gpu_hour=Price(megadeal_price(MEGADEAL_GPUS, hours)),
        **{"class": "reserved"},
        contiguous=False,
    )


def build_colossus() -> str:
    """The text of colossus.yaml. Sizes come from gpufleet's reading of the skeleton."""
    doc = _skeleton()
    skeleton = to_scenario(doc, "colossus.yaml (skeleton)")
    hz = skeleton.horizon
    doc["programs"] = [*_training_programs(frontier_work(skeleton, FRONTIER_DUE)), *doc["programs"]]
    online = {
        m: min(c.online_from or hz.start for c in skeleton.clusters if c.gpu_model == m).date()
        for m, _ in GPU_MODELS
    }
    pod_gpus = {
        m: min(c.installed_gpus // c.pods for c in skeleton.clusters if c.gpu_model == m)
        for m, _ in GPU_MODELS
    }
    # nobody asks for more than a third of a model's final fleet (the megadeal aside)
    max_ask = {m: n // 3 for m, n in installed_by_model(skeleton).items()}
    doc["rental_requests"] = [_megadeal(), *gen_requests(hz, online, pod_gpus, max_ask)]
    scn = to_scenario(doc, "colossus.yaml")
    return colossus_text(doc, scn, colossus_story(scn))


def gen_requests(
    hz: Horizon, online: dict[str, dt.date], pod_gpus: dict[str, int], max_ask: dict[str, int]
) -> list[dict[str, Any]]:
    """The seeded random requests rfq-001.. (max_ask: the largest size asked per model)."""
    rng = random.Random(7)
    h_start, h_end = hz.start.date(), hz.end.date()
    names = list(CUSTOMERS)
    cweights = [CUSTOMERS[c][0] for c in names]
    models = list(REQUEST_MODELS)
    mweights = [REQUEST_MODELS[m][0] for m in models]
    out: list[dict[str, Any]] = []
    for i in range(1, N_RANDOM_REQUESTS + 1):
        customer = rng.choices(names, cweights)[0]
        _, biggest, span_w = CUSTOMERS[customer]
        model = rng.choices(models, mweights)[0]
        _, unit, lo, hi = REQUEST_MODELS[model]
        interruptible = rng.random() < 0.15
        span = rng.choices(["short", "medium", "long"], span_w)[0]
        if interruptible and span == "long":
            span = "medium"
        # size: log-uniform between 512 GPUs and the customer's largest ask, whole units
        size = math.exp(rng.uniform(math.log(512), math.log(min(biggest, max_ask[model]))))
        contiguous = (not interruptible) and rng.random() < (0.35 if unit == 72 else 0.15)
        if contiguous:
            size = min(size, pod_gpus[model])  # a contiguous ask fits one pod
        gpus = max(math.ceil(512 / unit), round(size / unit)) * unit
        # window: Monday-aligned weeks (70%) or calendar months from the 1st (30%)
        first = max(h_start, online[model])
        last_start = h_end - dt.timedelta(days=28)
        if rng.random() < 0.7:
            wk0 = first_period(hz, first)
            wk1 = (last_start - h_start).days // 7
            start = hz.period_start(rng.randint(wk0, wk1)).date()
            weeks = rng.choice(WINDOW_WEEKS[span])
            end = start + dt.timedelta(weeks=weeks)
        else:
            months = []
            y, mo = first.year, first.month
            if first.day != 1:
                y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
            while dt.date(y, mo, 1) <= last_start:
                months.append(dt.date(y, mo, 1))
                y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
            start = rng.choice(months)
            n = rng.choice(WINDOW_MONTHS[span])
            y, mo = divmod(start.month - 1 + n, 12)
            end = dt.date(start.year + y, mo + 1, 1)
        # price: somewhere in the model's range, pushed down for volume and length
        weeks_long = (end - start).days / 7
        bigness = (
            min(1.0, math.log(gpus / 512) / math.log(64)) * 0.6 + min(1.0, weeks_long / 156) * 0.4
        )
        u = rng.random() * (1 - 0.6 * bigness)
        price = lo + (hi - lo) * u
        req: dict[str, Any] = {
            "id": f"rfq-{i:03d}",
            "customer": customer,
            "gpu_model": model,
            "gpus": gpus,
            "start": start,
            "end": end,
        }
        if interruptible:
            price *= rng.uniform(0.55, 0.75)
            req["price_per_gpu_hour"] = Price(round(price, 2))
            req["class"] = "interruptible"
            req["notice_hours"] = rng.choices([2, 24, 72], [0.4, 0.4, 0.2])[0]
        else:
            req["price_per_gpu_hour"] = Price(round(price, 2))
            req["class"] = "reserved"
            if contiguous:
                req["contiguous"] = True
        out.append(req)
    return out
