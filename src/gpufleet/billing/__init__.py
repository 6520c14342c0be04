"""Billing, pure: months, SLA credit tiers, rating, invoice documents, reconciliation.

Nothing here touches a database or the web. The one rounding rule (see `arith`): every
amount is an exact rational number of micro-dollars, rounded half down once per invoice
line — never per hour or per request — so an invoice is the sum of its printed lines.
"""

from gpufleet.billing.arith import round_half_down
from gpufleet.billing.credits import DEFAULT_TIERS, CreditTier, credit_ppm, validate_tiers
from gpufleet.billing.months import Month
from gpufleet.billing.rating import (
    LeaseMonthUsage,
    RatedLine,
    TokenUsageGroup,
    rate_lease_month,
    rate_tokens,
)

__all__ = [
    "DEFAULT_TIERS",
    "CreditTier",
    "LeaseMonthUsage",
    "Month",
    "RatedLine",
    "TokenUsageGroup",
    "credit_ppm",
    "rate_lease_month",
    "rate_tokens",
    "round_half_down",
    "validate_tiers",
]
