"""Test data for billing, written the way operations and the gateway write it (one usage
row per lease and clock hour; one token row per request), and an independent recomputation
of what an invoice must say, in exact fractions, not through `gpufleet.billing`."""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import httpx
from sqlalchemy import insert, select

from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.adapters.db.tables import gpu_models, leases
from gpufleet.adapters.db.tables_hosting import token_usage
from gpufleet.adapters.db.tables_operations import lease_usage_hours
from gpufleet.domain.rentals import Rental
from gpufleet.domain.timeutil import to_utc
from gpufleet.services.database import Database


@dataclass(frozen=True)
class Hour:
    lease_id: str
    tenant_id: int
    hour_start: datetime
    promised: int
    delivered: int


@dataclass(frozen=True)
class Tokens:
    tenant_id: int
    model: str
    input_tokens: int
    output_tokens: int
    input_price: int
    output_price: int
    at: datetime


def ensure_gpu_model(db: Database, name: str = "H100") -> None:
    with db.write() as conn:
        if conn.execute(gpu_models.select().where(gpu_models.c.name == name)).first() is None:
            conn.execute(insert(gpu_models), [{"name": name, "relative_throughput": 1.0}])


def add_lease(
    db: Database, tenant_id: int, tenant: str, lease_id: str, *, rental_class: str = "reserved",
    price_micros: int = 2_500_000, gpus: int = 8, start: datetime | None = None,
    end: datetime | None = None,
) -> Rental:  # fmt: skip
    start = start or datetime(2025, 1, 1, tzinfo=UTC)
    lease = Rental(
        id=lease_id, tenant_id=tenant_id, tenant=tenant, gpu_model="H100", gpus=gpus,
        start=start, end=end or start + timedelta(days=365), price_micros=price_micros,
        rental_class=rental_class, notice_hours=24 if rental_class == "interruptible" else 0,
        contiguous=False, status="signed", created_at=start,
    )  # fmt: skip
    with db.write() as conn:
        rentals_repo.add(conn, "lease", [lease])
    return lease


def add_hours(db: Database, hours: list[Hour], gpu_model: str = "H100") -> None:
    rows = [
        {"lease_id": h.lease_id, "hour_start": h.hour_start, "tenant_id": h.tenant_id,
         "gpu_model": gpu_model, "promised_gpu_seconds": h.promised,
         "delivered_gpu_seconds": h.delivered, "shortfall_gpu_seconds": h.promised - h.delivered}
        for h in hours
    ]  # fmt: skip
    with db.write() as conn:
        if rows:
            conn.execute(insert(lease_usage_hours), rows)


def add_tokens(db: Database, requests: list[Tokens]) -> None:
    rows = [
        {"request_id": secrets.token_hex(16), "at": t.at, "tenant_id": t.tenant_id,
         "key_id": "key_test", "model": t.model, "deployment": f"{t.model}-d",
         "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
         "input_price_micros": t.input_price, "output_price_micros": t.output_price}
        for t in requests
    ]  # fmt: skip
    with db.write() as conn:
        if rows:
            conn.execute(insert(token_usage), rows)


def stored_usage(db: Database) -> tuple[list[Hour], dict[str, Rental]]:
    """Every usage row as written (by operations, say) and every lease, to recompute from."""
    with db.read() as conn:
        usage = conn.execute(select(lease_usage_hours)).all()
        stored = rentals_repo.page(
            conn, "lease", tenant_id=None, status=None, after=None, limit=1000
        )
    hours = [
        Hour(u.lease_id, u.tenant_id, to_utc(u.hour_start), u.promised_gpu_seconds,
             u.delivered_gpu_seconds)
        for u in usage
    ]  # fmt: skip
    return hours, {lease.id: lease for lease in stored}


def month_hours(
    lease_id: str, tenant_id: int, year: int, month: int, gpus: int, lost: dict[int, int]
) -> list[Hour]:
    """Every hour of a month for a lease of `gpus` GPUs; `lost[h]` GPU-seconds short in hour h."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    count = int((end - start).total_seconds()) // 3600
    return [
        Hour(lease_id, tenant_id, start + timedelta(hours=h), gpus * 3600,
             gpus * 3600 - lost.get(h, 0))
        for h in range(count)
    ]  # fmt: skip


def half_down(value: Fraction) -> int:
    return math.ceil(value - Fraction(1, 2))


DEFAULT = [(Fraction(995, 1000), Fraction(10, 100)), (Fraction(99, 100), Fraction(30, 100)),
           (Fraction(95, 100), Fraction(1))]  # fmt: skip


def expected_totals(
    hours: list[Hour], tokens: list[Tokens], leases: dict[str, Rental], month: tuple[int, int],
    tiers: dict[str, list[tuple[Fraction, Fraction]]] | None = None,
) -> dict[int, tuple[int, int]]:  # fmt: skip
    """tenant id → (charges, credits) in micro-dollars, from the rows alone."""
    first = datetime(month[0], month[1], 1, tzinfo=UTC)
    after = datetime(month[0] + month[1] // 12, month[1] % 12 + 1, 1, tzinfo=UTC)
    promised: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    for h in hours:
        if first <= h.hour_start < after:
            promised[h.lease_id] += h.promised
            delivered[h.lease_id] += h.delivered
    result: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for lease_id in promised:
        lease = leases[lease_id]
        if lease.rental_class == "interruptible":
            result[lease.tenant_id][0] += half_down(
                Fraction(delivered[lease_id] * lease.price_micros, 3600)
            )
            continue
        charge = half_down(Fraction(promised[lease_id] * lease.price_micros, 3600))
        result[lease.tenant_id][0] += charge
        availability = (
            Fraction(delivered[lease_id], promised[lease_id]) if promised[lease_id] else Fraction(1)
        )
        share = max(
            (c for below, c in (tiers or {}).get(lease_id, DEFAULT) if availability < below),
            default=Fraction(0),
        )
        result[lease.tenant_id][1] += half_down(charge * share)
    groups: dict[tuple[int, str, int, int], list[int]] = defaultdict(lambda: [0, 0])
    for t in tokens:
        if first <= t.at < after:
            g = groups[(t.tenant_id, t.model, t.input_price, t.output_price)]
            g[0] += t.input_tokens
            g[1] += t.output_tokens
    for (tenant_id, _model, pin, pout), (tin, tout) in groups.items():
        result[tenant_id][0] += half_down(Fraction(tin * pin + tout * pout, 1_000_000))
    return {tenant: (c, cr) for tenant, (c, cr) in result.items()}


def invoice_of_lease(db: Database, operator: httpx.Client, lease_id: str) -> str:
    """One hour of usage for an existing lease in January 2026, that month closed through
    the API: the id of the lease's tenant's invoice."""
    with db.read() as conn:
        tenant_id = conn.execute(
            select(leases.c.tenant_id).where(leases.c.id == lease_id)
        ).scalar_one()
    add_hours(db, [Hour(lease_id, tenant_id, datetime(2026, 1, 1, tzinfo=UTC), 3600, 3000)])
    response = operator.post("/v1/billing/close-month", json={"month": "2026-01"})
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["invoice_ids"]
    assert len(ids) == 1
    return ids[0]
