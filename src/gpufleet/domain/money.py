"""Money is an exact integer number of micro-dollars (1e-6 USD); never a float in storage.

Prices per GPU-hour and delay costs are parsed from decimal text into micro-dollars once, at
the edge, and turned back into dollars only for display or JSON.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000


def usd_to_micros(amount: Decimal | int | str) -> int:
    """Exact conversion; refuses amounts finer than a micro-dollar rather than rounding."""
    try:
        value = Decimal(amount) * MICROS_PER_USD
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {amount!r}") from exc
    if value != value.to_integral_value():
        raise ValueError("has more than 6 decimal places")
    return int(value)


def micros_to_usd(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD


def micros_to_float_usd(micros: int) -> float:
    """For JSON and display only: SCENARIO.md gives money in JSON as a number of dollars."""
    return float(micros_to_usd(micros))


def format_usd(amount: float) -> str:
    """$6.31B, $412.50M, $12,000: contract values read at a glance (display only)."""
    sign = "−" if amount < 0 else ""
    for size, suffix in ((1e9, "B"), (1e6, "M")):
        if abs(amount) >= size:
            return f"{sign}${abs(amount) / size:,.2f}{suffix}"
    return f"{sign}${abs(amount):,.0f}"
