"""Closing a month: usage → rated lines → one invoice per tenant, exactly once.

1. Read, in one read transaction, the month's usage summed by the database (one row per
   lease, one per tenant × model × prices of tokens), the leases' credit tiers, and which
   tenants have an invoice already.
2. Rate in memory (pure `gpufleet.billing`).
3. Write each tenant in its own transaction: invoice header, ledger entries, lines. The
   header's insert skips an invoice that exists (ON CONFLICT DO NOTHING on its id and on
   (tenant, month)); a second closer at the same time waits on that row and then skips it.
   A crash loses at most the tenant being written, whole; running the close again writes
   exactly the tenants still missing.
4. Record the month as closed; closing it again then only returns the invoices.
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
from gpufleet.billing.invoice import InvoiceLine, invoice_id, numbered, totals_of
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.domain.events import NewEvent
from gpufleet.services.database import Database

# Test hook: after this many invoices are committed, write the next one's header, say so on
# stdout and sleep inside its transaction, so a test can SIGKILL the closer mid-close.
PAUSE_ENV = "GPUFLEET_BILLING_TEST_PAUSE_AFTER"
PAUSED_MESSAGE = "billing close paused"


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


def close_month(db: Database, caller: Principal, month_text: str) -> CloseResult:
    """Invoice every tenant with usage in the month (operator)."""
    caller.require_operator()
    month = parse_month(month_text)
    now = db.clock()
    if month.end > now:
        raise InvalidInput(
            "month has not ended",
            [Issue("month", f"{month} ends at {month.end.isoformat()}; close it after that")],
        )
    with db.read() as conn:
        if repo.closed(conn, month):
            return CloseResult(str(month), True, 0, _ids(db, month))
        lines = rate_month(
            repo.lease_month_usage(conn, month),
            repo.token_month_usage(conn, month),
            repo.tiers_by_lease(conn),
        )
        done = repo.invoiced_tenants(conn, month)
    written = 0
    for tenant_id in sorted(set(lines) - done):
        written += _write_invoice(db, month, tenant_id, lines[tenant_id], now)
    ids = _ids(db, month)
    with db.write() as conn:
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


def _ids(db: Database, month: Month) -> list[str]:
    with db.read() as conn:
        found = repo.invoice_page(
            conn, tenant_id=None, month=str(month), after=None, limit=1_000_000
        )
    return [i.id for i in found]


def _write_invoice(
    db: Database, month: Month, tenant_id: int, rated: list[RatedLine], now: datetime
) -> int:
    ident = invoice_id(month, tenant_id)
    lines = numbered(month, tenant_id, rated)
    totals = totals_of([line.amount_micros for line in lines])
    with db.write() as conn:
        header = {
            "id": ident,
            "tenant_id": tenant_id,
            "month": str(month),
            "issued_at": now,
            "charges_micros": totals.charges_micros,
            "credits_micros": totals.credits_micros,
            "total_micros": totals.total_micros,
            "line_count": len(lines),
        }
        if not repo.insert_invoice_header(conn, header):
            return 0  # another closer wrote it (or had, before a crash of ours)
        _maybe_pause(db)
        repo.append_ledger(
            conn, [_ledger_row(ident, tenant_id, month, line, now) for line in lines]
        )
        repo.insert_lines(conn, [_line_row(ident, line) for line in lines])
    return 1


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


_pause_count: dict[int, int] = {}


def _maybe_pause(db: Database) -> None:
    limit = os.environ.get(PAUSE_ENV)
    if limit is None:
        return
    seen = _pause_count.get(id(db), 0)
    _pause_count[id(db)] = seen + 1
    if seen == int(limit):
        sys.stdout.write(f"{PAUSED_MESSAGE} after {seen} invoices\n")
        sys.stdout.flush()
        time.sleep(3600)
