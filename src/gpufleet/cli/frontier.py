"""`gpufleet frontier`: revenue against roadmap slip as every delay cost is scaled."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gpufleet.cli.output import console, table
from gpufleet.domain.money import format_usd as usd
from gpufleet.planning.frontier import (
    DEFAULT_GAP,
    DEFAULT_POINTS,
    MIN_POINTS,
    FrontierPoint,
    FrontierProgress,
    frontier,
)
from gpufleet.planning.scenario import Scenario, load_scenario_file


def register(app: typer.Typer) -> None:
    app.command("frontier")(frontier_command)


def frontier_command(
    file: Path = typer.Argument(..., help="A scenario YAML file."),
    points: int = typer.Option(
        DEFAULT_POINTS, "--points", min=MIN_POINTS, help="Solve at most N delay-cost factors."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the points as JSON."),
    gap: float = typer.Option(DEFAULT_GAP, min=0.0, max=1.0, help="Relative gap per solve."),
    time_limit: float | None = typer.Option(
        None, "--time-limit", min=0.1, help="Stop each solve after S seconds."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write report.html and its PNG plots (frontier.png too) here."
    ),
) -> None:
    """Revenue against total slip days as all delay costs go from zero to prohibitive."""
    scenario = load_scenario_file(file)
    with sweeping(as_json) as progress:
        found = frontier(scenario, points=points, gap=gap, time_limit_per_point=time_limit,
                         progress=progress)  # fmt: skip
    written = _write_report(report, scenario, found) if report is not None else None
    if as_json:
        body = {
            "scenario": scenario.name,
            "gap": gap,
            "points": [p.to_dict() for p in found],
            "report": None if written is None else str(written),
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return
    show_frontier(found)
    if written is not None:
        console.print(f"Report written to {written}", highlight=False)


@contextmanager
def sweeping(quiet: bool) -> Iterator[FrontierProgress | None]:
    """A progress bar over the solves; each point is one MILP."""
    if quiet:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("solving the plan at each delay-cost factor"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("frontier", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def show_frontier(points: Sequence[FrontierPoint]) -> None:
    table(
        "Frontier: delay costs × factor (delay cost and objective at the costs as written)",
        ["factor #", "revenue USD", "slip days #", "accepted #", "delay cost USD",
         "objective USD", "note"],
        [
            (f"×{_factor(p.factor)}", usd(p.revenue), _number(p.total_slip_days), p.accepted,
             usd(p.true_delay_cost), usd(p.objective), _note(p))
            for p in points
        ],
    )  # fmt: skip
    for line in summary(points):
        console.print(line, highlight=False)


def _note(point: FrontierPoint) -> str:
    notes = ["as written"] if point.actual else []
    if point.unfinished:
        notes.append("unfinished: " + ", ".join(point.unfinished))
    return "; ".join(notes)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def summary(points: Sequence[FrontierPoint]) -> list[str]:
    """The two ends against the plan as written, in plain words."""
    actual = next((p for p in points if p.actual), None)
    if actual is None or len(points) < 2:
        return ["Delay costs cannot change this plan: every factor gives the same one."]
    lines = [
        f"As written (×1): revenue {usd(actual.revenue)}, "
        f"{_days(actual.total_slip_days)} of slip, objective {usd(actual.objective)}."
    ]
    first, last = points[0], points[-1]
    if first is not actual:
        lines.append(
            f"Ignoring delay (×{_factor(first.factor)}) would earn "
            f"{usd(first.revenue - actual.revenue)} more and slip "
            f"{_days(first.total_slip_days - actual.total_slip_days)} more."
        )
    if last is not actual:
        lines.append(
            f"Making slip prohibitive (×{_factor(last.factor)}) would give up "
            f"{usd(actual.revenue - last.revenue)} of revenue to slip "
            f"{_days(actual.total_slip_days - last.total_slip_days)} less."
        )
    return lines


def _write_report(directory: Path, scenario: Scenario, points: list[FrontierPoint]) -> Path:
    from gpufleet.adapters.report import write_report  # Matplotlib loads only when asked

    actual = next((p for p in points if p.actual), points[0])
    assert actual.result is not None  # every point the sweep returns carries its plan
    return write_report(directory, scenario, actual.result, points)


def _factor(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _days(days: float) -> str:
    text = f"{days:,.0f}" if float(days).is_integer() else f"{days:,.1f}"
    return f"{text} day" + ("" if text == "1" else "s")
