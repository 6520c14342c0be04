"""`gpufleet demo`: the story on the embedded default, end to end, in-process."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from gpufleet.api.schemas.programs import ProgramOut
from gpufleet.api.schemas.rentals import RentalOut
from gpufleet.bootstrap import open_database
from gpufleet.cli import views
from gpufleet.cli.output import console, emit_json, usd
from gpufleet.config import home
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import access, fleet, programs, rentals
from gpufleet.services.fleet_summary import fleet_summary


def default_scenario() -> Path:
    return Path(str(resources.files("gpufleet") / "examples" / "colossus.yaml"))


def fresh_demo_database_url() -> str:
    path = home() / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_demo(file: Path | None, as_json: bool) -> None:
    source = file or default_scenario()
    scenario = load_scenario_file(source)
    db = open_database(fresh_demo_database_url())
    operator = access.authenticate(db, access.init_admin(db, "demo").token)

    began = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True, disable=as_json,
    ) as bar:  # fmt: skip
        task = bar.add_task("importing nodes", total=sum(c.nodes for c in scenario.clusters))
        result = fleet.import_scenario(
            db, operator, scenario, lambda done, total: bar.update(task, completed=done)
        )
    seconds = time.perf_counter() - began
    summary = fleet_summary(db, operator)
    program_list = [ProgramOut.of(p) for p in programs.list_programs(db, operator)]
    pending = [
        RentalOut.of(r)
        for r in rentals.list_rentals(db, operator, "request", "pending", None, 10_000)
    ]
    leases = [
        RentalOut.of(r) for r in rentals.list_rentals(db, operator, "lease", None, None, 1000)
    ]
    if as_json:
        emit_json({
            "import": result.model_dump(mode="json"),
            "fleet": summary.model_dump(mode="json"),
            "programs": [p.model_dump(mode="json") for p in program_list],
            "pending_requests": [r.model_dump(mode="json", by_alias=True) for r in pending],
            "leases": [r.model_dump(mode="json", by_alias=True) for r in leases],
        })  # fmt: skip
        return

    console.rule(f"gpufleet demo — {scenario.name}")
    console.print(
        f"Imported {source.name} into {db.engine.url.database}: {result.nodes:,} nodes in "
        f"{result.blocks:,} blocks and {result.pods:,} pods, {result.rental_requests} requests, "
        f"{result.leases} leases, {result.programs} programs in {seconds:.1f} s.\n",
        highlight=False,
    )
    views.show_fleet(summary)
    views.show_programs(program_list)
    views.show_rentals("Signed leases", leases)
    views.show_demand(pending)
    views.show_rentals("The ten largest pending requests by value", pending, limit=10)
    asked = sum(r.value_usd for r in pending)
    console.print(
        f"\n{len(pending)} requests ask for {usd(asked)} in all. Not yet built: the planner "
        "that says which to sign and what each costs the roadmap (issue 3).",
        highlight=False,
    )
    console.print(
        "Next: 'gpufleet serve' for the API (docs at /docs), 'gpufleet admin init' for a key.",
        highlight=False,
    )
