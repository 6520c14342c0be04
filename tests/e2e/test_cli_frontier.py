"""`gpufleet frontier` as a user runs it: JSON, the table, and --report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.e2e.conftest import Cli

SMALL = str(EXAMPLES / "small.yaml")


@pytest.fixture
def local(tmp_path: Path) -> Cli:
    return Cli({"GPUFLEET_HOME": str(tmp_path / "home")})


def test_json_lists_the_points_from_zero_to_prohibitive(local: Cli) -> None:
    body = local.run("frontier", SMALL, "--points", "4", "--json").json()
    points = body["points"]
    assert body["scenario"] == "small"
    assert body["report"] is None
    assert points[0]["factor"] == 0
    assert [p["factor"] for p in points] == sorted(p["factor"] for p in points)
    assert sum(p["actual"] for p in points) == 1
    slips = [p["total_slip_days"] for p in points]
    revenues = [p["revenue"] for p in points]
    assert slips == sorted(slips, reverse=True)
    assert revenues == sorted(revenues, reverse=True)
    assert slips[-1] == 0
    for p in points:
        assert p["objective"] == pytest.approx(p["revenue"] - p["true_delay_cost"])


def test_table_and_report(local: Cli, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = local.run("frontier", SMALL, "--points", "3", "--report", str(out))
    assert "as written" in result.out
    assert "Ignoring delay" in result.out
    assert (out / "report.html").is_file()
    assert (out / "frontier.png").read_bytes().startswith(b"\x89PNG")
    assert str(out / "report.html") in result.out.replace("\n", "")


def test_too_few_points_is_a_usage_error(local: Cli) -> None:
    result = local.run("frontier", SMALL, "--points", "2", check=2)
    assert "points" in (result.err + result.out).lower()


def test_plan_writes_a_report_and_keeps_json_clean(tmp_path: Path) -> None:
    cli = Cli({"GPUFLEET_HOME": str(tmp_path / "home")})
    out = tmp_path / "report"
    result = cli.run("plan", str(EXAMPLES / "small.yaml"), "--json", "--report", str(out))
    assert result.json()["status"] == "optimal"  # stdout is nothing but the plan's JSON
    page = (out / "report.html").read_text()
    assert "model-v2" in page
    assert "data:image/png;base64," in page
