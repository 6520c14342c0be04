"""Closing a month: usage → rated lines → one invoice per tenant, exactly once.

1. Read, in one read transaction, the month's usage summed by the database (one row per
   lease, one per tenant × model × prices of tokens), the leases' credit tiers, and which
   tenants have an invoice already.
2. Rate in memory (pure `gpufleet.billing`).
3. Write the tenants in batches, each batch one transaction: invoice headers, ledger
   entries, lines. The headers' insert skips an invoice that exists (ON CONFLICT DO NOTHING
   on its id and on (tenant, month)); a second closer at the same time waits on those rows
   and then skips them (both insert in tenant order, so neither waits on the other in a
   cycle). A crash loses at most the batch being written, whole; running the close again
   writes exactly the tenants still missing.
4. Record the month as closed; closing it again then only returns the invoices.
Usage metered after the close is billed by `services.billing_adjust` (ADR 0013), which
writes its adjustment invoices with `write_batch` here.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos import events
from gpufleet.billing import (
    CreditTier,
    LeaseMonthUsage,
    Month,
    RatedLine,
    TokenUsageGroup,
    rate_lease_month,
    rate_tokens,
)
from gpufleet.billing.invoice import (
    InvoiceLine,
    adjustment_id,
    invoice_id,
    numbered,
    totals_of,
)
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.domain.events import NewEvent
from gpufleet.services.database import Database

# Test hook: once this many invoices are committed, write the next batch's headers, say so on
# stdout and sleep inside its transaction, so a test can SIGKILL the closer mid-close.
PAUSE_ENV = "GPUFLEET_BILLING_TEST_PAUSE_AFTER"
PAUSED_MESSAGE = "billing close paused"
# A transaction writes up to this many tenants or (about) lines: few round trips for ten
# thousand tenants, and a crash loses at most one batch, whole.
BATCH_TENANTS = 500
BATCH_LINES = 5000


@dataclass(frozen=True)
class CloseResult:
    month: str
    already_closed: bool  # the month had been closed before: nothing was written
    invoices_written: int  # by this call
    invoice_ids: list[str]  # every invoice of the month


def parse_month(text: str, path: str = "month") -> Month:
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise InvalidInput("month is invalid", [Issue(path, str(exc))]) from exc


def close_month(
    db: Database, caller: Principal, month_text: str, *, batch_tenants: int = BATCH_TENANTS
) -> CloseResult:
    """Invoice every tenant with usage in the month (operator)."""
    caller.require_operator()
    month = parse_month(month_text)
    now = db.clock()
    with db.read() as conn:
        span = repo.metered_span(conn)
        # Over by the clock, or metered past its end (a simulated cluster runs ahead of it).
        if month.end > now and (span is None or span[1] < month.end):
            raise InvalidInput(
                "month has not ended",
                [
                    Issue(
                        "month",
                        f"{month} ends at {month.end.isoformat()}; close it after "
                        "that, or once usage is metered past it",
                    )
                ],
            )
        if repo.closed(conn, month):
            return CloseResult(str(month), True, 0, repo.month_invoice_ids(conn, month))
        lines = rate_month(
            repo.lease_month_usage(conn, month),
            repo.token_month_usage(conn, month),
            repo.tiers_by_lease(conn),
        )
        done = repo.invoiced_tenants(conn, month)
    written = 0
    bills = [TenantBill(t, lines[t]) for t in sorted(set(lines) - done)]
    for batch in batches(bills, batch_tenants):
        written += len(write_batch(db, month, batch, now, written))
    with db.write() as conn:
        ids = repo.month_invoice_ids(conn, month)
        if repo.record_close(conn, month, len(ids), caller.key_id, now):
            data = {"invoices": len(ids), "written": written}
            events.append(conn, [NewEvent("billing.month_closed", str(month), None, data)], now)
    return CloseResult(str(month), False, written, ids)


def rate_month(
    usage: list[LeaseMonthUsage],
    tokens: list[TokenUsageGroup],
    tiers: dict[str, tuple[CreditTier, ...]],
) -> dict[int, list[RatedLine]]:
    """Rated lines per tenant; a lease without tiers of its own gets the default."""
    by_tenant: dict[int, list[RatedLine]] = defaultdict(list)
    for lease in usage:
        with_tiers = replace(lease, tiers=tiers.get(lease.lease_id))
        by_tenant[lease.tenant_id] += rate_lease_month(with_tiers)
    for group in tokens:
        by_tenant[group.tenant_id].append(rate_tokens(group))
    return dict(by_tenant)


@dataclass(frozen=True)
class TenantBill:
    """One invoice to write: a tenant's month (adjustment 0) or its n-th adjustment."""

    tenant_id: int
    rated: list[RatedLine]
    adjustment: int = 0
    late_usage: bool = False  # written by an adjuster: usage metered after the close


Batch = list[TenantBill]


def batches(tenants: Batch, most_tenants: int) -> list[Batch]:
    """Tenants in id order, grouped so that each transaction writes a few thousand lines."""
    batches: list[Batch] = []
    current: Batch = []
    lines = 0
    for tenant in tenants:
        current.append(tenant)
        lines += len(tenant.rated)
        if len(current) >= most_tenants or lines >= BATCH_LINES:
            batches.append(current)
            current, lines = [], 0
    return [*batches, current] if current else batches


def write_batch(
    db: Database, month: Month, batch: Batch, now: datetime, committed: int = 0
) -> set[str]:
    """One transaction: the headers first (those that exist already are skipped: another
    closer or adjuster wrote them), then ledger entries and lines of the invoices this call
    created, whose ids it returns."""
    headers: list[dict[str, object]] = []
    ledger: list[tuple[str, dict[str, object]]] = []
    lines_out: list[tuple[str, dict[str, object]]] = []
    notices: list[tuple[str, NewEvent]] = []
    for bill in batch:
        tenant_id, number = bill.tenant_id, bill.adjustment
        ident = adjustment_id(month, tenant_id, number)
        lines = numbered(month, tenant_id, bill.rated, number)
        totals = totals_of([line.amount_micros for line in lines])
        headers.append(
            {
                "id": ident,
                "tenant_id": tenant_id,
                "month": str(month),
                "adjustment": number,
                "issued_at": now,
                "charges_micros": totals.charges_micros,
                "credits_micros": totals.credits_micros,
                "total_micros": totals.total_micros,
                "line_count": len(lines),
            }
        )
        ledger += [(ident, _ledger_row(ident, tenant_id, month, line, now)) for line in lines]
        data: dict[str, object] = {"month": str(month), "total_micros": totals.total_micros}
        if bill.late_usage:
            data["late_usage"] = True
        if number:
            # An adjustment says so, and which invoice of the month it adds to.
            data |= {"adjustment": number, "adjusts": invoice_id(month, tenant_id)}
        notices.append((ident, NewEvent("invoice.issued", ident, tenant_id, data)))
        lines_out += [(ident, _line_row(ident, line)) for line in lines]
    with db.write() as conn:
        created = repo.insert_invoice_headers(conn, headers)
        _maybe_pause(committed)
        repo.append_ledger(conn, [row for ident, row in ledger if ident in created])
        repo.insert_lines(conn, [row for ident, row in lines_out if ident in created])
        # Each tenant hears of its invoice in its own event log (GET /v1/events).
        events.append(conn, [e for ident, e in notices if ident in created], now)
    return created


def _ledger_row(
    ident: str, tenant_id: int, month: Month, line: InvoiceLine, now: datetime
) -> dict[str, object]:
    return {
        "idempotency_key": line.ledger_key,
        "at": now,
        "tenant_id": tenant_id,
        "month": str(month),
        "kind": line.kind,
        "amount_micros": line.amount_micros,
        "invoice_id": ident,
        "lease_id": line.lease_id,
        "model": line.model,
        "usage_rows": line.usage_rows,
    }


def _line_row(ident: str, line: InvoiceLine) -> dict[str, object]:
    return {
        "invoice_id": ident,
        "line_no": line.line_no,
        "key": line.key,
        "kind": line.kind,
        "description": line.description,
        "lease_id": line.lease_id,
        "model": line.model,
        "quantity": line.quantity,
        "unit_price_micros": line.unit_price_micros,
        "amount_micros": line.amount_micros,
        "usage_rows": line.usage_rows,
        "ledger_key": line.ledger_key,
        "detail": line.detail,
    }


def _maybe_pause(committed: int) -> None:
    limit = os.environ.get(PAUSE_ENV)
    if limit is not None and committed >= int(limit):
        sys.stdout.write(f"{PAUSED_MESSAGE} after {committed} invoices\n")
        sys.stdout.flush()
        time.sleep(3600)
