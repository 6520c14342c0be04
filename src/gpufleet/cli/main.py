"""`gpufleet`: the entry point. Commands live in `local.py` (this machine) and `remote.py`
(the HTTP API); errors become messages and exit codes here and nowhere else."""

from __future__ import annotations

import sys

import typer

from gpufleet.cli import billing as billing_cli
from gpufleet.cli import frontier, local, plan, plans_remote, quote, remote
from gpufleet.cli import hosting as hosting_cli
from gpufleet.cli import operations as operations_cli
from gpufleet.cli.output import report_error
from gpufleet.domain.errors import GpufleetError

app = typer.Typer(
    name="gpufleet",
    help="Control plane for a GPU fleet: rent capacity, plan the roadmap, place, bill, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
local.register(app)
plan.register(app)
frontier.register(app)
quote.register(app)
remote.register(app)
plans_remote.register(app)
billing_cli.register(app)
hosting_cli.register(app)
operations_cli.register(app)


def run() -> None:
    try:
        app(standalone_mode=True)
    except GpufleetError as error:
        sys.exit(report_error(error, as_json="--json" in sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
