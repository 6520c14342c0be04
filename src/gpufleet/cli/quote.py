"""`gpufleet quote`: is a rental request worth what it costs the roadmap, and what to answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gpufleet.cli.output import console, table
from gpufleet.cli.plan import solving
from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.money import format_usd as usd
from gpufleet.planning.planner import Planner
from gpufleet.planning.quote import DEFAULT_QUOTE_GAP, Quote, quote, read_request_text, with_request
from gpufleet.planning.scenario import load_scenario_file

MAX_REQUEST_BYTES = 1024 * 1024


def register(app: typer.Typer) -> None:
    app.command("quote")(quote_command)


def quote_command(
    file: Path = typer.Argument(..., help="A scenario YAML file."),
    request_id: str | None = typer.Option(None, "--id", help="A pending request in FILE."),
    request_file: Path | None = typer.Option(
        None, "--request", help="A YAML file with a new request's fields (id, customer optional)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the quote as JSON."),
    gap: float = typer.Option(DEFAULT_QUOTE_GAP, min=0.0, max=1.0, help="Relative MILP gap."),
    time_limit: float | None = typer.Option(None, min=0.1, help="Stop each solve after S s."),
) -> None:
    """Quote a rental request: bid-price opportunity cost (fast), the exact value of signing
    (re-solved with and without it), and accept, counter or decline."""
    if (request_id is None) == (request_file is None):
        raise InvalidInput("give exactly one of --id ID (a pending request) or --request FILE")
    scenario = load_scenario_file(file)
    if request_file is not None:
        rental = read_request_text(_read(request_file), scenario, str(request_file))
        scenario = with_request(scenario, rental)
        request_id, forced_out = rental.id, [rental.id]
        what = "solving the plan without the request"
    else:
        assert request_id is not None
        if request_id not in {r.id for r in scenario.rental_requests}:
            raise InvalidInput(f"{file} has no pending rental request with id {request_id!r}")
        forced_out = []
        what = "solving the free plan"
    planner = Planner(scenario)
    with solving(as_json, what) as progress:
        free = planner.plan(gap=gap, time_limit=time_limit, force_reject=forced_out,
                            progress=progress)  # fmt: skip
    signed = request_id in free.accepted_ids
    again = f"re-solving {'without' if signed else 'with'} {request_id}"
    with solving(as_json or free.status == "infeasible", again) as progress:
        answer = quote(planner, request_id, free=free, gap=gap, time_limit=time_limit,
                       progress=progress)  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(answer.to_dict(), indent=2) + "\n")
        return
    show_quote(answer)


def show_quote(q: Quote) -> None:
    colour = {"accept": "green", "counter": "yellow", "decline": "red"}[q.decision]
    headline = f"[bold {colour}]{q.decision.upper()}[/] {q.request_id}"
    if q.counter_price_per_gpu_hour is not None:
        headline += (
            f" at ${q.counter_price_per_gpu_hour:,.2f}/GPU-hour "
            f"(asked ${q.price_per_gpu_hour:,.2f})"
        )
    console.print(headline, highlight=False)
    proven = None if q.value_range is None else f"{usd(q.value_range[0])} … {usd(q.value_range[1])}"
    table(
        None,
        ["figure", "USD", "time"],
        [
            (f"revenue ({q.gpu_hours_in_horizon:,.0f} GPU-h inside the horizon)", usd(q.revenue),
             None),
            ("opportunity cost from bid prices (marginal)", usd(q.bid_price_opportunity_cost),
             f"{q.bid_price_seconds * 1000:.2f} ms"),
            ("opportunity cost, exact (re-solved)", _money(q.exact_opportunity_cost),
             f"{q.exact_seconds:.2f} s"),
            ("value of signing (decides)", _money(q.value_of_signing), None),
            ("  proven range within the gap", proven, None),
        ],
    )  # fmt: skip
    moved = [p for p in q.programs if abs(p.days_later) > 1e-9]
    if moved:
        table(
            "Programs if signed",
            ["program", "slip days without #", "slip days with #", "change days #",
             "delay cost USD"],
            [(p.name, p.slip_days_without, p.slip_days_with, p.days_later,
              usd(p.delay_cost_change)) for p in moved],
        )  # fmt: skip
    for line in q.reasons:
        console.print(line, highlight=False)


def _money(amount: float | None) -> str | None:
    return None if amount is None else usd(amount)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_REQUEST_BYTES:
            raise InvalidInput(f"{path} is larger than 1 MiB")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
