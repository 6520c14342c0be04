"""The demo's billing act: after the simulated weeks, close the first metered month and show
its invoices, SLA credits for shortfalls included.

`run_billing_demo(db, operator)` closes the month with the database clock set to the end of
the metering (simulated time): the month is over in the simulation even when it is not by
the wall clock. `show_billing` prints a compact summary; `BillingDemo.to_dict()` is JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.api.schemas.billing import InvoiceOut
from gpufleet.billing import Month
from gpufleet.cli.output import console, table
from gpufleet.domain.access import Principal
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


def run_billing_demo(db: Database, operator: Principal) -> BillingDemo:
    """Close the first metered month if the simulation has finished it."""
    with db.read() as conn:
        span = repo.metered_span(conn)
    if span is None:
        return BillingDemo(None, "nothing metered yet: no invoices")
    first, metered_until = span
    month = Month.of(first)
    if month.end > metered_until:
        return BillingDemo(
            str(month),
            f"the simulation has metered up to {metered_until.isoformat()}, "
            f"before {month} ends: no invoice yet",
        )
    simulated = replace(db, clock=lambda: metered_until)
    closed = billing.close_month(simulated, operator, str(month))
    invoices = [
        InvoiceOut.of(billing_queries.get_invoice(db, operator, ident))
        for ident in closed.invoice_ids
    ]
    return BillingDemo(str(month), f"{month} closed: {len(invoices)} invoices", invoices)


def show_billing(demo: BillingDemo) -> None:
    console.rule(f"Billing: the first month's invoices ({demo.month or 'none'})")
    if not demo.invoices:
        console.print(demo.note, highlight=False)
        return
    table(
        None,
        ["invoice", "tenant", "lines #", "charges USD", "SLA credits USD", "total USD"],
        [(i.id, i.tenant, len(i.lines), i.charges_usd, i.credits_usd, i.total_usd)
         for i in demo.invoices],
    )  # fmt: skip
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
