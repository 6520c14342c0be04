"""Adjusting a closed month: usage metered after the close, billed once (ADR 0013).

1. Read every line the month's invoices have so far, with each tenant's last adjustment
   number (one statement, one snapshot), and then the month's usage summed by the database
   as the close does. In that order: whatever the lines billed was read before they were
   written, so the usage read after them holds at least those rows.
2. Rate the difference in memory (`billing.adjust`): per lease and token group, the rows on
   no invoice line; the month re-rated, less what was billed.
3. Write each tenant's adjustment invoice as number last + 1 (a tenant with no invoice in
   the month gets the month's own, number 0), in batches like the close.
   The number is the guard: a concurrent adjuster that read the same state writes the same
   number, and one of the two inserts is skipped; the loser reads again (now seeing the
   winner's lines) and finds nothing left, or only rows that arrived since.
A crash loses at most one batch, whole; running again bills what is still unbilled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos import events
from gpufleet.billing import Month
from gpufleet.billing.adjust import adjustments, billed_by_key
from gpufleet.billing.invoice import adjustment_id
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict, Issue
from gpufleet.domain.events import NewEvent
from gpufleet.services.billing import BATCH_TENANTS, TenantBill, batches, parse_month, write_batch
from gpufleet.services.database import Database

# A round ends early only where another adjuster wrote the same tenant's number first; the
# next round re-reads. Two rounds settle any pair of adjusters; a third covers rows that
# arrived meanwhile. Anything left after that is billed by the next run.
ROUNDS = 3


@dataclass(frozen=True)
class AdjustResult:
    month: str
    invoice_ids: list[str]  # invoices written by this call (adjustments, or a tenant's first)
    total_micros: int  # their totals summed (negative: more credited than charged)


def adjust_month(
    db: Database, caller: Principal, month_text: str, *, batch_tenants: int = BATCH_TENANTS
) -> AdjustResult:
    """Bill the usage rows of a closed month that no invoice has, as one adjustment invoice
    per tenant (operator). With nothing to bill, nothing is written."""
    caller.require_operator()
    month = parse_month(month_text)
    with db.read() as conn:
        if not repo.closed(conn, month):
            raise Conflict(
                "month is not closed",
                [Issue("month", f"{month} has not been closed: close it first (close-month)")],
            )
    written: dict[str, int] = {}
    for _ in range(ROUNDS):
        bills = pending(db, month)
        now, raced = db.clock(), False
        for batch in batches(bills, batch_tenants):
            created = write_batch(db, month, batch, now, len(written))
            raced = raced or len(created) < len(batch)
            for bill in batch:
                ident = adjustment_id(month, bill.tenant_id, bill.adjustment)
                if ident in created:
                    written[ident] = sum(line.amount_micros for line in bill.rated)
        if not raced:
            break
    total = sum(written.values())
    if written:
        with db.write() as conn:
            data = {"invoices": len(written), "total_micros": total}
            event = NewEvent("billing.month_adjusted", str(month), None, data)
            events.append(conn, [event], db.clock())
    return AdjustResult(str(month), sorted(written), total)


def adjust_closed_months(db: Database, caller: Principal) -> list[AdjustResult]:
    """Adjust every closed month (operator), oldest first."""
    caller.require_operator()
    with db.read() as conn:
        months = repo.closed_months(conn)
    return [adjust_month(db, caller, month) for month in months]


def pending(db: Database, month: Month) -> list[TenantBill]:
    """Each tenant's next adjustment of a closed month (none: nothing unbilled)."""
    with db.read() as conn:
        lines, last = repo.month_billed(conn, month)  # first: see the module's docstring
        usage = repo.lease_month_usage(conn, month)
        tokens = repo.token_month_usage(conn, month)
        tiers = repo.tiers_by_lease(conn)
    now_tiers = [replace(u, tiers=tiers.get(u.lease_id)) for u in usage]
    found = adjustments(now_tiers, tokens, billed_by_key(lines))
    # A tenant the close did not invoice (all its usage came late) gets the month's invoice
    # itself, number 0; one that has it gets the next adjustment.
    return [
        TenantBill(t, found[t], last[t] + 1 if t in last else 0, late_usage=True)
        for t in sorted(found)
    ]
