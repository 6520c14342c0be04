"""The demo's billing act: after the simulated weeks, close the first metered month and show
its invoices, SLA credits for shortfalls included.

`run_billing_demo(db, operator, simulated)` takes the hourly usage an in-memory simulation
metered (`operations.hourly_usage`, one `HourUsage` per lease and hour), stores the rows of
the leases signed in the database with the operations repository's own writer (rows of
contracts the plan only accepted have no lease to bill), and closes the first month of the
metering as of its end in simulated time — a demo's few weeks need not fill the month; the
invoice then bills the hours that were simulated. With no `simulated` rows it bills what
the database metered already (a server that ran `POST /v1/ops/advance`). `show_billing`
prints a compact summary; `BillingDemo.to_dict()` is JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos import operations as operations_repo
from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.api.schemas.billing import InvoiceOut
from gpufleet.billing import Month
from gpufleet.cli.output import console, table
from gpufleet.domain.access import Principal
from gpufleet.operations import HourUsage
from gpufleet.services import billing, billing_queries
from gpufleet.services.database import Database


@dataclass(frozen=True)
class BillingDemo:
    month: str | None
    note: str
    invoices: list[InvoiceOut] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "note": self.note,
            "invoices": [i.model_dump(mode="json") for i in self.invoices],
        }


def run_billing_demo(
    db: Database, operator: Principal, simulated: Sequence[HourUsage] = ()
) -> BillingDemo:
    """Close the first metered month (as of its end in simulated time) and read its invoices."""
    unsigned = record_simulated_usage(db, simulated)
    with db.read() as conn:
        span = repo.metered_span(conn)
    if span is None:
        return BillingDemo(None, "nothing metered for a signed lease: no invoices")
    first, metered_until = span
    month = Month.of(first)
    as_of = max(month.end, metered_until)
    closed = billing.close_month(replace(db, clock=lambda: as_of), operator, str(month))
    invoices = [
        InvoiceOut.of(billing_queries.get_invoice(db, operator, ident))
        for ident in closed.invoice_ids
    ]
    note = f"{month} closed: {len(invoices)} invoices"
    if metered_until < month.end:
        note += f" for the hours simulated from {first:%Y-%m-%d} to {metered_until:%Y-%m-%d}"
    if unsigned:
        note += f" ({unsigned} contracts the plan accepted are not signed here: not billed)"
    return BillingDemo(str(month), note, invoices)


def record_simulated_usage(db: Database, simulated: Sequence[HourUsage]) -> int:
    """Store the simulated hours of signed leases; returns how many other holders (requests
    the plan accepted, never signed in this database) were left out."""
    if not simulated:
        return 0
    with db.write() as conn:
        holders = {u.holder for u in simulated}
        signed = {
            r.id: r.tenant_id
            for r in rentals_repo.page(
                conn, "lease", tenant_id=None, status=None, after=None, limit=1_000_000
            )
            if r.id in holders
        }
        rows = [
            (
                u.holder,
                at(u.hour_start),
                signed[u.holder],
                u.gpu_model,
                u.promised,
                u.delivered,
                u.shortfall,
            )
            for u in simulated
            if u.holder in signed
        ]
        operations_repo.add_usage(conn, rows)
    return len(holders - set(signed))


def show_billing(demo: BillingDemo) -> None:
    console.rule(f"Billing: the first month's invoices ({demo.month or 'none'})")
    if not demo.invoices:
        console.print(demo.note, highlight=False)
        return
    table(
        None,
        ["invoice", "tenant", "lines #", "charges USD", "SLA credits USD", "total USD"],
        [
            (i.id, i.tenant, len(i.lines), i.charges_usd, i.credits_usd, i.total_usd)
            for i in demo.invoices
        ],
    )
    credits = [line for i in demo.invoices for line in i.lines if line.kind == "sla_credit"]
    for line in credits:
        console.print(f"  {line.description}: −${-line.amount_usd:,.2f}", highlight=False)
    if not credits:
        console.print("  no lease fell below its SLA this month", highlight=False)
    total = sum(i.total_usd for i in demo.invoices)
    console.print(
        f"{demo.note}; ${total:,.2f} billed. 'gpufleet invoices show ID --format html' prints one.",
        highlight=False,
    )
