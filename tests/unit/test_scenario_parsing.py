"""Parsing valid scenarios: defaults, exact money, UTC, YAML files and the shipped examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpufleet.domain.errors import ScenarioInvalid
from gpufleet.planning.scenario import (
    InferenceProgram,
    Scenario,
    TrainingProgram,
    load_scenario_file,
    parse_scenario,
)
from tests.unit.scenario_docs import (
    EXAMPLES,
    issues_of,
    minimal,
)


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
