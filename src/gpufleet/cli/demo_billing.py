"""The demo's billing act: after the simulated weeks, close the first metered month and show
its invoices, SLA credits for shortfalls included.

`run_billing_demo(db, operator, simulated, accepted)` signs the requests the plan accepted
(the real accept service: placed on nodes, a lease created; the simulation ran them as
contracts too), takes the hourly usage an in-memory simulation metered
(`operations.hourly_usage`, one `HourUsage` per contract and hour), stores the rows of the
contracts that are leases here through the importer of metered usage
(`services.billing_usage`), and closes the first month of the metering as of its end in
simulated time — a demo's few weeks need not fill the month; the invoice then bills the
hours that were simulated. With no `simulated`
rows it bills what the database metered already (a server that ran `POST /v1/ops/advance`).
`show_billing` prints a compact summary; `BillingDemo.to_dict()` is JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.api.schemas.billing import InvoiceOut
from gpufleet.billing import Month
from gpufleet.cli.output import console, table
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict, NotFound
from gpufleet.operations import HourUsage
from gpufleet.services import billing, billing_queries, billing_usage, rentals
from gpufleet.services.billing_usage import MeteredHour
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
    db: Database,
    operator: Principal,
    simulated: Sequence[HourUsage] = (),
    accepted: Sequence[str] = (),
) -> BillingDemo:
    """Sign the plan's `accepted` requests, store the `simulated` hours of signed leases,
    close the first metered month (as of its end in simulated time), read its invoices."""
    signed, refused = sign_accepted(db, operator, accepted)
    unsigned = record_simulated_usage(db, operator, simulated)
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
    if signed or refused:
        note += f"; {signed} accepted requests signed here, {refused} not placeable"
    if unsigned:
        note += f"; {unsigned} simulated contracts have no lease here: not billed"
    return BillingDemo(str(month), note, invoices)


def sign_accepted(db: Database, operator: Principal, accepted: Sequence[str]) -> tuple[int, int]:
    """Accept each request the plan accepted (the real service: placed on nodes, a lease
    created); one that cannot be placed, or is not pending any more, is counted and left."""
    signed = refused = 0
    for request_id in accepted:
        try:
            rentals.accept_request(db, operator, request_id)
            signed += 1
        except (Conflict, NotFound):
            refused += 1
    return signed, refused


def record_simulated_usage(
    db: Database, operator: Principal, simulated: Sequence[HourUsage]
) -> int:
    """Store the simulated hours of signed leases through the importer of metered usage (a
    holder is a lease id, or the request a lease was signed from); returns how many holders
    have no lease here (not billed)."""
    if not simulated:
        return 0
    hours = [
        MeteredHour(u.holder, at(u.hour_start), u.promised, u.delivered, u.shortfall)
        for u in simulated
    ]
    return len(billing_usage.import_lease_usage(db, operator, hours).unknown_holders)


def show_billing(demo: BillingDemo) -> None:
    console.rule(f"Billing: the first month's invoices ({demo.month or 'none'})")
    if not demo.invoices:
        console.print(demo.note, highlight=False)
        return
    # Four columns fit an 80-column terminal with every amount in full, to the cent.
    largest = sorted(demo.invoices, key=lambda i: -i.total_usd)
    table(
        None,
        ["tenant", "charges USD", "SLA credits USD", "total USD"],
        [(i.tenant, i.charges_usd, i.credits_usd, i.total_usd)
         for i in largest],
    )  # fmt: skip
    credits = [line for i in demo.invoices for line in i.lines if line.kind == "sla_credit"]
    for line in credits:
        console.print(f"  {line.description}: −${-line.amount_usd:,.2f}", highlight=False)
    if not credits:
        console.print(f"  no lease fell below its SLA this month{_lowest(demo)}", highlight=False)
    total = sum(i.total_usd for i in demo.invoices)
    console.print(f"{demo.note}.", highlight=False)
    console.print(
        f"${total:,.2f} billed in all; 'gpufleet invoices show {largest[0].id} --format html' "
        "prints the largest as a page.",
        highlight=False,
    )


def _lowest(demo: BillingDemo) -> str:
    """The reserved lease with the lowest availability, to show how close credits came."""
    found = [
        (line.detail["delivered_gpu_seconds"] / line.detail["promised_gpu_seconds"], line.lease_id)
        for i in demo.invoices
        for line in i.lines
        if line.kind == "gpu_reserved" and line.detail.get("promised_gpu_seconds")
    ]
    if not found:
        return ""
    availability, lease_id = min(found)
    return (
        f" (lowest availability {100 * availability:.3f}%, {lease_id}; credits start below 99.5%)"
    )
