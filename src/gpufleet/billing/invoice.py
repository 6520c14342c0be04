"""Invoices as documents: per tenant and calendar month, lines, credits and totals."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gpufleet.billing.months import Month
from gpufleet.billing.rating import RatedLine
from gpufleet.domain.money import micros_to_usd


@dataclass(frozen=True)
class InvoiceLine:
    line_no: int
    key: str
    kind: str
    description: str
    amount_micros: int
    quantity: int
    unit_price_micros: int
    usage_rows: int
    ledger_key: str  # the ledger entry this line is (idempotency key)
    lease_id: str | None = None
    model: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Totals:
    charges_micros: int
    credits_micros: int  # a positive amount taken off the charges

    @property
    def total_micros(self) -> int:
        return self.charges_micros - self.credits_micros


@dataclass(frozen=True)
class Invoice:
    id: str
    tenant_id: int
    tenant: str
    month: str
    issued_at: datetime
    totals: Totals
    lines: tuple[InvoiceLine, ...] = ()
    adjustment: int = 0  # 0: the month's invoice; n: its n-th adjustment (late usage)

    @property
    def adjusts(self) -> str | None:
        """The month's invoice this one adjusts (None for the month's invoice itself)."""
        return self.id.rsplit("-A", 1)[0] if self.adjustment else None


def invoice_id(month: Month, tenant_id: int) -> str:
    """The same id every time a month is closed for a tenant: closing twice, or after a
    crash, can only ever name the same invoice."""
    digest = hashlib.sha256(f"{month}:{tenant_id}".encode()).hexdigest()[:12]
    return f"inv-{month.year:04d}{month.month:02d}-{digest}"


def adjustment_id(month: Month, tenant_id: int, adjustment: int) -> str:
    """The n-th adjustment of a tenant's month: the month's invoice id + `-A<n>`. Only one
    writer can ever create a given number, so concurrent adjusters cannot both bill."""
    base = invoice_id(month, tenant_id)
    return f"{base}-A{adjustment}" if adjustment else base


def ledger_key(month: Month, tenant_id: int, line_key: str, adjustment: int = 0) -> str:
    if adjustment:
        return f"{month}:{tenant_id}:A{adjustment}:{line_key}"
    return f"{month}:{tenant_id}:{line_key}"


def totals_of(amounts: Sequence[int]) -> Totals:
    charges = sum(a for a in amounts if a > 0)
    credits = -sum(a for a in amounts if a < 0)
    return Totals(charges, credits)


def numbered(
    month: Month, tenant_id: int, rated: Sequence[RatedLine], adjustment: int = 0
) -> list[InvoiceLine]:
    """Lines in a stable order (by key), numbered from 1, each named by its ledger key."""
    ordered = sorted(rated, key=lambda r: r.key)
    return [
        InvoiceLine(
            line_no=k,
            key=r.key,
            kind=r.kind,
            description=r.description,
            amount_micros=r.amount_micros,
            quantity=r.quantity,
            unit_price_micros=r.unit_price_micros,
            usage_rows=r.usage_rows,
            ledger_key=ledger_key(month, tenant_id, r.key, adjustment),
            lease_id=r.lease_id,
            model=r.model,
            detail=dict(r.detail),
        )
        for k, r in enumerate(ordered, start=1)
    ]


def usd_text(micros: int) -> str:
    """Exact dollars with six decimals: `1234.500000` (CSV and HTML; never a float)."""
    return f"{micros_to_usd(micros).quantize(Decimal('0.000001'))}"
