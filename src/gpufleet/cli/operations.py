"""`gpufleet ops`: run the simulated cluster on the server and see where it stands."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gpufleet.api.schemas.operations import AdvanceIn, OpsStatusOut, RecordedLeasesOut
from gpufleet.cli.output import console, emit_json, table
from gpufleet.cli.remote import JsonFlag, api
from gpufleet.domain.errors import GpufleetError
from gpufleet.operations import LLAMA3_FAILURES_PER_GPU_HOUR

ops = typer.Typer(help="The simulated cluster (operator).", no_args_is_help=True)
_POLL_S = 0.5


def register(app: typer.Typer) -> None:
    app.add_typer(ops, name="ops")


@ops.command("run")
def run(
    until: datetime = typer.Option(..., "--until", help="Run the clock to here (UTC).",
                                   formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the failures and repairs."),
    failure_rate: float = typer.Option(LLAMA3_FAILURES_PER_GPU_HOUR, "--failures-per-gpu-hour",
                                       min=0.0, max=0.999, help="Default: Llama 3's rate."),
    repair_hours: float = typer.Option(12.0, "--repair-median-hours", min=0.001, max=8760.0),
    experiments: bool = typer.Option(True, "--experiments/--no-experiments",
                                     help="Replay the lab's Philly experiments."),
    copies: int = typer.Option(1, "--experiment-copies", min=1, max=64),
    as_json: bool = JsonFlag,
) -> None:  # fmt: skip
    """Advance the simulated clock to --until on the server, showing its progress: leases
    start and end, nodes fail and are repaired, experiments fill idle capacity."""
    body = AdvanceIn(until=until.replace(tzinfo=UTC), seed=seed, failures_per_gpu_hour=failure_rate,
                     repair_median_hours=repair_hours, experiments=experiments,
                     experiment_copies=copies)  # fmt: skip
    started = api().post("/v1/ops/advance", OpsStatusOut, body)
    done = follow(started, quiet=as_json)
    if as_json:
        emit_json(done)
    else:
        show(done)
    if done.run_status == "failed":
        raise GpufleetError(f"the run failed: {done.run_error}")


def follow(started: OpsStatusOut, *, quiet: bool) -> OpsStatusOut:
    """Polls the status until the run is over, with a bar of simulated hours."""
    first, target = started.clock, started.run_until or started.clock
    total = max(1.0, (target - first).total_seconds() / 3600)
    status = started
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task("", total=total)
        while status.run_status == "running":
            time.sleep(_POLL_S)
            status = api().get("/v1/ops/status", OpsStatusOut)
            done = (status.clock - first).total_seconds() / 3600
            t = status.totals
            line = (f"{status.clock:%Y-%m-%d %H:%M}  {t.failures:,} failures  "
                    f"{t.replacements:,} replacements  {t.shortfalls:,} shortfalls")  # fmt: skip
            bar.update(task, completed=done, description=line)
    return status


@ops.command("place-leases")
def place_leases(as_json: bool = JsonFlag) -> None:
    """Place the leases recorded from a scenario on concrete nodes now (also done for new
    ones by every `ops run`); those that do not fit are listed with the reason."""
    done = api().post("/v1/ops/place-recorded-leases", RecordedLeasesOut, {})
    if as_json:
        emit_json(done)
        return
    console.print(f"Placed {len(done.placed)} recorded lease(s); {len(done.refused)} do not fit; "
                  f"{len(done.over)} already over.", highlight=False)  # fmt: skip
    rows = [(lease, f"{nodes:,} nodes") for lease, nodes in done.placed.items()]
    rows += [(r.lease_id, f"refused, {r.reason.replace('_', ' ')}: {r.message}")
             for r in done.refused]  # fmt: skip
    if rows:
        table(None, ["lease", "outcome"], rows)


@ops.command("status")
def status_command(as_json: bool = JsonFlag) -> None:
    """The simulated clock, the run going on, and the totals since the first run."""
    status = api().get("/v1/ops/status", OpsStatusOut)
    if as_json:
        emit_json(status)
    else:
        show(status)


def show(s: OpsStatusOut) -> None:
    t = s.totals
    console.print(
        f"Clock [bold]{s.clock:%Y-%m-%d %H:%M} UTC[/], run {s.run_status}"
        + (f" (to {s.run_until:%Y-%m-%d %H:%M})" if s.run_until else "")
        + (f": {s.run_error}" if s.run_error else ""),
        highlight=False,
    )
    table("Since the first run", ["what", "count"], [
        ("utilisation (busy / online GPU-hours)", f"{t.utilisation:.1%}"),
        ("node failures / repairs", f"{t.failures:,} / {t.repairs:,}"),
        ("nodes waiting for repair", f"{s.pending_repairs:,}"),
        ("replacement nodes", f"{t.replacements:,}"),
        ("preemption notices / preemptions", f"{t.notices:,} / {t.preemptions:,}"),
        ("shortfalls (GPU-hours)", f"{t.shortfalls:,} ({t.shortfall_gpu_hours:,.1f})"),
        ("leases started / ended", f"{t.leases_started:,} / {t.leases_ended:,}"),
        (f"experiments on {s.experiment_model or '-'}: submitted / placed",
         f"{t.experiments_submitted:,} / {t.experiments_placed:,}"),
        ("experiments refused (fragmented) / waiting / abandoned",
         f"{t.experiments_refused:,} ({t.experiments_refused_fragmented:,}) / "
         f"{s.queued_experiments:,} / {t.experiments_abandoned:,}"),
        ("program GPUs found by daily retries", f"{t.program_gpus_recovered:,}"),
    ])  # fmt: skip
    if s.experiment_trace:
        console.print(f"Experiments replayed from {s.experiment_trace}", highlight=False)
