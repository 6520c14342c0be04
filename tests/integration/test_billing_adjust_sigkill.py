"""SIGKILL in the middle of adjusting a month, then adjusting again: no duplicate line and
no missing one. The adjuster is a real process writing two tenants per transaction; the
close's test hook stops it inside its second transaction (headers written, lines not)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func
from sqlalchemy import select as sql_select

from gpufleet.adapters.db.tables_billing import invoice_lines, invoices, ledger_entries
from gpufleet.services import billing, billing_adjust, billing_queries
from gpufleet.services.database import Database
from tests.conftest import Actor, make_tenant
from tests.integration.billing_helpers import (
    add_hours,
    add_lease,
    ensure_gpu_model,
    expected_totals,
    month_hours,
    stored_usage,
)
from tests.integration.test_billing_sigkill import _wait_for_line

ADJUSTER = """
import sys
from gpufleet.adapters.db.engine import make_engine
from gpufleet.services import access, billing_adjust
from gpufleet.services.database import Database
db = Database(make_engine(sys.argv[1]))
billing_adjust.adjust_month(db, access.authenticate(db, sys.argv[2]), sys.argv[3],
                            batch_tenants=2)
print("finished", flush=True)
"""


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sql_select(func.count()).select_from(table)).scalar_one()
            for table in (invoices, invoice_lines, ledger_entries)
        )


def test_a_killed_adjust_finishes_on_the_next_run(
    db: Database, db_url: str, operator: Actor
) -> None:
    ensure_gpu_model(db)
    late = []
    for k in range(5):
        tenant = make_tenant(db, operator, f"tenant-{k}").principal
        assert tenant.tenant_id is not None
        add_lease(db, tenant.tenant_id, f"tenant-{k}", f"t{k}", price_micros=2_000_003 + k)
        hours = month_hours(f"t{k}", tenant.tenant_id, 2026, 3, 8, dict.fromkeys(range(k), 9000))
        add_hours(db, hours[:600])
        late += hours[600:]
    billing.close_month(db, operator.principal, "2026-03")
    add_hours(db, late)
    assert _counts(db)[0] == 5

    env = {**os.environ, billing.PAUSE_ENV: "2"}
    process = subprocess.Popen(
        [sys.executable, "-c", ADJUSTER, db_url, operator.token, "2026-03"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert billing.PAUSED_MESSAGE in _wait_for_line(process, 60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _counts(db)[0] != 7 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server rolls the dead connection's transaction back
    assert _counts(db)[0] == 7  # two adjustments committed, the batch in flight lost whole

    again = billing_adjust.adjust_month(db, operator.principal, "2026-03")
    assert len(again.invoice_ids) == 3
    count_invoices, count_lines, count_ledger = _counts(db)
    assert count_invoices == 10
    assert count_lines == count_ledger  # every line one ledger entry, none twice
    hours, leases = stored_usage(db)
    want = expected_totals(hours, [], leases, (2026, 3))
    with db.read() as conn:
        got = dict(
            conn.execute(
                sql_select(invoices.c.tenant_id, func.sum(invoices.c.total_micros)).group_by(
                    invoices.c.tenant_id
                )
            ).all()
        )
    assert got == {tenant: charges - credits for tenant, (charges, credits) in want.items()}
    assert billing_adjust.adjust_month(db, operator.principal, "2026-03").invoice_ids == []
    assert billing_queries.reconcile(db, operator.principal).ledger_matches_invoices
