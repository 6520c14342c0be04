"""Field types shared by scenario files and the API: exact money, UTC instants, sane bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer

from gpufleet.domain.money import usd_to_micros
from gpufleet.domain.timeutil import parse_instant

# Unknown keys are errors, and a string is never silently read as a number.
STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

# Upper bounds turn typos (an extra three zeros) into clear errors instead of absurd plans.
MAX_GPUS = 10_000_000
MAX_PRICE_USD = Decimal(10_000)
MAX_DELAY_COST_USD = Decimal(10**12)
MAX_WORK_GPU_HOURS = 1e13
MAX_NOTICE_HOURS = 8_760
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime must have a time zone")
        result = value.astimezone(UTC)
    elif isinstance(value, date):
        result = datetime.combine(value, datetime.min.time(), tzinfo=UTC)
    elif isinstance(value, str):
        result = parse_instant(value)
    else:
        raise ValueError("must be a date YYYY-MM-DD or an ISO datetime with a zone")
    if not EARLIEST <= result < LATEST:
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return result


def _exact_usd(value: Any) -> Decimal:
    # Floats from YAML/JSON go through their shortest text form, so 5.4 is exactly 5.40.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    usd_to_micros(amount)  # refuses sub-micro-dollar precision with a clear message
    return amount


Instant = Annotated[datetime, BeforeValidator(_instant)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Count = Annotated[int, Field(gt=0, le=MAX_GPUS)]
# In JSON, money is a number of dollars (SCENARIO.md), not Pydantic's default string.
_AS_JSON_NUMBER = PlainSerializer(float, return_type=float, when_used="json")
PriceUsd = Annotated[
    Decimal, BeforeValidator(_exact_usd), Field(gt=0, le=MAX_PRICE_USD), _AS_JSON_NUMBER
]
DelayCostUsd = Annotated[
    Decimal, BeforeValidator(_exact_usd), Field(ge=0, le=MAX_DELAY_COST_USD), _AS_JSON_NUMBER
]
