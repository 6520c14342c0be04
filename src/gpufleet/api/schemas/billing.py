"""Billing: month closes, usage, invoices, SLA credit tiers, reconciliation.

Money is given twice: `*_micros` (exact integers, what the ledger holds) and `*_usd`
(numbers of dollars, for reading)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from gpufleet.api.schemas.common import ApiModel
from gpufleet.billing import CreditTier, Month
from gpufleet.billing.invoice import Invoice, InvoiceLine
from gpufleet.billing.rating import SECONDS_PER_HOUR
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.domain.money import micros_to_float_usd
from gpufleet.services.billing import CloseResult
from gpufleet.services.billing_adjust import AdjustResult
from gpufleet.services.billing_queries import LeaseTiers, Reconciliation, Usage


def _hours(seconds: int) -> float:
    return seconds / SECONDS_PER_HOUR


class CloseMonthIn(ApiModel):
    month: str = Field(
        max_length=20, description="YYYY-MM, a calendar month in UTC", examples=["2027-01"]
    )


class CloseMonthOut(ApiModel):
    month: str
    already_closed: bool = Field(description="closed before: nothing was written this time")
    invoices_written: int
    invoice_ids: list[str]

    @classmethod
    def of(cls, result: CloseResult) -> CloseMonthOut:
        return cls(
            month=result.month,
            already_closed=result.already_closed,
            invoices_written=result.invoices_written,
            invoice_ids=result.invoice_ids,
        )


class AdjustMonthOut(ApiModel):
    month: str
    invoice_ids: list[str] = Field(
        description="invoices written by this call: adjustments (`-A<n>`), or the month's own "
        "for a tenant whose usage all came after the close"
    )
    total_micros: int = Field(description="their totals summed; negative: more credited")
    total_usd: float

    @classmethod
    def of(cls, result: AdjustResult) -> AdjustMonthOut:
        return cls(
            month=result.month,
            invoice_ids=result.invoice_ids,
            total_micros=result.total_micros,
            total_usd=micros_to_float_usd(result.total_micros),
        )


class AdjustOut(ApiModel):
    months: list[AdjustMonthOut]


class LeaseUsageOut(ApiModel):
    lease_id: str
    tenant: str
    gpu_model: str
    rental_class: str
    hours: int = Field(description="hourly usage rows in the window")
    promised_gpu_seconds: int
    delivered_gpu_seconds: int
    shortfall_gpu_seconds: int
    promised_gpu_hours: float
    delivered_gpu_hours: float
    shortfall_gpu_hours: float
    availability: float | None = Field(description="delivered / promised; null if none promised")


class TokenUsageOut(ApiModel):
    tenant: str
    model: str
    key_id: str
    input_tokens: int
    output_tokens: int
    requests: int


class UsageOut(ApiModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    leases: list[LeaseUsageOut]
    tokens: list[TokenUsageOut]

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        leases = [
            LeaseUsageOut(
                lease_id=u.lease_id,
                tenant=u.tenant,
                gpu_model=u.gpu_model,
                rental_class=u.rental_class,
                hours=u.hours,
                promised_gpu_seconds=u.promised_seconds,
                delivered_gpu_seconds=u.delivered_seconds,
                shortfall_gpu_seconds=u.shortfall_seconds,
                promised_gpu_hours=_hours(u.promised_seconds),
                delivered_gpu_hours=_hours(u.delivered_seconds),
                shortfall_gpu_hours=_hours(u.shortfall_seconds),
                availability=u.delivered_seconds / u.promised_seconds
                if u.promised_seconds
                else None,
            )
            for u in usage.leases
        ]
        tokens = [
            TokenUsageOut(
                tenant=t.tenant,
                model=t.model,
                key_id=t.key_id,
                input_tokens=t.input_tokens,
                output_tokens=t.output_tokens,
                requests=t.requests,
            )
            for t in usage.tokens
        ]
        return cls.model_validate(
            {"from": usage.start, "to": usage.end, "leases": leases, "tokens": tokens}
        )


class InvoiceLineOut(ApiModel):
    line_no: int
    kind: str = Field(description="gpu_reserved | gpu_interruptible | sla_credit | tokens")
    description: str
    lease_id: str | None
    model: str | None
    quantity: int = Field(description="GPU-seconds, or tokens")
    unit_price_micros: int = Field(description="per GPU-hour, or per million input tokens")
    amount_micros: int = Field(description="charges positive, credits negative")
    amount_usd: float
    ledger_key: str = Field(description="idempotency key of the ledger entry of this line")
    usage: dict[str, Any] = Field(description="the usage rows this line was rated from")
    detail: dict[str, Any]

    @classmethod
    def of(cls, invoice: Invoice, line: InvoiceLine) -> InvoiceLineOut:
        month = Month.parse(invoice.month)
        window = {
            "from": month.start.isoformat(),
            "to": month.end.isoformat(),
            "rows": line.usage_rows,
        }
        if invoice.adjustment:
            # The window's rows that no earlier invoice of the month had (ADR 0013).
            window["not_on_invoices_before"] = invoice.id
        if line.kind == "tokens":
            usage = {
                "table": "token_usage",
                "tenant": invoice.tenant,
                "model": line.model,
                "input_price_micros": line.detail.get("input_price_micros"),
                "output_price_micros": line.detail.get("output_price_micros"),
                **window,
            }
        else:
            usage = {"table": "lease_usage_hours", "lease_id": line.lease_id, **window}
        return cls(
            line_no=line.line_no,
            kind=line.kind,
            description=line.description,
            lease_id=line.lease_id,
            model=line.model,
            quantity=line.quantity,
            unit_price_micros=line.unit_price_micros,
            amount_micros=line.amount_micros,
            amount_usd=micros_to_float_usd(line.amount_micros),
            ledger_key=line.ledger_key,
            usage=usage,
            detail=line.detail,
        )


class InvoiceSummaryOut(ApiModel):
    id: str
    tenant: str
    month: str
    adjustment: int = Field(
        description="0: the month's invoice; n: its n-th adjustment, billing usage metered "
        "after the month was closed"
    )
    adjusts: str | None = Field(description="the month's invoice this adjustment adds to")
    issued_at: datetime
    charges_micros: int
    credits_micros: int = Field(description="SLA credits taken off the charges (positive)")
    total_micros: int
    charges_usd: float
    credits_usd: float
    total_usd: float

    @classmethod
    def fields_of(cls, invoice: Invoice) -> dict[str, Any]:
        t = invoice.totals
        return {
            "id": invoice.id,
            "tenant": invoice.tenant,
            "month": invoice.month,
            "adjustment": invoice.adjustment,
            "adjusts": invoice.adjusts,
            "issued_at": invoice.issued_at,
            "charges_micros": t.charges_micros,
            "credits_micros": t.credits_micros,
            "total_micros": t.total_micros,
            "charges_usd": micros_to_float_usd(t.charges_micros),
            "credits_usd": micros_to_float_usd(t.credits_micros),
            "total_usd": micros_to_float_usd(t.total_micros),
        }

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceSummaryOut:
        return cls(**cls.fields_of(invoice))


class InvoiceOut(InvoiceSummaryOut):
    lines: list[InvoiceLineOut]

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        lines = [InvoiceLineOut.of(invoice, line) for line in invoice.lines]
        return cls(**InvoiceSummaryOut.fields_of(invoice), lines=lines)


class CreditTierIn(ApiModel):
    below_percent: Decimal = Field(gt=0, le=100, description="monthly availability below this…")
    credit_percent: Decimal = Field(ge=0, le=100, description="…gives back this share of the month")


class CreditTiersIn(ApiModel):
    tiers: list[CreditTierIn] | None = Field(
        max_length=100, description="the contract's tiers; null or [] restores the default"
    )

    def to_tiers(self) -> list[CreditTier] | None:
        if not self.tiers:
            return None
        issues = [
            Issue(f"tiers[{k}].{name}", "at most 4 decimal places")
            for k, tier in enumerate(self.tiers)
            for name in ("below_percent", "credit_percent")
            if (getattr(tier, name) * 10_000) % 1 != 0
        ]
        if issues:
            raise InvalidInput("credit tiers are invalid", issues)
        return [
            CreditTier(int(t.below_percent * 10_000), int(t.credit_percent * 10_000))
            for t in self.tiers
        ]


class CreditTierOut(ApiModel):
    below_percent: float
    credit_percent: float


class CreditTiersOut(ApiModel):
    lease_id: str
    default: bool = Field(description="the lease has no tiers of its own: the default applies")
    tiers: list[CreditTierOut]

    @classmethod
    def of(cls, found: LeaseTiers) -> CreditTiersOut:
        tiers = [
            CreditTierOut(below_percent=t.below_ppm / 10_000, credit_percent=t.credit_ppm / 10_000)
            for t in found.tiers
        ]
        return cls(lease_id=found.lease_id, default=found.default, tiers=tiers)


class MonthRevenueOut(ApiModel):
    month: str
    planned_usd: float | None
    billed_gpu_usd: float = Field(description="GPU charges less SLA credits")
    billed_tokens_usd: float
    difference_usd: float | None = Field(description="billed GPU revenue − planned")


class MismatchOut(ApiModel):
    invoice_id: str
    month: str
    invoice_total_usd: float
    ledger_usd: float
    lines_usd: float


class LateUsageOut(ApiModel):
    month: str
    tenants: int
    usage_rows: int = Field(description="lease hours and gateway requests on no invoice")
    amount_micros: int = Field(description="what `billing adjust` would bill for them now")
    amount_usd: float


class ReconcileOut(ApiModel):
    plan_id: str | None = Field(description="the latest finished plan compared with")
    months: list[MonthRevenueOut]
    mismatches: list[MismatchOut]
    unbilled_ledger_usd: float
    ledger_matches_invoices: bool
    unbilled_late_usage: list[LateUsageOut] = Field(
        description="closed months with usage metered after the close, not yet adjusted"
    )

    @classmethod
    def of(cls, r: Reconciliation) -> ReconcileOut:
        usd = micros_to_float_usd
        months = [
            MonthRevenueOut(
                month=m.month,
                planned_usd=None if m.planned_micros is None else usd(m.planned_micros),
                billed_gpu_usd=usd(m.billed_gpu_micros),
                billed_tokens_usd=usd(m.billed_tokens_micros),
                difference_usd=None
                if m.planned_micros is None
                else usd(m.billed_gpu_micros - m.planned_micros),
            )
            for m in r.months
        ]
        mismatches = [
            MismatchOut(
                invoice_id=x.invoice_id,
                month=x.month,
                invoice_total_usd=usd(x.invoice_micros),
                ledger_usd=usd(x.ledger_micros),
                lines_usd=usd(x.lines_micros),
            )
            for x in r.mismatches
        ]
        return cls(
            plan_id=r.plan_id,
            months=months,
            mismatches=mismatches,
            unbilled_ledger_usd=usd(r.unbilled_ledger_micros),
            ledger_matches_invoices=r.ledger_matches_invoices,
            unbilled_late_usage=[
                LateUsageOut(
                    month=x.month,
                    tenants=x.tenants,
                    usage_rows=x.usage_rows,
                    amount_micros=x.amount_micros,
                    amount_usd=usd(x.amount_micros),
                )
                for x in r.late
            ],
        )
