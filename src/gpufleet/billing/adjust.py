"""Adjustments: usage metered after its month was closed, billed as the difference it makes.

Usage rows are only ever added (operations and the gateway insert, never update), and every
invoice line records the sums of the rows it was rated from (`detail`). So for each lease
and each token group of a closed month, "rows on no invoice line" are exactly the difference
between the sums now and the sums the month's invoices recorded so far.

An adjustment re-rates the whole month from all its rows — as a close would have, had every
row been there — and bills the difference from what was billed before, line by line:
- the charge: the re-rated month's charge less the charges billed for the lease (or token
  group); the line carries the late rows' own sums, so the next adjustment starts from them;
- the SLA credit of a reserved lease: availability is a property of the whole month, so a
  late row can move it across a tier (either way). The credit is recomputed for the whole
  month with the tiers the month was billed with (recorded on the charge line) and the
  difference from the credits given before becomes its own line, negative or positive.
The month's invoices together then equal one close over all the rows, rounded half down
once per line of that close; each adjustment line is a difference of two such amounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gpufleet.billing.credits import CreditTier
from gpufleet.billing.rating import (
    LeaseMonthUsage,
    RatedLine,
    TokenUsageGroup,
    availability_text,
    hours_text,
    rate_lease_month,
    rate_tokens,
)

_USAGE_FIELDS = ("promised_gpu_seconds", "delivered_gpu_seconds", "shortfall_gpu_seconds", "hours")
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "requests")


@dataclass(frozen=True)
class BilledLine:
    """One invoice line already written for the month (from any of its invoices)."""

    tenant_id: int
    key: str
    kind: str
    amount_micros: int
    lease_id: str | None
    detail: dict[str, Any]


@dataclass
class Billed:
    """What a lease or a token group has been billed so far: money and the usage sums."""

    charge_micros: int = 0
    credit_micros: int = 0  # sum of its SLA credit lines (negative: given back)
    usage: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tiers: tuple[CreditTier, ...] | None = None  # as recorded on its first charge line


def billed_by_key(lines: Iterable[BilledLine]) -> dict[tuple[int, str], Billed]:
    """(tenant, lease id or token line key) → what the month's invoices billed for it."""
    found: dict[tuple[int, str], Billed] = defaultdict(Billed)
    for line in lines:
        if line.kind == "tokens":
            billed = found[(line.tenant_id, line.key)]
            billed.charge_micros += line.amount_micros
            _add(billed.usage, line.detail, _TOKEN_FIELDS)
        elif line.lease_id is not None:
            billed = found[(line.tenant_id, line.lease_id)]
            if line.kind == "sla_credit":
                billed.credit_micros += line.amount_micros
                continue
            billed.charge_micros += line.amount_micros
            _add(billed.usage, line.detail, _USAGE_FIELDS)
            recorded = line.detail.get("tiers_ppm")
            if billed.tiers is None and recorded is not None:
                billed.tiers = tuple(CreditTier(int(b), int(c)) for b, c in recorded)
    return dict(found)


def _add(into: dict[str, int], detail: dict[str, Any], names: Sequence[str]) -> None:
    for name in names:
        into[name] += int(detail.get(name, 0))


def _lease_sums(usage: LeaseMonthUsage) -> dict[str, int]:
    return {
        "promised_gpu_seconds": usage.promised_seconds,
        "delivered_gpu_seconds": usage.delivered_seconds,
        "shortfall_gpu_seconds": usage.shortfall_seconds,
        "hours": usage.hours,
    }


def _token_sums(group: TokenUsageGroup) -> dict[str, int]:
    return {
        "input_tokens": group.input_tokens,
        "output_tokens": group.output_tokens,
        "requests": group.requests,
    }


def _late(now: dict[str, int], billed: Billed | None) -> dict[str, int] | None:
    """The sums of the rows no invoice line has (None: there are none)."""
    before = billed.usage if billed is not None else {}
    late = {name: value - before.get(name, 0) for name, value in now.items()}
    return late if any(late.values()) else None


def adjust_lease(usage: LeaseMonthUsage, billed: Billed | None) -> list[RatedLine]:
    """The lines that bill a lease's late rows: nothing when it has none. `usage.tiers` are
    the lease's tiers now, used only when its month had no charge line recording them."""
    late = _late(_lease_sums(usage), billed)
    if late is None:
        return []
    before = billed or Billed()
    if before.tiers is not None:
        usage = replace(usage, tiers=before.tiers)
    rated = rate_lease_month(usage)
    month_charge = rated[0]
    month_credit = rated[1].amount_micros if len(rated) > 1 else 0
    billed_seconds = late[
        "promised_gpu_seconds" if usage.rental_class == "reserved" else "delivered_gpu_seconds"
    ]
    lines = [
        replace(
            month_charge,
            description=f"{usage.lease_id}: late usage, {late['hours']} hours "
            f"({hours_text(billed_seconds)}); month re-rated",
            amount_micros=month_charge.amount_micros - before.charge_micros,
            quantity=billed_seconds,
            usage_rows=late["hours"],
            detail={
                **late,
                "month": _lease_sums(usage),
                "month_charge_micros": month_charge.amount_micros,
                "billed_before_micros": before.charge_micros,
                **_tiers_detail(month_charge),
            },
        )
    ]
    if month_credit != before.credit_micros:
        share = rated[1].detail["credit_ppm"] if len(rated) > 1 else 0
        availability = availability_text(usage.delivered_seconds, usage.promised_seconds)
        lines.append(
            RatedLine(
                key=f"lease:{usage.lease_id}:sla_credit",
                kind="sla_credit",
                description=f"{usage.lease_id}: SLA credit recomputed for the month, "
                f"{share / 10_000:g}% (availability {availability})",
                amount_micros=month_credit - before.credit_micros,
                quantity=late["shortfall_gpu_seconds"],
                unit_price_micros=usage.price_micros,
                usage_rows=late["hours"],
                lease_id=usage.lease_id,
                model=usage.gpu_model,
                detail={
                    **late,
                    "credit_ppm": share,
                    "month_credit_micros": month_credit,
                    "credited_before_micros": before.credit_micros,
                },
            )
        )
    return lines


def _tiers_detail(charge: RatedLine) -> dict[str, Any]:
    recorded = charge.detail.get("tiers_ppm")
    return {} if recorded is None else {"tiers_ppm": recorded}


def adjust_tokens(group: TokenUsageGroup, billed: Billed | None) -> RatedLine | None:
    """The line that bills a token group's late requests: None when it has none."""
    late = _late(_token_sums(group), billed)
    if late is None:
        return None
    month = rate_tokens(group)
    before = billed.charge_micros if billed is not None else 0
    return replace(
        month,
        description=f"{group.model}: late usage, {late['requests']:,} requests "
        f"({late['input_tokens']:,} input and {late['output_tokens']:,} output tokens); "
        "month re-rated",
        amount_micros=month.amount_micros - before,
        quantity=late["input_tokens"] + late["output_tokens"],
        usage_rows=late["requests"],
        detail={
            **late,
            "input_price_micros": group.input_price_micros,
            "output_price_micros": group.output_price_micros,
            "month": _token_sums(group),
            "month_charge_micros": month.amount_micros,
            "billed_before_micros": before,
        },
    )


def adjustments(
    usage: Sequence[LeaseMonthUsage],
    tokens: Sequence[TokenUsageGroup],
    billed: dict[tuple[int, str], Billed],
) -> dict[int, list[RatedLine]]:
    """Per tenant, the adjustment lines of a closed month (tenants with none left out)."""
    by_tenant: dict[int, list[RatedLine]] = defaultdict(list)
    for lease in usage:
        by_tenant[lease.tenant_id] += adjust_lease(
            lease, billed.get((lease.tenant_id, lease.lease_id))
        )
    for group in tokens:
        key = rate_tokens(group).key
        line = adjust_tokens(group, billed.get((group.tenant_id, key)))
        if line is not None:
            by_tenant[group.tenant_id].append(line)
    return {tenant: lines for tenant, lines in by_tenant.items() if lines}
