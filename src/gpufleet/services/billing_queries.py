"""Reading billing: usage between two instants, invoices, credit tiers, reconciliation.

A tenant sees only its own usage and invoices; another tenant's invoice answers exactly
like a missing one. Credit tiers are set by the operator; a tenant may read its lease's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import access as access_repo
from gpufleet.adapters.db.repos import billing as repo
from gpufleet.adapters.db.repos import events
from gpufleet.adapters.db.repos import plans as plans_repo
from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.billing import DEFAULT_TIERS, CreditTier, Month, validate_tiers
from gpufleet.billing.invoice import Invoice
from gpufleet.billing.reconcile import PlannedRental, planned_by_month
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import InvalidInput, Issue, NotFound
from gpufleet.domain.events import NewEvent
from gpufleet.domain.timeutil import to_utc
from gpufleet.services import billing_adjust
from gpufleet.services.billing import parse_month
from gpufleet.services.database import Database


@dataclass(frozen=True)
class LeaseUsage:
    lease_id: str
    tenant: str
    gpu_model: str
    rental_class: str
    promised_seconds: int
    delivered_seconds: int
    shortfall_seconds: int
    hours: int


@dataclass(frozen=True)
class TokenUsage:
    tenant: str
    model: str
    key_id: str
    input_tokens: int
    output_tokens: int
    requests: int


@dataclass(frozen=True)
class Usage:
    start: datetime
    end: datetime
    leases: list[LeaseUsage]
    tokens: list[TokenUsage]


def _scope(db: Database, caller: Principal, tenant: str | None) -> int | None:
    """The tenant id to filter on: a tenant always itself; the operator a named tenant or
    everyone. A tenant naming another tenant gets the answer for a missing one."""
    if not caller.is_operator:
        if tenant is not None and tenant != caller.tenant_name:
            raise NotFound.of("tenant", tenant)
        return caller.tenant_id if caller.tenant_id is not None else -1
    if tenant is None:
        return None
    with db.read() as conn:
        found = access_repo.tenant_by_name(conn, tenant)
    if found is None:
        raise NotFound.of("tenant", tenant)
    return found.id


def usage_between(
    db: Database,
    caller: Principal,
    start: datetime | None,
    end: datetime | None,
    tenant: str | None,
) -> Usage:
    """Usage in [start, end); by default the month of `start`, or this month. Times without
    a zone are UTC."""
    start = None if start is None else to_utc(start)
    end = None if end is None else to_utc(end)
    if start is None:
        start = Month.of(end or db.clock()).start
    end = end or Month.of(start).end
    if end <= start:
        raise InvalidInput("usage window is invalid", [Issue("to", "must be after from")])
    scope = _scope(db, caller, tenant)
    with db.read() as conn:
        leases = [
            LeaseUsage(
                r.lease_id,
                r.tenant,
                r.gpu_model,
                r.rental_class,
                int(r.promised),
                int(r.delivered),
                int(r.shortfall),
                int(r.hours),
            )
            for r in repo.lease_usage_between(conn, start, end, scope)
        ]
        tokens = [
            TokenUsage(
                r.tenant,
                r.model,
                r.key_id,
                int(r.input_tokens),
                int(r.output_tokens),
                int(r.requests),
            )
            for r in repo.token_usage_between(conn, start, end, scope)
        ]
    return Usage(start, end, leases, tokens)


def get_invoice(db: Database, caller: Principal, invoice_id: str) -> Invoice:
    scope = None if caller.is_operator else caller.tenant_id
    with db.read() as conn:
        found = repo.get_invoice(conn, invoice_id, scope)
    if found is None:
        raise NotFound.of("invoice", invoice_id)
    return found


def list_invoices(
    db: Database,
    caller: Principal,
    *,
    month: str | None,
    tenant: str | None,
    after: str | None,
    limit: int,
) -> list[Invoice]:
    if month is not None:
        month = str(parse_month(month))
    scope = _scope(db, caller, tenant)
    with db.read() as conn:
        return repo.invoice_page(conn, tenant_id=scope, month=month, after=after, limit=limit)


@dataclass(frozen=True)
class LeaseTiers:
    lease_id: str
    tiers: tuple[CreditTier, ...]
    default: bool  # the lease has no tiers of its own


def get_tiers(db: Database, caller: Principal, lease_id: str) -> LeaseTiers:
    scope = None if caller.is_operator else caller.tenant_id
    with db.read() as conn:
        if repo.lease_tenant(conn, lease_id, scope) is None:
            raise NotFound.of("lease", lease_id)
        own = repo.tiers_by_lease(conn).get(lease_id)
    return LeaseTiers(lease_id, own or DEFAULT_TIERS, own is None)


def set_tiers(
    db: Database, caller: Principal, lease_id: str, tiers: list[CreditTier] | None
) -> LeaseTiers:
    """Give a lease its contract's SLA credit tiers (operator); None restores the default.
    Months already closed keep the tiers they were invoiced with."""
    caller.require_operator()
    problems = validate_tiers(tiers or [])
    if problems:
        raise InvalidInput("credit tiers are invalid", [Issue(p, m) for p, m in problems])
    with db.write() as conn:
        tenant_id = repo.lease_tenant(conn, lease_id, None)
        if tenant_id is None:
            raise NotFound.of("lease", lease_id)
        repo.replace_tiers(conn, lease_id, tiers or [], db.clock())
        data = {"tiers": [[t.below_ppm, t.credit_ppm] for t in tiers or []]}
        events.append(
            conn, [NewEvent("lease.credit_tiers_set", lease_id, tenant_id, data)], db.clock()
        )
    return get_tiers(db, caller, lease_id)


@dataclass(frozen=True)
class MonthRevenue:
    month: str
    planned_micros: int | None  # None: no finished plan to compare with
    billed_gpu_micros: int  # charges less SLA credits
    billed_tokens_micros: int


@dataclass(frozen=True)
class Mismatch:
    invoice_id: str
    month: str
    invoice_micros: int
    ledger_micros: int
    lines_micros: int


@dataclass(frozen=True)
class LateUsage:
    """Usage of a closed month on no invoice yet: what `billing adjust` would bill now."""

    month: str
    tenants: int
    usage_rows: int  # lease hours and gateway requests
    amount_micros: int


@dataclass(frozen=True)
class Reconciliation:
    plan_id: str | None
    months: list[MonthRevenue]
    mismatches: list[Mismatch] = field(default_factory=list)
    unbilled_ledger_micros: int = 0
    late: list[LateUsage] = field(default_factory=list)

    @property
    def ledger_matches_invoices(self) -> bool:
        return not self.mismatches and self.unbilled_ledger_micros == 0


def reconcile(db: Database, caller: Principal) -> Reconciliation:
    """Planned against billed revenue per billed month; ledger against invoice totals."""
    caller.require_operator()
    with db.read() as conn:
        billed = repo.billed_by_month(conn)
        names = sorted(set(billed) | set(repo.closed_months(conn)))
        months = [Month.parse(m) for m in names]
        plan_id, planned = _planned(conn, months)
        mismatches = [Mismatch(*row) for row in repo.ledger_against_invoices(conn)]
        unbilled = repo.unbilled_ledger_micros(conn)
        closed = repo.closed_months(conn)
    rows = [
        MonthRevenue(
            m,
            None if planned is None else planned[m],
            billed.get(m, {}).get("gpu", 0),
            billed.get(m, {}).get("tokens", 0),
        )
        for m in names
    ]
    return Reconciliation(plan_id, rows, mismatches, unbilled, _late(db, closed))


def _late(db: Database, closed: list[str]) -> list[LateUsage]:
    """Closed months with usage no invoice has (not a ledger difference: not billed yet)."""
    found = []
    for month in closed:
        bills = billing_adjust.pending(db, Month.parse(month))
        lines = [line for bill in bills for line in bill.rated]
        if lines:
            rows = sum(line.usage_rows for line in lines if line.kind != "sla_credit")
            amount = sum(line.amount_micros for line in lines)
            found.append(LateUsage(month, len(bills), rows, amount))
    return found


def _planned(conn: Connection, months: list[Month]) -> tuple[str | None, dict[str, int] | None]:
    """The latest finished plan's accepted requests plus the signed leases, per month."""
    latest = next((j for j in plans_repo.page(conn, None, 1000) if j.status == "done"), None)
    if latest is None or latest.result is None:
        return None, None
    accepted = {d["id"] for d in latest.result.get("decisions", []) if d.get("accepted")}
    requests = rentals_repo.page(
        conn, "request", tenant_id=None, status=None, after=None, limit=1_000_000
    )
    leases = rentals_repo.page(
        conn, "lease", tenant_id=None, status=None, after=None, limit=1_000_000
    )
    signed = repo.lease_request_ids(conn)  # accepted since: billed as the lease
    chosen = [r for r in requests if r.id in accepted and r.id not in signed] + leases
    rentals = [PlannedRental(r.gpus, r.start, r.end, r.price_micros) for r in chosen]
    return latest.id, planned_by_month(rentals, months)
