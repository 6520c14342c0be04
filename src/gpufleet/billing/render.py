"""An invoice as CSV (one row per line, then the totals) and as a printable HTML page."""

from __future__ import annotations

import csv
import io
from html import escape

from gpufleet.billing.invoice import Invoice, usd_text
from gpufleet.billing.rating import SECONDS_PER_HOUR

CSV_COLUMNS = (
    "invoice",
    "tenant",
    "month",
    "line",
    "kind",
    "description",
    "lease",
    "model",
    "quantity",
    "unit_price_usd",
    "amount_usd",
    "ledger_key",
    "usage_rows",
)


def _quantity_text(kind: str, quantity: int) -> str:
    if kind == "tokens":
        return f"{quantity} tokens"
    return f"{quantity / SECONDS_PER_HOUR:.4f} GPU-h"


def invoice_csv(invoice: Invoice) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    head = (invoice.id, invoice.tenant, invoice.month)
    for line in invoice.lines:
        writer.writerow(
            (
                *head,
                line.line_no,
                line.kind,
                line.description,
                line.lease_id or "",
                line.model or "",
                _quantity_text(line.kind, line.quantity),
                usd_text(line.unit_price_micros),
                usd_text(line.amount_micros),
                line.ledger_key,
                line.usage_rows,
            )
        )
    totals = invoice.totals
    for label, micros in (
        ("charges", totals.charges_micros),
        ("credits", -totals.credits_micros),
        ("total", totals.total_micros),
    ):
        writer.writerow((*head, "", label, "", "", "", "", "", usd_text(micros), "", ""))
    return out.getvalue()


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:4px 8px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.credit td{color:#0a6}
tfoot td{font-weight:bold}@media print{body{margin:0}}"""


def _adjustment_note(invoice: Invoice) -> str:
    if not invoice.adjustment or invoice.adjusts is None:
        return ""
    return (
        f"\n<p><b>Adjustment {invoice.adjustment}</b> of invoice "
        f"<code>{escape(invoice.adjusts)}</code>: usage of {escape(invoice.month)} metered "
        "after the month was closed. Each line is the month re-rated with every row, less "
        "what earlier invoices of the month billed.</p>"
    )


def invoice_html(invoice: Invoice) -> str:
    rows = "\n".join(
        f'<tr class="{"credit" if line.amount_micros < 0 else "charge"}">'
        f"<td class=n>{line.line_no}</td><td>{escape(line.description)}</td>"
        f"<td>{escape(_quantity_text(line.kind, line.quantity))}</td>"
        f"<td class=n>{usd_text(line.unit_price_micros)}</td>"
        f"<td class=n>{usd_text(line.amount_micros)}</td>"
        f"<td><code>{escape(line.ledger_key)}</code></td></tr>"
        for line in invoice.lines
    )
    totals = invoice.totals
    foot = "\n".join(
        f"<tr><td></td><td>{label}</td><td></td><td></td><td class=n>{usd_text(micros)}</td>"
        "<td></td></tr>"
        for label, micros in (
            ("Charges", totals.charges_micros),
            ("SLA credits", -totals.credits_micros),
            ("Total due (USD)", totals.total_micros),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice {escape(invoice.id)}</title>
<style>{_STYLE}</style></head><body>
<h1>Invoice {escape(invoice.id)}</h1>
<p>Tenant <b>{escape(invoice.tenant)}</b> · month {escape(invoice.month)} ·
issued {escape(invoice.issued_at.isoformat())}</p>{_adjustment_note(invoice)}
<table><thead><tr><th class=n>#</th><th>item</th><th>quantity</th><th class=n>unit price (USD)</th>
<th class=n>amount (USD)</th><th>ledger entry</th></tr></thead>
<tbody>
{rows}
</tbody><tfoot>
{foot}
</tfoot></table>
<p>Amounts are exact to the micro-dollar; each line is rounded half down once.</p>
</body></html>
"""
