"""SIGKILL in the middle of closing a month, then closing it again: no duplicate line and
no missing one. The closer is a real process writing two tenants per transaction; a test
hook makes it stop inside its second transaction (the headers of tenants 3 and 4 written,
their ledger entries and lines not yet) so the kill lands there."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from sqlalchemy import func
from sqlalchemy import select as sql_select

from gpufleet.adapters.db.tables_billing import (
    billing_closes,
    invoice_lines,
    invoices,
    ledger_entries,
)
from gpufleet.services import billing, billing_queries
from gpufleet.services.database import Database
from tests.conftest import Actor, make_tenant
from tests.integration.billing_helpers import (
    Tokens,
    add_hours,
    add_lease,
    add_tokens,
    ensure_gpu_model,
    expected_totals,
    month_hours,
)

CLOSER = """
import sys
from gpufleet.adapters.db.engine import make_engine
from gpufleet.services import access, billing
from gpufleet.services.database import Database
db = Database(make_engine(sys.argv[1]))
billing.close_month(db, access.authenticate(db, sys.argv[2]), sys.argv[3], batch_tenants=2)
print("finished", flush=True)
"""


def _counts(db: Database) -> tuple[int, int, int, int]:
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sql_select(func.count()).select_from(table)).scalar_one()
            for table in (invoices, invoice_lines, ledger_entries, billing_closes)
        )


def _wait_for_line(process: subprocess.Popen[str], seconds: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    assert ready, "the closer never reached the pause"
    return process.stdout.readline()


def test_a_killed_close_finishes_on_the_next_run(
    db: Database, db_url: str, operator: Actor
) -> None:
    ensure_gpu_model(db)
    leases, hours, tokens = {}, [], []
    for k in range(5):
        tenant = make_tenant(db, operator, f"tenant-{k}").principal
        assert tenant.tenant_id is not None
        for j, kind in enumerate(("reserved", "interruptible")):
            lease_id = f"t{k}-{kind}"
            price = 2_000_001 + 7 * k + j
            leases[lease_id] = add_lease(
                db, tenant.tenant_id, f"tenant-{k}", lease_id, rental_class=kind, price_micros=price
            )
            lost = dict.fromkeys(range(3 * k), 5000)
            hours += month_hours(lease_id, tenant.tenant_id, 2026, 3, 8, lost)
        tokens.append(Tokens(tenant.tenant_id, "m", 999, 333 * k, 100_000, 300_000,
                             hours[-1].hour_start))  # fmt: skip
    add_hours(db, hours)
    add_tokens(db, tokens)

    env = {**os.environ, billing.PAUSE_ENV: "2"}
    process = subprocess.Popen(
        [sys.executable, "-c", CLOSER, db_url, operator.token, "2026-03"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert billing.PAUSED_MESSAGE in _wait_for_line(process, 60)
        # Two invoices committed; the third's header is written but not committed.
        assert _counts(db)[0] == 2
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _counts(db)[0] != 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server rolls the dead connection's transaction back
    written_before = _counts(db)
    assert written_before[0] == 2
    assert written_before[3] == 0  # the month is not marked closed

    again = billing.close_month(db, operator.principal, "2026-03")
    assert again.invoices_written == 3
    assert len(again.invoice_ids) == 5
    count_invoices, count_lines, count_ledger, count_closes = _counts(db)
    assert (count_invoices, count_closes) == (5, 1)
    assert count_lines == count_ledger  # every line one ledger entry, none twice
    want = expected_totals(hours, tokens, leases, (2026, 3))
    got = {}
    for invoice_id in again.invoice_ids:
        invoice = billing_queries.get_invoice(db, operator.principal, invoice_id)
        assert [line.line_no for line in invoice.lines] == list(range(1, len(invoice.lines) + 1))
        got[invoice.tenant_id] = (invoice.totals.charges_micros, invoice.totals.credits_micros)
    assert got == want
    assert billing_queries.reconcile(db, operator.principal).ledger_matches_invoices
