#!/usr/bin/env python3
"""Generate the example scenarios shipped with gpufleet (scenario format version 1).

Writes, deterministically (fixed seed, no clock, no environment):

* ``src/gpufleet/examples/colossus.yaml`` -- the real scale of the story: an AI lab that owns
  Colossus-class supercomputers (~200k H100/H200 plus ~550k GB200/GB300 coming online in
  stages), trains its own frontier model, serves its product and is offered ~200 rental
  requests over two years, among them a ~110k GB300 / ~$6.3B three-year "megadeal".
* ``src/gpufleet/examples/small.yaml`` -- a hand-readable scenario (three clusters, 26 weeks,
  two programs, seven requests, one lease) written from the literal text below.

Both files are re-loaded with ``yaml.safe_load`` and checked against the contract in
``shared/design/SCENARIO.md``: known keys only, known GPU models, positive counts, end > start,
unique names and ids, list lengths, and -- the important one -- that the signed leases plus the
inference needs never exceed capacity C[m,t] = floor((1 - unavailable_fraction) x installed GPUs
of model m online in period t) in any period. The script exits non-zero if any check fails.

It also prints the arithmetic behind the numbers (installed GPUs, the frontier run's work and
why the megadeal makes it slip, the megadeal's price and value, demand against free capacity).

Usage::

    .venv/bin/python scripts/make_examples.py            # write both files and print figures
    .venv/bin/python scripts/make_examples.py --check    # only re-check the files on disk

Standard library + PyYAML only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "gpufleet" / "examples"
COLOSSUS_PATH = EXAMPLES / "colossus.yaml"
SMALL_PATH = EXAMPLES / "small.yaml"

D = dt.date.fromisoformat


class CheckError(Exception):
    """A generated scenario breaks the contract or the intent of the example."""


# ---------------------------------------------------------------------------------------------
# Period arithmetic, exactly as SCENARIO.md defines it
# ---------------------------------------------------------------------------------------------


class Horizon:
    def __init__(self, start: dt.date, period: str, periods: int) -> None:
        if period not in ("day", "week"):
            raise CheckError(f"horizon.period: must be day or week, not {period!r}")
        self.start = start
        self.days = 1 if period == "day" else 7
        self.hours = 24 * self.days
        self.periods = periods
        self.end = start + dt.timedelta(days=self.days * periods)

    def period_start(self, t: int) -> dt.date:
        return self.start + dt.timedelta(days=self.days * t)

    def first_period_on_or_after(self, d: dt.date) -> int:
        """Index of the first period starting on or after d (may be >= periods)."""
        delta = (d - self.start).days
        return max(0, -(-delta // self.days))

    def occupied(self, start: dt.date, end: dt.date) -> range:
        """Periods overlapping [start, end) -- the whole period, even partly."""
        if end <= self.start or start >= self.end:
            return range(0)
        first = max(0, (start - self.start).days // self.days)
        last = min(self.periods - 1, -(-(end - self.start).days // self.days) - 1)
        return range(first, last + 1)

    def hours_inside(self, start: dt.date, end: dt.date) -> int:
        lo, hi = max(start, self.start), min(end, self.end)
        return max(0, (hi - lo).days * 24)


def installed(cluster: dict[str, Any]) -> int:
    return int(
        cluster["pods"]
        * cluster["blocks_per_pod"]
        * cluster["nodes_per_block"]
        * cluster["gpus_per_node"]
    )


def capacity_table(doc: dict[str, Any], hz: Horizon) -> dict[str, list[int]]:
    """C[m][t] = floor((1 - unavailable_fraction) * installed GPUs of model m online in t)."""
    keep = 1.0 - float(doc.get("reliability", {}).get("unavailable_fraction", 0.0))
    raw: dict[str, list[int]] = {g["name"]: [0] * hz.periods for g in doc["gpu_models"]}
    for c in doc["clusters"]:
        on = hz.first_period_on_or_after(c["online_from"]) if "online_from" in c else 0
        off = hz.first_period_on_or_after(c["offline_from"]) if "offline_from" in c else hz.periods
        for t in range(on, min(off, hz.periods)):
            raw[c["gpu_model"]][t] += installed(c)
    # floor((1 - f) x n) computed exactly for fractions given with few decimals
    return {m: [math.floor(round(keep * n, 6)) for n in row] for m, row in raw.items()}


def inference_needs(doc: dict[str, Any], hz: Horizon) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for p in doc["programs"]:
        if p["kind"] == "inference":
            g = p["gpus"]
            out[p["name"]] = (
                [float(x) for x in g] if isinstance(g, list) else [float(g)] * hz.periods
            )
    return out


def lease_load(doc: dict[str, Any], hz: Horizon) -> dict[str, list[int]]:
    load: dict[str, list[int]] = {g["name"]: [0] * hz.periods for g in doc["gpu_models"]}
    for r in doc.get("leases", []):
        for t in hz.occupied(r["start"], r["end"]):
            load[r["gpu_model"]][t] += r["gpus"]
    return load


def request_load(doc: dict[str, Any], hz: Horizon) -> dict[str, list[int]]:
    load: dict[str, list[int]] = {g["name"]: [0] * hz.periods for g in doc["gpu_models"]}
    for r in doc.get("rental_requests", []):
        for t in hz.occupied(r["start"], r["end"]):
            load[r["gpu_model"]][t] += r["gpus"]
    return load


# ---------------------------------------------------------------------------------------------
# Validation (our own reading of SCENARIO.md; the package's loader is checked separately)
# ---------------------------------------------------------------------------------------------

TOP_KEYS = {
    "version",
    "name",
    "horizon",
    "reliability",
    "gpu_models",
    "clusters",
    "programs",
    "rental_requests",
    "leases",
}
HORIZON_KEYS = {"start", "period", "periods"}
RELIABILITY_KEYS = {"unavailable_fraction"}
MODEL_KEYS = {"name", "relative_throughput"}
CLUSTER_KEYS = {
    "name",
    "gpu_model",
    "gpus_per_node",
    "nodes_per_block",
    "blocks_per_pod",
    "pods",
    "online_from",
    "offline_from",
}
CLUSTER_REQUIRED = CLUSTER_KEYS - {"online_from", "offline_from"}
TRAINING_KEYS = {
    "name",
    "kind",
    "gpu_models",
    "work_gpu_hours",
    "max_gpus",
    "earliest_start",
    "due",
    "delay_cost_per_day",
}
TRAINING_REQUIRED = {"name", "kind", "gpu_models", "work_gpu_hours", "due", "delay_cost_per_day"}
INFERENCE_KEYS = {"name", "kind", "gpu_models", "gpus"}
REQUEST_KEYS = {
    "id",
    "customer",
    "gpu_model",
    "gpus",
    "start",
    "end",
    "price_per_gpu_hour",
    "class",
    "notice_hours",
    "contiguous",
}
REQUEST_REQUIRED = {"id", "customer", "gpu_model", "gpus", "start", "end", "price_per_gpu_hour"}


def _keys(path: str, obj: Any, allowed: set[str], required: set[str]) -> None:
    if not isinstance(obj, dict):
        raise CheckError(f"{path}: must be a mapping")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise CheckError(f"{path}.{unknown[0]}: unknown key")
    missing = sorted(required - set(obj))
    if missing:
        raise CheckError(f"{path}.{missing[0]}: required")


def _pos(path: str, v: Any, *, integer: bool = False) -> None:
    ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok_type or v <= 0:
        raise CheckError(f"{path}: must be a positive {'integer' if integer else 'number'}")


def _date(path: str, v: Any) -> None:
    # safe_load turns a plain YYYY-MM-DD scalar into a date; we only ever write plain dates
    if type(v) is not dt.date:
        raise CheckError(f"{path}: must be a plain YYYY-MM-DD date, got {v!r}")


def _price_2dp(path: str, v: float) -> None:
    if abs(round(v * 100) - v * 100) > 1e-6:
        raise CheckError(f"{path}: more than two decimals ({v})")


def validate(doc: Any) -> tuple[Horizon, dict[str, list[int]]]:
    """Check the contract; return the horizon and the capacity table."""
    _keys("", doc, TOP_KEYS, TOP_KEYS - {"leases", "rental_requests", "reliability"})
    if doc["version"] != 1 or isinstance(doc["version"], bool):
        raise CheckError("version: must be 1")
    _keys("horizon", doc["horizon"], HORIZON_KEYS, HORIZON_KEYS)
    _date("horizon.start", doc["horizon"]["start"])
    _pos("horizon.periods", doc["horizon"]["periods"], integer=True)
    hz = Horizon(doc["horizon"]["start"], doc["horizon"]["period"], doc["horizon"]["periods"])
    _keys("reliability", doc.get("reliability", {}), RELIABILITY_KEYS, set())
    uf = doc.get("reliability", {}).get("unavailable_fraction", 0.0)
    if not 0 <= uf < 1:
        raise CheckError("reliability.unavailable_fraction: must be in [0, 1)")

    models: dict[str, float] = {}
    for i, g in enumerate(doc["gpu_models"]):
        _keys(f"gpu_models[{i}]", g, MODEL_KEYS, {"name"})
        if g["name"] in models:
            raise CheckError(f"gpu_models[{i}].name: duplicate {g['name']}")
        rt = g.get("relative_throughput", 1.0)
        _pos(f"gpu_models[{i}].relative_throughput", rt)
        models[g["name"]] = float(rt)

    names: set[str] = set()
    for i, c in enumerate(doc["clusters"]):
        p = f"clusters[{i}]"
        _keys(p, c, CLUSTER_KEYS, CLUSTER_REQUIRED)
        if c["name"] in names:
            raise CheckError(f"{p}.name: duplicate {c['name']}")
        names.add(c["name"])
        if c["gpu_model"] not in models:
            raise CheckError(f"{p}.gpu_model: unknown GPU model {c['gpu_model']}")
        for k in ("gpus_per_node", "nodes_per_block", "blocks_per_pod", "pods"):
            _pos(f"{p}.{k}", c[k], integer=True)
        for k in ("online_from", "offline_from"):
            if k in c:
                _date(f"{p}.{k}", c[k])
        if "online_from" in c and "offline_from" in c and c["offline_from"] <= c["online_from"]:
            raise CheckError(f"{p}.offline_from: must be after online_from")

    pnames: set[str] = set()
    for i, prog in enumerate(doc["programs"]):
        p = f"programs[{i}]"
        kind = prog.get("kind") if isinstance(prog, dict) else None
        if kind == "training":
            _keys(p, prog, TRAINING_KEYS, TRAINING_REQUIRED)
            _pos(f"{p}.work_gpu_hours", prog["work_gpu_hours"])
            _pos(f"{p}.delay_cost_per_day", prog["delay_cost_per_day"])
            if "max_gpus" in prog:
                _pos(f"{p}.max_gpus", prog["max_gpus"], integer=True)
            _date(f"{p}.due", prog["due"])
            if "earliest_start" in prog:
                _date(f"{p}.earliest_start", prog["earliest_start"])
                if prog["earliest_start"] >= prog["due"]:
                    raise CheckError(f"{p}.due: must be after earliest_start")
        elif kind == "inference":
            _keys(p, prog, INFERENCE_KEYS, INFERENCE_KEYS)
            g = prog["gpus"]
            if isinstance(g, list):
                if len(g) != hz.periods:
                    raise CheckError(f"{p}.gpus: list of {len(g)}, expected {hz.periods}")
                for t, x in enumerate(g):
                    _pos(f"{p}.gpus[{t}]", x)
            else:
                _pos(f"{p}.gpus", g)
        else:
            raise CheckError(f"{p}.kind: must be training or inference")
        if prog["name"] in pnames:
            raise CheckError(f"{p}.name: duplicate {prog['name']}")
        pnames.add(prog["name"])
        if not prog["gpu_models"] or len(set(prog["gpu_models"])) != len(prog["gpu_models"]):
            raise CheckError(f"{p}.gpu_models: must be a non-empty list without repeats")
        for m in prog["gpu_models"]:
            if m not in models:
                raise CheckError(f"{p}.gpu_models: unknown GPU model {m}")

    ids: set[str] = set()
    for section in ("rental_requests", "leases"):
        for i, r in enumerate(doc.get(section, [])):
            p = f"{section}[{i}]"
            _keys(p, r, REQUEST_KEYS, REQUEST_REQUIRED)
            if r["id"] in ids:
                raise CheckError(f"{p}.id: duplicate {r['id']}")
            ids.add(r["id"])
            if r["gpu_model"] not in models:
                raise CheckError(f"{p}.gpu_model: unknown GPU model {r['gpu_model']}")
            _pos(f"{p}.gpus", r["gpus"], integer=True)
            _pos(f"{p}.price_per_gpu_hour", r["price_per_gpu_hour"])
            _price_2dp(f"{p}.price_per_gpu_hour", r["price_per_gpu_hour"])
            _date(f"{p}.start", r["start"])
            _date(f"{p}.end", r["end"])
            if r["end"] <= r["start"]:
                raise CheckError(f"{p}.end: must be after start")
            cls = r.get("class", "reserved")
            if cls not in ("reserved", "interruptible"):
                raise CheckError(f"{p}.class: must be reserved or interruptible")
            if cls == "interruptible":
                _pos(f"{p}.notice_hours", r.get("notice_hours", 0))
            if not isinstance(r.get("contiguous", False), bool):
                raise CheckError(f"{p}.contiguous: must be true or false")
            if r["start"] >= hz.end or r["end"] <= hz.start:
                raise CheckError(f"{p}: window lies entirely outside the horizon")

    cap = capacity_table(doc, hz)
    check_leases_and_inference_fit(doc, hz, cap, models)
    return hz, cap


def check_leases_and_inference_fit(
    doc: dict[str, Any], hz: Horizon, cap: dict[str, list[int]], rt: dict[str, float]
) -> None:
    """Leases + inference must fit C[m,t] in every period, or the plan is infeasible.

    Per period this is a transportation problem: inference program k needs gpus_k[t]
    H100-equivalents (y[k,m] x relative_throughput_m summed over its models), model m offers
    free_m = C[m,t] - leases[m,t] GPUs, i.e. free_m x rt_m equivalents. By Hall's theorem (the
    max-flow/min-cut of this bipartite network) it is feasible iff free_m >= 0 for every m and,
    for every subset S of inference programs, sum of their needs <= the equivalents offered by
    the union of their models.
    """
    lease = lease_load(doc, hz)
    need = inference_needs(doc, hz)
    allowed = {p["name"]: set(p["gpu_models"]) for p in doc["programs"] if p["kind"] == "inference"}
    problems: list[str] = []
    for t in range(hz.periods):
        free = {m: cap[m][t] - lease[m][t] for m in cap}
        for m, f in free.items():
            if f < 0:
                problems.append(
                    f"period {t} ({hz.period_start(t)}): {m} leases {lease[m][t]} > capacity "
                    f"{cap[m][t]}"
                )
        for size in range(1, len(need) + 1):
            for subset in itertools.combinations(sorted(need), size):
                demand = sum(need[k][t] for k in subset)
                union = set().union(*(allowed[k] for k in subset))
                supply = sum(max(0, free[m]) * rt[m] for m in union)
                if demand > supply + 1e-9:
                    problems.append(
                        f"period {t} ({hz.period_start(t)}): inference {'+'.join(subset)} needs "
                        f"{demand:.0f} H100-eq but {'/'.join(sorted(union))} offer {supply:.0f} "
                        f"after leases"
                    )
    if problems:
        raise CheckError(
            "leases + inference exceed capacity (the plan would be infeasible):\n  "
            + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )


# ---------------------------------------------------------------------------------------------
# YAML emission: compact, one flow mapping per list item, plain dates
# ---------------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


class Price(float):
    """A money amount written with exactly two decimals."""


def scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Price):
        return f"{v:.2f}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = repr(v)
        if "e" in s or "inf" in s or "nan" in s:
            raise ValueError(f"refusing to write float {s} (PyYAML reads 1e9 as a string)")
        return s
    if isinstance(v, str):
        if _PLAIN.match(v) and v.lower() not in _RESERVED:
            return v
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def wrapped_list(values: Sequence[Any], indent: int, width: int = 96) -> list[str]:
    """A flow sequence spread over several lines, continuation lines indented by `indent`."""
    lines: list[str] = []
    cur = "["
    for i, v in enumerate(values):
        piece = scalar(v) + (", " if i < len(values) - 1 else "]")
        if len(cur) + len(piece.rstrip()) > width - indent and cur.strip() != "[":
            lines.append(cur.rstrip())
            cur = " " * indent + " "
        cur += piece
    lines.append(cur)
    return lines


# ---------------------------------------------------------------------------------------------
# colossus.yaml
# ---------------------------------------------------------------------------------------------

H_START = D("2027-01-04")  # a Monday
PERIODS = 104
UNAVAILABLE = 0.03

GPU_MODELS = [
    ("H100", 1.0),
    ("H200", 1.3),
    ("GB200", 2.5),
    ("GB300", 3.2),
]

# name, model, gpus_per_node, nodes_per_block, blocks_per_pod, pods, online_from
CLUSTERS: list[tuple[str, str, int, int, int, int, dt.date | None]] = [
    # Colossus 1: HGX 8-GPU nodes; a node is its own NVLink domain, so one node per block;
    # 512 nodes (4,096 GPUs) per pod = one non-blocking network domain.
    ("colossus1-h100", "H100", 8, 1, 512, 37, None),  # 151,552 H100
    ("colossus1-h200", "H200", 8, 1, 512, 12, None),  # 49,152 H200
    # Colossus 2: NVL72 racks = 18 compute trays x 4 GPUs; the rack is the NVLink block.
    ("colossus2-gb200-a", "GB200", 4, 18, 64, 20, None),  # 92,160 GB200, 64-rack pods
    ("colossus2-gb200-b", "GB200", 4, 18, 64, 22, D("2027-03-01")),  # +101,376 GB200
    ("colossus2-gb300-a", "GB300", 4, 18, 128, 16, D("2027-06-07")),  # 147,456 GB300, 128-rack pods
    ("colossus2-gb300-b", "GB300", 4, 18, 128, 12, D("2027-11-01")),  # +110,592 GB300
    ("colossus2-gb300-c", "GB300", 4, 18, 128, 11, D("2028-04-03")),  # +101,376 GB300
]

FRONTIER_DUE = D("2027-10-04")
# $50M a day: more than the whole GB fleet earns rented out at market prices (~$35M a day at
# the median GB200/GB300 ask, printed by the script), so the lab keeps its own run on time
# unless a deal pays more than the run's lateness costs. At $15M a day the planner would
# rent most GB capacity out and let the run slip by months.
FRONTIER_DELAY = 50_000_000
FRONTIER_SLACK = 0.05  # the run fits by its due date with 5% of the GB capacity to spare

REASONING_START = D("2027-10-04")
REASONING_DUE = D("2028-06-05")
REASONING_DELAY = 4_000_000
REASONING_MAX = 150_000
REASONING_WORK = 1_600_000_000  # H100-hours; >= 20 weeks at max_gpus on GB300

RESEARCH_GPUS = 16_384

MEGADEAL_ID = "rfq-gb300-megadeal"
MEGADEAL_GPUS = 110_016  # 1,528 GB300 NVL72 racks
MEGADEAL_START = D("2027-07-05")
MEGADEAL_END = D("2030-07-05")  # three years
MEGADEAL_VALUE = 6.3e9

LEASES: list[dict[str, Any]] = [
    dict(
        id="lease-h100-meridian",
        customer="meridian-ai",
        gpu_model="H100",
        gpus=20_000,
        start=D("2027-01-04"),
        end=D("2028-01-03"),
        price_per_gpu_hour=Price(2.10),
        **{"class": "reserved"},
    ),
    dict(
        id="lease-h200-helix",
        customer="helix-labs",
        gpu_model="H200",
        gpus=8_192,
        start=D("2027-01-04"),
        end=D("2027-07-05"),
        price_per_gpu_hour=Price(2.65),
        **{"class": "reserved"},
        contiguous=True,
    ),
    dict(
        id="lease-gb200-northwind",
        customer="northwind-ai",
        gpu_model="GB200",
        gpus=18_432,
        start=D("2027-03-01"),
        end=D("2028-02-28"),
        price_per_gpu_hour=Price(3.95),
        **{"class": "reserved"},
    ),
    dict(
        id="lease-h100-tidal-spot",
        customer="tidal-compute",
        gpu_model="H100",
        gpus=4_096,
        start=D("2027-02-01"),
        end=D("2027-08-02"),
        price_per_gpu_hour=Price(1.35),
        **{"class": "interruptible"},
        notice_hours=24,
    ),
    dict(
        id="lease-gb300-orbital",
        customer="orbital-ml",
        gpu_model="GB300",
        gpus=9_216,
        start=D("2027-12-06"),
        end=D("2028-12-04"),
        price_per_gpu_hour=Price(4.60),
        **{"class": "reserved"},
        contiguous=True,
    ),
]

# customer -> (weight, largest request in GPUs, typical window weights: short, medium, long)
CUSTOMERS: dict[str, tuple[float, int, tuple[float, float, float]]] = {
    "hyperscaler-a": (3.0, 49_152, (0.1, 0.3, 0.6)),
    "hyperscaler-b": (3.0, 40_960, (0.1, 0.3, 0.6)),
    "hyperscaler-c": (2.0, 32_768, (0.1, 0.4, 0.5)),
    "meridian-ai": (2.0, 24_576, (0.2, 0.4, 0.4)),
    "helix-labs": (2.0, 16_384, (0.3, 0.4, 0.3)),
    "northwind-ai": (2.0, 24_576, (0.2, 0.4, 0.4)),
    "orbital-ml": (1.5, 16_384, (0.3, 0.4, 0.3)),
    "tidal-compute": (2.0, 12_288, (0.5, 0.4, 0.1)),
    "quanta-research": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "lumen-ai": (1.0, 8_192, (0.4, 0.4, 0.2)),
    "sable-robotics": (1.0, 6_144, (0.5, 0.4, 0.1)),
    "fjord-models": (1.0, 8_192, (0.4, 0.4, 0.2)),
    "cobalt-bio": (0.7, 4_096, (0.6, 0.3, 0.1)),
    "vector-forge": (1.0, 12_288, (0.4, 0.4, 0.2)),
    "aurora-gen": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "kestrel-ai": (1.0, 16_384, (0.3, 0.4, 0.3)),
    "pinecrest-labs": (0.7, 4_096, (0.6, 0.3, 0.1)),
    "nimbus-cloud": (1.5, 24_576, (0.2, 0.4, 0.4)),
    "atlas-agents": (1.0, 8_192, (0.5, 0.4, 0.1)),
    "zephyr-video": (1.0, 12_288, (0.4, 0.4, 0.2)),
}

# model -> (weight, GPUs per unit, reserved price range USD/GPU-hour)
REQUEST_MODELS: dict[str, tuple[float, int, float, float]] = {
    "H100": (0.28, 8, 1.80, 2.80),
    "H200": (0.20, 8, 2.30, 3.30),
    "GB200": (0.27, 72, 3.00, 4.80),
    "GB300": (0.25, 72, 3.80, 6.00),
}
N_RANDOM_REQUESTS = 199  # + the megadeal = 200
WINDOW_WEEKS = {"short": [4, 6, 8, 13], "medium": [13, 26, 39, 52], "long": [52, 78, 104, 156]}
WINDOW_MONTHS = {"short": [1, 2, 3], "medium": [3, 6, 9, 12], "long": [12, 18, 24, 36]}


def product_inference_ramp() -> list[int]:
    """H100-equivalent GPUs for the lab's product: 24k -> 140k over two years, convex ramp."""
    out = []
    for t in range(PERIODS):
        x = t / (PERIODS - 1)
        out.append(round((24_000 + 116_000 * x**1.5) / 8) * 8)
    return out


def gen_requests(
    hz: Horizon, online: dict[str, dt.date], pod_gpus: dict[str, int], max_ask: dict[str, int]
) -> list[dict[str, Any]]:
    """The seeded random requests rfq-001.. (max_ask: the largest size asked per model)."""
    rng = random.Random(7)
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
        first = max(hz.start, online[model])
        last_start = hz.end - dt.timedelta(days=28)
        if rng.random() < 0.7:
            wk0 = hz.first_period_on_or_after(first)
            wk1 = (last_start - hz.start).days // 7
            start = hz.period_start(rng.randint(wk0, wk1))
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


def gb_free_for_frontier(
    hz: Horizon,
    cap: dict[str, list[int]],
    lease: dict[str, list[int]],
    need: dict[str, list[float]],
    h_free_eq: list[float],
    rt: dict[str, float],
) -> list[float]:
    """H100-equivalent GB200+GB300 GPUs per period left for training after leases and the
    inference spill-over that H100/H200 cannot carry (spill goes to GB200, the only GB model
    product-inference may use)."""
    out = []
    total_inf = [sum(v[t] for v in need.values()) for t in range(hz.periods)]
    for t in range(hz.periods):
        spill_eq = max(0.0, total_inf[t] - h_free_eq[t])
        gb200 = cap["GB200"][t] - lease["GB200"][t] - spill_eq / rt["GB200"]
        gb300 = cap["GB300"][t] - lease["GB300"][t]
        out.append(gb200 * rt["GB200"] + gb300 * rt["GB300"])
    return out


def finish_period(work: float, rate_eq: Sequence[float], hours: int, first: int = 0) -> int | None:
    done = 0.0
    for t in range(first, len(rate_eq)):
        done += max(0.0, rate_eq[t]) * hours
        if done >= work:
            return t
    return None


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def build_colossus() -> tuple[str, list[str]]:
    hz = Horizon(H_START, "week", PERIODS)
    rt = dict(GPU_MODELS)
    report: list[str] = []
    say = report.append

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
    online = {
        m: min(c.get("online_from", hz.start) for c in clusters if c["gpu_model"] == m)
        for m, _ in GPU_MODELS
    }
    pod_gpus = {
        m: min(
            c["blocks_per_pod"] * c["nodes_per_block"] * c["gpus_per_node"]
            for c in clusters
            if c["gpu_model"] == m
        )
        for m, _ in GPU_MODELS
    }

    # skeleton document for the derived tables (programs filled in below)
    ramp = product_inference_ramp()
    leases = LEASES
    doc: dict[str, Any] = {
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
                "gpus": ramp,
            },
        ],
        "leases": leases,
    }
    cap = capacity_table(doc, hz)
    lease = lease_load(doc, hz)
    need = inference_needs(doc, hz)
    h_free_eq = [
        (cap["H100"][t] - lease["H100"][t]) * rt["H100"]
        + (cap["H200"][t] - lease["H200"][t]) * rt["H200"]
        for t in range(PERIODS)
    ]

    # ---- installed GPUs -------------------------------------------------------------------
    say("== colossus.yaml ==")
    say("Installed GPUs (capacity C after 3% unavailable):")
    tot_inst = 0
    for c in clusters:
        n = installed(c)
        tot_inst += n
        say(
            f"  {c['name']:<20} {c['gpu_model']:<6} {fmt_int(n):>9}  online "
            f"{c.get('online_from', hz.start)} (period "
            f"{hz.first_period_on_or_after(c.get('online_from', hz.start))})"
        )
    by_model = defaultdict(int)
    for c in clusters:
        by_model[c["gpu_model"]] += installed(c)
    say(
        "  per model: "
        + ", ".join(f"{m} {fmt_int(n)}" for m, n in by_model.items())
        + f"; total {fmt_int(tot_inst)} (H100/H200 {fmt_int(by_model['H100'] + by_model['H200'])},"
        f" GB200/GB300 {fmt_int(by_model['GB200'] + by_model['GB300'])})"
    )
    say(
        "  capacity C at t=0 / t=38 / t=103: "
        + ", ".join(f"{m} {cap[m][0]}/{cap[m][38]}/{cap[m][103]}" for m in cap)
    )

    # ---- frontier pre-training: size the work so that it fits by its due date with 5% slack
    due_t = hz.first_period_on_or_after(FRONTIER_DUE) - 1  # last period ending by the due date
    gb_rate = gb_free_for_frontier(hz, cap, lease, need, h_free_eq, rt)
    max_by_due = sum(gb_rate[: due_t + 1]) * hz.hours
    work = math.floor(max_by_due * (1 - FRONTIER_SLACK) / 1e7) * 10_000_000
    mega_t = hz.occupied(MEGADEAL_START, MEGADEAL_END)
    mega_eq = MEGADEAL_GPUS * rt["GB300"]
    rate_mega = [r - (mega_eq if t in mega_t else 0.0) for t, r in enumerate(gb_rate)]
    f0 = finish_period(work, gb_rate, hz.hours)
    f1 = finish_period(work, rate_mega, hz.hours)
    assert f0 is not None
    assert f1 is not None
    fin0 = hz.period_start(f0 + 1)
    fin1 = hz.period_start(f1 + 1)
    slip1 = max(0, (fin1 - FRONTIER_DUE).days)
    lost = sum(mega_eq for t in mega_t if t <= due_t) * hz.hours
    say("")
    say(
        "frontier-pretrain (GB200 x2.5, GB300 x3.2 H100-equivalents; all GB capacity left "
        "after leases and inference spill-over):"
    )
    say(
        f"  due {FRONTIER_DUE} = end of period {due_t}; GB H100-eq GPUs available: "
        f"t=0 {fmt_int(gb_rate[0])}, t=8 {fmt_int(gb_rate[8])}, t=22 {fmt_int(gb_rate[22])}, "
        f"t=38 {fmt_int(gb_rate[38])}"
    )
    say(
        f"  most work doable by due date = sum_t<= {due_t} avail x 168 h = "
        f"{fmt_int(max_by_due)} H100-hours"
    )
    say(
        f"  work_gpu_hours = that x (1 - {FRONTIER_SLACK}) rounded down = {fmt_int(work)} "
        f"(~{work / 30.8e6:.0f}x Llama 3.1 405B's 30.8M H100-hours)"
    )
    say(
        f"  without the megadeal and with no GB rental: finishes end of period {f0} = {fin0} "
        f"(slack {fmt_int(max_by_due - work)} H100-hours = "
        f"{(max_by_due - work) / (gb_rate[due_t] * hz.hours):.1f} weeks at the t={due_t} rate)"
    )
    say(
        f"  the megadeal takes {MEGADEAL_GPUS} GB300 x 3.2 = {fmt_int(mega_eq)} H100-eq from "
        f"period {mega_t.start} ({hz.period_start(mega_t.start)}): "
        f"{fmt_int(lost)} H100-hours before the due date, > the slack"
    )
    say(
        f"  with the megadeal: finishes end of period {f1} = {fin1}: slip {slip1} days, delay "
        f"cost {slip1} x ${FRONTIER_DELAY:,} = ${slip1 * FRONTIER_DELAY:,}"
    )
    if not (f0 <= due_t < f1):
        raise CheckError("frontier sizing: the megadeal must be what makes the run slip")

    med = {}
    for m in ("GB200", "GB300"):
        lo, hi = REQUEST_MODELS[m][2:]
        med[m] = (lo + hi) / 2
    fleet_day = sum((cap[m][due_t] - lease[m][due_t]) * med[m] * 24 for m in med)
    say(
        f"  delay cost ${FRONTIER_DELAY:,}/day vs the GB capacity free at t={due_t} rented at "
        f"mid-range prices (GB200 ${med['GB200']:.2f}, GB300 ${med['GB300']:.2f}): "
        f"${fleet_day:,.0f}/day"
    )
    # reasoning-model check: doable after frontier, on GB at max_gpus
    say("")
    say(
        f"reasoning-model: {fmt_int(REASONING_WORK)} H100-hours, max {REASONING_MAX} GPUs, "
        f"{REASONING_START} .. {REASONING_DUE}: at max_gpus on GB300 = "
        f"{REASONING_WORK / (REASONING_MAX * rt['GB300'] * hz.hours):.1f} weeks, on GB200 = "
        f"{REASONING_WORK / (REASONING_MAX * rt['GB200'] * hz.hours):.1f} weeks; window "
        f"{(REASONING_DUE - REASONING_START).days // 7} weeks"
    )

    doc["programs"] = [
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
        *doc["programs"],
    ]

    # ---- the megadeal ---------------------------------------------------------------------
    mega_hours = (MEGADEAL_END - MEGADEAL_START).days * 24
    mega_price = round(MEGADEAL_VALUE / (MEGADEAL_GPUS * mega_hours), 2)
    mega_total = MEGADEAL_GPUS * mega_hours * mega_price
    mega_in = MEGADEAL_GPUS * hz.hours_inside(MEGADEAL_START, MEGADEAL_END) * mega_price
    say("")
    say(
        f"{MEGADEAL_ID}: {MEGADEAL_GPUS} GB300 ({MEGADEAL_GPUS // 72} NVL72 racks), "
        f"{MEGADEAL_START} .. {MEGADEAL_END} = {mega_hours} h; price = $6.3B / "
        f"({MEGADEAL_GPUS} x {mega_hours}) = {MEGADEAL_VALUE / (MEGADEAL_GPUS * mega_hours):.4f}"
        f" -> ${mega_price:.2f}/GPU-hour"
    )
    say(
        f"  total contract value {MEGADEAL_GPUS} x {mega_hours} x {mega_price:.2f} = "
        f"${mega_total:,.2f}; inside the horizon "
        f"({hz.hours_inside(MEGADEAL_START, MEGADEAL_END)} h) ${mega_in:,.2f}"
    )
    say(
        f"  GB300 capacity at {MEGADEAL_START} (period {mega_t.start}): "
        f"{cap['GB300'][mega_t.start]} >= {MEGADEAL_GPUS}"
    )
    if cap["GB300"][mega_t.start] < MEGADEAL_GPUS:
        raise CheckError("megadeal: not enough GB300 online at its start")
    megadeal = dict(
        id=MEGADEAL_ID,
        customer="hyperscaler-a",
        gpu_model="GB300",
        gpus=MEGADEAL_GPUS,
        start=MEGADEAL_START,
        end=MEGADEAL_END,
        price_per_gpu_hour=Price(mega_price),
        **{"class": "reserved"},
        contiguous=False,
    )
    # nobody asks for more than a third of a model's final fleet (the megadeal aside)
    max_ask = {m: by_model[m] // 3 for m, _ in GPU_MODELS}
    requests = [megadeal, *gen_requests(hz, online, pod_gpus, max_ask)]
    doc["rental_requests"] = requests

    # ---- demand vs free -------------------------------------------------------------------
    req = request_load(doc, hz)
    say("")
    say(
        f"rental_requests: {len(requests)} from {len({r['customer'] for r in requests})} "
        f"customers; leases: {len(leases)}"
    )
    cnt = Counter((r["gpu_model"], r.get("class", "reserved")) for r in requests)
    for m, _ in GPU_MODELS:
        rs = [r for r in requests if r["gpu_model"] == m]
        prices = [r["price_per_gpu_hour"] for r in rs if r.get("class") == "reserved"]
        sizes = [r["gpus"] for r in rs]
        say(
            f"  {m:<6} reserved {cnt[(m, 'reserved')]:>3}, interruptible "
            f"{cnt[(m, 'interruptible')]:>2}, contiguous "
            f"{sum(bool(r.get('contiguous')) for r in rs):>2}; GPUs {min(sizes)}..{max(sizes)}; "
            f"reserved price {min(prices):.2f}..{max(prices):.2f}"
        )
    past = sum(r["end"] > hz.end for r in requests)
    say(f"  {past} requests end past the horizon ({hz.end})")
    # free for rentals = C - leases - internal use; internal use of H = inference (placed on
    # H first), of GB = inference spill-over; training is left out (it is what the planner
    # trades against), so this is an upper bound of what rentals could get.
    total_inf = [sum(v[t] for v in need.values()) for t in range(PERIODS)]
    say("  requested vs free (C - leases - inference, training not counted), GPUs:")
    for m, _ in GPU_MODELS:
        free = []
        for t in range(PERIODS):
            f = cap[m][t] - lease[m][t]
            if m in ("H100", "H200"):
                # inference fills H100 first then H200, proportionally to effective capacity
                share = ((cap[m][t] - lease[m][t]) * rt[m]) / h_free_eq[t]
                f -= min(total_inf[t], h_free_eq[t]) * share / rt[m]
            elif m == "GB200":
                f -= max(0.0, total_inf[t] - h_free_eq[t]) / rt[m]
            free.append(f)
        busy = [t for t in range(PERIODS) if cap[m][t] > 0]
        peak = max(busy, key=lambda t: req[m][t] / max(1.0, free[t]))
        over = sum(req[m][t] > free[t] for t in busy)
        gh_req = sum(
            r["gpus"] * hz.hours_inside(r["start"], r["end"])
            for r in requests
            if r["gpu_model"] == m
        )
        gh_free = sum(max(0.0, f) for f in free) * hz.hours
        say(
            f"    {m:<6} requests exceed free in {over:>3}/{len(busy)} periods; peak t={peak} "
            f"requested {fmt_int(req[m][peak])} vs free {fmt_int(free[peak])}; GPU-hours in "
            f"horizon requested {gh_req / 1e9:.2f}B vs free {gh_free / 1e9:.2f}B"
        )
    gh_req_all = sum(r["gpus"] * hz.hours_inside(r["start"], r["end"]) for r in requests)
    cap_all = sum(sum(v) for v in cap.values()) * hz.hours
    lease_all = sum(sum(v) for v in lease.values()) * hz.hours
    gb_eq_free = (
        sum((cap[m][t] - lease[m][t]) * rt[m] for m in ("GB200", "GB300") for t in range(PERIODS))
        * hz.hours
    )
    gb_eq_req = sum(
        r["gpus"] * hz.hours_inside(r["start"], r["end"]) * rt[r["gpu_model"]]
        for r in requests
        if r["gpu_model"] in ("GB200", "GB300")
    )
    say(
        f"  GB200+GB300 in H100-eq-hours: capacity after leases {gb_eq_free / 1e9:.2f}B, "
        f"training needs {(work + REASONING_WORK) / 1e9:.2f}B, leaving "
        f"{(gb_eq_free - work - REASONING_WORK) / 1e9:.2f}B; GB requests ask "
        f"{gb_eq_req / 1e9:.2f}B (x{gb_eq_req / (gb_eq_free - work - REASONING_WORK):.2f})"
    )
    say(
        f"  all models: requested {gh_req_all / 1e9:.2f}B GPU-hours in the horizon; capacity "
        f"{cap_all / 1e9:.2f}B, leases {lease_all / 1e9:.2f}B, inference "
        f"{sum(total_inf) * hz.hours / 1e9:.2f}B H100-eq, frontier {work / 1e9:.2f}B + reasoning "
        f"{REASONING_WORK / 1e9:.2f}B H100-eq"
    )

    # ---- text -----------------------------------------------------------------------------
    lines: list[str] = []
    w = lines.append
    w("# colossus.yaml -- gpufleet example scenario (format version 1, see SCENARIO.md)")
    w("#")
    w("# GENERATED by scripts/make_examples.py (random.Random(7)); edit the script, not this file.")
    w("#")
    w("# An AI lab owns Colossus-class supercomputers: Colossus 1 (~200k H100/H200 in 8-GPU HGX")
    w("# nodes) and Colossus 2 (GB200, then GB300 NVL72 racks coming online in stages to ~550k")
    w(
        f"# GPUs). It trains its own frontier model (due {FRONTIER_DUE}, "
        f"${FRONTIER_DELAY / 1e6:.0f}M for each day late), a"
    )
    w("# reasoning model in 2028, runs research and a growing product on inference, and is offered")
    w(f"# {len(requests)} rental requests over two years -- first among them {MEGADEAL_ID}:")
    w(
        f"# {MEGADEAL_GPUS:,} GB300 for three years at ${mega_price:.2f}/GPU-hour "
        f"(~${mega_total / 1e9:.2f}B in all, ${mega_in / 1e9:.2f}B inside the horizon)."
    )
    w(f"# Without it the frontier run can finish {fin0} (on time, {FRONTIER_SLACK:.0%} slack);")
    w(
        f"# with it, and nothing else rented on GB, it finishes {fin1}: {slip1} days late, "
        f"${slip1 * FRONTIER_DELAY / 1e6:,.0f}M of delay cost."
    )
    w("# The planner decides which requests are worth what they cost the roadmap.")
    w("# Signed leases + inference fit capacity in every period (checked by the script).")
    w("")
    w("version: 1")
    w("name: colossus")
    w(f"horizon: {scalar(doc['horizon'])}   # 104 weeks, to {hz.end}")
    w(f"reliability: {scalar(doc['reliability'])}   # 3% of GPUs down at any time")
    w("")
    w("# Relative throughput per GPU in H100-equivalents for large-model training. H200: same")
    w("# Hopper compute, 141 GB HBM3e at 4.8 TB/s vs 80 GB at 3.35 TB/s -> ~1.3x on large models.")
    w("# GB200: ~2.5x an H100 per GPU (2.25-2.5 PFLOPS dense BF16/FP8-class vs ~1, plus NVL72's")
    w("# 72-GPU NVLink domain). GB300 (Blackwell Ultra): ~1.3x GB200 (more FP4/attention compute,")
    w("# 288 GB HBM3e) -> 3.2. Round figures; tune them to your own benchmarks.")
    w("gpu_models:")
    for g in doc["gpu_models"]:
        w(f"  - {scalar(g)}")
    w("")
    w("# Colossus 1: one HGX node (8 GPUs) is its own NVLink domain -> nodes_per_block 1;")
    w("# 512 nodes = 4,096 GPUs per pod (network domain).")
    w("# Colossus 2: an NVL72 rack = 18 trays x 4 GPUs = one 72-GPU block; 64-rack (GB200) or")
    w("# 128-rack (GB300) pods, online in stages.")
    w("clusters:")
    for c in clusters:
        w(f"  - {scalar(c)}   # {installed(c):,} {c['gpu_model']}")
    w("")
    w("programs:")
    w(f"  # Sized by the script: {FRONTIER_SLACK:.0%} less than all GB capacity left after leases")
    w(f"  # can do by {FRONTIER_DUE} ({fmt_int(max_by_due)} H100-hours).")
    w(f"  # ${FRONTIER_DELAY / 1e6:.0f}M a day late: more than the free GB capacity would earn")
    w(f"  # rented at mid-range prices (~${fleet_day / 1e6:.0f}M a day), so the run comes before")
    w(f"  # ordinary deals; the megadeal alone makes it {slip1} days late.")
    w(f"  - {scalar(doc['programs'][0])}")
    w(f"  - {scalar(doc['programs'][1])}")
    w("  # Steady stream of experiments, modelled as a constant GPU need on Hopper.")
    w(f"  - {scalar(doc['programs'][2])}")
    w("  # The lab's own product: H100-equivalent GPUs per week, 24k -> 140k over two years.")
    w("  - name: product-inference")
    w("    kind: inference")
    w("    gpu_models: [H100, H200, GB200]")
    body = wrapped_list(ramp, indent=len("    gpus: "))
    w("    gpus: " + body[0])
    lines.extend(body[1:])
    w("")
    w(f"# {len(requests)} requests: {MEGADEAL_ID} first, then rfq-001.. (seeded random mix of")
    w("# customers, models, sizes, windows, prices; ~15% interruptible at a discount).")
    w("rental_requests:")
    for r in requests:
        w(f"  - {scalar(r)}")
    w("")
    w("# Already signed: always kept.")
    w("leases:")
    for r in leases:
        w(f"  - {scalar(r)}")
    return "\n".join(lines) + "\n", report


# ---------------------------------------------------------------------------------------------
# small.yaml (hand-written; the script writes it verbatim and checks it)
# ---------------------------------------------------------------------------------------------

SMALL_YAML = """\
# small.yaml -- a gpufleet scenario small enough to read in a few minutes (format version 1).
# Written by scripts/make_examples.py (verbatim from the script) and checked by it.
#
# A lab with two H100 clusters (one retired in May) and one GB200 NVL72 cluster arriving in
# February. It trains model-v2 (due 2027-06-07) and serves a chat API, and has seven rental
# requests to choose from. Capacity C = floor(0.97 x installed):
#   H100  3,072 installed -> 2,979 (periods 0-16), then 2,048 -> 1,986 (periods 17-25)
#   GB200 2,304 installed -> 2,234 from period 4 (2027-02-01)
# model-v2 needs 15,000,000 H100-hours on GB200 (x2.5): all 2,234 GB200 do 938,280 a week,
# so it needs 16 of the 18 weeks from 2027-02-01 to its due date. rfq-7 alone makes it one
# week late ($2.8M of delay for $4.9M of revenue); rfq-3 alone three weeks late ($8.4M for
# $7.3M); the two cannot both fit. Hopper is oversubscribed too (rfq-1/2, then rfq-5/6).

version: 1
name: small
horizon: {start: 2027-01-04, period: week, periods: 26}   # 2027-01-04 .. 2027-07-05
reliability: {unavailable_fraction: 0.03}

gpu_models:
  - {name: H100, relative_throughput: 1.0}
  - {name: GB200, relative_throughput: 2.5}   # per GPU, in H100-equivalents

clusters:
  # 8-GPU HGX nodes, each its own NVLink block; 32 nodes (256 GPUs) per pod
  - {name: lab-h100-a, gpu_model: H100, gpus_per_node: 8, nodes_per_block: 1,
     blocks_per_pod: 32, pods: 8}                                   # 2,048 GPUs
  - {name: lab-h100-b, gpu_model: H100, gpus_per_node: 8, nodes_per_block: 1,
     blocks_per_pod: 32, pods: 4, offline_from: 2027-05-03}        # 1,024 GPUs, retired
  # NVL72 racks (18 trays x 4 GPUs), 8 racks per pod
  - {name: lab-gb200, gpu_model: GB200, gpus_per_node: 4, nodes_per_block: 18,
     blocks_per_pod: 8, pods: 4, online_from: 2027-02-01}          # 2,304 GPUs

programs:
  - {name: model-v2, kind: training, gpu_models: [GB200], work_gpu_hours: 15000000,
     earliest_start: 2027-02-01, due: 2027-06-07, delay_cost_per_day: 400000}
  - {name: chat-api, kind: inference, gpu_models: [H100], gpus: 1024}

rental_requests:
  - {id: rfq-1, customer: acme-ai, gpu_model: H100, gpus: 1024, start: 2027-02-01,
     end: 2027-05-03, price_per_gpu_hour: 2.40, class: reserved}
  - {id: rfq-2, customer: beta-labs, gpu_model: H100, gpus: 768, start: 2027-01-11,
     end: 2027-03-01, price_per_gpu_hour: 1.40, class: interruptible, notice_hours: 24}
  - {id: rfq-3, customer: acme-ai, gpu_model: GB200, gpus: 1152, start: 2027-03-01,
     end: 2027-05-03, price_per_gpu_hour: 4.20, class: reserved, contiguous: true}
  - {id: rfq-4, customer: gamma-bio, gpu_model: GB200, gpus: 576, start: 2027-06-07,
     end: 2027-12-06, price_per_gpu_hour: 3.90, class: reserved}    # ends past the horizon
  - {id: rfq-5, customer: gamma-bio, gpu_model: H100, gpus: 768, start: 2027-05-03,
     end: 2027-07-05, price_per_gpu_hour: 2.10, class: reserved}
  - {id: rfq-6, customer: beta-labs, gpu_model: H100, gpus: 512, start: 2027-04-05,
     end: 2027-07-05, price_per_gpu_hour: 1.30, class: interruptible, notice_hours: 2}
  - {id: rfq-7, customer: delta-labs, gpu_model: GB200, gpus: 2016, start: 2027-04-05,
     end: 2027-04-26, price_per_gpu_hour: 4.80, class: reserved}    # a three-week burst

leases:
  - {id: lease-1, customer: acme-ai, gpu_model: H100, gpus: 512, start: 2027-01-04,
     end: 2027-04-05, price_per_gpu_hour: 2.20, class: reserved}
"""


def small_report(doc: dict[str, Any]) -> list[str]:
    hz, cap = validate(doc)
    rt = {g["name"]: float(g.get("relative_throughput", 1.0)) for g in doc["gpu_models"]}
    lease = lease_load(doc, hz)
    req = request_load(doc, hz)
    train = next(p for p in doc["programs"] if p["kind"] == "training")
    due_t = hz.first_period_on_or_after(train["due"]) - 1
    first = hz.first_period_on_or_after(train.get("earliest_start", hz.start))
    m = train["gpu_models"][0]
    rate = [cap[m][t] * rt[m] for t in range(hz.periods)]
    f0 = finish_period(train["work_gpu_hours"], rate, hz.hours, first)
    out = ["", "== small.yaml =="]
    out.append("  capacity H100 " + " ".join(map(str, cap["H100"])))
    out.append("  capacity GB200 " + " ".join(map(str, cap["GB200"])))
    out.append(f"  model-v2: due end of period {due_t}; with all GB200 finishes end of period {f0}")
    for rid in ("rfq-3", "rfq-7"):
        r = next(x for x in doc["rental_requests"] if x["id"] == rid)
        occ = hz.occupied(r["start"], r["end"])
        rate1 = [v - (r["gpus"] * rt[m] if t in occ else 0) for t, v in enumerate(rate)]
        f1 = finish_period(train["work_gpu_hours"], rate1, hz.hours, first)
        rev = r["gpus"] * hz.hours_inside(r["start"], r["end"]) * r["price_per_gpu_hour"]
        slip = "unfinished" if f1 is None else f"{max(0, f1 - due_t) * 7} days late"
        out.append(
            f"  accepting {rid} alone: revenue ${rev:,.0f}; model-v2 finishes period {f1} ({slip})"
        )
    h_free = [cap["H100"][t] - lease["H100"][t] - 1024 for t in range(hz.periods)]
    out.append("  H100 free after lease + chat-api: " + " ".join(map(str, h_free)))
    out.append("  H100 requested:                   " + " ".join(map(str, req["H100"])))
    return out


# ---------------------------------------------------------------------------------------------


def load_and_check(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    try:
        validate(doc)
    except CheckError as e:
        raise CheckError(f"{path.relative_to(ROOT)}: {e}") from None
    return doc


def check_with_package(paths: Sequence[Path]) -> str:
    """Also load the files with gpufleet's own loader when the package is importable."""
    try:
        from gpufleet.planning.scenario import load_scenario_file
    except ImportError as exc:
        return f"(gpufleet's scenario loader not importable, skipped: {exc})"
    for path in paths:
        try:
            load_scenario_file(path)
        except Exception as exc:  # ScenarioInvalid lists every issue; show them all
            raise CheckError(
                f"{path.relative_to(ROOT)}: rejected by gpufleet's loader:\n{exc}"
            ) from exc
    return "gpufleet.planning.scenario.load_scenario_file accepts both files"


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files on disk")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        if not args.check:
            text, report = build_colossus()
            EXAMPLES.mkdir(parents=True, exist_ok=True)
            COLOSSUS_PATH.write_text(text, encoding="utf-8")
            SMALL_PATH.write_text(SMALL_YAML, encoding="utf-8")
            print("\n".join(report))
        load_and_check(COLOSSUS_PATH)
        small = load_and_check(SMALL_PATH)
        if not args.check:
            print("\n".join(small_report(small)))
        print("\n" + check_with_package([COLOSSUS_PATH, SMALL_PATH]))
    except CheckError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print(
        f"\nOK: {COLOSSUS_PATH.relative_to(ROOT)} and {SMALL_PATH.relative_to(ROOT)} "
        "pass the checks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
