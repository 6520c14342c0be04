"""`gpufleet plans`: plan the server's current state in the background, and read the result."""

from __future__ import annotations

import json
import sys
import time

import typer
from rich.status import Status

from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.plans import (
    PlanAppliedOut,
    PlanCreate,
    PlanJobOut,
    ProgramsAppliedOut,
)
from gpufleet.cli.output import console, emit_json, table
from gpufleet.cli.remote import JsonFlag, api
from gpufleet.domain.errors import GpufleetError
from gpufleet.domain.money import format_usd as usd

plans = typer.Typer(help="Plans of the server's current state (operator).", no_args_is_help=True)
_POLL_S = 0.5


def register(app: typer.Typer) -> None:
    app.add_typer(plans, name="plans")


@plans.command("submit")
def submit(
    gap: float = typer.Option(1e-3, min=0.0, max=0.999, help="Relative optimality gap."),
    time_limit: float | None = typer.Option(None, min=0.1, help="Seconds."),
    accept: list[str] = typer.Option([], "--accept", help="Force this request in (repeat)."),
    reject: list[str] = typer.Option([], "--reject", help="Force this request out (repeat)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the plan, showing progress."),
    as_json: bool = JsonFlag,
) -> None:
    """Queue a plan of the fleet as it is now; with --wait, follow it to the end."""
    body = PlanCreate(gap=gap, time_limit=time_limit, force_accept=accept, force_reject=reject)
    job = api().post("/v1/plans", PlanJobOut, body)
    if wait:
        job = follow(job, quiet=as_json)
    if as_json:
        emit_json(job)
    else:
        show(job)
    if job.status == "failed":
        raise GpufleetError(f"plan {job.id} failed: {job.error}")


def follow(job: PlanJobOut, *, quiet: bool) -> PlanJobOut:
    with Status(f"{job.id}: {job.status}", console=console) as status:
        if quiet:
            status.stop()
        while job.status in {"queued", "running"}:
            time.sleep(_POLL_S)
            job = api().get(f"/v1/plans/{job.id}", PlanJobOut)
            line = f"{job.id}: {job.status}"
            if job.progress:
                p = job.progress
                line += f", {p.seconds:.1f} s"
                line += f", best {usd(p.objective)}" if p.objective is not None else ""
                line += f", gap {p.gap:.3%}" if p.gap is not None else ""
            status.update(line)
    return job


@plans.command("show")
def show_command(plan_id: str, as_json: bool = JsonFlag) -> None:
    """A plan job; with --json and a finished plan, exactly `gpufleet plan --json`'s output."""
    job = api().get(f"/v1/plans/{plan_id}", PlanJobOut)
    if as_json and job.plan is not None:
        sys.stdout.write(json.dumps(job.plan, indent=2) + "\n")
    elif as_json:
        emit_json(job)
    else:
        show(job)


@plans.command("apply")
def apply_command(
    plan_id: str,
    program_days: int = typer.Option(
        28, "--program-days", min=0, max=3660,
        help="Book the internal programs' allocations of the periods starting within this "
             "many days (0: none).",
    ),
    as_json: bool = JsonFlag,
) -> None:  # fmt: skip
    """Accept every request the finished plan accepted, placed on nodes in one transaction:
    all of them or none (exit 5, naming the first that does not fit). Then, best effort,
    book the internal programs' allocations of the next --program-days as the lab's holds."""
    applied = api().call("POST", f"/v1/plans/{plan_id}/apply", PlanAppliedOut,
                         params={"program_days": program_days})  # fmt: skip
    if as_json:
        emit_json(applied)
        return
    console.print(f"{plan_id}: {len(applied.accepted)} lease(s) created, "
                  f"{len(applied.skipped)} accepted already", highlight=False)  # fmt: skip
    table(None, ["request", "lease", "tenant", "GPUs", "nodes"],
          [(a.request_id, a.lease_id, a.tenant, a.gpus, a.nodes)
           for a in applied.accepted])  # fmt: skip
    if applied.preempted:
        console.print(f"preemption notices: {', '.join(applied.preempted)}", highlight=False)
    show_programs(applied.programs, program_days)


def show_programs(programs: ProgramsAppliedOut | None, program_days: int) -> None:
    """The programs booked: wanted / placed / short GPUs per program, model and periods."""
    if programs is None:
        console.print(f"programs: none booked (--program-days {program_days})",
                      highlight=False)  # fmt: skip
        return
    console.print(
        f"programs (next {program_days} days): {programs.placed_gpus:,} GPUs placed, "
        f"{programs.short_gpus:,} short; {programs.later_periods} later allocation(s) not "
        f"booked yet; {len(programs.released)} earlier hold(s) released",
        highlight=False,
    )
    rows = [(h.program, h.gpu_model, _periods(h.periods), h.wanted_gpus, h.placed_gpus,
             h.short_gpus) for h in programs.holds]  # fmt: skip
    table("Programs booked", ["program", "model", "periods", "wanted GPUs", "placed GPUs",
                              "short GPUs"], rows)  # fmt: skip
    for h in programs.holds:
        if h.short_gpus and h.reason:
            console.print(f"  {h.program} {h.gpu_model} short: {h.reason}", highlight=False)


def _periods(periods: list[int]) -> str:
    first, last = periods[0], periods[-1]
    return str(first) if first == last else f"{first}–{last}"


@plans.command("list")
def list_command(as_json: bool = JsonFlag) -> None:
    """Plan jobs, newest first."""
    page = api().get("/v1/plans", Page[PlanJobOut])
    if as_json:
        emit_json(page)
        return
    table(None, ["plan", "status", "created", "objective USD", "gap"],
          [(j.id, j.status, j.created_at, usd(j.plan["objective"]) if j.plan else None,
            f"{j.plan['gap']:.3%}" if j.plan and j.plan.get("gap") is not None else None)
           for j in page.items])  # fmt: skip


def show(job: PlanJobOut) -> None:
    console.print(f"{job.id}: [bold]{job.status}[/]", highlight=False)
    if job.error:
        console.print(f"  error: {job.error}", highlight=False)
    if job.plan is None:
        return
    plan = job.plan
    console.print(
        f"  {plan['status']}: objective {usd(plan['objective'])} = revenue "
        f"{usd(plan['revenue'])} − delay cost {usd(plan['delay_cost'])}, gap {plan['gap']:.3%}",
        highlight=False,
    )
    rows = [(p["name"], p["finish"], p["slip_days"], p["status"]) for p in plan["programs"]]
    table("Programs", ["program", "finish", "slip days #", "status"], rows)
    accepted = [d["id"] for d in plan["decisions"] if d["accepted"]]
    console.print(f"  {len(accepted)} of {len(plan['decisions'])} requests accepted")
