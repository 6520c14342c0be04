"""Validation of scenario documents against design/SCENARIO.md.

Every rule has a failing example that names the exact path and message. Each case starts from
`minimal()`, a fresh valid document, and changes one thing in it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpufleet.domain.errors import Issue, ScenarioInvalid
from gpufleet.planning.scenario import (
    InferenceProgram,
    Scenario,
    TrainingProgram,
    load_scenario_file,
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

# (id, mutation, every issue expected, as `path: message`)
# fmt: off
RULES: list[tuple[str, Mutation, list[str]]] = [
    # unknown keys: top level, in a section, in a list item
    ("unknown top-level key", put("colour", "red"), ["colour: unknown key"]),
    ("unknown key in horizon", put("horizon.length", 4), ["horizon.length: unknown key"]),
    ("unknown key in reliability", put("reliability", {"unavailable_fraction": 0.1, "mtbf": 9}),
     ["reliability.mtbf: unknown key"]),
    ("unknown key in gpu model", put("gpu_models[1].vendor", "nv"),
     ["gpu_models[1].vendor: unknown key"]),
    ("unknown key in cluster", put(f"{C0}.racks", 3), [f"{C0}.racks: unknown key"]),
    ("unknown key in training", put(f"{T0}.priority", 1), [f"{T0}.priority: unknown key"]),
    ("unknown key in inference", put(f"{I1}.priority", 1), [f"{I1}.priority: unknown key"]),
    ("training field on inference", put(f"{I1}.due", "2027-01-25"), [f"{I1}.due: unknown key"]),
    ("unknown key in request", put(f"{R0}.discount", 0.1), [f"{R0}.discount: unknown key"]),
    ("unknown key in lease", put(f"{L0}.discount", 0.1), [f"{L0}.discount: unknown key"]),
    ("misspelt optional key", put(f"{R0}.notice_hour", 2), [f"{R0}.notice_hour: unknown key"]),
    # unknown GPU models, wherever a model is named
    ("unknown model in cluster", put(f"{C0}.gpu_model", "A100"),
     [f"{C0}.gpu_model: unknown GPU model 'A100' {KNOWN}"]),
    ("unknown model in training", put(f"{T0}.gpu_models", ["GB200", "B300"]),
     [f"{T0}.gpu_models[1]: unknown GPU model 'B300' {KNOWN}"]),
    ("unknown model in inference", put(f"{I1}.gpu_models", ["A100"]),
     [f"{I1}.gpu_models[0]: unknown GPU model 'A100' {KNOWN}"]),
    ("unknown model in request", put(f"{R0}.gpu_model", "B200"),
     [f"{R0}.gpu_model: unknown GPU model 'B200' {KNOWN}"]),
    ("unknown model in lease", put(f"{L0}.gpu_model", "B200"),
     [f"{L0}.gpu_model: unknown GPU model 'B200' {KNOWN}"]),
    ("model names are case sensitive", put(f"{R0}.gpu_model", "h100"),
     [f"{R0}.gpu_model: unknown GPU model 'h100' {KNOWN}"]),
    ("no models declared", put("gpu_models", []),
     [f"{C0}.gpu_model: unknown GPU model 'H100' (known: none declared)",
      f"{T0}.gpu_models[0]: unknown GPU model 'GB200' (known: none declared)",
      f"{I1}.gpu_models[0]: unknown GPU model 'H100' (known: none declared)",
      f"{R0}.gpu_model: unknown GPU model 'H100' (known: none declared)",
      f"{L0}.gpu_model: unknown GPU model 'H100' (known: none declared)"]),
    # non-positive counts
    ("zero gpus_per_node", put(f"{C0}.gpus_per_node", 0),
     [f"{C0}.gpus_per_node: must be positive"]),
    ("negative gpus_per_node", put(f"{C0}.gpus_per_node", -8),
     [f"{C0}.gpus_per_node: must be positive"]),
    ("zero nodes_per_block", put(f"{C0}.nodes_per_block", 0),
     [f"{C0}.nodes_per_block: must be positive"]),
    ("zero blocks_per_pod", put(f"{C0}.blocks_per_pod", 0),
     [f"{C0}.blocks_per_pod: must be positive"]),
    ("zero pods", put(f"{C0}.pods", 0), [f"{C0}.pods: must be positive"]),
    ("negative pods", put(f"{C0}.pods", -1), [f"{C0}.pods: must be positive"]),
    ("zero periods", put("horizon.periods", 0), ["horizon.periods: must be positive"]),
    ("zero gpus in request", put(f"{R0}.gpus", 0), [f"{R0}.gpus: must be positive"]),
    ("negative gpus in lease", put(f"{L0}.gpus", -8), [f"{L0}.gpus: must be positive"]),
    ("zero max_gpus", put(f"{T0}.max_gpus", 0), [f"{T0}.max_gpus: must be positive"]),
    ("zero inference gpus", put(f"{I1}.gpus", 0),
     [f"{I1}.gpus: must be between 1 and 10000000 GPUs"]),
    ("negative inference gpus in a period", put(f"{I1}.gpus", [8, 8, -1, 8]),
     [f"{I1}.gpus: must be between 0 and 10000000 GPUs"]),
    ("zero relative_throughput", put("gpu_models[1].relative_throughput", 0),
     ["gpu_models[1].relative_throughput: must be positive"]),
    # non-positive prices and work
    ("zero price", put(f"{R0}.price_per_gpu_hour", 0),
     [f"{R0}.price_per_gpu_hour: must be positive"]),
    ("zero float price", put(f"{R0}.price_per_gpu_hour", 0.0),
     [f"{R0}.price_per_gpu_hour: must be positive"]),
    ("negative lease price", put(f"{L0}.price_per_gpu_hour", -2.1),
     [f"{L0}.price_per_gpu_hour: must be positive"]),
    ("zero work", put(f"{T0}.work_gpu_hours", 0), [f"{T0}.work_gpu_hours: must be positive"]),
    ("negative work", put(f"{T0}.work_gpu_hours", -1.0),
     [f"{T0}.work_gpu_hours: must be positive"]),
    ("negative delay cost", put(f"{T0}.delay_cost_per_day", -1),
     [f"{T0}.delay_cost_per_day: must be at least 0"]),
    # end <= start
    ("request ending as it starts", put(f"{R0}.end", "2027-01-04"),
     [f"{R0}.end: must be after start"]),
    ("lease ending before it starts", put(f"{L0}.end", "2027-01-01"),
     [f"{L0}.end: must be after start"]),
    ("end before start once in UTC", put(f"{R0}.end", "2027-01-04T08:00:00+09:00"),
     [f"{R0}.end: must be after start"]),
    # duplicate names and ids
    ("duplicate gpu model", append("gpu_models", {"name": "H100", "relative_throughput": 1.1}),
     ["gpu_models[0].name: duplicate name 'H100'", "gpu_models[2].name: duplicate name 'H100'"]),
    ("duplicate cluster", duplicate("clusters", 0, gpu_model="GB200"),
     [f"{C0}.name: duplicate name 'c1'", "clusters[1].name: duplicate name 'c1'"]),
    ("duplicate program across kinds", put(f"{I1}.name", "train"),
     [f"{T0}.name: duplicate name 'train'", f"{I1}.name: duplicate name 'train'"]),
    ("duplicate request id", duplicate("rental_requests", 0),
     [f"{R0}.id: duplicate id 'rfq-1'", "rental_requests[1].id: duplicate id 'rfq-1'"]),
    ("lease id equal to a request id", put(f"{L0}.id", "rfq-1"),
     [f"{R0}.id: duplicate id 'rfq-1'", f"{L0}.id: duplicate id 'rfq-1'"]),
    # inference gpus: one entry per period
    ("too few per-period gpus", put(f"{I1}.gpus", [8, 8, 8]),
     [f"{I1}.gpus: has 3 entries; must have one per period (4)"]),
    ("too many per-period gpus", put(f"{I1}.gpus", [8, 8, 8, 8, 8]),
     [f"{I1}.gpus: has 5 entries; must have one per period (4)"]),
    ("empty per-period gpus", put(f"{I1}.gpus", []),
     [f"{I1}.gpus: has 0 entries; must have one per period (4)"]),
    # version
    ("version 2", put("version", 2), ["version: must be 1 (the only version this gpufleet reads)"]),
    ("version as text", put("version", "1"),
     ["version: must be 1 (the only version this gpufleet reads)"]),
    ("version as bool", put("version", True),
     ["version: must be 1 (the only version this gpufleet reads)"]),
    ("version as float", put("version", 1.0),
     ["version: must be 1 (the only version this gpufleet reads)"]),
    ("version null", put("version", None),
     ["version: must be 1 (the only version this gpufleet reads)"]),
    ("version missing", drop("version"), ["version: is required"]),
    # interruptible needs notice
    ("interruptible without notice", put(f"{R0}.class", "interruptible"),
     [f"{R0}.notice_hours: must be > 0 for interruptible capacity"]),
    ("interruptible with zero notice",
     puts({f"{R0}.class": "interruptible", f"{R0}.notice_hours": 0}),
     [f"{R0}.notice_hours: must be > 0 for interruptible capacity"]),
    ("interruptible lease without notice", put(f"{L0}.class", "interruptible"),
     [f"{L0}.notice_hours: must be > 0 for interruptible capacity"]),
    ("unknown class", put(f"{R0}.class", "spot"),
     [f"{R0}.class: must be 'reserved' or 'interruptible'"]),
    # wrong types
    ("gpus as text", put(f"{R0}.gpus", "8"), [f"{R0}.gpus: must be an integer"]),
    ("gpus as whole float", put(f"{R0}.gpus", 8.0), [f"{R0}.gpus: must be an integer"]),
    ("gpus as fractional float", put(f"{L0}.gpus", 8.5), [f"{L0}.gpus: must be an integer"]),
    ("gpus as bool", put(f"{R0}.gpus", True), [f"{R0}.gpus: must be an integer"]),
    ("pods as float", put(f"{C0}.pods", 2.0), [f"{C0}.pods: must be an integer"]),
    ("pods as bool", put(f"{C0}.pods", True), [f"{C0}.pods: must be an integer"]),
    ("periods as text", put("horizon.periods", "4"), ["horizon.periods: must be an integer"]),
    ("notice_hours as float", put(f"{R0}.notice_hours", 2.5),
     [f"{R0}.notice_hours: must be an integer"]),
    ("price as text", put(f"{R0}.price_per_gpu_hour", "2.35"),
     [f"{R0}.price_per_gpu_hour: must be a number"]),
    ("price as bool", put(f"{R0}.price_per_gpu_hour", True),
     [f"{R0}.price_per_gpu_hour: must be a number"]),
    ("delay cost as text", put(f"{T0}.delay_cost_per_day", "100"),
     [f"{T0}.delay_cost_per_day: must be a number"]),
    ("work as text", put(f"{T0}.work_gpu_hours", "1000"),
     [f"{T0}.work_gpu_hours: must be a number"]),
    ("work as bool", put(f"{T0}.work_gpu_hours", True), [f"{T0}.work_gpu_hours: must be a number"]),
    ("throughput as text", put("gpu_models[1].relative_throughput", "2.5"),
     ["gpu_models[1].relative_throughput: must be a number"]),
    ("unavailable fraction as bool", put("reliability", {"unavailable_fraction": True}),
     ["reliability.unavailable_fraction: must be a number"]),
    ("inference gpus as text", put(f"{I1}.gpus", "8"),
     [f"{I1}.gpus: must be a whole number of GPUs or a list of one per period"]),
    ("inference gpus as bool", put(f"{I1}.gpus", True),
     [f"{I1}.gpus: must be a whole number of GPUs or a list of one per period"]),
    ("inference gpus with a float", put(f"{I1}.gpus", [8, 1.5, 8, 8]),
     [f"{I1}.gpus: must be a whole number of GPUs or a list of one per period"]),
    ("contiguous as text", put(f"{R0}.contiguous", "yes"),
     [f"{R0}.contiguous: must be true or false"]),
    ("contiguous as int", put(f"{R0}.contiguous", 1), [f"{R0}.contiguous: must be true or false"]),
    ("id as int", put(f"{R0}.id", 5), [f"{R0}.id: must be a string"]),
    ("gpu_models as text", put(f"{T0}.gpu_models", "GB200"), [f"{T0}.gpu_models: must be a list"]),
    ("empty gpu_models of program", put(f"{T0}.gpu_models", []),
     [f"{T0}.gpu_models: must not be empty"]),
    ("unknown period", put("horizon.period", "month"), ["horizon.period: must be 'day' or 'week'"]),
    ("horizon as text", put("horizon", "weekly"), ["horizon: must be a mapping"]),
    ("horizon null", put("horizon", None), ["horizon: must be a mapping"]),
    ("reliability null", put("reliability", None), ["reliability: must be a mapping"]),
    ("requests not a list", put("rental_requests", {"rfq-1": {}}),
     ["rental_requests: must be a list"]),
    ("request not a mapping", put("rental_requests", ["rfq-1"]), [f"{R0}: must be a mapping"]),
    ("name with a space", put(f"{C0}.name", "c 1"),
     [f"{C0}.name: must start with a letter or digit and use only letters, digits, '.', '_', '-'"]),
    ("name too long", put(f"{C0}.name", "c" * 101), [f"{C0}.name: must be at most 100 characters"]),
    ("scenario name not text", put("name", 5), ["name: must be a string"]),
    # required fields
    ("horizon missing", drop("horizon"), ["horizon: is required"]),
    ("clusters missing", drop("clusters"), ["clusters: is required"]),
    ("request without end", drop(f"{R0}.end"), [f"{R0}.end: is required"]),
    ("training without due", drop(f"{T0}.due"), [f"{T0}.due: is required"]),
    # dates
    ("naive datetime", put(f"{R0}.start", "2027-01-04T00:00:00"),
     [f"{R0}.start: datetime must have a time zone (for example 2027-01-04T00:00:00Z)"]),
    ("naive datetime object", put("horizon.start", datetime(2027, 1, 4)),
     ["horizon.start: datetime must have a time zone"]),
    ("garbage date", put(f"{R0}.start", "next tuesday"),
     [f"{R0}.start: must be a date YYYY-MM-DD or an ISO datetime with a zone"]),
    ("date as number", put("horizon.start", 20270104),
     ["horizon.start: must be a date YYYY-MM-DD or an ISO datetime with a zone"]),
    ("month 13", put("horizon.start", "2027-13-04"),
     ["horizon.start: '2027-13-04' is not a calendar date"]),
    ("february 30", put(f"{T0}.due", "2027-02-30"),
     [f"{T0}.due: '2027-02-30' is not a calendar date"]),
    ("date before 2000", put("horizon.start", "1999-12-31"),
     ["horizon.start: must be between 2000-01-01 and 2200-01-01"]),
    # clusters: offline after online
    ("offline as it comes online",
     puts({f"{C0}.online_from": "2027-02-01", f"{C0}.offline_from": "2027-02-01"}),
     [f"{C0}.offline_from: must be after online_from"]),
    ("offline before online",
     puts({f"{C0}.online_from": "2027-02-01", f"{C0}.offline_from": "2027-01-11"}),
     [f"{C0}.offline_from: must be after online_from"]),
    # absurd numbers
    ("a billion rented gpus", put(f"{R0}.gpus", 10**9), [f"{R0}.gpus: must be at most 10000000"]),
    ("a billion inference gpus", put(f"{I1}.gpus", 10**9),
     [f"{I1}.gpus: must be between 1 and 10000000 GPUs"]),
    ("a billion max_gpus", put(f"{T0}.max_gpus", 10**9),
     [f"{T0}.max_gpus: must be at most 10000000"]),
    ("a billion pods", put(f"{C0}.pods", 10**9), [f"{C0}.pods: must be at most 100000"]),
    ("cluster over ten million gpus",
     puts({f"{C0}.pods": 100_000, f"{C0}.blocks_per_pod": 1000}),
     [f"{C0}.pods: cluster would hold 800000000 GPUs; at most 10000000 per cluster"]),
    ("a million dollars per gpu-hour", put(f"{R0}.price_per_gpu_hour", 1e6),
     [f"{R0}.price_per_gpu_hour: must be at most 10000"]),
    ("a quadrillion a day of delay", put(f"{T0}.delay_cost_per_day", 1e15),
     [f"{T0}.delay_cost_per_day: must be at most 1000000000000"]),
    ("1e20 gpu-hours of work", put(f"{T0}.work_gpu_hours", 1e20),
     [f"{T0}.work_gpu_hours: must be at most 10000000000000"]),
    ("a million hours notice", put(f"{R0}.notice_hours", 10**6),
     [f"{R0}.notice_hours: must be at most 8760"]),
    ("throughput of a million", put("gpu_models[1].relative_throughput", 1e6),
     ["gpu_models[1].relative_throughput: must be at most 1000"]),
    ("more than ten years of weeks", put("horizon.periods", 600),
     ["horizon.periods: must be at most 523 weeks (ten years)"]),
    ("more than ten years of days", puts({"horizon.period": "day", "horizon.periods": 5000}),
     ["horizon.periods: must be at most 3660"]),
    ("all gpus unavailable", put("reliability", {"unavailable_fraction": 1.0}),
     ["reliability.unavailable_fraction: must be less than 1"]),
    ("negative unavailability", put("reliability", {"unavailable_fraction": -0.1}),
     ["reliability.unavailable_fraction: must be at least 0"]),
    ("price not a number", put(f"{R0}.price_per_gpu_hour", float("nan")),
     [f"{R0}.price_per_gpu_hour: must be a finite number"]),
    ("infinite price", put(f"{R0}.price_per_gpu_hour", float("inf")),
     [f"{R0}.price_per_gpu_hour: must be a finite number"]),
    ("work not a number", put(f"{T0}.work_gpu_hours", float("nan")),
     [f"{T0}.work_gpu_hours: must be a finite number"]),
    ("throughput not a number", put("gpu_models[1].relative_throughput", float("nan")),
     ["gpu_models[1].relative_throughput: must be a finite number"]),
    # money: at most 6 decimal places
    ("price with 7 decimals", put(f"{R0}.price_per_gpu_hour", 2.3500001),
     [f"{R0}.price_per_gpu_hour: has more than 6 decimal places"]),
    ("price below a micro-dollar", put(f"{L0}.price_per_gpu_hour", 1e-7),
     [f"{L0}.price_per_gpu_hour: has more than 6 decimal places"]),
    ("delay cost with 7 decimals", put(f"{T0}.delay_cost_per_day", 1.0000001),
     [f"{T0}.delay_cost_per_day: has more than 6 decimal places"]),
    # programs: kind
    ("program without kind", drop(f"{T0}.kind"),
     [f"{T0}.kind: is required (one of: training, inference)"]),
    ("program of unknown kind", put(f"{T0}.kind", "research"),
     [f"{T0}.kind: must be one of: training, inference"]),
    ("inference fields under kind training", put(f"{I1}.kind", "training"),
     [f"{I1}.work_gpu_hours: is required", f"{I1}.due: is required",
      f"{I1}.delay_cost_per_day: is required", f"{I1}.gpus: unknown key"]),
    # programs: due after earliest_start
    ("due on earliest_start", put(f"{T0}.earliest_start", "2027-01-25"),
     [f"{T0}.due: must be after earliest_start"]),
    ("due before earliest_start", put(f"{T0}.earliest_start", "2027-02-01"),
     [f"{T0}.due: must be after earliest_start"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("mutate", "lines"), [pytest.param(m, lines, id=name) for name, m, lines in RULES]
)
def test_each_rule_is_rejected_at_its_path_with_its_message(
    mutate: Mutation, lines: list[str]
) -> None:
    doc = minimal()
    mutate(doc)
    assert issues_of(doc) == expected(*lines)


def test_rule_table_ids_are_unique() -> None:
    names = [name for name, _, _ in RULES]
    assert len(names) == len(set(names))


def test_request_ending_before_it_starts_is_rejected_at_its_path() -> None:
    doc = minimal()
    for k in range(4):
        doc["rental_requests"].append({**minimal()["rental_requests"][0], "id": f"rfq-{k + 2}"})
    doc["rental_requests"][3]["end"] = "2027-01-01"
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(doc)
    assert caught.value.issues == [Issue("rental_requests[3].end", "must be after start")]
    assert [str(issue) for issue in caught.value.issues] == [
        "rental_requests[3].end: must be after start"
    ]
    assert caught.value.message == "scenario has 1 error"


def test_every_error_in_every_section_is_reported_in_one_exception() -> None:
    doc = minimal()
    doc["version"] = 2
    doc["surprise"] = True
    doc["horizon"]["periods"] = 0
    doc["gpu_models"][1]["relative_throughput"] = -1
    doc["clusters"][0]["pods"] = 0
    doc["programs"][0]["due"] = "soon"
    doc["programs"][1]["gpu_models"] = ["TPU"]
    doc["rental_requests"][0]["end"] = "2027-01-04"
    doc["rental_requests"][0]["colour"] = "red"
    doc["leases"][0]["id"] = "rfq-1"
    doc["leases"][0]["price_per_gpu_hour"] = 0
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(doc)
    assert sorted(str(issue) for issue in caught.value.issues) == sorted(
        [
            "surprise: unknown key",
            "version: must be 1 (the only version this gpufleet reads)",
            "horizon.periods: must be positive",
            "gpu_models[1].relative_throughput: must be positive",
            "clusters[0].pods: must be positive",
            "programs[0].due: must be a date YYYY-MM-DD or an ISO datetime with a zone",
            f"programs[1].gpu_models[0]: unknown GPU model 'TPU' {KNOWN}",
            "rental_requests[0].colour: unknown key",
            "leases[0].price_per_gpu_hour: must be positive",
        ]
    )
    assert caught.value.message == "scenario has 9 errors"


def test_errors_in_several_items_of_one_list_are_all_reported() -> None:
    doc = minimal()
    doc["rental_requests"].append({**minimal()["rental_requests"][0], "id": "rfq-2", "gpus": 0})
    doc["rental_requests"][0]["end"] = "2027-01-01"
    doc["rental_requests"].append({**minimal()["rental_requests"][0], "id": "rfq-3", "x": 1})
    assert issues_of(doc) == expected(
        "rental_requests[0].end: must be after start",
        "rental_requests[1].gpus: must be positive",
        "rental_requests[2].x: unknown key",
    )


def test_an_invalid_gpu_model_entry_does_not_make_its_name_unknown_everywhere() -> None:
    doc = minimal()
    doc["gpu_models"][0]["relative_throughput"] = "fast"
    assert issues_of(doc) == expected("gpu_models[0].relative_throughput: must be a number")


def test_a_document_that_is_not_a_mapping_is_rejected() -> None:
    assert issues_of([minimal()]) == [("", "a scenario must be a mapping of sections")]


def test_minimal_document_parses_with_defaults_applied() -> None:
    scenario = parse_scenario(minimal())
    assert isinstance(scenario, Scenario)
    assert scenario.name == "scenario"
    assert scenario.reliability.unavailable_fraction == 0.0
    assert [(m.name, m.relative_throughput) for m in scenario.gpu_models] == [
        ("H100", 1.0),
        ("GB200", 2.5),
    ]
    cluster = scenario.clusters[0]
    assert (cluster.online_from, cluster.offline_from) == (None, None)
    assert cluster.installed_gpus == 64
    training, inference = scenario.programs
    assert isinstance(training, TrainingProgram)
    assert (training.max_gpus, training.earliest_start) == (None, None)
    assert training.delay_cost_per_day_micros == 100_000_000
    assert isinstance(inference, InferenceProgram)
    assert inference.gpus_in(3) == 8
    for rental in (*scenario.rental_requests, *scenario.leases):
        assert rental.rental_class == "reserved"
        assert rental.notice_hours == 0
        assert rental.contiguous is False
    assert scenario.horizon.start == datetime(2027, 1, 4, tzinfo=UTC)
    assert scenario.horizon.end == datetime(2027, 2, 1, tzinfo=UTC)
    assert scenario.horizon.period_hours == 168


def test_parsing_does_not_change_the_document() -> None:
    doc = minimal()
    parse_scenario(doc)
    assert doc == minimal()


def test_optional_fields_given_explicitly_are_kept() -> None:
    doc = minimal()
    doc["reliability"] = {"unavailable_fraction": 0.03}
    doc["rental_requests"][0].update({"class": "interruptible", "notice_hours": 24,
                                      "contiguous": True})  # fmt: skip
    doc["programs"][0].update({"max_gpus": 64, "earliest_start": "2027-01-11",
                               "delay_cost_per_day": 0})  # fmt: skip
    doc["programs"][1]["gpus"] = [0, 8, 16, 8]
    scenario = parse_scenario(doc)
    request = scenario.rental_requests[0]
    assert (request.rental_class, request.notice_hours, request.contiguous) == (
        "interruptible",
        24,
        True,
    )
    training, inference = scenario.programs
    assert isinstance(training, TrainingProgram)
    assert training.earliest_start == datetime(2027, 1, 11, tzinfo=UTC)
    assert training.delay_cost_per_day_micros == 0
    assert isinstance(inference, InferenceProgram)
    assert [inference.gpus_in(t) for t in range(4)] == [0, 8, 16, 8]
    assert scenario.reliability.unavailable_fraction == 0.03


def test_a_datetime_with_a_zone_is_converted_to_utc() -> None:
    doc = minimal()
    doc["rental_requests"][0]["start"] = "2027-01-04T09:30:00+09:00"
    doc["rental_requests"][0]["end"] = "2027-01-17T19:00:00-05:00"
    doc["leases"][0]["start"] = "2027-01-04T06:00:00Z"
    doc["clusters"][0]["online_from"] = datetime.fromisoformat("2027-01-10T23:00:00-02:00")
    scenario = parse_scenario(doc)
    request = scenario.rental_requests[0]
    assert request.start == datetime(2027, 1, 4, 0, 30, tzinfo=UTC)
    assert request.end == datetime(2027, 1, 18, 0, 0, tzinfo=UTC)
    assert request.start.tzinfo == UTC
    assert scenario.leases[0].start == datetime(2027, 1, 4, 6, tzinfo=UTC)
    assert scenario.clusters[0].online_from == datetime(2027, 1, 11, 1, tzinfo=UTC)
    assert scenario.clusters[0].online_from.tzinfo == UTC


@pytest.mark.parametrize(
    ("price", "micros"),
    [
        (2.35, 2_350_000),
        (5.4, 5_400_000),
        (2.1, 2_100_000),
        (0.000001, 1),
        (3, 3_000_000),
        (9999.999999, 9_999_999_999),
        (Decimal("1.234567"), 1_234_567),
    ],
)
def test_price_micros_is_exact(price: Any, micros: int) -> None:
    doc = minimal()
    doc["rental_requests"][0]["price_per_gpu_hour"] = price
    doc["leases"][0]["price_per_gpu_hour"] = price
    scenario = parse_scenario(doc)
    assert scenario.rental_requests[0].price_micros == micros
    assert scenario.leases[0].price_micros == micros
    assert isinstance(scenario.rental_requests[0].price_per_gpu_hour, Decimal)


def test_price_as_parsed_from_json_is_exact() -> None:
    doc = json.loads(json.dumps(minimal()).replace("2.35", "5.4"))
    assert parse_scenario(doc).rental_requests[0].price_micros == 5_400_000


# --- files ---------------------------------------------------------------------------------

MINIMAL_YAML = """\
version: 1
horizon: {start: 2027-01-04, period: week, periods: 4}
gpu_models:
  - {name: H100}
  - {name: GB200, relative_throughput: 2.5}
clusters:
  - {name: c1, gpu_model: H100, gpus_per_node: 8, nodes_per_block: 1, blocks_per_pod: 4,
     pods: 2}
programs:
  - {name: train, kind: training, gpu_models: [GB200], work_gpu_hours: 1000.0,
     due: 2027-01-25, delay_cost_per_day: 100}
  - {name: serve, kind: inference, gpu_models: [H100], gpus: 8}
rental_requests:
  - {id: rfq-1, customer: acme, gpu_model: H100, gpus: 8, start: 2027-01-04,
     end: 2027-01-18, price_per_gpu_hour: 2.35}
leases:
  - {id: lease-1, customer: beta, gpu_model: H100, gpus: 8, start: 2027-01-04,
     end: 2027-01-18, price_per_gpu_hour: 2.10}
"""


def test_yaml_dates_and_json_strings_parse_the_same(tmp_path: Path) -> None:
    yaml_file = tmp_path / "minimal.yaml"
    yaml_file.write_text(MINIMAL_YAML, encoding="utf-8")
    json_doc = json.loads(json.dumps(minimal()))
    from_yaml = load_scenario_file(yaml_file)
    assert from_yaml == parse_scenario(json_doc)
    assert from_yaml.horizon.start == datetime(2027, 1, 4, tzinfo=UTC)
    assert from_yaml.rental_requests[0].price_micros == 2_350_000


def test_yaml_datetime_with_zone_in_a_file_is_utc(tmp_path: Path) -> None:
    first_start = "start: 2027-01-04,\n     end"
    text = MINIMAL_YAML.replace(first_start, "start: 2027-01-04T01:00:00+01:00,\n     end", 1)
    assert text != MINIMAL_YAML
    path = tmp_path / "zoned.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario_file(path).rental_requests[0].start == datetime(2027, 1, 4, tzinfo=UTC)


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    lines = MINIMAL_YAML.splitlines()
    lines[3] = "  - {name: H100"  # line 4: an unclosed flow mapping
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario_file(path)
    [issue] = caught.value.issues
    assert issue.path == ""
    assert issue.message.startswith(f"{path} is not valid YAML at line 5, column ")


def test_bad_indentation_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "indent.yaml"
    path.write_text("version: 1\nname: x\n  bad: indent\n", encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario_file(path)
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path} is not valid YAML at line 3, column 6: mapping values are not allowed here"
    ]


def test_a_missing_file_is_reported_clearly(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario_file(path)
    [issue] = caught.value.issues
    assert issue.path == ""
    assert issue.message.startswith(f"cannot read {path}: ")
    assert "No such file or directory" in issue.message


def test_a_yaml_file_that_is_a_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario_file(path)
    assert [str(issue) for issue in caught.value.issues] == [
        "a scenario must be a mapping of sections"
    ]


def test_a_yaml_file_with_errors_names_their_paths(tmp_path: Path) -> None:
    path = tmp_path / "invalid.yaml"
    path.write_text(MINIMAL_YAML.replace("end: 2027-01-18, price_per_gpu_hour: 2.35",
                                         "end: 2027-01-04, price_per_gpu_hour: 2.35"),
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario_file(path)
    assert [str(issue) for issue in caught.value.issues] == [
        "rental_requests[0].end: must be after start"
    ]


@pytest.mark.parametrize("name", ["colossus.yaml", "small.yaml"])
def test_the_shipped_examples_load(name: str) -> None:
    scenario = load_scenario_file(EXAMPLES / name)
    assert scenario.version == 1
    assert scenario.clusters
    assert scenario.gpu_models
    assert scenario.rental_requests
    models = {m.name for m in scenario.gpu_models}
    assert {c.gpu_model for c in scenario.clusters} <= models
    assert all(r.start.tzinfo == UTC for r in (*scenario.rental_requests, *scenario.leases))
