"""Commands that work on this machine: serve, admin init, validate, demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from gpufleet.bootstrap import open_database
from gpufleet.cli.output import console, emit_json
from gpufleet.config import Settings
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services.database import Database

JsonFlag = typer.Option(False, "--json", help="Print JSON instead of tables.")
admin = typer.Typer(help="Set up a database: the first operator key.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(validate)
    app.command()(demo)
    app.add_typer(admin, name="admin")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes (vLLM deployments need 1: ADR 0012)."
    ),
    no_default_model: bool = typer.Option(
        False, "--no-default-model", help="Do not offer smollm2-135m-instruct (embedded DB)."
    ),
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs) on GPUFLEET_DATABASE_URL."""
    import uvicorn

    from gpufleet.hosting.workers import WORKERS_ENV
    from gpufleet.services.hosting import check_serve_workers, ensure_default_model

    settings = Settings.from_env()
    db = open_database(settings.database_url)
    check_serve_workers(db, workers)  # vLLM deployments need one worker (ADR 0012)
    console.print(f"gpufleet API on http://{host}:{port} (docs at /docs), "
                  f"database {db.engine.url.render_as_string()}", highlight=False)  # fmt: skip
    if not no_default_model and db.engine.dialect.name == "sqlite":
        ensure_default_model(db)  # a new user can call a model at once (issue 6)
        console.print("model smollm2-135m-instruct: POST /v1/chat/completions with a tenant key")
    os.environ[WORKERS_ENV] = str(workers)  # each worker refuses per-process vLLM replicas
    if workers == 1:
        uvicorn.run(worker_app(db), host=host, port=port, log_level="warning")
        return
    if not os.environ.get("GPUFLEET_REDIS_URL"):
        console.print(f"[yellow]note[/]: inference limits count in each of the {workers} "
                      "processes; set GPUFLEET_REDIS_URL to share them (ADR 0008)")  # fmt: skip
    db.engine.dispose()  # each worker opens its own (uvicorn starts them by import string)
    uvicorn.run("gpufleet.cli.local:worker_app", factory=True, host=host, port=port,
                workers=workers, log_level="warning")  # fmt: skip


def worker_app(db: Database | None = None) -> Any:
    """The app one serving process runs (`uvicorn --factory` calls it in each worker)."""
    from gpufleet.api.app import create_app

    settings = Settings.from_env()
    return create_app(db or open_database(settings.database_url),
                      max_body_bytes=settings.max_body_bytes)  # fmt: skip


@admin.command("init")
def admin_init(
    name: str = typer.Option("admin", help="A name for the key."),
    another: bool = typer.Option(False, "--another", help="Mint one more operator key."),
    as_json: bool = JsonFlag,
) -> None:
    """Create the database if needed and print the first operator API key (shown once)."""
    from gpufleet.services.access import init_admin

    issued = init_admin(open_database(), name, another=another)
    if as_json:
        emit_json({"api_key": issued.token, "key_id": issued.key.id})
        return
    console.print(f"Operator key {issued.key.id} created. It is shown this once:\n")
    console.print(issued.token, highlight=False, soft_wrap=True)
    console.print("\nexport GPUFLEET_API_KEY=<that key> to use the CLI against 'gpufleet serve'.")


def validate(
    file: Path = typer.Argument(..., help="A scenario YAML file."),
    as_json: bool = JsonFlag,
) -> None:
    """Check a scenario file; print a summary, or every error with its path (exit 2)."""
    scenario = load_scenario_file(file)
    facts = {
        "name": scenario.name,
        "horizon": f"{scenario.horizon.periods} {scenario.horizon.period}s from "
        f"{scenario.horizon.start.date()}",
        "gpu_models": len(scenario.gpu_models),
        "clusters": len(scenario.clusters),
        "installed_gpus": sum(c.installed_gpus for c in scenario.clusters),
        "nodes": sum(c.nodes for c in scenario.clusters),
        "programs": len(scenario.programs),
        "rental_requests": len(scenario.rental_requests),
        "leases": len(scenario.leases),
    }
    if as_json:
        emit_json({"valid": True, **facts})
        return
    console.print(f"[green]valid[/]: {file}")
    for key, value in facts.items():
        console.print(f"  {key.replace('_', ' ')}: {value:,}" if isinstance(value, int)
                      else f"  {key}: {value}", highlight=False)  # fmt: skip


def demo(
    file: Path | None = typer.Option(None, help="A scenario (default: the Colossus example)."),
    as_json: bool = JsonFlag,
    save_json: Path | None = typer.Option(
        None, "--save-json", help="Also write what --json prints to this file, keeping the tables."
    ),
) -> None:
    """Load the Colossus example into a fresh embedded database, plan it, serve a model,
    simulate a month of operations and bill it."""
    from gpufleet.cli.demo import run_demo

    run_demo(file, as_json, save_json)
