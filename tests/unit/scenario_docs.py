"""Scenario documents for validation tests: `minimal()` and mutations that name the place in
the document they change."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpufleet.domain.errors import ScenarioInvalid
from gpufleet.planning.scenario import (
    parse_scenario,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "gpufleet" / "examples"

Doc = dict[str, Any]
Mutation = Callable[[Doc], None]


def minimal() -> Doc:
    """A fresh valid document: every section, and optional fields left to their defaults."""
    # fmt: off
    return {
        "version": 1,
        "horizon": {"start": "2027-01-04", "period": "week", "periods": 4},
        "gpu_models": [{"name": "H100"}, {"name": "GB200", "relative_throughput": 2.5}],
        "clusters": [
            {"name": "c1", "gpu_model": "H100", "gpus_per_node": 8, "nodes_per_block": 1,
             "blocks_per_pod": 4, "pods": 2},
        ],
        "programs": [
            {"name": "train", "kind": "training", "gpu_models": ["GB200"],
             "work_gpu_hours": 1000.0, "due": "2027-01-25", "delay_cost_per_day": 100},
            {"name": "serve", "kind": "inference", "gpu_models": ["H100"], "gpus": 8},
        ],
        "rental_requests": [
            {"id": "rfq-1", "customer": "acme", "gpu_model": "H100", "gpus": 8,
             "start": "2027-01-04", "end": "2027-01-18", "price_per_gpu_hour": 2.35},
        ],
        "leases": [
            {"id": "lease-1", "customer": "beta", "gpu_model": "H100", "gpus": 8,
             "start": "2027-01-04", "end": "2027-01-18", "price_per_gpu_hour": 2.10},
        ],
    }
    # fmt: on


# --- mutations: each names the place in the document it changes --------------------------

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(doc: Doc, path: str) -> tuple[Any, Any]:
    """The container holding `path` (e.g. `rental_requests[0].end`) and the key within it."""
    keys: list[Any] = [name if name else int(index) for name, index in _STEP.findall(path)]
    parent: Any = doc
    for key in keys[:-1]:
        parent = parent[key]
    return parent, keys[-1]


def put(path: str, value: Any) -> Mutation:
    def apply(doc: Doc) -> None:
        parent, key = _locate(doc, path)
        parent[key] = value

    return apply


def drop(path: str) -> Mutation:
    def apply(doc: Doc) -> None:
        parent, key = _locate(doc, path)
        del parent[key]

    return apply


def puts(changes: dict[str, Any]) -> Mutation:
    """Several changes at once, as {path: value}."""

    def apply(doc: Doc) -> None:
        for path, value in changes.items():
            put(path, value)(doc)

    return apply


def append(path: str, item: Any) -> Mutation:
    def apply(doc: Doc) -> None:
        parent, key = _locate(doc, path)
        parent[key].append(item)

    return apply


def duplicate(section: str, index: int, **changes: Any) -> Mutation:
    """Append a copy of `section[index]` with `changes` applied."""

    def apply(doc: Doc) -> None:
        doc[section].append({**copy.deepcopy(doc[section][index]), **changes})

    return apply


def issues_of(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(doc)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def expected(*lines: str) -> list[tuple[str, str]]:
    pairs = [line.split(": ", 1) for line in lines]
    return [(path, message) for path, message in pairs]


KNOWN = "(known: GB200, H100)"
R0 = "rental_requests[0]"
L0 = "leases[0]"
C0 = "clusters[0]"
T0 = "programs[0]"  # the training program
I1 = "programs[1]"  # the inference program
