"""Commands that talk to a gpufleet server over HTTP, with the API's own schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.status import Status

from gpufleet.api.schemas.access import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    TenantCreate,
    TenantOut,
)
from gpufleet.api.schemas.common import Page
from gpufleet.api.schemas.events import EventOut
from gpufleet.api.schemas.fleet import FleetSummary, ImportResult, NodeOut, NodeStateChange
from gpufleet.api.schemas.programs import ProgramOut
from gpufleet.api.schemas.rentals import AcceptedOut, LeaseOut, RentalOut, RentalRequestCreate
from gpufleet.cli import views
from gpufleet.cli.client import ApiClient
from gpufleet.cli.events_follow import follow_events
from gpufleet.cli.output import console, emit_json, fmt, table
from gpufleet.config import client_key, client_url
from gpufleet.domain.fleet import NodeState
from gpufleet.planning.scenario import load_scenario_file, read_scenario_text

JsonFlag = typer.Option(False, "--json", help="Print JSON instead of tables.")
Limit = typer.Option(100, min=1, max=1000, help="Items per page.")
Cursor = typer.Option(None, help="next_cursor of the previous page.")

fleet = typer.Typer(help="The fleet: import a scenario, show it, list nodes.", no_args_is_help=True)
tenants = typer.Typer(help="Tenants (operator).", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
requests = typer.Typer(help="Rental requests.", no_args_is_help=True)
leases = typer.Typer(help="Signed leases.", no_args_is_help=True)
programs = typer.Typer(help="Internal programs (operator).", no_args_is_help=True)
_client: dict[str, ApiClient] = {}


def register(app: typer.Typer) -> None:
    @app.callback()
    def connect(
        url: str = typer.Option(client_url(), "--url", envvar="GPUFLEET_URL",
                                help="The gpufleet server."),
        api_key: str | None = typer.Option(client_key(), "--api-key", envvar="GPUFLEET_API_KEY",
                                           help="Your API key.", show_default=False),
    ) -> None:  # fmt: skip
        _client["api"] = ApiClient(url, api_key)

    for name, group in (
        ("fleet", fleet),
        ("tenants", tenants),
        ("keys", keys),
        ("requests", requests),
        ("leases", leases),
        ("programs", programs),
    ):
        app.add_typer(group, name=name)  # fmt: skip
    app.command("events")(list_events)


def api() -> ApiClient:
    return _client["api"]


@fleet.command("import")
def fleet_import(file: Path = typer.Argument(...), as_json: bool = JsonFlag) -> None:
    """Validate a scenario here, then import it on the server (all or nothing)."""
    scenario = load_scenario_file(file)  # every error at once, before anything is sent
    nodes = sum(c.nodes for c in scenario.clusters)
    raw = read_scenario_text(file.read_text(encoding="utf-8"), str(file))
    with Status(f"importing {nodes:,} nodes on {api().url} …", console=console) as status:
        if as_json:
            status.stop()
        result = api().post("/v1/fleet/import", ImportResult, raw)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[green]imported[/] {result.name}: {result.nodes:,} nodes, {result.clusters} clusters, "
        f"{result.rental_requests} requests, {result.leases} leases, {result.programs} programs "
        f"in {result.seconds:.1f} s"
    )


@fleet.command("show")
def fleet_show(as_json: bool = JsonFlag) -> None:
    """GPUs per model and cluster, and capacity online over time."""
    summary = api().get("/v1/fleet", FleetSummary)
    emit_json(summary) if as_json else views.show_fleet(summary)


@fleet.command("nodes")
def fleet_nodes(
    cluster: str | None = typer.Option(None),
    gpu_model: str | None = typer.Option(None),
    state: NodeState | None = typer.Option(None),
    pod: int | None = typer.Option(None, min=0),
    block: int | None = typer.Option(None, min=0),
    limit: int = Limit,
    cursor: str | None = Cursor,
    as_json: bool = JsonFlag,
) -> None:
    """Nodes, filtered, one page at a time."""
    page = api().get("/v1/fleet/nodes", Page[NodeOut], cluster=cluster, gpu_model=gpu_model,
                     state=state.value if state else None, pod=pod, block=block, limit=limit,
                     cursor=cursor)  # fmt: skip
    if as_json:
        emit_json(page)
        return
    table(None, ["id #", "name", "cluster", "model", "pod #", "block #", "GPUs", "state",
                 "reason"],
          [(n.id, n.name, n.cluster, n.gpu_model, n.pod, n.block, n.gpus, n.state.value,
            n.state_reason) for n in page.items])  # fmt: skip
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@fleet.command("set-state")
def fleet_set_state(
    node_id: int,
    state: NodeState,
    reason: str | None = typer.Option(None),
    as_json: bool = JsonFlag,
) -> None:
    """Mark a node up, draining, down or in maintenance."""
    body = NodeStateChange(state=state, reason=reason)
    node = api().post(f"/v1/fleet/nodes/{node_id}/state", NodeOut, body)
    emit_json(node) if as_json else console.print(f"{node.name}: {node.state.value}")


@tenants.command("list")
def tenants_list(as_json: bool = JsonFlag) -> None:
    """Every tenant."""
    found = api().get("/v1/tenants", list[TenantOut])
    if as_json:
        emit_json(found)
        return
    table(None, ["tenant", "kind", "created"], [(t.name, t.kind, t.created_at) for t in found])


@tenants.command("create")
def tenants_create(
    name: str,
    kind: str = typer.Option("external", help="external (a customer) or internal"),
    as_json: bool = JsonFlag,
) -> None:
    """Create a tenant."""
    body = TenantCreate.model_validate({"name": name, "kind": kind})
    tenant = api().post("/v1/tenants", TenantOut, body)
    emit_json(tenant) if as_json else console.print(f"tenant {tenant.name} ({tenant.kind}) created")


@keys.command("create")
def keys_create(
    tenant: str,
    name: str = typer.Option("default"),
    expires_in_days: int | None = typer.Option(None, min=1),
    as_json: bool = JsonFlag,
) -> None:
    """Mint a key for a tenant; the secret is printed this once."""
    body = ApiKeyCreate(name=name, expires_in_days=expires_in_days)
    key = api().post(f"/v1/tenants/{tenant}/api-keys", ApiKeyCreated, body)
    if as_json:
        emit_json(key)
        return
    console.print(f"key {key.id} for {tenant}; shown this once:")
    console.print(key.api_key, highlight=False, soft_wrap=True)


@keys.command("list")
def keys_list(tenant: str, as_json: bool = JsonFlag) -> None:
    """A tenant's keys (no secrets)."""
    found = api().get(f"/v1/tenants/{tenant}/api-keys", list[ApiKeyOut])
    if as_json:
        emit_json(found)
        return
    table(None, ["id", "name", "created", "expires", "revoked"],
          [(k.id, k.name, k.created_at, k.expires_at, k.revoked_at) for k in found])  # fmt: skip


@keys.command("revoke")
def keys_revoke(key_id: str, as_json: bool = JsonFlag) -> None:
    """Revoke a key at once."""
    key = api().call("DELETE", f"/v1/api-keys/{key_id}", ApiKeyOut)
    emit_json(key) if as_json else console.print(f"key {key.id} revoked")


def _rentals(kind: Literal["rental-requests", "leases"], status: str | None, limit: int,
             cursor: str | None, as_json: bool) -> None:  # fmt: skip
    page = api().get(f"/v1/{kind}", Page[RentalOut], status=status, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    views.show_rentals("Rental requests" if kind == "rental-requests" else "Leases", page.items)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@requests.command("list")
def requests_list(
    status: str | None = typer.Option(None, help="pending, accepted or declined"),
    limit: int = Limit,
    cursor: str | None = Cursor,
    as_json: bool = JsonFlag,
) -> None:
    """Rental requests (a tenant sees its own)."""
    _rentals("rental-requests", status, limit, cursor, as_json)


@requests.command("show")
def requests_show(request_id: str, as_json: bool = JsonFlag) -> None:
    """One rental request."""
    found = api().get(f"/v1/rental-requests/{request_id}", RentalOut)
    emit_json(found) if as_json else views.show_rentals("Rental request", [found])


@requests.command("submit")
def requests_submit(
    file: Path = typer.Argument(..., help="YAML or JSON with the fields of a request."),
    as_json: bool = JsonFlag,
) -> None:
    """Ask for capacity, as a tenant, for yourself."""
    raw = read_scenario_text(file.read_text(encoding="utf-8"), str(file))
    body = RentalRequestCreate.model_validate(raw)
    found = api().post("/v1/rental-requests", RentalOut, body)
    emit_json(found) if as_json else views.show_rentals("Submitted", [found])


@leases.command("list")
def leases_list(limit: int = Limit, cursor: str | None = Cursor, as_json: bool = JsonFlag) -> None:
    """Signed leases (a tenant sees its own)."""
    _rentals("leases", None, limit, cursor, as_json)


@requests.command("accept")
def requests_accept(request_id: str, as_json: bool = JsonFlag) -> None:
    """Accept a pending request (operator): place it on concrete nodes as a lease, or say
    why it cannot be placed (exit 5)."""
    done = api().post(f"/v1/rental-requests/{request_id}/accept", AcceptedOut, None)
    if as_json:
        emit_json(done)
        return
    console.print(f"[green]accepted[/] {request_id}: lease {done.lease.id} on {done.nodes:,} "
                  "nodes", highlight=False)  # fmt: skip
    for p in done.preemptions:
        console.print(f"  preemption notice to {p.victim}: {p.nodes:,} nodes reclaimed at "
                      f"{fmt(p.reclaim_at)}", highlight=False)  # fmt: skip
    views.show_lease(done.lease)


@leases.command("show")
def leases_show(lease_id: str, as_json: bool = JsonFlag) -> None:
    """One lease with its state and node assignments (per pod for a large lease)."""
    found = api().get(f"/v1/leases/{lease_id}", LeaseOut)
    emit_json(found) if as_json else views.show_lease(found)


@programs.command("list")
def programs_list(as_json: bool = JsonFlag) -> None:
    """The lab's own programs."""
    found = api().get("/v1/programs", list[ProgramOut])
    emit_json(found) if as_json else views.show_programs(found)


def list_events(
    kind: str | None = typer.Option(None, help="Only events of this kind."),
    limit: int = Limit,
    cursor: str | None = Cursor,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    as_json: bool = JsonFlag,
) -> None:
    """The event log (a tenant sees its own events); --follow streams new ones (JSON: one
    event per line) until interrupted."""
    if follow:
        since = int(cursor) if cursor and cursor.isdigit() else None
        follow_events(api().url, api().key, kind, since, as_json)
        return
    page = api().get("/v1/events", Page[EventOut], kind=kind, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    table("Events", ["id #", "at", "kind", "tenant", "subject"],
          [(e.id, e.at, e.kind, e.tenant, e.subject) for e in page.items])  # fmt: skip
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")
