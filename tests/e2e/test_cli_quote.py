"""`gpufleet quote` as a user runs it: no server, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.e2e.conftest import Cli

SMALL = str(EXAMPLES / "small.yaml")


@pytest.fixture
def local(tmp_path: Path) -> Cli:
    return Cli({"GPUFLEET_HOME": str(tmp_path / "home")})


def test_quote_a_pending_request_as_json(local: Cli) -> None:
    data = local.run("quote", SMALL, "--id", "rfq-3", "--json").json()
    assert data["request_id"] == "rfq-3"
    assert data["decision"] == "counter"
    assert data["counter_price_per_gpu_hour"] == 6.89
    assert data["bid_price_opportunity_cost"] < data["revenue"] < data["exact_opportunity_cost"]
    assert data["value_of_signing"] == pytest.approx(-4_671_027.2)
    assert any("model-v2 finishes 14 days later" in line for line in data["reasons"])


def test_quote_reads_as_an_answer(local: Cli) -> None:
    out = local.run("quote", SMALL, "--id", "rfq-7").out
    assert "ACCEPT rfq-7" in out
    assert "opportunity cost from bid prices" in out
    assert "model-v2 finishes 7 days later" in out


def test_quote_a_new_request_from_a_file(local: Cli, tmp_path: Path) -> None:
    request = tmp_path / "req.yaml"
    request.write_text(
        "gpu_model: GB200\ngpus: 576\nstart: 2027-03-01\nend: 2027-04-05\n"
        "price_per_gpu_hour: 9.50\n"
    )
    data = local.run("quote", SMALL, "--request", str(request), "--json").json()
    assert data["request_id"] == "quote-request"
    assert data["customer"] == "prospect"
    assert data["decision"] == "accept"


def test_quote_errors_are_clear_and_exit_2(local: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "gpu_model: GB200\ngpus: 8\nstart: 2027-03-01\nend: 2027-02-01\nprice_per_gpu_hour: 2\n"
    )
    result = local.run("quote", SMALL, "--request", str(bad), check=2)
    assert "end: must be after start" in result.err
    issues = local.run("quote", SMALL, "--request", str(bad), "--json", check=2).json()
    assert issues["error"]["issues"] == [{"path": "end", "message": "must be after start"}]
    assert "no pending rental request with id 'nope'" in (
        local.run("quote", SMALL, "--id", "nope", check=2).err
    )
    assert "exactly one of" in local.run("quote", SMALL, check=2).err
    both = local.run("quote", SMALL, "--id", "rfq-1", "--request", str(bad), check=2)
    assert "exactly one of" in both.err
