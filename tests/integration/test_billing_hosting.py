"""Token lines from what the gateway's meter wrote: its writer thread stores one row per
request (a retried request_id once), and the month's invoice prices them per line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gpufleet.hosting.metering import Meter, UsageRow
from gpufleet.services import billing, billing_queries
from gpufleet.services.database import Database
from tests.conftest import Actor, make_tenant
from tests.integration.billing_helpers import Tokens, expected_totals

START = datetime(2026, 4, 1, tzinfo=UTC)


def test_metered_requests_become_token_lines(db: Database, operator: Actor) -> None:
    tenant = make_tenant(db, operator, "chatty").principal
    assert tenant.tenant_id is not None
    rows = [
        UsageRow(
            f"req-{k}",
            START + timedelta(hours=k),
            tenant.tenant_id,
            tenant.key_id,
            "smollm2" if k % 3 else "qwen",
            "d-1",
            37 * k + 1,
            11 * k,
            150_000 + k % 2,
            600_000,
        )
        for k in range(200)
    ]
    meter = Meter(db)
    try:
        for row in [*rows, rows[0], rows[1]]:  # the gateway retried two requests
            meter.submit(row)
        assert meter.flush()
    finally:
        meter.close()

    closed = billing.close_month(db, operator.principal, "2026-04")

    (invoice_id,) = closed.invoice_ids
    invoice = billing_queries.get_invoice(db, operator.principal, invoice_id)
    tokens = [
        Tokens(
            r.tenant_id,
            r.model,
            r.input_tokens,
            r.output_tokens,
            r.input_price_micros,
            r.output_price_micros,
            r.at,
        )
        for r in rows
    ]
    want = expected_totals([], tokens, {}, (2026, 4))
    assert (invoice.totals.charges_micros, invoice.totals.credits_micros) == want[tenant.tenant_id]
    assert sorted(line.model or "" for line in invoice.lines) == [
        "qwen",
        "qwen",
        "smollm2",
        "smollm2",
    ]
    assert sum(line.usage_rows for line in invoice.lines) == 200
