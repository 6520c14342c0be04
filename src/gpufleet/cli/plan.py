"""`gpufleet plan`: which requests to sign, what each program's finish becomes, and what-if."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.status import Status

from gpufleet.cli.output import console, table
from gpufleet.domain.money import format_usd as usd
from gpufleet.planning.baselines import COMPARE_COLUMNS, baselines, compare_table
from gpufleet.planning.compare import compare
from gpufleet.planning.planner import DEFAULT_GAP, Planner
from gpufleet.planning.result import Decision, PlanResult, date_text
from gpufleet.planning.scenario import Scenario, load_scenario_file
from gpufleet.planning.solver import Progress, ProgressCallback

JsonFlag = typer.Option(False, "--json", help="Print the plan's JSON (design/SCENARIO.md).")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


def plan_command(
    file: Path = typer.Argument(..., help="A scenario YAML file."),
    as_json: bool = JsonFlag,
    time_limit: float | None = typer.Option(None, min=0.1, help="Stop after S seconds."),
    gap: float = typer.Option(DEFAULT_GAP, min=0.0, max=1.0, help="Relative optimality gap."),
    accept: list[str] = typer.Option([], "--accept", help="Force this request in (repeat)."),
    reject: list[str] = typer.Option([], "--reject", help="Force this request out (repeat)."),
    all_rows: bool = typer.Option(False, "--all", help="List every decision, not a digest."),
    with_baselines: bool = typer.Option(
        False, "--compare", help="Also plan by rules of thumb and show the optimum's margin."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write report.html with its PNG plots into this folder."
    ),
) -> None:
    """Decide which rental requests to sign against the internal roadmap (HiGHS MILP)."""
    scenario = load_scenario_file(file)
    planner = Planner(scenario)
    with solving(as_json, "solving the plan") as progress:
        result = planner.plan(time_limit=time_limit, gap=gap, force_accept=accept,
                              force_reject=reject, progress=progress)  # fmt: skip
    rivals = []
    if with_baselines:
        with solving(as_json, "planning the rules of thumb") as _:
            rivals = baselines(planner, gap=gap, time_limit=time_limit)
    if as_json:
        document = result.to_dict()
        if with_baselines:
            document["baselines"] = [b.to_dict(result) for b in rivals]
        sys.stdout.write(json.dumps(document, indent=2, default=float) + "\n")
    else:
        show_plan(scenario, result, all_rows=all_rows)
        if with_baselines:
            table("Against rules of thumb", COMPARE_COLUMNS, compare_table(result, rivals))
    if report is not None:
        from gpufleet.adapters.report import write_report  # matplotlib only when asked

        path = write_report(report, scenario, result)
        if not as_json:
            console.print(f"Report written to {path}", highlight=False)
    if as_json:
        return
    if accept or reject:
        with solving(False, "solving the free optimum to compare") as progress:
            free = planner.plan(time_limit=time_limit, gap=gap, progress=progress)
        console.rule("What if")
        for line in compare(free, result).sentences():
            console.print(line, highlight=False)


@contextmanager
def solving(quiet: bool, what: str) -> Iterator[ProgressCallback | None]:
    """A live line while HiGHS works: elapsed time, best plan, proven bound, gap."""
    if quiet:
        yield None
        return
    with Status(what, console=console) as status:

        def update(report: Progress) -> None:
            parts = [f"{what}: {report.seconds:.1f} s"]
            if report.objective is not None:
                parts.append(f"best {usd(report.objective)}")
            if report.bound is not None:
                parts.append(f"bound {usd(report.bound)}")
            if report.gap is not None:
                parts.append(f"gap {report.gap:.3%}")
            status.update(", ".join(parts))

        yield update


def show_plan(scenario: Scenario, result: PlanResult, *, all_rows: bool = False) -> None:
    if result.status == "infeasible":
        console.print("[bold red]infeasible[/]: the leases and inference needs alone do not fit")
        for reason in result.reasons:
            console.print(f"  {reason.message}", highlight=False)
        return
    console.print(
        f"[bold]{result.status}[/]: objective {usd(result.objective)} = revenue "
        f"{usd(result.revenue)} − delay cost {usd(result.delay_cost)}; bound "
        f"{usd(result.bound)}, gap {result.gap:.3%}, solved in {result.solve_seconds:.1f} s. "
        f"Signed leases add {usd(result.committed_revenue)}.",
        highlight=False,
    )
    table(
        "Programs",
        ["program", "kind", "due", "finish", "slip days #", "delay cost USD", "status"],
        [
            (p.name, p.kind, _due(scenario, p.name), date_text(p.finish) if p.finish else None,
             p.slip_days if p.kind == "training" else None,
             usd(p.delay_cost) if p.kind == "training" else None, p.status)
            for p in result.programs
        ],
    )  # fmt: skip
    requests = {r.id: r for r in scenario.rental_requests}
    decisions = sorted(result.decisions, key=lambda d: (not d.accepted, -d.revenue))
    shown = decisions if all_rows else _digest(decisions)
    table(
        f"Decisions ({len(result.accepted_ids)} of {len(decisions)} accepted"
        + ("" if all_rows else "; the largest of each kind, --all for every one") + ")",
        ["request", "customer", "model", "GPUs", "start", "decision", "revenue USD",
         "opportunity cost USD"],
        [
            (d.id, requests[d.id].customer, requests[d.id].gpu_model, requests[d.id].gpus,
             date_text(requests[d.id].start),
             ("accept" if d.accepted else "decline") + (" (forced)" if d.forced else ""),
             usd(d.revenue), usd(d.opportunity_cost))
            for d in shown
        ],
    )  # fmt: skip


def _digest(decisions: list[Decision]) -> list[Decision]:
    """The eight largest accepted and the eight largest declined."""
    accepted = [d for d in decisions if d.accepted][:8]
    declined = [d for d in decisions if not d.accepted][:8]
    return accepted + declined


def _due(scenario: Scenario, name: str) -> str | None:
    for program in scenario.programs:
        if program.name == name and program.kind == "training":
            return date_text(program.due)
    return None
