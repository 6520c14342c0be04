"""`write_report`: a self-contained report.html with PNG plots, from a real plan."""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path

import pytest

from gpufleet.adapters.report import REPORT_NAME, write_report
from gpufleet.domain.money import format_usd
from gpufleet.planning.frontier import FrontierPoint, frontier
from gpufleet.planning.planner import plan
from gpufleet.planning.result import Decision, PlanResult
from gpufleet.planning.scenario import Scenario, load_scenario_file
from tests.conftest import EXAMPLES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("capacity.png", "work.png", "bid_prices.png", "frontier.png")


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario_file(EXAMPLES / "small.yaml")


@pytest.fixture(scope="module")
def points(small: Scenario) -> list[FrontierPoint]:
    return frontier(small, points=5, gap=0.0)


@pytest.fixture(scope="module")
def result(points: list[FrontierPoint]) -> PlanResult:
    actual = next(p for p in points if p.actual)
    assert actual.result is not None
    return actual.result


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
    small: Scenario,
    result: PlanResult,
    points: list[FrontierPoint],
) -> Path:
    return write_report(tmp_path_factory.mktemp("report") / "out", small, result, points)


def test_writes_report_html_and_valid_pngs(report: Path) -> None:
    assert report.name == REPORT_NAME
    assert report.is_file()
    for name in PLOTS:
        data = (report.parent / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 10_000, name  # a real picture, not an empty canvas


def test_the_page_is_self_contained_with_every_plot_embedded(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(PLOTS)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert "http://" not in page
    assert "https://" not in page  # nothing to fetch: it opens offline and mails as one file
    for name in PLOTS:  # captions name the PNG written next to the page
        assert name in page


def test_the_page_states_the_plan(report: Path, small: Scenario, result: PlanResult) -> None:
    page = report.read_text(encoding="utf-8")
    assert format_usd(result.objective) in page
    assert format_usd(result.revenue) in page
    assert format_usd(result.delay_cost) in page
    for program in small.programs:
        assert program.name in page
    for request in small.rental_requests:
        assert f"<td>{request.id}" in page
    assert "2027-06-14" in page  # model-v2's finish
    assert "4 of 7 accepted" in page
    assert "as written" in page


def test_without_a_frontier_there_is_no_frontier_plot(
    tmp_path: Path, small: Scenario, result: PlanResult
) -> None:
    page = write_report(tmp_path, small, result).read_text(encoding="utf-8")
    assert not (tmp_path / "frontier.png").exists()
    assert page.count("<img ") == 3
    assert "Revenue against roadmap slip" not in page


def test_text_from_the_plan_is_escaped(tmp_path: Path, small: Scenario, result: PlanResult) -> None:
    hostile = Decision(
        id='<script>alert("x")</script>&',
        accepted=False,
        revenue=1.0,
        opportunity_cost=0.0,
        beyond_horizon=False,
    )
    tampered = dataclasses.replace(result, decisions=(*result.decisions, hostile))
    page = write_report(tmp_path, small, tampered).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page


def test_an_infeasible_plan_reports_why_without_plots(tmp_path: Path, small: Scenario) -> None:
    programs = [
        p.model_copy(update={"gpus": 100_000}) if p.kind == "inference" else p
        for p in small.programs
    ]
    scenario = small.model_copy(update={"programs": programs})
    result = plan(scenario)
    assert result.status == "infeasible"
    page = write_report(tmp_path, scenario, result).read_text(encoding="utf-8")
    assert "Infeasible" in page
    assert "<img " not in page
    for reason in result.reasons:
        assert reason.message.split()[0] in page
