"""The one rounding rule of billing: round half down, once per invoice line."""

from __future__ import annotations

PPM = 1_000_000  # parts per million: availability thresholds and credit shares


def round_half_down(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest integer, exact halves going down (towards
    minus infinity), for a positive denominator. Half down favours the customer by at most
    half a micro-dollar per line, and never depends on floating point."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    return quotient + 1 if 2 * remainder > denominator else quotient
