"""Billing: closing a month (operator), usage and invoices (a tenant its own; the operator
all), SLA credit tiers per lease, reconciliation (operator)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from gpufleet.api.deps import Caller, Cursor, Db, Limit
from gpufleet.api.schemas.billing import (
    AdjustMonthOut,
    AdjustOut,
    CloseMonthIn,
    CloseMonthOut,
    CreditTiersIn,
    CreditTiersOut,
    InvoiceOut,
    InvoiceSummaryOut,
    ReconcileOut,
    UsageOut,
)
from gpufleet.api.schemas.common import Page
from gpufleet.billing.render import invoice_csv, invoice_html
from gpufleet.services import billing, billing_adjust, billing_queries

router = APIRouter(prefix="/v1", tags=["billing"])
TenantFilter = Annotated[
    str | None, Query(max_length=100, description="operator: one tenant's (a tenant: itself)")
]
MonthFilter = Annotated[str | None, Query(max_length=20, description="YYYY-MM")]
Format = Annotated[Literal["json", "csv", "html"] | None, Query(description="overrides Accept")]


@router.post("/billing/close-month")
def close_month(body: CloseMonthIn, db: Db, caller: Caller) -> CloseMonthOut:
    """Invoice every tenant with usage in a calendar month that has ended (operator).
    Exactly once: closing it again, or at the same time from elsewhere, or after a crash,
    never writes a line twice; a month closed before only returns its invoices."""
    return CloseMonthOut.of(billing.close_month(db, caller, body.month))


@router.post("/billing/adjust")
def adjust(db: Db, caller: Caller, month: MonthFilter = None) -> AdjustOut:
    """Bill the usage rows of a closed month (`?month=`; default: every closed month) that
    no invoice has — metered after the close — as one adjustment invoice per tenant
    (operator): the month re-rated from all its rows, less what was billed. Exactly once:
    running it again, or at the same time from elsewhere, finds nothing left to bill. 409
    when the month has not been closed."""
    if month is None:
        results = billing_adjust.adjust_closed_months(db, caller)
    else:
        results = [billing_adjust.adjust_month(db, caller, month)]
    return AdjustOut(months=[AdjustMonthOut.of(r) for r in results])


@router.get("/billing/reconcile")
def reconcile(db: Db, caller: Caller) -> ReconcileOut:
    """Planned revenue (latest finished plan) against billed revenue per month, and the
    ledger against invoice totals (operator)."""
    return ReconcileOut.of(billing_queries.reconcile(db, caller))


@router.get("/usage", response_model_by_alias=True)
def usage(
    db: Db,
    caller: Caller,
    start: Annotated[
        datetime | None, Query(alias="from", description="default: this month")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="default: from's month end")
    ] = None,
    tenant: TenantFilter = None,
) -> UsageOut:
    """Metered usage in [from, to): per lease promised, delivered and shortfall GPU-hours;
    per model and key input and output tokens. A tenant sees its own; the operator all or
    `?tenant=`."""
    return UsageOut.of(billing_queries.usage_between(db, caller, start, end, tenant))


@router.get("/invoices")
def list_invoices(
    db: Db,
    caller: Caller,
    month: MonthFilter = None,
    tenant: TenantFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[InvoiceSummaryOut]:
    """Invoices (totals without lines), by id, in pages: a tenant its own."""
    found = billing_queries.list_invoices(
        db, caller, month=month, tenant=tenant, after=cursor, limit=limit
    )
    next_cursor = found[-1].id if len(found) == limit else None
    return Page[InvoiceSummaryOut](
        items=[InvoiceSummaryOut.of(i) for i in found], next_cursor=next_cursor
    )


@router.get(
    "/invoices/{invoice_id}",
    response_model=InvoiceOut,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
def get_invoice(
    invoice_id: str, request: Request, db: Db, caller: Caller, format: Format = None
) -> InvoiceOut | Response:
    """One invoice with its lines, credits and totals: JSON, CSV (`Accept: text/csv` or
    `?format=csv`) or a printable HTML page (`?format=html`). Each line names its ledger
    entry and the usage rows it was rated from."""
    invoice = billing_queries.get_invoice(db, caller, invoice_id)
    accept = request.headers.get("accept", "")
    kind = format or (
        "csv" if "text/csv" in accept else "html" if "text/html" in accept else "json"
    )
    if kind == "csv":
        disposition = f'attachment; filename="{invoice.id}.csv"'
        return Response(
            invoice_csv(invoice),
            media_type="text/csv",
            headers={"Content-Disposition": disposition},
        )
    if kind == "html":
        return HTMLResponse(invoice_html(invoice))
    return InvoiceOut.of(invoice)


@router.get("/leases/{lease_id}/credit-tiers")
def get_credit_tiers(lease_id: str, db: Db, caller: Caller) -> CreditTiersOut:
    """A lease's SLA credit tiers: its contract's, or the default (a tenant: its own lease)."""
    return CreditTiersOut.of(billing_queries.get_tiers(db, caller, lease_id))


@router.put("/leases/{lease_id}/credit-tiers")
def set_credit_tiers(lease_id: str, body: CreditTiersIn, db: Db, caller: Caller) -> CreditTiersOut:
    """Set a lease's SLA credit tiers from its contract (operator); `null` or `[]` restores
    the default (< 99.5% → 10%, < 99% → 30%, < 95% → 100%). Closed months keep theirs."""
    tiers = body.to_tiers()
    return CreditTiersOut.of(billing_queries.set_tiers(db, caller, lease_id, tiers))
