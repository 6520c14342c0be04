"""Every validation rule of design/SCENARIO.md has a failing example that names the exact
path and message. Each case starts from `minimal()`, a fresh valid document, and changes one
thing in it."""

from __future__ import annotations

from datetime import datetime

import pytest

from gpufleet.domain.errors import Issue, ScenarioInvalid
from gpufleet.planning.scenario import (
    parse_scenario,
)
from tests.unit.scenario_docs import (
    C0,
    I1,
    KNOWN,
    L0,
    R0,
    T0,
    Mutation,
    append,
    drop,
    duplicate,
    expected,
    issues_of,
    minimal,
    put,
    puts,
)

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
