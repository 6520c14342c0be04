"""Billing storage: month aggregates by set-based SQL, idempotent inserts, invoice reads.

Usage is summed in the database (GROUP BY) so a month of a million hourly rows reaches
Python as one row per lease. Every insert of money uses ON CONFLICT DO NOTHING on a unique
key, so a retry, a second closer or a re-run after a crash writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from gpufleet.adapters.db.tables import leases, tenants
from gpufleet.adapters.db.tables_billing import (
    billing_closes,
    invoice_lines,
    invoices,
    lease_credit_tiers,
    ledger_entries,
)
from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.adapters.db.tables_operations import lease_usage_hours
from gpufleet.billing import CreditTier, LeaseMonthUsage, Month, TokenUsageGroup
from gpufleet.billing.adjust import BilledLine
from gpufleet.billing.invoice import Invoice, InvoiceLine, Totals
from gpufleet.domain.timeutil import to_utc


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]]
) -> list[Any]:
    """Insert rows; a row whose unique key exists already is skipped. Returns the primary
    keys of the rows inserted (rowcount is not reliable here: psycopg answers -1)."""
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).on_conflict_do_nothing().returning(key)
    return list(conn.execute(statement, list(rows)).scalars())


def add_metered_hours(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Store hourly usage rows; a (lease, hour) stored before is left as it was (the row
    billing rated). Returns how many were new. One insert that skips existing keys rather
    than a read and then an insert: a writer of the same hour at the same time on
    PostgreSQL makes this one wait and skip, not fail on the key."""
    return len(insert_ignoring_duplicates(conn, lease_usage_hours, rows))


# --- month aggregates -------------------------------------------------------------------


def lease_month_usage(conn: Connection, month: Month) -> list[LeaseMonthUsage]:
    """Each lease's usage rows of the month, summed by the database."""
    u = lease_usage_hours
    query = (
        select(
            u.c.lease_id,
            u.c.tenant_id,
            leases.c.gpu_model,
            leases.c.rental_class,
            leases.c.price_micros,
            func.sum(u.c.promised_gpu_seconds),
            func.sum(u.c.delivered_gpu_seconds),
            func.sum(u.c.shortfall_gpu_seconds),
            func.count(),
        )
        .join(leases, leases.c.id == u.c.lease_id)
        .where(u.c.hour_start >= month.start, u.c.hour_start < month.end)
        .group_by(
            u.c.lease_id,
            u.c.tenant_id,
            leases.c.gpu_model,
            leases.c.rental_class,
            leases.c.price_micros,
        )
    )
    return [
        LeaseMonthUsage(
            lease_id,
            int(tenant_id),
            model,
            rental_class,
            int(price),
            int(promised),
            int(delivered),
            int(shortfall),
            int(hours),
        )
        for (
            lease_id,
            tenant_id,
            model,
            rental_class,
            price,
            promised,
            delivered,
            shortfall,
            hours,
        ) in conn.execute(query)
    ]


def token_month_usage(conn: Connection, month: Month) -> list[TokenUsageGroup]:
    """Gateway requests of the month per tenant, model and pair of prices."""
    t = token_usage
    keys = (t.c.tenant_id, t.c.model, t.c.input_price_micros, t.c.output_price_micros)
    query = (
        select(*keys, func.sum(t.c.input_tokens), func.sum(t.c.output_tokens), func.count())
        .where(t.c.at >= month.start, t.c.at < month.end)
        .group_by(*keys)
    )
    return [
        TokenUsageGroup(int(tenant), model, int(pin), int(pout), int(tin), int(tout), int(n))
        for tenant, model, pin, pout, tin, tout, n in conn.execute(query)
    ]


# --- writing a month --------------------------------------------------------------------


def invoiced_tenants(conn: Connection, month: Month) -> set[int]:
    query = select(invoices.c.tenant_id).where(
        invoices.c.month == str(month), invoices.c.adjustment == 0
    )
    return set(conn.execute(query).scalars())


def month_invoice_ids(conn: Connection, month: Month) -> list[str]:
    """The month's own invoices, one per tenant (not their adjustments)."""
    query = (
        select(invoices.c.id)
        .where(invoices.c.month == str(month), invoices.c.adjustment == 0)
        .order_by(invoices.c.id)
    )
    return list(conn.execute(query).scalars())


def month_billed(conn: Connection, month: Month) -> tuple[list[BilledLine], dict[int, int]]:
    """Every line of the month's invoices and adjustments, and each tenant's last adjustment
    number (0: only the month's invoice). One statement, so on PostgreSQL both come from the
    same snapshot: an adjustment counted is an adjustment whose lines are here."""
    query = select(
        invoices.c.tenant_id,
        invoices.c.adjustment,
        invoice_lines.c.key,
        invoice_lines.c.kind,
        invoice_lines.c.amount_micros,
        invoice_lines.c.lease_id,
        invoice_lines.c.detail,
    ).outerjoin(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id)
    lines: list[BilledLine] = []
    last: dict[int, int] = {}
    for tenant_id, number, key, kind, amount, lease_id, detail in conn.execute(
        query.where(invoices.c.month == str(month))
    ):
        last[int(tenant_id)] = max(last.get(int(tenant_id), 0), int(number))
        if key is not None:
            lines.append(BilledLine(int(tenant_id), key, kind, int(amount), lease_id, detail))
    return lines, last


def insert_invoice_headers(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """The ids of the invoices inserted; one that exists already (another closer wrote it,
    or this one before a crash) is skipped."""
    return set(insert_ignoring_duplicates(conn, invoices, rows))


def append_ledger(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Ledger entries; one whose idempotency key was written before is skipped."""
    return len(insert_ignoring_duplicates(conn, ledger_entries, rows))


def insert_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(invoice_lines), list(rows))


def closed(conn: Connection, month: Month) -> bool:
    query = select(billing_closes.c.month).where(billing_closes.c.month == str(month))
    return conn.execute(query).first() is not None


def record_close(conn: Connection, month: Month, count: int, by: str, now: datetime) -> bool:
    row = {"month": str(month), "closed_at": now, "invoices": count, "closed_by": by}
    return len(insert_ignoring_duplicates(conn, billing_closes, [row])) == 1


def closed_months(conn: Connection) -> list[str]:
    return list(
        conn.execute(select(billing_closes.c.month).order_by(billing_closes.c.month)).scalars()
    )


# --- reading invoices -------------------------------------------------------------------


def _header_query() -> Any:
    return select(invoices, tenants.c.name.label("tenant")).join(
        tenants, tenants.c.id == invoices.c.tenant_id
    )


def _invoice(row: Any, lines: tuple[InvoiceLine, ...] = ()) -> Invoice:
    return Invoice(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant=row.tenant,
        month=row.month,
        issued_at=to_utc(row.issued_at),
        totals=Totals(int(row.charges_micros), int(row.credits_micros)),
        lines=lines,
        adjustment=int(row.adjustment),
    )


def _line(row: Any) -> InvoiceLine:
    return InvoiceLine(
        line_no=row.line_no,
        key=row.key,
        kind=row.kind,
        description=row.description,
        amount_micros=int(row.amount_micros),
        quantity=int(row.quantity),
        unit_price_micros=int(row.unit_price_micros),
        usage_rows=row.usage_rows,
        ledger_key=row.ledger_key,
        lease_id=row.lease_id,
        model=row.model,
        detail=dict(row.detail),
    )


def get_invoice(conn: Connection, invoice_id: str, tenant_id: int | None) -> Invoice | None:
    query = _header_query().where(invoices.c.id == invoice_id)
    if tenant_id is not None:
        query = query.where(invoices.c.tenant_id == tenant_id)
    row = conn.execute(query).first()
    if row is None:
        return None
    lines = conn.execute(
        select(invoice_lines)
        .where(invoice_lines.c.invoice_id == invoice_id)
        .order_by(invoice_lines.c.line_no)
    )
    return _invoice(row, tuple(_line(line) for line in lines))


def invoice_page(
    conn: Connection,
    *,
    tenant_id: int | None,
    month: str | None,
    after: str | None,
    limit: int,
) -> list[Invoice]:
    query = _header_query().order_by(invoices.c.id).limit(limit)
    if tenant_id is not None:
        query = query.where(invoices.c.tenant_id == tenant_id)
    if month is not None:
        query = query.where(invoices.c.month == month)
    if after is not None:
        query = query.where(invoices.c.id > after)
    return [_invoice(row) for row in conn.execute(query)]


# --- SLA credit tiers per lease ---------------------------------------------------------


def tiers_by_lease(conn: Connection) -> dict[str, tuple[CreditTier, ...]]:
    """Every lease's own tiers (a small table: a few rows per contract)."""
    found: dict[str, list[CreditTier]] = {}
    for lease_id, below, credit in conn.execute(
        select(
            lease_credit_tiers.c.lease_id,
            lease_credit_tiers.c.below_ppm,
            lease_credit_tiers.c.credit_ppm,
        )
    ):
        found.setdefault(lease_id, []).append(CreditTier(int(below), int(credit)))
    return {lease: tuple(sorted(tiers, reverse=True)) for lease, tiers in found.items()}


def replace_tiers(
    conn: Connection, lease_id: str, tiers: Sequence[CreditTier], now: datetime
) -> None:
    conn.execute(delete(lease_credit_tiers).where(lease_credit_tiers.c.lease_id == lease_id))
    rows = [
        {"lease_id": lease_id, "below_ppm": t.below_ppm, "credit_ppm": t.credit_ppm, "set_at": now}
        for t in tiers
    ]
    if rows:
        conn.execute(insert(lease_credit_tiers), rows)


def lease_tenant(conn: Connection, lease_id: str, tenant_id: int | None) -> int | None:
    """The lease's tenant, or None when there is no such lease (for this tenant)."""
    query = select(leases.c.tenant_id).where(leases.c.id == lease_id)
    if tenant_id is not None:
        query = query.where(leases.c.tenant_id == tenant_id)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


# --- usage between two instants ---------------------------------------------------------


def lease_usage_between(
    conn: Connection, start: datetime, end: datetime, tenant_id: int | None
) -> list[Any]:
    u = lease_usage_hours
    query = (
        select(
            u.c.lease_id,
            tenants.c.name.label("tenant"),
            u.c.gpu_model,
            leases.c.rental_class,
            func.sum(u.c.promised_gpu_seconds).label("promised"),
            func.sum(u.c.delivered_gpu_seconds).label("delivered"),
            func.sum(u.c.shortfall_gpu_seconds).label("shortfall"),
            func.count().label("hours"),
        )
        .join(leases, leases.c.id == u.c.lease_id)
        .join(tenants, tenants.c.id == u.c.tenant_id)
        .where(u.c.hour_start >= start, u.c.hour_start < end)
        .group_by(u.c.lease_id, tenants.c.name, u.c.gpu_model, leases.c.rental_class)
        .order_by(u.c.lease_id)
    )
    if tenant_id is not None:
        query = query.where(u.c.tenant_id == tenant_id)
    return list(conn.execute(query))


def token_usage_between(
    conn: Connection, start: datetime, end: datetime, tenant_id: int | None
) -> list[Any]:
    t = token_usage
    query = (
        select(
            tenants.c.name.label("tenant"),
            t.c.model,
            t.c.key_id,
            func.sum(t.c.input_tokens).label("input_tokens"),
            func.sum(t.c.output_tokens).label("output_tokens"),
            func.count().label("requests"),
        )
        .join(tenants, tenants.c.id == t.c.tenant_id)
        .where(t.c.at >= start, t.c.at < end)
        .group_by(tenants.c.name, t.c.model, t.c.key_id)
        .order_by(tenants.c.name, t.c.model, t.c.key_id)
    )
    if tenant_id is not None:
        query = query.where(t.c.tenant_id == tenant_id)
    return list(conn.execute(query))


# --- reconciliation ---------------------------------------------------------------------


def ledger_against_invoices(conn: Connection) -> list[tuple[str, str, int, int, int]]:
    """(invoice, month, invoice total, sum of its ledger entries, sum of its lines) for
    every invoice where the three disagree, found by the database."""
    ledger = (
        select(ledger_entries.c.invoice_id, func.sum(ledger_entries.c.amount_micros).label("s"))
        .group_by(ledger_entries.c.invoice_id)
        .subquery()
    )
    lines = (
        select(invoice_lines.c.invoice_id, func.sum(invoice_lines.c.amount_micros).label("s"))
        .group_by(invoice_lines.c.invoice_id)
        .subquery()
    )
    ledger_sum = func.coalesce(ledger.c.s, 0)
    lines_sum = func.coalesce(lines.c.s, 0)
    query = (
        select(invoices.c.id, invoices.c.month, invoices.c.total_micros, ledger_sum, lines_sum)
        .outerjoin(ledger, ledger.c.invoice_id == invoices.c.id)
        .outerjoin(lines, lines.c.invoice_id == invoices.c.id)
        .where((ledger_sum != invoices.c.total_micros) | (lines_sum != invoices.c.total_micros))
        .order_by(invoices.c.id)
    )
    return [(i, m, int(t), int(ls), int(li)) for i, m, t, ls, li in conn.execute(query)]


def unbilled_ledger_micros(conn: Connection) -> int:
    """Ledger money on no invoice (there should be none: each entry is written with one)."""
    query = select(func.coalesce(func.sum(ledger_entries.c.amount_micros), 0)).where(
        ledger_entries.c.invoice_id.is_(None)
    )
    return int(conn.execute(query).scalar_one())


def billed_by_month(conn: Connection) -> dict[str, dict[str, int]]:
    """month → {"gpu": net GPU revenue after credits, "tokens": token revenue} (micros)."""
    is_tokens = invoice_lines.c.kind == "tokens"
    query = (
        select(invoices.c.month, is_tokens, func.sum(invoice_lines.c.amount_micros))
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .group_by(invoices.c.month, is_tokens)
    )
    billed: dict[str, dict[str, int]] = {}
    for month, tokens, amount in conn.execute(query):
        billed.setdefault(month, {"gpu": 0, "tokens": 0})["tokens" if tokens else "gpu"] += int(
            amount
        )
    return billed


def metered_span(conn: Connection) -> tuple[datetime, datetime] | None:
    """The first metered hour and the end of the last one (hours are whole)."""
    u = lease_usage_hours
    first, last = conn.execute(select(func.min(u.c.hour_start), func.max(u.c.hour_start))).one()
    if first is None:
        return None
    return to_utc(first), to_utc(last) + timedelta(hours=1)


def lease_request_ids(conn: Connection) -> set[str]:
    """Requests that became leases (their revenue is the lease's, not counted twice)."""
    query = select(leases.c.request_id).where(leases.c.request_id.is_not(None))
    return set(conn.execute(query).scalars())


def lease_holders(conn: Connection) -> dict[str, tuple[str, int, str]]:
    """Lease id, and the id of the request it was signed from, → (lease id, tenant id, GPU
    model)."""
    found: dict[str, tuple[str, int, str]] = {}
    for lease_id, request_id, tenant_id, model in conn.execute(
        select(leases.c.id, leases.c.request_id, leases.c.tenant_id, leases.c.gpu_model)
    ):
        found[lease_id] = (lease_id, int(tenant_id), model)
        if request_id is not None:
            found[request_id] = (lease_id, int(tenant_id), model)
    return found
