"""Commands that need no server: validate and demo."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gpufleet.cli.demo import fresh_demo_database_url
from tests.conftest import EXAMPLES
from tests.e2e.conftest import Cli


@pytest.fixture
def local(tmp_path: Path) -> Cli:
    return Cli({"GPUFLEET_HOME": str(tmp_path / "home")})


def test_validate_prints_a_summary(local: Cli) -> None:
    result = local.run("validate", str(EXAMPLES / "colossus.yaml"))
    assert "valid" in result.out
    assert "200" in result.out


def test_validate_lists_every_error_and_exits_2(local: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 2\nhorizon: {start: 2027-01-04, period: week, periods: 4}\n"
        "gpu_models: [{name: H100}]\n"
        "clusters: [{name: c, gpu_model: B200, gpus_per_node: 8, nodes_per_block: 1,"
        " blocks_per_pod: 1, pods: 1}]\n"
        "rental_requests: [{id: r, customer: a, gpu_model: H100, gpus: 8, start: 2027-02-01,"
        " end: 2027-01-01, price_per_gpu_hour: 2}]\n"
    )
    result = local.run("validate", str(bad), check=2)
    assert "version: must be 1" in result.err
    assert "clusters[0].gpu_model: unknown GPU model 'B200'" in result.err
    assert "rental_requests[0].end: must be after start" in result.err
    as_json = local.run("validate", str(bad), "--json", check=2).json()
    assert len(as_json["error"]["issues"]) == 3


def test_validate_of_a_missing_file_is_an_error_not_a_traceback(local: Cli) -> None:
    result = local.run("validate", "/nonexistent.yaml", check=2)
    assert "cannot read" in result.err
    assert "Traceback" not in result.err


def test_demo_loads_the_colossus_example_into_a_fresh_database(local: Cli, tmp_path: Path) -> None:
    # The whole demo (plan, model, a simulated month, invoices) takes about a minute alone on
    # 2 cores and several beside the rest of the suite: a limit that only catches a hang. It
    # runs once, for its tables and (--save-json, what --json prints) its figures.
    saved = tmp_path / "demo.json"
    table = local.run("demo", "--save-json", str(saved), timeout=600).out
    first = json.loads(saved.read_text(encoding="utf-8"))
    assert first["import"]["nodes"] == 163_328
    assert first["fleet"]["installed_gpus"] == 753_664
    assert len(first["pending_requests"]) == 200
    megadeal = next(r for r in first["pending_requests"] if r["id"] == "rfq-gb300-megadeal")
    assert 6.2e9 < megadeal["value_usd"] < 6.4e9
    story = first["story"]
    assert story["deal"] == "rfq-gb300-megadeal"  # the largest pending deal
    assert first["plan"]["status"] == "optimal"
    assert first["plan"]["gap"] <= 1e-3
    # Signing the megadeal costs the frontier run weeks; the plan weighs that against revenue.
    assert story["signing_moves_finish_by_days"]["frontier-pretrain"] > 0
    assert story["signing_changes_revenue_by_usd"] > 0
    assert story["optimal_plan_signs_it"] == (story["signing_changes_objective_by_usd"] > 0)
    operations = first["operations"]
    assert operations["placed"] >= operations["contracts"] - 2
    assert operations["totals"]["failures"] > 0
    assert operations["usage_balanced"] is True
    billing = first["billing"]
    assert billing["invoices"], billing["note"]
    for invoice in billing["invoices"]:  # an invoice's total is its lines, to the micro-dollar
        assert invoice["total_micros"] == sum(line["amount_micros"] for line in invoice["lines"])
    assert first["hosting"]["billed"]["output_tokens"] > 0, first["hosting"]
    assert "Capacity online over time" in table
    assert "frontier-pretrain" in table
    assert "The question of the story" in table
    assert "Operations: the contracts on concrete nodes" in table
    assert "Billing: the first month's invoices" in table


def test_every_demo_starts_from_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUFLEET_HOME", str(tmp_path))
    with sqlite3.connect(tmp_path / "demo.db") as earlier:  # a previous demo's database
        earlier.execute("CREATE TABLE tenants (name TEXT)")
    (tmp_path / "demo.db-wal").write_bytes(b"left over")
    url = fresh_demo_database_url()
    assert url == f"sqlite:///{tmp_path / 'demo.db'}"
    assert not (tmp_path / "demo.db").exists()
    assert not (tmp_path / "demo.db-wal").exists()
