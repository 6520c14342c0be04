"""Late usage on both databases: rows metered after their month was closed become one
adjustment invoice per tenant, equal to an independent recomputation, exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.tables_billing import invoices
from gpufleet.billing import CreditTier, Month
from gpufleet.billing.invoice import invoice_id
from gpufleet.domain.errors import Conflict, Forbidden
from gpufleet.services import billing, billing_adjust, billing_queries, events
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
    stored_usage,
)

JAN = datetime(2026, 1, 1, tzinfo=UTC)
LATE_FROM = 700  # hours of January metered only after the close (January has 744)


@pytest.fixture
def world(db: Database, operator: Actor) -> dict[str, object]:
    """January closed with part of its rows: acme's reserved lease at 99.4% availability
    (10% credit) and an interruptible lease, both missing their last 44 hours; tokens; beta
    with a complete reserved lease. The late rows (returned, not yet written) bring acme's
    reserved lease below 99% (30% credit), add interruptible hours and late requests, one
    at a price group the close never saw."""
    ensure_gpu_model(db)
    acme = make_tenant(db, operator, "acme").principal
    beta = make_tenant(db, operator, "beta").principal
    assert acme.tenant_id is not None
    assert beta.tenant_id is not None
    a, b = acme.tenant_id, beta.tenant_id
    add_lease(db, a, "acme", "acme-r1", price_micros=2_345_678)
    add_lease(db, a, "acme", "acme-i1", rental_class="interruptible", price_micros=1_111_111)
    add_lease(db, b, "beta", "beta-r1", price_micros=2_200_000, gpus=64)
    r1 = month_hours("acme-r1", a, 2026, 1, 8, dict.fromkeys(range(4), 8 * 3600))
    i1 = month_hours("acme-i1", a, 2026, 1, 8, dict.fromkeys(range(0, 744, 3), 1234))
    late_r1 = [
        Hour(h.lease_id, h.tenant_id, h.hour_start, h.promised, h.delivered - 5000)
        for h in r1[LATE_FROM:]
    ]
    tokens = [
        Tokens(a, "llama", 1000 + k, 333 * k, 150_000, 600_000, JAN + timedelta(hours=k))
        for k in range(20)
    ]
    late_tokens = [
        Tokens(a, "llama", 77, 5, 150_000, 600_000, JAN + timedelta(days=30)),
        Tokens(a, "llama", 9, 1, 175_000, 700_000, JAN + timedelta(days=30, hours=1)),
    ]
    add_hours(
        db,
        r1[:LATE_FROM]
        + i1[:LATE_FROM]
        + month_hours("beta-r1", b, 2026, 1, 64, {})
        + [Hour("acme-r1", a, datetime(2026, 2, 1, tzinfo=UTC), 8 * 3600, 0)],
    )
    add_tokens(db, tokens)
    closed = billing.close_month(db, operator.principal, "2026-01")
    assert closed.invoices_written == 2
    return {
        "acme": acme,
        "beta": beta,
        "tokens": tokens,
        "late_hours": late_r1 + i1[LATE_FROM:],
        "late_tokens": late_tokens,
    }


def _net(db: Database, tokens: list[Tokens], tenant_id: int) -> int:
    """What the month must bill the tenant in all, recomputed in fractions from the rows."""
    hours, leases = stored_usage(db)
    charges, credits = expected_totals(hours, tokens, leases, (2026, 1))[tenant_id]
    return charges - credits


def _billed(db: Database, tenant_id: int) -> tuple[int, int]:
    """(invoices of January, their totals summed) for a tenant."""
    with db.read() as conn:
        query = select(func.count(), func.sum(invoices.c.total_micros)).where(
            invoices.c.month == "2026-01", invoices.c.tenant_id == tenant_id
        )
        count, total = conn.execute(query).one()
    return int(count), int(total)


def test_late_rows_become_one_adjustment_equal_to_a_recomputation(
    db: Database, operator: Actor, world
) -> None:
    acme = world["acme"]
    before = _billed(db, acme.tenant_id)
    add_hours(db, world["late_hours"])
    add_tokens(db, world["late_tokens"])
    (pending,) = billing_queries.reconcile(db, operator.principal).late

    result = billing_adjust.adjust_month(db, operator.principal, "2026-01")

    acme_base = invoice_id(Month(2026, 1), acme.tenant_id)
    # Closing again still answers the month's own invoices only.
    assert acme_base in billing.close_month(db, operator.principal, "2026-01").invoice_ids
    assert result.invoice_ids == [f"{acme_base}-A1"]  # beta had nothing late
    all_tokens = world["tokens"] + world["late_tokens"]
    expected = _net(db, all_tokens, acme.tenant_id)
    assert _billed(db, acme.tenant_id) == (2, expected)
    assert result.total_micros == expected - before[1]
    adjustment = billing_queries.get_invoice(db, acme, result.invoice_ids[0])
    assert adjustment.adjustment == 1
    assert adjustment.adjusts == acme_base
    by_key = {line.key: line for line in adjustment.lines}
    # The late rows are named as normal lines name theirs: the lease, the rows, the ledger.
    assert by_key["lease:acme-r1:charge"].usage_rows == 744 - LATE_FROM
    assert by_key["lease:acme-i1:charge"].usage_rows == 744 - LATE_FROM
    assert by_key["lease:acme-r1:sla_credit"].detail["credit_ppm"] == 300_000
    assert by_key["lease:acme-r1:sla_credit"].amount_micros < 0  # 30% now, 10% before
    assert by_key["tokens:llama:150000:600000"].usage_rows == 1
    assert by_key["tokens:llama:175000:700000"].usage_rows == 1
    assert all(line.ledger_key.startswith("2026-01:") for line in adjustment.lines)
    # Reconcile named them before (not a ledger difference), and nothing after.
    assert (pending.month, pending.tenants) == ("2026-01", 1)
    assert pending.usage_rows == 2 * (744 - LATE_FROM) + 2
    assert pending.amount_micros == result.total_micros
    after = billing_queries.reconcile(db, operator.principal)
    assert after.ledger_matches_invoices
    assert after.late == []
    issued = [
        e
        for e in events.list_events(db, acme, 0, 100, kind="invoice.issued")
        if e.data.get("adjustment") == 1
    ]
    assert [e.subject for e in issued] == result.invoice_ids
    assert issued[0].data["adjusts"] == acme_base


def test_a_second_run_finds_nothing_and_later_rows_get_the_next_number(
    db: Database, operator: Actor, world
) -> None:
    acme = world["acme"]
    late = world["late_hours"]
    add_hours(db, late[:10])
    first = billing_adjust.adjust_month(db, operator.principal, "2026-01")
    assert len(first.invoice_ids) == 1
    again = billing_adjust.adjust_month(db, operator.principal, "2026-01")
    assert again.invoice_ids == []
    assert again.total_micros == 0

    add_hours(db, late[10:])
    add_tokens(db, world["late_tokens"])
    second = billing_adjust.adjust_month(db, operator.principal, "2026-01")
    assert [i.rsplit("-", 1)[1] for i in second.invoice_ids] == ["A2"]
    expected = _net(db, world["tokens"] + world["late_tokens"], acme.tenant_id)
    assert _billed(db, acme.tenant_id) == (3, expected)
    assert billing_adjust.adjust_month(db, operator.principal, "2026-01").invoice_ids == []


@pytest.mark.parametrize("batch", [1, 500])
def test_concurrent_adjusters_write_one_set(
    db: Database, operator: Actor, world, batch: int
) -> None:
    acme, beta = world["acme"], world["beta"]
    add_hours(db, world["late_hours"])
    add_tokens(db, world["late_tokens"])
    # beta too, so a batch of one tenant interleaves two tenants between the adjusters.
    add_tokens(db, [Tokens(beta.tenant_id, "llama", 5, 5, 150_000, 600_000, JAN)])
    results: list[billing_adjust.AdjustResult] = []
    errors: list[BaseException] = []

    def adjust() -> None:
        try:
            results.append(
                billing_adjust.adjust_month(db, operator.principal, "2026-01", batch_tenants=batch)
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=adjust) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    written = sorted(i for r in results for i in r.invoice_ids)
    assert len(written) == 2
    assert all(i.endswith("-A1") for i in written)
    all_tokens = [*world["tokens"], *world["late_tokens"]]
    assert _billed(db, acme.tenant_id) == (2, _net(db, all_tokens, acme.tenant_id))
    assert _billed(db, beta.tenant_id)[0] == 2
    assert billing_queries.reconcile(db, operator.principal).ledger_matches_invoices


def test_only_the_operator_adjusts_and_only_closed_months(
    db: Database, operator: Actor, world
) -> None:
    with pytest.raises(Forbidden):
        billing_adjust.adjust_month(db, world["acme"], "2026-01")
    with pytest.raises(Conflict, match="not closed"):
        billing_adjust.adjust_month(db, operator.principal, "2026-02")
    add_hours(db, world["late_hours"][:1])
    every = billing_adjust.adjust_closed_months(db, operator.principal)
    assert [(r.month, len(r.invoice_ids)) for r in every] == [("2026-01", 1)]


def test_a_tenant_sees_only_its_own_adjustments(db: Database, operator: Actor, world) -> None:
    acme, beta = world["acme"], world["beta"]
    add_hours(db, world["late_hours"])
    (adjustment,) = billing_adjust.adjust_month(db, operator.principal, "2026-01").invoice_ids
    mine = billing_queries.list_invoices(db, acme, month=None, tenant=None, after=None, limit=10)
    assert adjustment in [i.id for i in mine]
    theirs = billing_queries.list_invoices(db, beta, month=None, tenant=None, after=None, limit=10)
    assert adjustment not in [i.id for i in theirs]
    with pytest.raises(Exception, match="not found") as missing:
        billing_queries.get_invoice(db, beta, adjustment)
    with pytest.raises(Exception, match="not found") as absent:
        billing_queries.get_invoice(db, beta, adjustment + "9")
    assert str(missing.value).replace(adjustment, "") == str(absent.value).replace(
        adjustment + "9", ""
    )


def test_a_tenant_whose_usage_all_came_late_gets_the_months_invoice(
    db: Database, operator: Actor, world
) -> None:
    gamma = make_tenant(db, operator, "gamma").principal
    assert gamma.tenant_id is not None
    add_lease(db, gamma.tenant_id, "gamma", "gamma-r1", price_micros=1_000_001, gpus=2)
    add_hours(db, month_hours("gamma-r1", gamma.tenant_id, 2026, 1, 2, {0: 7200})[:100])
    (first,) = billing_adjust.adjust_month(db, operator.principal, "2026-01").invoice_ids
    assert first == invoice_id(Month(2026, 1), gamma.tenant_id)
    assert billing_queries.get_invoice(db, gamma, first).adjustment == 0
    assert _billed(db, gamma.tenant_id) == (1, _net(db, [], gamma.tenant_id))
    (notice,) = events.list_events(db, gamma, 0, 100, kind="invoice.issued")
    assert notice.data["late_usage"] is True
    add_hours(db, month_hours("gamma-r1", gamma.tenant_id, 2026, 1, 2, {})[100:])
    (second,) = billing_adjust.adjust_month(db, operator.principal, "2026-01").invoice_ids
    assert second == f"{first}-A1"
    assert _billed(db, gamma.tenant_id) == (2, _net(db, [], gamma.tenant_id))


def test_an_adjustment_keeps_the_tiers_its_month_was_billed_with(
    db: Database, operator: Actor, world
) -> None:
    """Contract tiers set after the close (50% below 99.9%) do not reach January: its late
    rows are re-rated with the default tiers it was invoiced with (30% below 99%)."""
    acme = world["acme"]
    harsh = [CreditTier(999_000, 500_000)]
    billing_queries.set_tiers(db, operator.principal, "acme-r1", harsh)
    add_hours(db, world["late_hours"])

    (adjustment,) = billing_adjust.adjust_month(db, operator.principal, "2026-01").invoice_ids

    lines = {line.key: line for line in billing_queries.get_invoice(db, acme, adjustment).lines}
    assert lines["lease:acme-r1:sla_credit"].detail["credit_ppm"] == 300_000
    assert _billed(db, acme.tenant_id) == (2, _net(db, world["tokens"], acme.tenant_id))
