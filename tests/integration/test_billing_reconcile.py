"""Reconciliation: planned revenue of the latest finished plan against billed revenue per
month, and the ledger against invoice totals (an entry appended outside a close shows)."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy import insert

from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.adapters.db.tables_billing import ledger_entries
from gpufleet.operations import Reliability
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import billing, billing_queries, fleet, plans, rentals
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance
from tests.conftest import EXAMPLES, Actor
from tests.integration.billing_helpers import half_down

START = datetime(2027, 1, 4, tzinfo=UTC)
JAN, FEB = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)


def test_planned_against_billed_and_ledger_against_invoices(db: Database, operator: Actor) -> None:
    db.clock = lambda: START  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    job = plans.submit_plan(db, operator.principal, {"gap": 0.01})
    plans.run_plan(db, job.id)
    finished = plans.get_plan(db, operator.principal, job.id)
    assert finished.status == "done"
    assert finished.result is not None
    accepted = {d["id"] for d in finished.result["decisions"] if d["accepted"]}
    rentals.accept_request(db, operator.principal, "rfq-2")
    advance(
        db,
        operator.principal,
        AdvanceOptions(FEB, seed=2, reliability=Reliability(), experiments=False),
    )
    billing.close_month(db, operator.principal, "2027-01")

    # Planned for January, by hand: the plan's accepted requests not yet leases, plus leases.
    with db.read() as conn:
        requests = rentals_repo.page(
            conn, "request", tenant_id=None, status=None, after=None, limit=1000
        )
        leases = rentals_repo.page(
            conn, "lease", tenant_id=None, status=None, after=None, limit=1000
        )
    chosen = [r for r in requests if r.id in accepted and r.id != "rfq-2"] + leases
    planned = 0
    for r in chosen:
        seconds = max(0, int((min(r.end, FEB) - max(r.start, JAN)).total_seconds()))
        planned += half_down(Fraction(r.gpus * seconds * r.price_micros, 3600))

    report = billing_queries.reconcile(db, operator.principal)
    assert report.plan_id == job.id
    (january,) = report.months
    assert january.month == "2027-01"
    assert january.planned_micros == planned
    assert january.billed_gpu_micros > 0
    assert report.ledger_matches_invoices

    invoice = billing_queries.list_invoices(
        db, operator.principal, month="2027-01", tenant=None, after=None, limit=1
    )[0]
    with db.write() as conn:  # appending is allowed; it must show as a difference
        conn.execute(
            insert(ledger_entries).values(
                idempotency_key="manual:adjustment:1",
                at=START,
                tenant_id=invoice.tenant_id,
                month="2027-01",
                kind="adjustment",
                amount_micros=1,
                invoice_id=invoice.id,
                usage_rows=0,
            )
        )
    after = billing_queries.reconcile(db, operator.principal)
    assert not after.ledger_matches_invoices
    (mismatch,) = after.mismatches
    assert mismatch.invoice_id == invoice.id
    assert mismatch.ledger_micros == mismatch.invoice_micros + 1
