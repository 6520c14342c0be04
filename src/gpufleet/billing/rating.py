"""Rating: usage and contract terms → invoice lines, in exact integer micro-dollars.

- reserved: billed for the promised GPU-seconds at the contract price, then an SLA credit
  line (a share of that charge, by the lease's tiers) when availability fell short;
- interruptible: billed only for the delivered GPU-seconds, no SLA credit (nothing was
  promised beyond what ran);
- tokens: input and output tokens at the per-million prices recorded with each request.
Each line's amount is rounded half down once (`arith.round_half_down`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpufleet.billing.arith import PPM, round_half_down
from gpufleet.billing.credits import DEFAULT_TIERS, CreditTier, credit_ppm

SECONDS_PER_HOUR = 3600
TOKENS_PER_PRICE_UNIT = 1_000_000  # token prices are per million tokens


@dataclass(frozen=True)
class LeaseMonthUsage:
    """One lease's hourly usage rows of one month, summed (GPU-seconds)."""

    lease_id: str
    tenant_id: int
    gpu_model: str
    rental_class: str
    price_micros: int  # per GPU-hour
    promised_seconds: int
    delivered_seconds: int
    shortfall_seconds: int
    hours: int  # usage rows summed
    tiers: tuple[CreditTier, ...] | None = None  # None: the default tiers


@dataclass(frozen=True)
class TokenUsageGroup:
    """A tenant's gateway requests of one month for one model at one pair of prices."""

    tenant_id: int
    model: str
    input_price_micros: int  # per million tokens
    output_price_micros: int
    input_tokens: int
    output_tokens: int
    requests: int


@dataclass(frozen=True)
class RatedLine:
    key: str  # unique within a tenant's month; part of the ledger's idempotency key
    kind: str  # gpu_reserved | gpu_interruptible | sla_credit | tokens
    description: str
    amount_micros: int  # charges positive, credits negative
    quantity: int  # GPU-seconds or tokens
    unit_price_micros: int  # per GPU-hour, or per million tokens (input for token lines)
    usage_rows: int
    lease_id: str | None = None
    model: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def rate_lease_month(usage: LeaseMonthUsage) -> list[RatedLine]:
    if usage.rental_class == "interruptible":
        return [_interruptible(usage)]
    if usage.rental_class == "reserved":
        charge = _reserved(usage)
        credit = _credit(usage, charge)
        return [charge] if credit is None else [charge, credit]
    raise ValueError(f"lease {usage.lease_id}: unknown rental class {usage.rental_class!r}")


def hours_text(seconds: int) -> str:
    return f"{seconds / SECONDS_PER_HOUR:,.2f} GPU-h"


def _usage_detail(usage: LeaseMonthUsage) -> dict[str, Any]:
    return {
        "promised_gpu_seconds": usage.promised_seconds,
        "delivered_gpu_seconds": usage.delivered_seconds,
        "shortfall_gpu_seconds": usage.shortfall_seconds,
        "hours": usage.hours,
    }


def _reserved(usage: LeaseMonthUsage) -> RatedLine:
    # The tiers this month is billed with: an adjustment for late rows re-rates the month
    # with them, even if the lease's tiers were changed since (ADR 0013).
    tiers = DEFAULT_TIERS if usage.tiers is None else usage.tiers
    recorded = {"tiers_ppm": [[t.below_ppm, t.credit_ppm] for t in tiers]}
    return _charge(usage, "reserved", usage.promised_seconds, "promised", recorded)


def _interruptible(usage: LeaseMonthUsage) -> RatedLine:
    return _charge(usage, "interruptible", usage.delivered_seconds, "delivered")


def _charge(
    usage: LeaseMonthUsage,
    rental_class: str,
    billed_seconds: int,
    what: str,
    extra: dict[str, Any] | None = None,
) -> RatedLine:
    """The lease's charge for `billed_seconds` GPU-seconds at its price, one rounding a line."""
    amount = round_half_down(billed_seconds * usage.price_micros, SECONDS_PER_HOUR)
    return RatedLine(
        key=f"lease:{usage.lease_id}:charge",
        kind=f"gpu_{rental_class}",
        description=f"{usage.lease_id}: {rental_class} {usage.gpu_model}, "
        f"{hours_text(billed_seconds)} {what}",
        amount_micros=amount,
        quantity=billed_seconds,
        unit_price_micros=usage.price_micros,
        usage_rows=usage.hours,
        lease_id=usage.lease_id,
        model=usage.gpu_model,
        detail={**_usage_detail(usage), **(extra or {})},
    )


def availability_text(delivered: int, promised: int) -> str:
    if promised == 0:
        return "100%"
    return f"{100 * delivered / promised:.3f}%"


def _credit(usage: LeaseMonthUsage, charge: RatedLine) -> RatedLine | None:
    tiers: Sequence[CreditTier] = DEFAULT_TIERS if usage.tiers is None else usage.tiers
    share = credit_ppm(usage.delivered_seconds, usage.promised_seconds, tiers)
    amount = round_half_down(charge.amount_micros * share, PPM)
    if share == 0 or amount == 0:
        return None
    availability = availability_text(usage.delivered_seconds, usage.promised_seconds)
    return RatedLine(
        key=f"lease:{usage.lease_id}:sla_credit",
        kind="sla_credit",
        description=f"{usage.lease_id}: SLA credit {share / 10_000:g}% "
        f"(availability {availability})",
        amount_micros=-amount,
        quantity=usage.shortfall_seconds,
        unit_price_micros=usage.price_micros,
        usage_rows=usage.hours,
        lease_id=usage.lease_id,
        model=usage.gpu_model,
        detail={
            **_usage_detail(usage),
            "credit_ppm": share,
            "charge_micros": charge.amount_micros,
            "tiers": "default" if usage.tiers is None else "contract",
        },
    )


def rate_tokens(group: TokenUsageGroup) -> RatedLine:
    exact = (
        group.input_tokens * group.input_price_micros
        + group.output_tokens * group.output_price_micros
    )
    return RatedLine(
        key=f"tokens:{group.model}:{group.input_price_micros}:{group.output_price_micros}",
        kind="tokens",
        description=f"{group.model}: {group.input_tokens:,} input and "
        f"{group.output_tokens:,} output tokens",
        amount_micros=round_half_down(exact, TOKENS_PER_PRICE_UNIT),
        quantity=group.input_tokens + group.output_tokens,
        unit_price_micros=group.input_price_micros,
        usage_rows=group.requests,
        model=group.model,
        detail={
            "input_tokens": group.input_tokens,
            "output_tokens": group.output_tokens,
            "input_price_micros": group.input_price_micros,
            "output_price_micros": group.output_price_micros,
            "requests": group.requests,
        },
    )
