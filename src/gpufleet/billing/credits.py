"""SLA credit tiers: a share of a lease's month given back when availability falls short.

availability = delivered / promised GPU-seconds over the month, compared exactly in integers:
`availability < threshold` ⇔ `delivered × 10⁶ < threshold_ppm × promised`. So 99.5% exactly is
not below 99.5%. The tier with the lowest threshold that availability is below wins (the
largest credit). A month with nothing promised has availability 100%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from gpufleet.billing.arith import PPM


@dataclass(frozen=True, order=True)
class CreditTier:
    """Below `below_ppm` availability (parts per million), credit `credit_ppm` of the charge."""

    below_ppm: int
    credit_ppm: int


# Like the big clouds' compute SLAs: < 99.5% → 10%, < 99% → 30%, < 95% → 100%.
DEFAULT_TIERS: tuple[CreditTier, ...] = (
    CreditTier(995_000, 100_000),
    CreditTier(990_000, 300_000),
    CreditTier(950_000, 1_000_000),
)


def validate_tiers(tiers: Sequence[CreditTier]) -> list[tuple[str, str]]:
    """(path, message) for every rule a tier list breaks; empty when it is usable."""
    problems: list[tuple[str, str]] = []
    for k, tier in enumerate(tiers):
        if not 0 < tier.below_ppm <= PPM:
            problems.append((f"tiers[{k}].below_percent", "must be above 0 and at most 100"))
        if not 0 <= tier.credit_ppm <= PPM:
            problems.append((f"tiers[{k}].credit_percent", "must be from 0 to 100"))
    thresholds = [t.below_ppm for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        problems.append(("tiers", "two tiers have the same threshold"))
    ordered = sorted(tiers, reverse=True)  # highest threshold (mildest shortfall) first
    for milder, worse in pairwise(ordered):
        if worse.credit_ppm < milder.credit_ppm:
            problems.append(("tiers", "a lower availability must not earn a smaller credit"))
            break
    return problems


def is_below(delivered: int, promised: int, threshold_ppm: int) -> bool:
    return promised > 0 and delivered * PPM < threshold_ppm * promised


def credit_ppm(delivered: int, promised: int, tiers: Sequence[CreditTier]) -> int:
    """The credit share (ppm of the month's charge) that this availability earns."""
    earned = [t.credit_ppm for t in tiers if is_below(delivered, promised, t.below_ppm)]
    return max(earned, default=0)
