"""`gpufleet usage`, `gpufleet invoices`, `gpufleet billing`: metering and invoices over the
HTTP API. An invoice's CSV and HTML are the server's own (`?format=`), printed as they come:
one renderer, so the CLI can never print a different document than the API serves."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import typer

from gpufleet.api.schemas.billing import (
    AdjustOut,
    CloseMonthIn,
    CloseMonthOut,
    CreditTierIn,
    CreditTiersIn,
    CreditTiersOut,
    InvoiceOut,
    InvoiceSummaryOut,
    ReconcileOut,
    UsageOut,
)
from gpufleet.api.schemas.common import Page
from gpufleet.cli.output import console, emit_json, table
from gpufleet.cli.remote import Cursor, JsonFlag, Limit, api
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.domain.timeutil import to_utc

invoices = typer.Typer(help="Invoices: a tenant its own; the operator all.", no_args_is_help=True)
billing = typer.Typer(
    help="Close months, SLA credit tiers, reconcile (operator).", no_args_is_help=True
)


class InvoiceFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
    app.add_typer(invoices, name="invoices")
    app.add_typer(billing, name="billing")


def usage(
    start: datetime | None = typer.Option(None, "--from", help="Start (default: this month)."),
    end: datetime | None = typer.Option(None, "--to", help="End, exclusive."),
    tenant: str | None = typer.Option(None, help="Operator: one tenant's usage."),
    as_json: bool = JsonFlag,
) -> None:
    """Metered GPU-hours per lease and tokens per model and key (times in UTC)."""
    found = api().get(
        "/v1/usage", UsageOut, tenant=tenant, **{"from": _iso(start), "to": _iso(end)}
    )
    if as_json:
        emit_json(found)
        return
    console.print(f"usage from {found.start.isoformat()} to {found.end.isoformat()}")
    table(
        "GPU-hours per lease",
        [
            "lease",
            "tenant",
            "class",
            "model",
            "promised GPU-h",
            "delivered GPU-h",
            "shortfall GPU-h",
            "availability",
        ],
        [
            (
                u.lease_id,
                u.tenant,
                u.rental_class,
                u.gpu_model,
                u.promised_gpu_hours,
                u.delivered_gpu_hours,
                u.shortfall_gpu_hours,
                None if u.availability is None else f"{100 * u.availability:.3f}%",
            )
            for u in found.leases
        ],
    )
    table(
        "Tokens",
        ["tenant", "model", "key", "input tokens #", "output tokens #", "requests #"],
        [
            (t.tenant, t.model, t.key_id, t.input_tokens, t.output_tokens, t.requests)
            for t in found.tokens
        ],
    )


def _iso(moment: datetime | None) -> str | None:
    """A time given without a zone is UTC."""
    return None if moment is None else to_utc(moment).isoformat()


@invoices.command("list")
def invoices_list(
    month: str | None = typer.Option(None, help="YYYY-MM"),
    tenant: str | None = typer.Option(None, help="Operator: one tenant's invoices."),
    limit: int = Limit,
    cursor: str | None = Cursor,
    as_json: bool = JsonFlag,
) -> None:
    """Invoices with their totals."""
    page = api().get(
        "/v1/invoices",
        Page[InvoiceSummaryOut],
        month=month,
        tenant=tenant,
        limit=limit,
        cursor=cursor,
    )
    if as_json:
        emit_json(page)
        return
    table(
        None,
        ["invoice", "tenant", "month", "charges USD", "credits USD", "total USD"],
        [(i.id, i.tenant, i.month, i.charges_usd, i.credits_usd, i.total_usd) for i in page.items],
    )
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@invoices.command("show")
def invoices_show(
    invoice_id: str,
    output: InvoiceFormat = typer.Option(InvoiceFormat.TABLE, "--format", help="Output format."),
    as_json: bool = JsonFlag,
) -> None:
    """One invoice: its lines (each with its ledger entry), credits and totals."""
    if output in (InvoiceFormat.CSV, InvoiceFormat.HTML) and not as_json:
        sys.stdout.write(api().text(f"/v1/invoices/{invoice_id}", format=output.value))
        return
    found = api().get(f"/v1/invoices/{invoice_id}", InvoiceOut)
    if as_json or output is InvoiceFormat.JSON:
        emit_json(found)
    else:
        show_invoice(found)


def show_invoice(found: InvoiceOut) -> None:
    table(
        f"Invoice {found.id} — {found.tenant}, {found.month}",
        ["#", "item", "amount USD"],
        [(line.line_no, line.description, line.amount_usd) for line in found.lines],
    )
    console.print(
        f"charges ${found.charges_usd:,.2f}  credits −${found.credits_usd:,.2f}  "
        f"[bold]total ${found.total_usd:,.2f}[/]",
        highlight=False,
    )


@billing.command("close-month")
def close_month(month: str = typer.Argument(..., help="YYYY-MM"), as_json: bool = JsonFlag) -> None:
    """Invoice every tenant with usage in a month that has ended; safe to run again."""
    result = api().post("/v1/billing/close-month", CloseMonthOut, CloseMonthIn(month=month))
    if as_json:
        emit_json(result)
        return
    verb = "was closed before" if result.already_closed else "closed"
    console.print(
        f"{result.month} {verb}: {len(result.invoice_ids)} invoices "
        f"({result.invoices_written} written now)"
    )


@billing.command("adjust")
def adjust(
    month: str | None = typer.Argument(None, help="YYYY-MM (default: every closed month)"),
    as_json: bool = JsonFlag,
) -> None:
    """Bill usage metered after its month was closed: one adjustment invoice per tenant with
    late rows (the month re-rated, less what was billed); safe to run again."""
    result = api().call("POST", "/v1/billing/adjust", AdjustOut, params={"month": month})
    if as_json:
        emit_json(result)
        return
    for done in result.months:
        if not done.invoice_ids:
            console.print(f"{done.month}: nothing late to bill")
            continue
        console.print(
            f"{done.month}: {len(done.invoice_ids)} invoices for late usage, "
            f"${done.total_usd:,.2f} in all",
            highlight=False,
        )
        for ident in done.invoice_ids:
            console.print(f"  {ident}", highlight=False)
    if not result.months:
        console.print("no month has been closed")


@billing.command("reconcile")
def reconcile(as_json: bool = JsonFlag) -> None:
    """Planned against billed revenue per month; ledger against invoices. Exits 1 when the
    ledger and the invoices disagree."""
    report = api().get("/v1/billing/reconcile", ReconcileOut)
    if as_json:
        emit_json(report)
    else:
        console.print(f"plan compared with: {report.plan_id or 'none finished'}")
        table(
            "Revenue per month",
            ["month", "planned USD", "billed GPU USD", "billed tokens USD", "difference USD"],
            [
                (m.month, m.planned_usd, m.billed_gpu_usd, m.billed_tokens_usd, m.difference_usd)
                for m in report.months
            ],
        )
        for x in report.mismatches:
            console.print(
                f"[red]{x.invoice_id}[/] ({x.month}): invoice ${x.invoice_total_usd:,.6f}, "
                f"ledger ${x.ledger_usd:,.6f}, lines ${x.lines_usd:,.6f}"
            )
        if report.unbilled_ledger_usd:
            console.print(
                f"[red]ledger entries on no invoice: ${report.unbilled_ledger_usd:,.6f}[/]"
            )
        if report.ledger_matches_invoices:
            console.print("ledger and invoices agree")
        for late in report.unbilled_late_usage:
            console.print(
                f"[yellow]{late.month}: {late.usage_rows:,} usage rows of {late.tenants} "
                f"tenants metered after the close, ${late.amount_usd:,.2f} not billed yet[/]: "
                f"gpufleet billing adjust {late.month}",
                highlight=False,
            )
    if not report.ledger_matches_invoices:
        raise typer.Exit(1)


def parse_tier(text: str) -> CreditTierIn:
    """`99.5:10` → below 99.5% availability, credit 10%."""
    try:
        below, credit = (Decimal(part) for part in text.split(":"))
    except (ValueError, InvalidOperation) as exc:
        raise InvalidInput(
            "credit tier is invalid",
            [Issue("--tier", f"{text!r}: write BELOW:CREDIT in percent, e.g. 99.5:10")],
        ) from exc
    return CreditTierIn(below_percent=below, credit_percent=credit)


@billing.command("credit-tiers")
def credit_tiers(
    lease_id: str,
    tier: list[str] = typer.Option([], "--tier", help="BELOW:CREDIT in percent (repeat)."),
    default: bool = typer.Option(False, "--default", help="Go back to the default tiers."),
    as_json: bool = JsonFlag,
) -> None:
    """Show a lease's SLA credit tiers; with --tier (operator) set its contract's."""
    if tier or default:
        body = CreditTiersIn(tiers=None if default else [parse_tier(t) for t in tier])
        found = api().call(
            "PUT",
            f"/v1/leases/{lease_id}/credit-tiers",
            CreditTiersOut,
            json=body.model_dump(mode="json"),
        )
    else:
        found = api().get(f"/v1/leases/{lease_id}/credit-tiers", CreditTiersOut)
    if as_json:
        emit_json(found)
        return
    source = "default" if found.default else "contract"
    table(
        f"{found.lease_id}: SLA credit tiers ({source})",
        ["availability below", "credit"],
        [(f"{t.below_percent:g}%", f"{t.credit_percent:g}%") for t in found.tiers],
    )
