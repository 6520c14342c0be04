"""Closing a month on both databases: invoices equal a recomputation from the usage rows,
exactly once (twice, concurrently, retried), and the ledger cannot be rewritten."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.tables_billing import invoice_lines, invoices, ledger_entries
from gpufleet.billing import CreditTier
from gpufleet.domain.errors import Forbidden, InvalidInput, NotFound
from gpufleet.services import billing, billing_queries, events
from gpufleet.services.database import Database
from tests.conftest import Actor, make_tenant
from tests.integration.billing_helpers import (
    Hour,
    Tokens,
    add_hours,
    add_lease,
    add_tokens,
    ensure_gpu_model,
    expected_totals,
    month_hours,
)

JAN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(db: Database, operator: Actor) -> dict[str, object]:
    """Two tenants: acme with a reserved lease short 0.6% of January (10% credit), a
    reserved lease with full delivery and an interruptible one; beta with a reserved lease
    short 2.7% (30%), tokens for both, and rows in December and February that must not count."""
    ensure_gpu_model(db)
    acme = make_tenant(db, operator, "acme").principal
    beta = make_tenant(db, operator, "beta").principal
    assert acme.tenant_id is not None
    assert beta.tenant_id is not None
    a, b = acme.tenant_id, beta.tenant_id
    leases = {
        "acme-r1": add_lease(db, a, "acme", "acme-r1", price_micros=2_345_678),
        "acme-r2": add_lease(db, a, "acme", "acme-r2", price_micros=3_000_001, gpus=16),
        "acme-i1": add_lease(
            db, a, "acme", "acme-i1", rental_class="interruptible", price_micros=1_111_111
        ),
        "beta-r1": add_lease(db, b, "beta", "beta-r1", price_micros=2_200_000, gpus=64),
    }
    hours = (
        month_hours("acme-r1", a, 2026, 1, 8, dict.fromkeys(range(5), 8 * 3600))
        + month_hours("acme-r2", a, 2026, 1, 16, {})
        + month_hours("acme-i1", a, 2026, 1, 8, dict.fromkeys(range(300), 1234))
        + month_hours("beta-r1", b, 2026, 1, 64, dict.fromkeys(range(20), 64 * 3600))
        + [
            Hour("acme-r1", a, JAN - timedelta(hours=1), 8 * 3600, 8 * 3600),
            Hour("beta-r1", b, datetime(2026, 2, 1, tzinfo=UTC), 64 * 3600, 0),
        ]
    )
    tokens = [
        Tokens(a, "llama", 1000 + k, 333 * k, 150_000, 600_000, JAN + timedelta(minutes=7 * k))
        for k in range(50)
    ] + [
        Tokens(b, "llama", 17, 3, 150_000, 600_000, JAN + timedelta(days=3)),
        Tokens(b, "llama", 17, 3, 200_000, 600_000, JAN + timedelta(days=4)),
        Tokens(b, "llama", 5, 5, 150_000, 600_000, datetime(2026, 2, 1, tzinfo=UTC)),
    ]
    add_hours(db, hours)
    add_tokens(db, tokens)
    return {"acme": acme, "beta": beta, "leases": leases, "hours": hours, "tokens": tokens}


def test_invoices_equal_a_recomputation_from_usage(db: Database, operator: Actor, world) -> None:
    result = billing.close_month(db, operator.principal, "2026-01")
    assert result.invoices_written == 2
    assert not result.already_closed
    want = expected_totals(world["hours"], world["tokens"], world["leases"], (2026, 1))
    with db.read() as conn:
        found = repo.invoice_page(conn, tenant_id=None, month="2026-01", after=None, limit=100)
    got = {i.tenant_id: (i.totals.charges_micros, i.totals.credits_micros) for i in found}
    assert got == want
    by_name = {i.tenant: billing_queries.get_invoice(db, operator.principal, i.id) for i in found}
    acme_kinds = sorted(line.kind for line in by_name["acme"].lines)
    assert acme_kinds == ["gpu_interruptible", "gpu_reserved", "gpu_reserved", "sla_credit",
                          "tokens"]  # fmt: skip
    credits = {line.lease_id: line.detail["credit_ppm"] for invoice in by_name.values()
               for line in invoice.lines if line.kind == "sla_credit"}  # fmt: skip
    assert credits == {"acme-r1": 100_000, "beta-r1": 300_000}
    assert len([line for line in by_name["beta"].lines if line.kind == "tokens"]) == 2
    for invoice in by_name.values():
        assert sum(line.amount_micros for line in invoice.lines) == invoice.totals.total_micros


def test_every_line_is_one_ledger_entry_and_the_totals_agree(db: Database, operator: Actor,
                                                              world) -> None:  # fmt: skip
    billing.close_month(db, operator.principal, "2026-01")
    with db.read() as conn:
        joined = conn.execute(
            select(invoice_lines.c.amount_micros, ledger_entries.c.amount_micros,
                   ledger_entries.c.invoice_id, invoice_lines.c.invoice_id)
            .join(ledger_entries, ledger_entries.c.idempotency_key == invoice_lines.c.ledger_key)
        ).all()  # fmt: skip
        ledger_count = conn.execute(select(func.count()).select_from(ledger_entries)).scalar()
    assert joined
    assert len(joined) == ledger_count
    assert all(a == b and i == j for a, b, i, j in joined)
    report = billing_queries.reconcile(db, operator.principal)
    assert report.ledger_matches_invoices
    assert [m.month for m in report.months] == ["2026-01"]
    assert report.months[0].planned_micros is None  # no plan in this database


def test_closing_twice_gives_the_same_invoices(db: Database, operator: Actor, world) -> None:
    first = billing.close_month(db, operator.principal, "2026-01")
    before = [billing_queries.get_invoice(db, operator.principal, i) for i in first.invoice_ids]
    add_hours(db, [Hour("acme-r1", world["acme"].tenant_id, JAN + timedelta(days=40), 1, 1)])
    second = billing.close_month(db, operator.principal, "2026-01")
    assert second.already_closed
    assert second.invoices_written == 0
    assert second.invoice_ids == first.invoice_ids
    after = [billing_queries.get_invoice(db, operator.principal, i) for i in second.invoice_ids]
    assert after == before


@pytest.mark.parametrize("batch", [1, 500])
def test_two_closers_at_once_write_one_set(
    db: Database, operator: Actor, world, batch: int
) -> None:
    results: list[billing.CloseResult] = []
    errors: list[BaseException] = []

    def close() -> None:
        try:
            closed = billing.close_month(db, operator.principal, "2026-01", batch_tenants=batch)
            results.append(closed)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(r.invoices_written for r in results) == 2
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(invoices)).scalar() == 2
    assert billing_queries.reconcile(db, operator.principal).ledger_matches_invoices


def test_a_retried_ledger_write_does_nothing(db: Database, operator: Actor, world) -> None:
    billing.close_month(db, operator.principal, "2026-01")
    with db.read() as conn:
        row = conn.execute(select(ledger_entries).limit(1)).mappings().one()
    retry = {k: v for k, v in row.items() if k != "id"}
    with db.write() as conn:
        assert repo.append_ledger(conn, [retry, retry]) == 0
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_entries).where(
            ledger_entries.c.idempotency_key == row["idempotency_key"])).scalar() == 1  # fmt: skip


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_micros = 0", "DELETE FROM ledger_entries",
    "UPDATE invoices SET total_micros = 0, charges_micros = 0, credits_micros = 0",
    "DELETE FROM invoice_lines",
])  # fmt: skip
def test_the_database_refuses_to_rewrite_billed_money(db: Database, operator: Actor, world,
                                                       statement: str) -> None:  # fmt: skip
    billing.close_month(db, operator.principal, "2026-01")
    with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(text(statement))


def test_contract_tiers_replace_the_default(db: Database, operator: Actor, world) -> None:
    # acme-r1 is 0.6% short: no credit under a contract that starts at 99%, 50% under 99.9%.
    billing_queries.set_tiers(db, operator.principal, "acme-r1", [CreditTier(999_000, 500_000)])
    billing_queries.set_tiers(db, operator.principal, "beta-r1", [CreditTier(990_000, 50_000)])
    tiers = {"acme-r1": [(Fraction(999, 1000), Fraction(1, 2))],
             "beta-r1": [(Fraction(99, 100), Fraction(5, 100))]}  # fmt: skip
    billing.close_month(db, operator.principal, "2026-01")
    want = expected_totals(world["hours"], world["tokens"], world["leases"], (2026, 1), tiers)
    with db.read() as conn:
        found = repo.invoice_page(conn, tenant_id=None, month=None, after=None, limit=9)
    got = {i.tenant_id: (i.totals.charges_micros, i.totals.credits_micros) for i in found}
    assert got == want
    shown = billing_queries.get_tiers(db, world["acme"], "acme-r1")
    assert not shown.default
    assert shown.tiers == (CreditTier(999_000, 500_000),)
    with pytest.raises(NotFound):
        billing_queries.get_tiers(db, world["beta"], "acme-r1")


def test_bad_months_and_tenants_are_refused(db: Database, operator: Actor, world) -> None:
    for month in ("2026-13", "26-01", "2026-1", "next"):
        with pytest.raises(InvalidInput) as caught:
            billing.close_month(db, operator.principal, month)
        assert caught.value.issues[0].path == "month"
    with pytest.raises(InvalidInput, match="has not ended"):
        billing.close_month(db, operator.principal, "2999-01")
    with pytest.raises(Forbidden):
        billing.close_month(db, world["acme"], "2026-01")
    worse_pays_less = [CreditTier(990_000, 300_000), CreditTier(995_000, 500_000)]
    with pytest.raises(InvalidInput) as bad_tiers:
        billing_queries.set_tiers(db, operator.principal, "acme-r1", worse_pays_less)
    assert bad_tiers.value.issues


def test_a_month_metered_past_its_end_may_be_closed_before_the_clock_says(
    db: Database, operator: Actor, world
) -> None:
    # A simulated cluster meters ahead of the wall clock: usage reaches 2026-02-01 01:00.
    db.clock = lambda: datetime(2025, 6, 1, tzinfo=UTC)  # type: ignore[method-assign]
    with pytest.raises(InvalidInput, match="has not ended"):
        billing.close_month(db, operator.principal, "2026-02")
    closed = billing.close_month(db, operator.principal, "2026-01")
    assert closed.invoices_written == 2
    issued = [
        e for e in events.list_events(db, world["acme"], 0, 100) if e.kind == "invoice.issued"
    ]
    assert [e.subject for e in issued] == [
        i
        for i in closed.invoice_ids
        if billing_queries.get_invoice(db, operator.principal, i).tenant == "acme"
    ]
